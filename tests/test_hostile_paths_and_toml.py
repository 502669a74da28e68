"""What the fuzz battery found in the spec, preflight, morph and batch paths (issue 19,
item 3): TOML nested a thousand levels deep (a RecursionError), a NUL in a path setting
(ValueError), and paths the OS refuses outright (a name too long: ENAMETOOLONG, a loop of
symbolic links: ELOOP) each ended in a traceback. Each is one line naming the setting or
the path, the path given once. Nothing here loads TensorFlow or renders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from renderer.cli.main import main
from renderer.distributed.batch_jobs import check_jobs, read_jobs
from renderer.rendering.preflight import check_input, check_model, check_objective
from renderer.rendering.preset_files import resolve_preset
from renderer.rendering.spec import load_spec, parse_override, read_toml
from renderer.runtime.atomic_files import free_space
from renderer.runtime.errors import DreamreelError

LONG = "x" * 300  # over any file system's 255-byte limit on one name
DEEP = "[" * 1000 + "1" + "]" * 1000  # beyond tomllib's recursion, as the battery wrote it
MAX_NESTING = 32  # renderer.rendering.spec.MAX_NESTING (not imported: HEAD lacks it)
TOO_DEEP = f"more than {MAX_NESTING} levels deep"


def one_line(capsys, *argv: str) -> str:
    """The CLI's refusal: exit 2, one line on stderr, no traceback."""
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-1500:]
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dreamreel: error:"), err
    return lines[0]


def refusal(call, *args, **kwargs) -> str:
    with pytest.raises(DreamreelError) as error:
        call(*args, **kwargs)
    message = str(error.value)
    assert "\n" not in message, message
    return message


def loop(folder: Path) -> Path:
    """A symbolic link to itself: every stat of it fails with ELOOP."""
    link = folder / "loop"
    link.symlink_to("loop")
    return link


# ---------------------------------------------------------------- A, B: nesting


def test_a_preset_nested_a_thousand_levels_deep_is_one_line(capsys, tmp_path, monkeypatch):
    """Finding A (spec.py read_toml): tomllib recursed into a RecursionError."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nested.toml").write_text(f'mode = "zoom"\nseed = {DEEP}\n')
    line = one_line(capsys, "render", "./nested.toml", "--dry-run")
    assert "cannot read preset nested.toml" in line and TOO_DEEP in line


def test_a_jobs_file_nested_a_thousand_levels_deep_is_one_line(capsys, tmp_path, monkeypatch):
    """Finding A, through `batch`: the same read_toml."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jobs.toml").write_text(f'[[job]]\npreset = "noise-zoom"\nseed = {DEEP}\n')
    line = one_line(capsys, "batch", "jobs.toml", "--no-ray")
    assert "cannot read jobs file jobs.toml" in line and TOO_DEEP in line


@pytest.mark.parametrize(
    "text",
    [
        "seed = " + "[" * 200 + "1" + "]" * 200,  # tomllib reads it; what walks it may not
        "[" + ".".join(["layers", *["a"] * 100]) + "]\nb = 1",  # tables: no recursion to parse
        "set = " + "{ a = " * 100 + "1" + " }" * 100,  # a jobs file's set table, flattened later
    ],
    ids=["lists", "tables", "inline-tables"],
)
def test_nesting_tomllib_reads_is_bounded_before_anything_walks_it(tmp_path, text):
    """Finding A's second half: a few hundred levels parse, then our own recursion
    (_merge, _build, value_text, _flatten) could fail: bounded as the file is read."""
    path = tmp_path / "deep.toml"
    path.write_text(f'mode = "progress"\n{text}\n')
    assert TOO_DEEP in refusal(read_toml, path, "preset")


