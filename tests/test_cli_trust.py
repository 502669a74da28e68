"""Issue 19, the CLI's findings: every --input of a morph is a photo (a repeat elsewhere is
refused), a bare preset name is the preset whatever sits in the working folder, and a
URL's user:password is shown nowhere (errors, first line, resume line, batch table)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from renderer.cli.main import main
from renderer.runtime.errors import DreamreelError

PASSWORD = "s3cret"
URL = f"memory://alice:{PASSWORD}@bucket/renders/x"
SHOWN = "memory://***@bucket/renders/x"


@pytest.fixture(autouse=True)
def own_remembered_passwords(monkeypatch):
    """The passwords these tests give are remembered for the process (redaction hides
    them wherever they show up later): forget them after each test, so that a word like
    "pass" in another test's message stays."""
    from renderer.runtime import redaction

    monkeypatch.setattr(redaction, "_known", set())


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def photo(path: Path, colour=(200, 40, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (48, 32), colour).save(path)
    return path


def dry_run_photos(capsys, tmp_path: Path, *argv: str) -> list[Path]:
    """The photos the render would dream, read back from --dry-run's spec as render would."""
    from renderer.rendering.modes.morph import morph_photos
    from renderer.rendering.spec import load_spec

    code, out, err = run(capsys, "render", "morph", *argv, "--dry-run")
    assert code == 0, err
    resolved = tmp_path / "resolved.toml"
    resolved.write_text(out)
    return morph_photos(load_spec(str(resolved)))


# ------------------------------------------------------------------- --input, repeated


def test_morph_takes_every_input_as_its_photos_in_order(capsys, tmp_path):
    a, b, c = (photo(tmp_path / f"{n}.jpg") for n in "abc")
    photos = dry_run_photos(
        capsys, tmp_path, "--input", str(a), "--input", str(b), "--input", str(c)
    )
    assert photos == [a, b, c]


def test_morph_inputs_come_before_the_presets_images_and_folders_expand(capsys, tmp_path):
    c, d = photo(tmp_path / "c.jpg"), photo(tmp_path / "d.jpg")
    folder = tmp_path / "album"
    first, second = photo(folder / "1.jpg"), photo(folder / "2.png")
    photos = dry_run_photos(
        capsys,
        tmp_path,
        "--input",
        str(c),
        "--input",
        str(folder),
        "--set",
        f'morph.images=["{d}"]',
    )
    assert photos == [c, first, second, d]


@pytest.mark.parametrize("preset", ["noise-zoom", "progress"])
def test_a_repeated_input_is_refused_in_one_line_by_other_modes(capsys, tmp_path, preset):
    a, b = photo(tmp_path / "a.jpg"), photo(tmp_path / "b.jpg")
    code, out, err = run(
        capsys, "render", preset, "--input", str(a), "--input", str(b), "--dry-run"
    )
    assert code == 2
    assert out == ""  # no spec: nothing was silently dropped
    assert err.count("\n") == 1 and "--input given 2 times" in err
    assert "Traceback" not in err


# ------------------------------------------------------------------- presets by name


@pytest.mark.parametrize("name", ["morph", "noise-zoom"])
def test_a_folder_named_like_a_preset_does_not_shadow_it(capsys, tmp_path, monkeypatch, name):
    from renderer.rendering.preset_files import presets_dir, resolve_preset

    monkeypatch.chdir(tmp_path)
    (tmp_path / name).mkdir()  # an earlier `--out morph`
    (tmp_path / name / "manifest.json").write_text("{}")
    assert resolve_preset(name) == presets_dir() / f"{name}.toml"
    code, out, err = run(capsys, "presets", "show", name)
    assert code == 0, err
    assert out == (presets_dir() / f"{name}.toml").read_text()


def test_a_file_named_like_a_preset_does_not_shadow_it(tmp_path, monkeypatch):
    from renderer.rendering.preset_files import presets_dir, resolve_preset

    monkeypatch.chdir(tmp_path)
    (tmp_path / "progress").write_text("not a preset at all")
    assert resolve_preset("progress") == presets_dir() / "progress.toml"
    mine = tmp_path / "mine"  # a preset of one's own without its suffix is still read
    mine.write_text('mode = "progress"\n')
    assert resolve_preset("mine") == Path("mine")


def test_a_path_is_a_path_and_a_miss_says_what_was_tried(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "morph").mkdir()
    code, _, err = run(capsys, "render", "./morph", "--dry-run")
    assert code == 2 and err.count("\n") == 1
    assert str(tmp_path / "morph") in err and "folder" in err
    assert "noise-zoom" in err  # the shipped names a bare name would have picked
    code, _, err = run(capsys, "render", "missing.toml", "--dry-run")
    assert code == 2 and err.count("\n") == 1
    assert str(tmp_path / "missing.toml") in err and "does not exist" in err
    (tmp_path / "own.toml").write_text('mode = "zoom"\nframes = 3\n')
    code, out, err = run(capsys, "render", "./own.toml", "--dry-run")
    assert code == 0, err
    assert "\nframes = 3\n" in out


def test_a_bare_name_in_a_jobs_file_is_the_preset_beside_a_folder_of_that_name(tmp_path):
    from renderer.distributed.batch_jobs import read_jobs

    (tmp_path / "noise-zoom").mkdir()  # an earlier batch's out, beside the jobs file
    jobs = tmp_path / "jobs.toml"
    jobs.write_text('[[job]]\npreset = "noise-zoom"\n')
    assert [job.preset for job in read_jobs(jobs)] == ["noise-zoom"]


# ------------------------------------------------------------------- credentials


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (URL, SHOWN),
        ("cannot use s3://KEY:ab/cd+ef@bucket/x: boom", "cannot use s3://***@bucket/x: boom"),
        ("sftp://bob@host/renders", "sftp://***@host/renders"),
        ("ftp://u:p@ss@host/x and s3://k:v@h/y", "ftp://***@host/x and s3://***@h/y"),
        ("s3://bucket/renders/x", "s3://bucket/renders/x"),
        ("http://host:8080/renders", "http://host:8080/renders"),
        ("renders/me@home", "renders/me@home"),
    ],
)
def test_redacted_hides_credentials_and_keeps_the_rest(text, shown):
    from renderer.runtime.redaction import redacted

    assert redacted(text) == shown


