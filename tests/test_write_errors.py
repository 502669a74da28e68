"""A write that fails (full disk, read-only, quota, permission, I/O error) stops a render
with one line naming the path and the free space there, and the store resumes into the
frames of an uninterrupted render (issue 9, item 5).

Failures are injected where the OS reports them: fsync of a file written atomically
(PNG, manifest, losses.csv's first row, GIF, the MP4's final rename), the fsync of an
appended losses.csv row, FFmpeg's muxer. One test fills a real, small tmpfs where the
machine allows mounting one.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import frame_bytes, set_args

from renderer.cli.main import main
from renderer.media.writer import Mp4Writer
from renderer.runtime import atomic_files as files
from renderer.runtime.atomic_files import format_bytes, write_error
from renderer.store import frame_store
from renderer.store.frame_store import done_frame_count

FRAMES = 5
TINY = [
    "width=64",
    "height=64",
    f"frames={FRAMES}",
    "dream.steps=2",
    "zoom.first_steps=2",
    "zoom.first_octaves=1",
]
ONE_LINE = re.compile(
    r"^dreamreel: error: cannot (write|append to) '(?P<path>[^']+)': "
    r"(?P<reason>[^(]+) \(\d[\d.]* (bytes|KB|MB|GB|TB|PB) free\)$"
)


def _argv(out: Path, *extra: str) -> list[str]:
    return ["render", "noise-zoom", *set_args([*TINY, *extra]), "--out", str(out), "--quiet"]


@pytest.fixture(scope="module")
def whole(embedded_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert main(_argv(out)) == 0
    return out


def test_the_line_names_the_path_the_reason_and_the_free_space(tmp_path):
    error = write_error(
        tmp_path / "frames" / "000012.png", OSError(errno.ENOSPC, "No space left on device")
    )
    free = format_bytes(shutil.disk_usage(tmp_path).free)
    assert str(error) == (
        f"cannot write '{tmp_path}/frames/000012.png': No space left on device ({free} free)"
    )


@pytest.mark.parametrize(
    "count, text",
    [(0, "0 bytes"), (212, "212 bytes"), (212 * 1024, "212 KB"), (5 * 2**30 + 2**29, "5.5 GB")],
)
def test_free_space_reads_like_a_person_writes_it(count, text):
    assert format_bytes(count) == text


# ---------------------------------------------------------------- injected failures


def _fail_atomic_writes(monkeypatch, name: str, *, from_nth: int = 1, code=errno.ENOSPC):
    """Atomic writes of files called ``name`` fail from the ``from_nth``-th on, when the
    temp file is synced (where a full disk or a quota shows up after buffered writes)."""
    real = files._fsync_file
    seen = []

    def fsync_file(path):
        if Path(path).name.startswith(f".{name}."):
            seen.append(path)
            if len(seen) >= from_nth:
                raise OSError(code, os.strerror(code))
        return real(path)

    monkeypatch.setattr(files, "_fsync_file", fsync_file)


class _OsFailingFsync:
    """``os`` as frame_store sees it, whose ``fsync`` fails on the ``nth`` call: the
    appended losses.csv rows (the first row comes with the header, atomically)."""

    def __init__(self, nth: int, code: int):
        self.nth, self.code, self.calls = nth, code, 0

    def __getattr__(self, name):
        return getattr(os, name)

    def fsync(self, fd):
        self.calls += 1
        if self.calls == self.nth:
            raise OSError(self.code, os.strerror(self.code))
        return os.fsync(fd)


def _fail_mp4_muxer_at(monkeypatch, frame: int):
    """FFmpeg's muxer failing on the ``frame``-th frame (1-based), as PyAV reports a full
    disk: an ``av.error.OSError``, which is an OSError."""
    real = Mp4Writer._encode

    def encode(self, picture):
        if self.count + 1 == frame:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, picture)

    monkeypatch.setattr(Mp4Writer, "_encode", encode)


CASES = {
    # case: (inject, the file named, frames done after the failure)
    "png": (lambda mp: _fail_atomic_writes(mp, "000003.png"), "frames/000003.png", 2),
    "png, I/O error": (
        lambda mp: _fail_atomic_writes(mp, "000003.png", code=errno.EIO),
        "frames/000003.png",
        2,
    ),
    "losses.csv, first row": (lambda mp: _fail_atomic_writes(mp, "losses.csv"), "losses.csv", 0),
    "losses.csv, appended row": (
        lambda mp: mp.setattr(frame_store, "os", _OsFailingFsync(2, errno.EDQUOT)),
        "losses.csv",
        2,
    ),
    "mp4, muxer": (lambda mp: _fail_mp4_muxer_at(mp, 3), "zoom.mp4", 3),
    "mp4, finished file": (lambda mp: _fail_atomic_writes(mp, "zoom.mp4"), "zoom.mp4", FRAMES),
    "gif": (lambda mp: _fail_atomic_writes(mp, "zoom.gif"), "zoom.gif", FRAMES),
    "manifest, first": (
        lambda mp: _fail_atomic_writes(mp, "manifest.json", code=errno.EROFS),
        "manifest.json",
        0,
    ),
    "manifest, last": (
        lambda mp: _fail_atomic_writes(mp, "manifest.json", from_nth=2),
        "manifest.json",
        FRAMES,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_failed_write_is_one_line_and_the_render_resumes(
    case, whole, tmp_path, monkeypatch, capsys
):
    inject, named, done = CASES[case]
    out = tmp_path / "render"
    inject(monkeypatch)
    code = main(_argv(out))
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    line = ONE_LINE.match(lines[0])
    assert line, lines[0]
    assert line["path"] == str(out / named)
    # The frame being written when it failed is not done; nothing half-written is left.
    assert done_frame_count(out) == done
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]
    if named.startswith("frames/"):
        assert not (out / named).exists()

    monkeypatch.undo()
    assert main(_argv(out)) == 0
    assert frame_bytes(out) == frame_bytes(whole)
    assert (out / "zoom.mp4").read_bytes() == (whole / "zoom.mp4").read_bytes()


# ---------------------------------------------------------------- a real full file system


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 192 KiB tmpfs (root only, where the kernel allows it); unmounted afterwards."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=192k", "tmpfs", str(mount_point)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_file_system_stops_the_render_and_it_resumes_with_space(
    small_tmpfs, embedded_cache, tmp_path, capsys
):
    """40 frames do not fit in 192 KiB: the write that fails is one line with the free
    space; given more space, the rerun continues into the frames of an uninterrupted one."""
    many = ["frames=40", "output.gif=false"]
    whole_40 = tmp_path / "whole"
    assert main(_argv(whole_40, *many)) == 0
    out = small_tmpfs / "render"
    capsys.readouterr()
    assert main(_argv(out, *many)) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and ONE_LINE.match(lines[0]), lines
    assert "No space left on device" in lines[0]
    assert 0 < done_frame_count(out) < 40
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]

    subprocess.run(["mount", "-o", "remount,size=8m", str(small_tmpfs)], check=True)
    assert main(_argv(out, *many)) == 0
    assert frame_bytes(out) == frame_bytes(whole_40)
    assert (out / "zoom.mp4").read_bytes() == (whole_40 / "zoom.mp4").read_bytes()
