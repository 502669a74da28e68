"""Issue 20, item 6: what a terminal (or a log) shows. Lines said while a bar shows go
above it; plain progress lines where stderr is not a terminal (--progress); --quiet keeps
warnings; --json puts one document on stdout and nothing else there; a finished render
run again answers from its manifest without TensorFlow and without writing."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from helpers import run_without_tensorflow_probe, save_tiny_model, write_clip

from renderer.cli.main import main

CHECKOUT = str(Path(__file__).resolve().parent.parent)
NOTE = "3 of 4 octaves dropped (dream.octaves = 4)"  # a 48x48 zoom says it before frame 1


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def tiny_zoom(tmp_path_factory) -> list[str]:
    """`render` arguments for a 3-frame 48x48 zoom with a tiny model (about a second)."""
    model = tmp_path_factory.mktemp("model") / "mine.keras"
    save_tiny_model(model)
    settings = [
        f"model={model}",
        'layers=["c2"]',
        "dream.steps=1",
        "dream.octaves=4",
        "zoom.first_steps=1",
        "zoom.first_octaves=1",
        "output.gif=false",
    ]
    return ["noise-zoom", "--size", "48x48", "--frames", "3"] + [
        arg for item in settings for arg in ("--set", item)
    ]


# ------------------------------------------------------------------ a real terminal


def in_terminal(code: str) -> str:
    """What ``python -c CODE`` writes on a pseudo-terminal 100 columns wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "PYTHONPATH": CHECKOUT},
    )
    os.close(slave)
    written = b""
    try:
        while select.select([master], [], [], 60)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            written += chunk
    finally:
        os.close(master)
        child.wait(timeout=60)
    return written.decode()


def screen(written: str) -> list[str]:
    """The lines a terminal shows: a carriage return goes back to the line's start and
    what follows overwrites it."""
    lines = []
    for raw in written.replace("\r\n", "\n").split("\n"):
        shown: list[str] = []
        for part in raw.split("\r"):
            shown[: len(part)] = part
        lines.append("".join(shown).rstrip())
    return lines


def test_a_line_said_while_the_bar_shows_goes_above_it_not_into_it():
    written = in_terminal(
        "from renderer.cli.progress_bar import step_bar\n"
        "with step_bar(None, desc='job', unit='frame') as advance:\n"
        "    advance(0, 3)\n"
        "    advance(1, 3, loss=0.5)\n"
        "    advance.say('a note said while the bar shows')\n"
        "    advance(3, 3, loss=0.25)\n"
    )
    lines = screen(written)
    assert "a note said while the bar shows" in lines, written  # a line of its own
    assert any(line.startswith("job: 100%|") and "3/3" in line for line in lines), written
    assert "0frame [" not in written  # drawn with its total: no "0frame [00:00, ?frame/s]"


# ------------------------------------------------------------------ logs, --quiet


def test_a_log_gets_plain_progress_lines_and_quiet_keeps_warnings(tiny_zoom, tmp_path, capsys):
    argv = ["render", *tiny_zoom, "-o", str(tmp_path / "out")]
    code, out, err = run(capsys, *argv)  # stderr here is not a terminal: lines
    assert code == 0 and out == "", err
    assert "\r" not in err and "\x1b" not in err
    assert "noise-zoom: frame 1/3 (33%), " in err and ", loss " in err
    assert "noise-zoom: frame 3/3 (100%), " in err
    assert f"dreamreel: warning: {NOTE}" in err

    code, _, err = run(capsys, *argv, "--restart", "--progress=none")
    assert code == 0 and "frame 1/3" not in err and "wrote 3 frames" in err, err

    code, out, err = run(capsys, *argv, "--restart", "--quiet")
    lines = err.splitlines()  # no progress, no info: the warning alone
    assert code == 0 and out == "" and len(lines) == 1, err
    assert lines[0].startswith(f"dreamreel: warning: {NOTE}: 48x48 is too small")


# ------------------------------------------------------------------ --json, a finished render


