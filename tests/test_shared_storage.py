"""Render folders at a URL (issue 12, item 3): a render into an fsspec URL leaves there the
folder a local render would, whole frames only and each listed after it is there, and
resumes from it; a worker killed mid-render leaves a folder that resumes to the frames of
one uninterrupted run. S3 is moto's local server (tests/conftest.py s3_server)."""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import shutil
import signal
import subprocess
import time

import fsspec
import fsspec.implementations.local
import pytest
from helpers import decode_frames, dreamreel_argv, fetched, frame_bytes, set_args

from renderer import render
from renderer.cli.main import main
from renderer.media.images import read_image
from renderer.runtime.errors import DreamreelError
from renderer.store import shared_storage
from renderer.store.frame_names import numbered_frame_files

pytestmark = pytest.mark.usefixtures("embedded_cache")

TINY = [
    "width=64",
    "height=64",
    "dream.steps=2",
    "zoom.first_steps=2",
    "zoom.first_octaves=1",
    "output.gif=false",
]


@pytest.fixture
def staging(tmp_path, monkeypatch):
    folder = tmp_path / "staging"
    monkeypatch.setenv("DREAMREEL_STAGING", str(folder))
    return folder


def test_a_render_at_a_url_resumes_to_the_frames_of_one_run(tmp_path, staging, capsys):
    url = "memory://renders/resumes"
    render("noise-zoom", out=url, overrides=[*TINY, "frames=3"])
    result = render("noise-zoom", out=url, overrides=[*TINY, "frames=6"])
    assert (result.frames, result.rendered) == (6, 3)
    assert result.out_dir == url and result.outputs == [f"{url}/zoom.mp4"]
    render("noise-zoom", out=tmp_path / "local", overrides=[*TINY, "frames=6"])
    copy = fetched(url, tmp_path / "copy")
    assert frame_bytes(copy) == frame_bytes(tmp_path / "local")
    assert len(decode_frames(copy / "zoom.mp4")) == 6
    assert {p.name for p in copy.iterdir()} == {
        p.name for p in (tmp_path / "local").iterdir() if not p.name.startswith(".")
    }
    assert os.listdir(staging) == []  # the staging copy goes when the render ends
    with pytest.raises(DreamreelError) as refused:  # another render's frames are there
        render("noise-zoom", out=url, overrides=[*TINY, "frames=6", "seed=5"])
    assert str(refused.value).startswith(f"{url} holds frames") and "staging" not in str(
        refused.value
    )
    fs, root = fsspec.core.url_to_fs(url)
    fs.rm_file(f"{root}/zoom.mp4")
    assert main(["stitch", url]) == 0  # fetched, stitched, put back
    assert capsys.readouterr().out.strip() == f"wrote {url}/zoom.mp4"
    assert fs.isfile(f"{root}/zoom.mp4")


def test_every_row_at_the_url_has_its_frame_there_while_rendering(staging, monkeypatch):
    """The log goes up after the frames it lists, at every sync of a running render; the
    latest frame goes up as it changes, for whoever watches the URL."""
    url = "memory://renders/ordered"
    monkeypatch.setattr(shared_storage, "_SYNC_SECONDS", 0.005)
    put = shared_storage.Mirror._put
    checked, missing, latest = [], [], []

    def checking_put(mirror, relative, upload):
        put(mirror, relative, upload)
        if relative == "latest.jpg":
            latest.append(mirror.fs.cat(f"{mirror.root}/latest.jpg"))
        if relative == "losses.csv":
            rows = list(
                csv.DictReader(io.StringIO(mirror.fs.cat(f"{mirror.root}/losses.csv").decode()))
            )
            checked.append(len(rows))
            missing.extend(
                row["frame"]
                for row in rows
                if not mirror.fs.isfile(f"{mirror.root}/frames/{int(row['frame']):06d}.png")
            )

    monkeypatch.setattr(shared_storage.Mirror, "_put", checking_put)
    render("noise-zoom", out=url, overrides=[*TINY, "frames=40"])
    assert missing == []
    assert len(set(checked)) > 2 and max(checked) == 40  # logs of several lengths went up
    assert len(set(latest)) > 2  # several frames went up as latest.jpg, not the last alone


def _rows_at(fs, root: str) -> int:
    try:
        return len(fs.cat(f"{root}/losses.csv").decode().splitlines()) - 1
    except FileNotFoundError:
        return 0