def test_nesting_up_to_the_bound_is_read(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text("seed = " + "[" * MAX_NESTING + "1" + "]" * MAX_NESTING + "\n")
    assert read_toml(path, "preset")["seed"]  # the spec refuses the type, one line
    path.write_text("seed = " + "[" * (MAX_NESTING + 1) + "1" + "]" * (MAX_NESTING + 1) + "\n")
    assert TOO_DEEP in refusal(read_toml, path, "preset")


def test_a_set_value_nested_a_thousand_levels_deep_is_one_line(capsys, tmp_path):
    """Finding B (spec.py parse_override): `--set seed=[[[...1...]]]`."""
    line = one_line(
        capsys, "render", "progress", "--dry-run", "--set", f"seed={DEEP}", "--out", str(tmp_path)
    )
    assert "--set seed" in line and TOO_DEEP in line
    deep = "[" * 100 + "1" + "]" * 100  # tomllib reads this one: the bound refuses it
    assert TOO_DEEP in refusal(parse_override, f"seed={deep}")
    deep_ok = "[" * MAX_NESTING + "1" + "]" * MAX_NESTING
    assert parse_override(f"seed={deep_ok}")[0] == ["seed"]


def test_a_set_key_of_thousands_of_parts_is_refused_like_a_deep_file():
    """`--set layers.a.a.a...=1` builds tables as deep as its dots. Before the bound it
    was one line already ("layers.a: ... got dict"), by luck of the first check it met;
    now the spec's whole table is bounded like a file's, whatever walks it later."""
    key = ".".join(["layers", *["a"] * 2000])
    assert TOO_DEEP in refusal(load_spec, "progress", [f"{key}=1"])


# ---------------------------------------------------------------- C: NUL in a path


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ('input="a\\u0000b.png"', "input"),
        ('audio="a\\u0000b.wav"', "audio"),
        ('mask="a\\u0000b.png"', "mask"),
        ('model="a\\u0000b.keras"', "model"),
        ('objective="guide:a\\u0000b.png"', "objective"),
        ('morph.images=["a\\u0000b.png"]', "morph.images"),
    ],
    ids=["input", "audio", "mask", "model", "guide", "morph-images"],
)
def test_a_nul_in_a_path_setting_is_one_line(setting, key):
    """Finding C (spec.py load_spec): Path.resolve() raised "ValueError: embedded null
    byte" for input and audio; the other path settings failed later the same way."""
    message = refusal(load_spec, "morph" if key == "morph.images" else "progress", [setting])
    assert message.startswith(f"{key} holds a NUL character"), message


def test_a_nul_in_a_path_is_one_line_on_the_command_line(capsys, tmp_path):
    """Finding C as the battery ran it (path-6, path-8)."""
    out = ["--out", str(tmp_path)]
    line = one_line(
        capsys, "render", "progress", "--set", 'input="a\\u0000b.png"', "--dry-run", *out
    )
    assert "input holds a NUL character" in line
    line = one_line(
        capsys, "render", "audio-zoom", "--set", 'audio="a\\u0000b.wav"', "--dry-run", *out
    )
    assert "audio holds a NUL character" in line


def test_a_nul_in_a_preset_file_and_a_preset_name(tmp_path):
    path = tmp_path / "nul.toml"
    path.write_text('mode = "progress"\ninput = "a\\u0000b.png"\n')
    assert refusal(load_spec, str(path)).startswith("input holds a NUL character")
    assert "cannot hold a NUL" in refusal(resolve_preset, "./a\0b.toml")


# ---------------------------------------------------------------- D: preflight's stat


def test_an_input_name_too_long_for_the_file_system_is_one_line(capsys, tmp_path):
    """Finding D (preflight.py check_input): Path.exists() raised ENAMETOOLONG."""
    long = tmp_path / f"{LONG}.png"
    message = refusal(check_input, long)
    assert message == f"cannot read input '{long}': File name too long"
    line = one_line(
        capsys,
        "render",
        "video-quick",
        "--dry-run",
        "--input",
        f"{long}.mp4",
        "--out",
        str(tmp_path),
    )
    assert "File name too long" in line and line.count(LONG) == 1


def test_an_input_that_is_a_loop_of_links_is_one_line(capsys, tmp_path):
    """ELOOP: Path.resolve() raised RuntimeError ("Symlink loop") in load_spec, and
    check_input said "no such file" for a link in a loop."""
    link = loop(tmp_path)
    line = one_line(capsys, "render", "progress", "--dry-run", "--input", str(link))
    assert f"cannot read input '{link}': a loop of symbolic links" in line
    assert "Too many levels of symbolic links" in refusal(check_input, link)


def test_a_guide_image_name_too_long_or_a_loop_is_one_line(tmp_path):
    """Finding D (a `guide:` path in the objective): check_objective's check_input."""
    for path in (tmp_path / f"{LONG}.png", loop(tmp_path)):
        spec = load_spec("progress", [f"objective=guide:{path}"])
        message = refusal(check_objective, spec.objective, spec.model)
        assert message.startswith(f"objective guide image: cannot read input '{path}'"), message
        assert message.count(LONG) <= 1


def test_a_model_file_name_too_long_is_one_line(tmp_path):
    """The same stat on `model = "<long>.keras"` (Path.is_file raises ENAMETOOLONG)."""
    path = tmp_path / f"{LONG}.keras"
    message = refusal(check_model, str(path), ["conv"], None)
    assert message == f"cannot read model file '{path}': File name too long"


def test_a_home_folder_of_no_user_is_left_as_written(tmp_path, monkeypatch):
    """``~nosuchuser/a.png``: Path.expanduser() raised RuntimeError; a shell leaves it."""
    monkeypatch.chdir(tmp_path)
    spec = load_spec("progress", input="~nosuchuser-dreamreel/a.png")
    assert spec.input == str(tmp_path / "~nosuchuser-dreamreel" / "a.png")
    assert "no such file or folder" in refusal(check_input, Path(spec.input))


