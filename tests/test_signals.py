"""SIGINT and SIGTERM during a render (issue 9, item 7): the frames on disk are whole, nothing
is stitched half-done, the exit code is 130/143 and the last line is the exact command
that resumes it into the frames of an uninterrupted render."""

from __future__ import annotations

import os
import shlex
import signal
import time

import pytest
from helpers import frame_bytes, set_args, signal_render_after
from PIL import Image

from renderer.cli.main import main
from renderer.runtime.interrupts import Interrupted, resume_command, signals_held, signals_interrupt
from renderer.store.frame_store import done_frame_count

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")

FRAMES = 40  # at 64 px ~30 ms a frame: the child is still rendering when the signal comes
TINY = [
    "width=64",
    "height=64",
    f"frames={FRAMES}",
    "dream.steps=2",
    "zoom.first_steps=2",
    "zoom.first_octaves=1",
]


def test_the_resume_command_is_the_same_one_without_restart():
    argv = [
        "render",
        "my preset.toml",
        "--restart",
        "--set",
        "name=it's",
        "--resta",
        "--out",
        "renders/a b",
    ]
    assert resume_command(argv) == (
        "dreamreel render 'my preset.toml' --set 'name=it'\"'\"'s' --out 'renders/a b'"
    )


def test_the_first_signal_raises_and_later_ones_wait_for_the_cleanup():
    before = signal.getsignal(signal.SIGTERM)
    cleaned = False
    with pytest.raises(Interrupted) as caught:
        with signals_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises in here (sleep wakes for signals)
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # another, while cleaning up: ignored
                time.sleep(0.2)
                cleaned = True
    assert cleaned and caught.value.exit_code == 143 and caught.value.name == "SIGTERM"
    assert signal.getsignal(signal.SIGTERM) == before  # the old handler is back


def test_a_signal_ignored_before_the_render_stays_ignored():
    """A job started with nohup, or in the background of a script, ignores SIGINT (or
    SIGHUP/SIGTERM): the render must not take that signal over and die of it."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with signals_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)  # a handler would raise in here
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            with pytest.raises(Interrupted):  # the signals not ignored still stop it
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_signal_inside_a_held_section_waits_for_its_end():
    finished = []
    with pytest.raises(Interrupted) as caught:
        with signals_interrupt():
            with signals_held():
                with signals_held():  # nested: only the outermost end raises
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(0.2)  # the handler runs in here, and must not raise
                    finished.append("png")
                finished.append("row")
            finished.append("after")  # never reached: raised as the section ended
    assert finished == ["png", "row"] and caught.value.exit_code == 130


@pytest.fixture(scope="module")
def whole(embedded_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert main(["render", "noise-zoom", *set_args(TINY), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.parametrize(
    "sig, code, extra",
    [
        (signal.SIGTERM, 143, []),
        (signal.SIGINT, 130, []),
        # Without worker threads the signal can land in the middle of a frame's writes.
        (signal.SIGTERM, 143, ["pipeline=false"]),
    ],
)
def test_a_signalled_render_keeps_whole_frames_and_says_how_to_resume(
    sig, code, extra, whole, tmp_path
):
    out = tmp_path / "render"
    args = ["noise-zoom", "--restart", *set_args([*TINY, *extra])]
    proc = signal_render_after(out, args, frames=2, sig=sig)
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    name = signal.Signals(sig).name
    prefix = f"dreamreel: interrupted by {name}; the finished frames are kept, resume with: "
    assert last.startswith(prefix), last
    command = shlex.split(last[len(prefix) :])
    expected = [
        "dreamreel",
        "render",
        "noise-zoom",
        *set_args([*TINY, *extra]),
        "--out",
        str(out),
        "--quiet",
    ]
    assert command == expected  # as given, without --restart

    # Every frame on disk is whole and done: the one in flight was finished or dropped.
    stored = frame_bytes(out)
    assert 2 <= len(stored) < FRAMES
    assert done_frame_count(out) == len(stored)
    assert stored == frame_bytes(whole)[: len(stored)]
    # Nothing half-stitched, no temp file, no lock left.
    leftovers = [
        p.name
        for p in out.rglob("*")
        if p.suffix in (".mp4", ".gif") or p.name.endswith(".partial") or p.name == ".lock"
    ]
    assert leftovers == []

    assert main(command[1:]) == 0  # the printed command resumes it
    assert frame_bytes(out) == frame_bytes(whole)
    assert (out / "zoom.mp4").read_bytes() == (whole / "zoom.mp4").read_bytes()
    assert Image.open(out / "zoom.gif").n_frames == Image.open(whole / "zoom.gif").n_frames