def test_a_worker_killed_mid_render_leaves_a_url_that_resumes(s3_bucket, staging, tmp_path):
    url = f"{s3_bucket}/zoom"
    settings = [*TINY, "frames=80"]
    child = subprocess.Popen(
        dreamreel_argv("render", "noise-zoom", *set_args(settings), "--out", url, "--quiet"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    fs, root = fsspec.core.url_to_fs(url, skip_instance_cache=True)
    try:
        deadline = time.monotonic() + 240
        while _rows_at(fs, root) < 3:  # frames at the URL while the render runs
            assert child.poll() is None, child.stderr.read().decode(errors="replace")
            assert time.monotonic() < deadline, "no frame reached the URL"
            time.sleep(0.05)
            fs.invalidate_cache()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert len(os.listdir(staging)) == 1  # the killed render's copy, until the next one
    copy = fetched(url, tmp_path / "killed")
    rows = list(csv.DictReader((copy / "losses.csv").open()))
    assert 3 <= len(rows) < 80  # killed midway
    for row in rows:  # each listed frame is there, whole
        assert read_image(copy / "frames" / f"{int(row['frame']):06d}.png").shape == (64, 64, 3)

    result = render("noise-zoom", out=url, overrides=settings)
    assert os.listdir(staging) == []  # swept: its process is gone
    assert result.frames == 80 and 0 < result.rendered <= 80 - len(rows)
    render("noise-zoom", out=tmp_path / "local", overrides=settings)
    assert frame_bytes(fetched(url, tmp_path / "resumed")) == frame_bytes(tmp_path / "local")
    assert len(numbered_frame_files(tmp_path / "resumed" / "frames")) == 80


def test_a_url_that_cannot_be_used_is_one_line(s3_server, tmp_path, capsys):
    assert main(["render", "noise-zoom", "--out", "nope://renders/x"]) == 2
    assert capsys.readouterr().err.strip() == (
        "dreamreel: error: cannot use nope://renders/x: Protocol not known: nope"
    )
    if importlib.util.find_spec("gcsfs") is None:  # a protocol whose library is missing
        assert main(["render", "noise-zoom", "--out", "gs://renders/x"]) == 2
        assert capsys.readouterr().err.strip() == (
            "dreamreel: error: cannot use gs://renders/x: Please install gcsfs to access "
            "Google Storage (pip install 'dreamreel[gcs]')"
        )
    assert (
        main(
            [
                "render",
                "noise-zoom",
                "--out",
                "s3://no-such-bucket/x",
                "--quiet",
                *set_args([*TINY, "frames=2"]),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith("dreamreel: error: cannot write s3://no-such-bucket/x: ")
    assert "\n" not in err and "Traceback" not in err


def test_a_staging_copy_removed_mid_render_keeps_every_frame_at_the_url(tmp_path, staging):
    """Issue 19: a staging copy that vanishes mid-render (a temp cleaner, another host)
    must not turn the URL's frames into nothing: the render fails, the URL keeps them."""
    url = "memory://renders/vanished"
    render("noise-zoom", out=url, overrides=[*TINY, "frames=3"])
    fs, root = fsspec.core.url_to_fs(url)
    before = sorted(fs.find(root))

    def remove_the_copy(done, total, loss):
        if done == 4:  # frames 0..3 dreamed: the copy goes from under the render
            for copy in staging.iterdir():
                shutil.rmtree(copy)

    with pytest.raises((DreamreelError, OSError)):
        render("noise-zoom", out=url, overrides=[*TINY, "frames=8"], progress=remove_the_copy)
    after = sorted(fs.find(root))
    assert set(before) <= set(after)  # nothing deleted at the URL
    assert len(fetched(url, tmp_path / "copy").joinpath("losses.csv").read_text().splitlines()) >= 4


def test_what_a_restart_removes_goes_at_the_url_too(tmp_path, staging):
    """Removals the render made itself still reach the URL: --restart into fewer frames
    leaves exactly those frames there, and the checkpoints rotate there as in the copy."""
    url = "memory://renders/restarted"
    render("noise-zoom", out=url, overrides=[*TINY, "frames=5"])
    render("noise-zoom", out=url, overrides=[*TINY, "frames=2", "seed=9"], restart=True)
    render("noise-zoom", out=tmp_path / "local", overrides=[*TINY, "frames=2", "seed=9"])
    copy = fetched(url, tmp_path / "copy")
    assert frame_bytes(copy) == frame_bytes(tmp_path / "local")
    assert len(numbered_frame_files(copy / "frames")) == 2


@pytest.mark.parametrize(
    "url", ["memory://renders/x/..", "memory://renders/./x", "memory://renders//x", "s3://"]
)
def test_a_url_path_with_dot_or_empty_parts_is_one_line(url, staging, capsys):
    """A URL ending in '..' would make the staging folder itself the copy (and send its
    neighbours up): refused before anything is fetched or written."""
    assert main(["render", "noise-zoom", "--out", url, "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"dreamreel: error: {url.rstrip('/')}") or err.startswith(
        f"dreamreel: error: {url}"
    )
    assert "'..' parts" in err and "\n" not in err
    assert not staging.exists() or os.listdir(staging) == []


@pytest.mark.skipif(os.name == "nt", reason="POSIX flock")
def test_a_staging_copy_is_swept_only_when_no_render_holds_it(tmp_path):
    """A render in another container sharing the staging folder has a process id this
    one cannot see: its copy must stay while its lock is held, and go once it is not."""
    import fcntl

    copy = tmp_path / f"{shared_storage._STAGING_PREFIX}999999999-abc"
    copy.mkdir()
    (copy / "out").mkdir()
    fd = os.open(copy / ".lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "another container's" live render
    try:
        shared_storage._sweep_stale(str(tmp_path))
        assert copy.is_dir()
    finally:
        os.close(fd)  # that render ends (or is killed): the kernel lets go of its lock
    shared_storage._sweep_stale(str(tmp_path))
    assert not copy.exists()


class InPlaceFileSystem(fsspec.implementations.local.LocalFileSystem):
    """This machine's files under a protocol of their own: a URL whose uploads write in
    place, as sftp:// or smb:// do."""

    protocol = "inplace"

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(str(path).removeprefix("inplace://"))


def test_a_protocol_that_writes_in_place_never_shows_a_partial_file(tmp_path, staging):
    """A protocol that writes a file as its bytes arrive (sftp://, smb://: here a local
    file system registered under its own name, since file:// and local:// are local
    paths) gets a folder made for it, and every upload is caught half written: no file a
    reader sees at the URL (none hidden) may hold those half bytes."""
    from fsspec.implementations.local import LocalFileSystem

    fsspec.register_implementation("inplace", InPlaceFileSystem, clobber=True)
    folder = tmp_path / "bucket" / "render"
    halves_shown = []  # per upload: whether a visible file held its first half

    def half_first(fs, target: str, data: bytes) -> None:
        target = fs._strip_protocol(target)
        if os.path.basename(target).startswith(".dreamreel-probe"):
            return
        os.makedirs(os.path.dirname(target), exist_ok=True)
        half = data[: len(data) // 2]
        with open(target, "wb") as partial:  # the first half on disk, the rest still coming
            partial.write(half)
        visible = [
            path
            for path in folder.rglob("*")
            if path.is_file() and not any(p.startswith(".") for p in path.relative_to(folder).parts)
        ]
        halves_shown.append(any(path.read_bytes() == half for path in visible))

    def put_file(self, lpath, rpath, *args, **kwargs):
        half_first(self, rpath, open(lpath, "rb").read())
        return put_original(self, lpath, rpath, *args, **kwargs)

    def pipe_file(self, path, value, *args, **kwargs):
        half_first(self, path, value)
        return pipe_original(self, path, value, *args, **kwargs)

    put_original, pipe_original = LocalFileSystem.put_file, LocalFileSystem.pipe_file
    mp = pytest.MonkeyPatch()
    mp.setattr(LocalFileSystem, "put_file", put_file)
    mp.setattr(LocalFileSystem, "pipe_file", pipe_file)
    try:
        render("noise-zoom", out=f"inplace://{folder}", overrides=[*TINY, "frames=2"])
    finally:
        mp.undo()
    assert len(halves_shown) >= 5 and not any(halves_shown), halves_shown
    assert len(numbered_frame_files(folder / "frames")) == 2
    assert len((folder / "losses.csv").read_text().splitlines()) == 3