# ---------------------------------------------------------------- E: morph's photos


def test_a_morph_photo_name_too_long_is_one_line(capsys, tmp_path):
    """Finding E (modes/morph.py morph_photos): Path.is_dir() raised ENAMETOOLONG."""
    first = tmp_path / "a.png"
    first.write_bytes(b"x")  # check_input reads one byte; the photos list fails first
    long = f"{tmp_path / LONG}.jpg"
    argv = ["render", "morph", "--dry-run", "--input", str(first), "--input", long]
    line = one_line(capsys, *argv, "--out", str(tmp_path / "out"))
    assert f"cannot read photo '{long}': File name too long" in line


def test_a_morph_photo_that_is_a_loop_of_links_is_one_line(tmp_path):
    """MorphSettings resolved morph.images with Path.resolve(): RuntimeError on a loop."""
    link = loop(tmp_path)
    message = refusal(load_spec, "morph", [f'morph.images=["{link}"]'])
    assert message.startswith(f"cannot read morph image '{link}': a loop of symbolic links")


# ---------------------------------------------------------------- F: batch's presets


@pytest.mark.parametrize("suffix", [".png", ".toml"])
def test_a_jobs_file_preset_name_too_long_is_one_line(capsys, tmp_path, monkeypatch, suffix):
    """Finding F: `preset = "<long>.png"` (batch_jobs._preset's is_file) and
    `"<long>.toml"` (spec.resolve_preset's is_file) raised ENAMETOOLONG. The job's name,
    the preset's stem, is shortened: the line gives the long name once."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jobs.toml").write_text(f'[[job]]\npreset = "{LONG}{suffix}"\n')
    line = one_line(capsys, "batch", "jobs.toml", "--no-ray")
    assert "cannot read preset" in line and "File name too long" in line
    assert line.count(LONG) == 1, line


def test_a_preset_name_too_long_or_a_loop_is_one_line(tmp_path):
    message = refusal(resolve_preset, f"{LONG}.toml")
    assert message == f"cannot read preset '{LONG}.toml': File name too long"
    assert "a loop of links" in refusal(resolve_preset, str(loop(tmp_path)))


def test_a_jobs_file_input_name_too_long_is_one_line(tmp_path):
    """Finding D through a jobs file's `input`."""
    path = tmp_path / "jobs.toml"
    path.write_text(f'[[job]]\npreset = "progress"\ninput = "{LONG}.png"\n')
    message = refusal(check_jobs, read_jobs(path), "jobs.toml")
    assert message.startswith("jobs.toml: job 'progress': cannot read input"), message
    assert "File name too long" in message and message.count(LONG) == 1


def test_a_jobs_file_out_too_long_or_a_loop_is_one_line(tmp_path):
    """A jobs file's `out`: check_writable's exists() raised ENAMETOOLONG, and the
    shared-folder check's resolve() a RuntimeError on a loop."""
    (tmp_path / "a.png").write_bytes(b"x")
    path = tmp_path / "jobs.toml"
    body = '[[job]]\npreset = "noise-zoom"\n'
    path.write_text(f'out = "{LONG}"\n{body}')
    message = refusal(check_jobs, read_jobs(path), "jobs.toml")
    assert "cannot create output folder" in message and "File name too long" in message
    loop(tmp_path)
    path.write_text(f'out = "loop"\n{body}')
    assert "a loop of symbolic links" in refusal(read_jobs, path)
    path.write_text(f'out = "a\\u0000b"\n{body}')
    assert "cannot hold a NUL character" in refusal(read_jobs, path)


def test_free_space_answers_for_a_name_too_long(tmp_path):
    """write_error asks free_space about the failed path: its exists() raised
    ENAMETOOLONG inside the handler of the first error."""
    assert free_space(tmp_path / LONG / "frames") == free_space(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may enter any folder")
def test_an_input_in_a_folder_that_may_not_be_entered_is_one_line(tmp_path):
    """EACCES: Path.exists() raises PermissionError for a folder without x permission."""
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "a.png").write_bytes(b"x")
    locked.chmod(0o600)
    try:
        assert "Permission denied" in refusal(check_input, locked / "a.png")
    finally:
        locked.chmod(0o700)


def test_an_out_name_too_long_for_the_file_system_is_one_line(capsys, tmp_path):
    out = tmp_path / ("x" * 300) / "render"
    assert main(["render", "noise-zoom", "--frames", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dreamreel: error: cannot create output folder")
    assert err.count("\n") == 1 and "File name too long" in err
