"""One render per folder (issue 9, item 2): a second render or a stitch into a folder being
rendered refuses in one line naming the running one's pid; the lock dies with its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import set_args, start_render, wait_for_frames

from renderer.cli.main import main
from renderer.store.render_lock import LOCK_NAME, FolderBusy, render_lock

pytestmark = pytest.mark.skipif(os.name == "nt", reason="flock is POSIX")

REPO = Path(__file__).resolve().parent.parent
TINY = [
    "width=64",
    "height=64",
    "dream.steps=2",
    "zoom.first_steps=2",
    "zoom.first_octaves=1",
    "output.gif=false",
]

# Another process holding the folder's lock until its stdin closes.
HOLDER = """
import sys
from renderer.store.render_lock import render_lock
with render_lock(sys.argv[1], purpose=sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


def _hold_lock(folder: Path, purpose: str = "render") -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), purpose],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def _one_line(code, err) -> str:
    lines = err.strip().splitlines()
    assert code == 3 and len(lines) == 1 and lines[0].startswith("dreamreel: error: "), err
    return lines[0]


def test_a_folder_locked_by_another_process_is_refused_naming_its_pid(tmp_path, capsys):
    out = tmp_path / "render"
    holder = _hold_lock(out)
    try:
        with pytest.raises(FolderBusy, match=f"pid {holder.pid}") as busy:
            with render_lock(out):
                pass
        assert busy.value.pid == holder.pid
        line = _one_line(main(["stitch", str(out)]), capsys.readouterr().err)
        assert f"cannot stitch '{out}': a render is still running there (pid {holder.pid}" in line
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
    assert not (out / LOCK_NAME).exists()  # released: the file goes with it
    with render_lock(out):  # and the folder is free again
        assert (out / LOCK_NAME).is_file()


def test_a_stitch_running_keeps_a_render_out_and_says_so(tmp_path):
    holder = _hold_lock(tmp_path, purpose="stitch")
    try:
        with pytest.raises(
            FolderBusy,
            match=rf"is being stitched by another dreamreel "
            rf"\(pid {holder.pid}, started ",
        ):
            with render_lock(tmp_path):
                pass
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)


def test_a_lock_held_twice_in_one_process_is_reentrant(tmp_path):
    with render_lock(tmp_path):
        with render_lock(tmp_path):
            pass
        assert (tmp_path / LOCK_NAME).is_file()  # still held by the outer one
        holder = subprocess.run(
            [sys.executable, "-c", HOLDER, str(tmp_path), "render"],
            cwd=REPO,
            input="",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert f"pid {os.getpid()}" in holder.stderr
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_running_render_keeps_others_out_and_a_killed_one_leaves_no_stale_lock(
    tmp_path, capsys, embedded_cache
):
    """A real render in a child process: a second render and a stitch into its folder
    refuse; SIGKILL (no cleanup at all) frees the folder for the next render."""
    out = tmp_path / "render"
    args = ["noise-zoom", *set_args([*TINY, "frames=400"])]
    child = start_render(out, *args)
    try:
        wait_for_frames(child, out, 1)
        line = _one_line(
            main(["render", *args, "--out", str(out), "--quiet"]), capsys.readouterr().err
        )
        assert line.startswith(
            f"dreamreel: error: '{out}' is being rendered by another "
            f"dreamreel (pid {child.pid}, started "
        )
        line = _one_line(main(["stitch", str(out)]), capsys.readouterr().err)
        assert f"(pid {child.pid}," in line
        assert child.poll() is None  # neither disturbed the running render
        assert not list(out.glob("*.mp4"))  # nor stitched its half-done frames
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=60)
    assert (out / LOCK_NAME).is_file()  # SIGKILL skipped the cleanup: the file stays...
    with render_lock(out):  # ...but not the lock
        pass
    small = set_args([*TINY, "frames=3"])
    assert main(["render", "noise-zoom", *small, "--out", str(out), "--quiet", "--restart"]) == 0
