"""Issue 20, item 6: each way a command ends has its own exit status, listed in
``dreamreel --help``: 0 done, 1 a bug, 2 usage, 3 refused, 4 a damaged input, 130/143
interrupted. One real case of each through main()."""

from __future__ import annotations

import os
import signal

import pytest

import renderer.cli.commands
from renderer.cli.main import build_parser, main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamreel: error: "), err
    return lines[0]


def test_help_lists_the_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    table = text.split("exit status:\n", 1)[1]
    for code in ("0", "1", "2", "3", "4", "130"):
        assert f"\n  {code} " in "\n" + table, table
    assert "refused" in table and "damaged" in table and "143" in table


def test_done_is_0(capsys):
    assert run(capsys, "presets", "list")[0] == 0


def test_a_bug_is_1_with_its_traceback(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the TOML writer")

    monkeypatch.setattr(renderer.cli.commands, "spec_to_toml", broken)
    code, _, err = run(capsys, "render", "noise-zoom", "--dry-run")
    assert code == 1
    assert "Traceback" in err and err.strip().endswith("RuntimeError: a bug in the TOML writer")


@pytest.mark.parametrize(
    "argv", [["--set", "dream.steps=many"], ["--set", "dream.stesp=5"], ["--input", "missing.png"]]
)
def test_usage_is_2(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "render", "progress", *argv, "--dry-run")
    assert code == 2
    one_line(err)


def test_a_flag_argparse_refuses_is_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["render", "noise-zoom", "--progress", "sometimes"])
    assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_a_folder_that_refuses_the_render_is_3_and_stays_as_it_was(capsys, tmp_path):
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.json").write_text('{"tool": "another"}')
    code, _, err = run(capsys, "render", "noise-zoom", "-o", str(foreign), "--dry-run")
    assert code == 3 and "not dreamreel's" in one_line(err)
    assert (foreign / "manifest.json").read_text() == '{"tool": "another"}'

    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "frames").symlink_to(tmp_path)
    code, _, err = run(capsys, "render", "noise-zoom", "-o", str(linked), "--dry-run")
    assert code == 3 and "symbolic link" in one_line(err)


def test_an_input_that_cannot_be_decoded_is_4(capsys, tmp_path):
    text = tmp_path / "photo.png"
    text.write_text("not a picture at all\n")
    code, _, err = run(capsys, "render", "progress", "-i", str(text), "--dry-run")
    assert code == 4 and "not an image file" in one_line(err)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_is_128_plus_the_signal(capsys, monkeypatch, signum, code):
    real = renderer.cli.commands.spec_to_toml

    def interrupted_while_writing(*args, **kwargs):
        os.kill(os.getpid(), signum)  # a real signal, through dreamreel's own handler
        return real(*args, **kwargs)

    monkeypatch.setattr(renderer.cli.commands, "spec_to_toml", interrupted_while_writing)
    status, _, err = run(capsys, "render", "noise-zoom", "--dry-run")
    assert status == code
    assert err.startswith(f"dreamreel: interrupted by {signal.Signals(signum).name}; ")