def test_render_json_and_a_finished_render_run_again_without_tensorflow(
    tiny_zoom, tmp_path, capsys
):
    out_dir = tmp_path / "out"
    code, out, err = run(capsys, "render", *tiny_zoom, "-o", str(out_dir), "--json")
    assert code == 0, err
    document = json.loads(out)  # the one document, nothing else on stdout
    assert document["frames"] == 3 and document["rendered"] == 3
    assert document["outputs"] == [str(out_dir / "zoom.mp4")]
    assert document["finished_already"] is False and isinstance(document["final_loss"], float)
    manifest = (out_dir / "manifest.json").read_bytes()

    result, again, err = run_without_tensorflow_probe(
        "render", *tiny_zoom, "-o", str(out_dir), "--json", cwd=tmp_path
    )
    assert result == {"code": 0, "tensorflow": False, "keras": False}, err
    assert (out_dir / "manifest.json").read_bytes() == manifest  # its recorded time stays
    recorded = json.loads(again)
    assert recorded["finished_already"] is True and recorded["rendered"] == 0
    for key in ("frames", "outputs", "seconds", "time"):  # the numbers its run recorded
        assert recorded[key] == document[key], key
    assert recorded["final_loss"] == pytest.approx(document["final_loss"], abs=1e-6)  # CSV's
    assert "finished already" in err and "holds its 3 frames and zoom.mp4, rendered in " in err

    # Another output setting is another render's result: stitched again, not skipped.
    code, _, err = run(capsys, "render", *tiny_zoom, "-o", str(out_dir), "--set", "output.gif=true")
    assert code == 0 and (out_dir / "zoom.gif").is_file(), err
    assert "wrote 3 frames (3 resumed from an earlier run) and zoom.mp4, zoom.gif" in err
    for made in ("zoom.gif", "losses.png"):  # one deleted since: made again, not skipped
        (out_dir / made).unlink()
        code, _, err = run(
            capsys, "render", *tiny_zoom, "-o", str(out_dir), "--set", "output.gif=true"
        )
        assert code == 0 and (out_dir / made).is_file(), err


def test_json_on_failure_is_an_error_object_and_the_line_on_stderr(tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "manifest.json").write_text('{"not": "dreamreel\'s"}')
    code, out, err = run(capsys, "render", "noise-zoom", "-o", str(out_dir), "--json")
    assert code == 3
    assert err.startswith("dreamreel: error: ") and err.count("\n") == 1
    assert json.loads(out) == {
        "error": err.strip().removeprefix("dreamreel: error: "),
        "exit_code": 3,
    }


def test_bench_json_without_a_path_prints_the_document_alone(monkeypatch, capsys, tmp_path):
    import renderer.cli.bench

    class Report:  # what run_bench returns, without a minute of measuring
        def lines(self):
            return ["engine  1.0 Mpix*steps/s"]

        def to_dict(self):
            return {"engine": {"mpix_steps_per_s": 1.0}}

    def fake_bench(*, quick, say):
        say("engine: 3 steps at 64x64...")
        return Report()

    monkeypatch.setattr(renderer.cli.bench, "run_bench", fake_bench)
    code, out, err = run(capsys, "bench", "--quick", "--json")
    assert code == 0 and json.loads(out) == Report().to_dict()
    assert "engine  1.0 Mpix*steps/s" in err and "engine: 3 steps" in err
    code, out, _ = run(capsys, "bench", "--quick", "--json", str(tmp_path / "b.json"))
    assert code == 0 and out.startswith("engine  1.0")  # PATH: the file, the table on stdout
    assert json.loads((tmp_path / "b.json").read_text()) == Report().to_dict()


def test_stability_json_without_a_path_prints_the_document_alone(tmp_path, capsys):
    from test_edge_cases import moving_frames

    source = write_clip(tmp_path / "source.mp4", moving_frames(6, 32, 48), 8)
    dreamed = write_clip(tmp_path / "dreamed.mp4", moving_frames(6, 32, 48), 8)
    code, out, err = run(capsys, "stability", str(dreamed), "--source", str(source), "--json")
    assert code == 0, err
    assert json.loads(out)["frames"] == 6 and err.startswith("stability (")