def test_first_line_and_resume_line_hide_the_password(capsys, monkeypatch):
    import renderer.rendering.render_preset as render_preset

    def interrupted(*_args, **_kwargs):  # Ctrl-C just after the first line
        raise KeyboardInterrupt

    monkeypatch.setattr(render_preset, "staged", interrupted)
    code, _, err = run(
        capsys, "render", "noise-zoom", "--size", "32x32", "--set", "frames=2", "--out", URL
    )
    assert code == 130
    assert "rendering noise-zoom" in err and f"into {SHOWN}" in err  # the first line
    assert (
        f"resume with: dreamreel render noise-zoom --size 32x32 --set frames=2 --out '{SHOWN}'"
        in err
    )
    assert PASSWORD not in err


@pytest.mark.parametrize(
    ("raised", "code"),
    [(DreamreelError(f"cannot read {URL}/manifest.json"), 2), (RuntimeError(f"bug at {URL}"), 1)],
)
def test_any_error_shown_by_the_cli_hides_the_password(capsys, monkeypatch, raised, code):
    import renderer.rendering.spec as spec

    def failing(*_args, **_kwargs):
        raise raised

    monkeypatch.setattr(spec, "load_spec", failing)
    result, out, err = run(capsys, "render", "noise-zoom", "--out", URL)
    assert result == code
    assert SHOWN in err and PASSWORD not in out + err


def test_argument_errors_hide_the_password(capsys):
    with pytest.raises(SystemExit):
        main(["render", "noise-zoom", "--outt", URL])
    out, err = capsys.readouterr()
    assert SHOWN in err and PASSWORD not in out + err


def test_batch_table_hides_the_password(capsys):
    from renderer.cli.commands import _print_table
    from renderer.distributed.batch_run import JobOutcome, summary_rows
    from renderer.store.shared_storage import location

    outcomes = [
        JobOutcome("a", location(URL + "/a"), frames=3, seconds=1.0),
        JobOutcome("b", location(URL + "/b"), error=f"cannot write {URL}/b: denied"),
    ]
    _print_table(summary_rows(outcomes))
    out, _ = capsys.readouterr()
    assert f"{SHOWN}/a" in out and f"cannot write {SHOWN}/b" in out
    assert PASSWORD not in out


def test_lines_above_a_jobs_bar_hide_the_password(capsys):
    from renderer.cli.progress_bar import jobs_bar

    with jobs_bar(1, desc="chunks") as bar:
        bar.say(f"rendering into {URL}")
    _, err = capsys.readouterr()
    assert SHOWN in err and PASSWORD not in err


def test_shared_storage_messages_hide_the_password(tmp_path):
    from fsspec.implementations.local import LocalFileSystem

    from renderer.store.shared_storage import Mirror, checked_url, open_url

    with pytest.raises(DreamreelError) as bad_path:
        checked_url(URL + "/..")
    with pytest.raises(DreamreelError) as unknown:
        open_url(f"nosuch://alice:{PASSWORD}@bucket/renders/x")
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # a folder cannot be made under a file: the probe fails
    mirror = Mirror(LocalFileSystem(), str(blocked / "x"), tmp_path / "copy", URL)
    with pytest.raises(DreamreelError) as unwritable:
        mirror.check_writable()
    for err in (bad_path, unknown, unwritable):
        assert "***@bucket/renders/x" in str(err.value)
        assert PASSWORD not in str(err.value)


def test_a_library_quoting_the_password_without_its_url_is_one_line_and_hidden(tmp_path):
    """s3fs does not read credentials from a URL: botocore refuses the bucket name
    "alice:s3cret@bucket" (a validation error, not an OSError). The render ends in one
    line, and the password it quotes without a scheme is hidden too."""
    pytest.importorskip("s3fs")
    from renderer.store.shared_storage import staged

    with pytest.raises(DreamreelError) as refused:
        with staged(f"s3://alice:{PASSWORD}@bucket/renders/x"):
            pass
    message = str(refused.value)
    assert "\n" not in message and "s3://***@bucket/renders/x" in message
    assert PASSWORD not in message and "alice" not in message


def test_remembered_passwords_are_hidden_as_whole_words_only():
    """A user name is no secret (hiding it would mangle /home/alice), and a password is
    hidden where it stands alone or beside its user, never inside other words."""
    from renderer.runtime.redaction import redacted, remember_credentials

    remember_credentials("sftp://carol@host/x s3://dave:pass@bucket/y gs://erin:p%40ss9@b/z")
    assert redacted("cannot write /home/carol/out") == "cannot write /home/carol/out"
    assert redacted("--password /tmp/passport") == "--password /tmp/passport"
    assert redacted('bucket name "dave:pass@bucket"') == 'bucket name "***@bucket"'
    assert redacted("rejected pass: wrong") == "rejected ***: wrong"
    assert redacted("password p@ss9 refused") == "password *** refused"  # percent-decoded
