"""Nothing outside OUT is written or deleted (issue 19, "Writes and deletes outside OUT").

Links planted in OUT (.lock, frames/, checkpoints/, losses.csv) change nothing they point
at; an input among OUT's managed files is refused before --restart can delete it; a
manifest.json dreamreel did not write is refused unless --restart, which says what it
deletes. Each effect is checked on the files themselves, not on the code's own report.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import set_args
from PIL import Image

from renderer.cli.main import main
from renderer.rendering.preflight import check_out_folder
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError
from renderer.store import render_lock as lock_module
from renderer.store.frame_store import FrameStore
from renderer.store.manifest import spec_hash
from renderer.store.out_folder import check_input_outside
from renderer.store.render_lock import LOCK_NAME, FolderBusy, render_lock

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX links and flock")

TINY = set_args(["width=32", "height=32", "dream.steps=1", "frames=2", "output.gif=false"])
VICTIM_BYTES = b"the user's precious file\n"


def victim(tmp_path: Path, name: str = "victim.txt") -> Path:
    path = tmp_path / name
    path.write_bytes(VICTIM_BYTES)
    return path


def one_line(code: int, err: str) -> str:
    """A refusal: exit 3 (refused), one line, nothing changed."""
    lines = err.strip().splitlines()
    assert code == 3 and len(lines) == 1 and lines[0].startswith("dreamreel: error: "), err
    return lines[0]


def render_cli(capsys, out: Path, *extra: str) -> tuple[int, str]:
    """`dreamreel render noise-zoom` (tiny) into ``out``: its exit status and stderr."""
    code = main(["render", "noise-zoom", *TINY, "--out", str(out), "--quiet", *extra])
    return code, capsys.readouterr().err


def attempt(action) -> str:
    """Run ``action``; the DreamreelError's message it raised ("" if none), so a test
    checks the files first and the refusal after."""
    try:
        action()
    except DreamreelError as error:
        return str(error)
    return ""


def lock_and_release(folder: Path) -> None:
    with render_lock(folder):
        pass


def write_png(path: Path, value: int = 90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(path)
    return path


def manifest() -> dict:
    spec = {"mode": "zoom", "fps": 8.0, "seed": 0, "dream": {"steps": 2}}
    return {"spec": spec, "spec_hash": spec_hash(spec), "model": {"name": "test"}}


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` by its path there, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- the lock file


def test_a_lock_linked_out_of_the_folder_leaves_its_target_untouched(tmp_path):
    target = victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).symlink_to(target)
    refusal = attempt(lambda: lock_and_release(out))
    assert target.read_bytes() == VICTIM_BYTES
    assert (out / LOCK_NAME).is_symlink()  # the user's link is theirs to remove
    assert "symbolic link" in refusal and "\n" not in refusal


def test_stitch_through_a_linked_lock_refuses_in_one_line_and_writes_nothing(tmp_path, capsys):
    target = victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).symlink_to(target)
    code = main(["stitch", str(out)])
    assert target.read_bytes() == VICTIM_BYTES
    line = one_line(code, capsys.readouterr().err)
    assert "symbolic link" in line and LOCK_NAME in line


def test_render_through_a_linked_lock_refuses_in_one_line_and_writes_nothing(tmp_path, capsys):
    target = victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).symlink_to(target)
    code, err = render_cli(capsys, out)
    assert target.read_bytes() == VICTIM_BYTES
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written in OUT
    assert "symbolic link" in one_line(code, err)


def test_a_lock_hard_linked_to_another_file_is_refused_and_that_file_kept(tmp_path):
    target = victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    os.link(target, out / LOCK_NAME)
    refusal = attempt(lambda: lock_and_release(out))
    assert target.read_bytes() == VICTIM_BYTES
    assert "hard link" in refusal


def test_a_lock_that_is_not_a_regular_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / LOCK_NAME)
    with pytest.raises(DreamreelError, match="not a regular file"):
        lock_and_release(tmp_path)


def _between_open_and_flock(monkeypatch, meddle) -> None:
    """Run ``meddle()`` once, after the lock file is opened and before it is locked: what
    another process may do in that instant."""
    real_flock = lock_module.fcntl.flock
    done = []

    def flock(fd, operation):
        if not done:
            done.append(True)
            meddle()
        return real_flock(fd, operation)

    monkeypatch.setattr(lock_module.fcntl, "flock", flock)


def test_a_lock_file_replaced_between_open_and_flock_is_locked_anew(tmp_path, monkeypatch):
    """The file opened was unlinked and a new one created and locked by another holder
    (its release, then its next render) before this flock: the flock succeeds on the old,
    orphaned file, and only the re-check after it keeps two renders out of one folder."""
    path = tmp_path / LOCK_NAME
    other = []

    def replace_and_hold():
        path.unlink()
        fd = os.open(path, os.O_RDWR | os.O_CREAT)
        lock_module.fcntl.flock(fd, lock_module.fcntl.LOCK_EX | lock_module.fcntl.LOCK_NB)
        os.write(fd, json.dumps({"pid": 4242, "purpose": "render"}).encode())
        other.append(fd)

    _between_open_and_flock(monkeypatch, replace_and_hold)
    try:
        with pytest.raises(FolderBusy, match="pid 4242"):
            lock_and_release(tmp_path)
        assert os.fstat(other[0]).st_ino == os.lstat(path).st_ino  # the other's file stays
    finally:
        for fd in other:
            os.close(fd)


def test_a_lock_file_swapped_for_a_link_to_it_before_flock_is_not_written(tmp_path, monkeypatch):
    """The path became a link to the file opened (moved elsewhere) before the flock: the
    re-check compares the path itself, so the moved file gets no holder record."""
    path = tmp_path / "out" / LOCK_NAME
    moved = tmp_path / "moved-away"

    def swap_for_link():
        path.rename(moved)
        path.symlink_to(moved)

    _between_open_and_flock(monkeypatch, swap_for_link)
    refusal = attempt(lambda: lock_and_release(path.parent))
    assert moved.read_bytes() == b""
    assert "symbolic link" in refusal


# ---------------------------------------------------------------- managed names as links


def test_restart_through_a_linked_frames_folder_deletes_nothing_there(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    kept = [write_png(elsewhere / f"{n:06d}.png", n) for n in (1, 2, 3)]
    out = tmp_path / "out"
    out.mkdir()
    (out / "frames").symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(elsewhere)
    code, err = render_cli(capsys, out, "--restart")
    assert all(path.exists() for path in kept) and snapshot(elsewhere) == before
    line = one_line(code, err)
    assert "symbolic link" in line and "frames" in line
    refusal = attempt(lambda: FrameStore(out, manifest(), restart=True))
    assert snapshot(elsewhere) == before
    assert "symbolic link" in refusal


def test_a_linked_checkpoints_folder_loses_no_file_to_rotation(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for n in (1, 2, 3):
        (elsewhere / f"{n:06d}.npz").write_bytes(b"not ours %d" % n)
    out = tmp_path / "out"
    out.mkdir()
    (out / "checkpoints").symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(elsewhere)
    # A resume keeps only the last done frame's checkpoint: here, none.
    refusal = attempt(lambda: FrameStore(out, manifest()))
    assert snapshot(elsewhere) == before
    assert "symbolic link" in refusal


def test_a_linked_loss_log_is_not_truncated(tmp_path):
    """A resume cuts losses.csv back to the done frames, in place: through a link that
    would cut the file it points at."""
    log = tmp_path / "their.csv"
    log.write_text("frame,final_loss,octave_losses,seconds\n1,0.5,[0.5],0.1\n2,0.5,[0.5],0.1\n")
    before = log.read_bytes()
    out = tmp_path / "out"
    write_png(out / "frames" / "000001.png")
    (out / "manifest.json").write_text(json.dumps(manifest()))
    (out / "losses.csv").symlink_to(log)
    refusal = attempt(lambda: FrameStore(out, manifest()))
    assert log.read_bytes() == before
    assert "symbolic link" in refusal


# ---------------------------------------------------------------- inputs inside OUT


@pytest.mark.parametrize("scheme", ["", "local://", "file://"])
def test_an_input_frames_folder_inside_out_survives_restart(tmp_path, capsys, scheme):
    """`--input R/frames --out R`, then the advice's --restart: the input is refused, not
    deleted; also where OUT is written as fsspec's URL of a local folder (a staging copy
    would hide the input from the check, and the mirror delete it)."""
    out = tmp_path / "R"
    frames = [write_png(out / "frames" / f"{n:06d}.png", 40 * n) for n in (1, 2, 3)]
    before = snapshot(out / "frames")
    code = main(
        [
            "render",
            "video-quick",
            *set_args(["width=32", "height=32", "dream.steps=1"]),
            "--input",
            str(out / "frames"),
            "--out",
            f"{scheme}{out}",
            "--quiet",
            "--restart",
        ]
    )
    assert all(path.exists() for path in frames) and snapshot(out / "frames") == before
    line = one_line(code, capsys.readouterr().err)
    assert "the input" in line and "--restart deletes" in line


@pytest.mark.parametrize(
    "relative",
    [
        "frames/000001.png",
        "checkpoints/000001.npz",
        "losses.csv",
        "manifest.json",
        "zoom.mp4",  # the render's own MP4 replaces it
        ".",  # OUT itself, as an input folder: its images are the render's own files
    ],
)
def test_inputs_among_the_managed_files_are_refused(tmp_path, relative):
    out = tmp_path / "out"
    with pytest.raises(DreamreelError, match="choose another --out") as refused:
        check_input_outside(out, out / relative, mode="zoom")
    assert "\n" not in str(refused.value)
    check_input_outside(out, tmp_path / "frames" / "000001.png", mode="zoom")  # outside: fine
    check_input_outside(out, out / "my-clip.mp4", mode="zoom")  # the user's file in OUT: fine


def test_an_input_reached_through_a_link_is_refused_where_it_resolves(tmp_path):
    out = tmp_path / "out"
    write_png(out / "frames" / "000001.png")
    (tmp_path / "shortcut").symlink_to(out / "frames", target_is_directory=True)
    with pytest.raises(DreamreelError, match="inside"):
        check_input_outside(out, tmp_path / "shortcut" / "000001.png")


@pytest.mark.parametrize(
    ("setting", "what"),
    [
        ("mask", "mask"),
        ("audio", "audio track"),
        ("objective", "objective guide image"),
        ("morph.images", "morph image"),
    ],
)
def test_every_kind_of_input_is_checked_before_the_render(tmp_path, setting, what):
    out = tmp_path / "out"
    inside = out / "frames" / "000001.png"
    overrides = {
        "mask": [f"mask={inside}"],
        "audio": [],
        "objective": [f"objective=guide:{inside}"],
        "morph.images": [f'morph.images=["{inside}"]'],
    }[setting]
    audio = str(inside) if setting == "audio" else None
    spec = load_spec("morph" if setting == "morph.images" else "noise-zoom", overrides, audio=audio)
    with pytest.raises(DreamreelError, match=f"the {what} "):
        check_out_folder(spec, out, restart=True)


# ---------------------------------------------------------------- a foreign manifest.json


def test_a_foreign_manifest_is_refused_saying_what_restart_deletes(tmp_path):
    out = tmp_path / "site"
    theirs = json.dumps({"name": "my-web-app", "icons": []})
    (out / "frames").mkdir(parents=True)
    (out / "manifest.json").write_text(theirs)
    message = attempt(lambda: FrameStore(out, manifest()))
    assert (out / "manifest.json").read_text() == theirs
    assert "not dreamreel's" in message and "add --restart" in message
    assert "nothing else" in message and "\n" not in message

    write_png(out / "frames" / "000001.png")
    write_png(out / "frames" / "000002.png")
    (out / "losses.csv").write_text("frame,final_loss,octave_losses,seconds\n")
    message = attempt(lambda: FrameStore(out, manifest()))
    assert (out / "manifest.json").read_text() == theirs
    said = "delete 2 frames (frames/000001.png to frames/000002.png) and losses.csv there"
    assert said in message


def test_restart_replaces_a_foreign_manifest_and_deletes_what_it_said(tmp_path):
    out = tmp_path / "site"
    frame = write_png(out / "frames" / "000001.png")
    (out / "manifest.json").write_text("not json at all")
    refusal = attempt(lambda: FrameStore(out, manifest()))
    assert (out / "manifest.json").read_text() == "not json at all" and frame.exists()
    assert "unreadable manifest.json" in refusal and "1 frame (frames/000001.png)" in refusal
    FrameStore(out, manifest(), restart=True)
    assert json.loads((out / "manifest.json").read_text())["spec_hash"] == manifest()["spec_hash"]
    assert not frame.exists()


def test_a_render_into_a_folder_with_a_foreign_manifest_refuses_before_loading(tmp_path, capsys):
    out = tmp_path / "site"
    out.mkdir()
    theirs = json.dumps({"spec": "a string, not a table", "version": 3})
    (out / "manifest.json").write_text(theirs)
    code, err = render_cli(capsys, out)
    assert (out / "manifest.json").read_text() == theirs
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]
    line = one_line(code, err)
    assert "not dreamreel's" in line and "add --restart" in line


def test_a_release_leaves_a_lock_file_that_is_no_longer_its_own(tmp_path):
    """Whoever put another file at OUT/.lock meanwhile keeps it: a release removes only
    the file it locked."""
    path = tmp_path / LOCK_NAME
    with render_lock(tmp_path):
        path.unlink()
        path.write_text("someone else's")
    assert path.read_text() == "someone else's"


def test_a_chunked_render_refuses_its_own_assembled_clip_as_input(tmp_path):
    """A chunked video writes OUT/frames and OUT/video.mp4 itself: a clip there as its
    input is refused before any chunk starts, and stays as it was."""
    from helpers import write_clip

    from renderer.distributed.chunk_render import render_chunked

    out = tmp_path / "out"
    out.mkdir()
    clip = write_clip(out / "video.mp4", [np.full((32, 48, 3), 90, np.uint8)] * 6, 6)
    before = clip.read_bytes()
    spec = load_spec("progress", ["mode=video"], input=str(clip))
    with pytest.raises(DreamreelError, match="video.mp4") as refused:
        render_chunked(spec, out=out, chunks=2)
    assert "\n" not in str(refused.value)
    assert clip.read_bytes() == before and sorted(p.name for p in out.iterdir()) == ["video.mp4"]


def _chunked_into(out: Path, **options):
    from helpers import write_clip

    from renderer.distributed.chunk_render import render_chunked

    clip = write_clip(out.parent / "clip.mp4", [np.full((32, 48, 3), 90, np.uint8)] * 6, 6)
    spec = load_spec("progress", ["mode=video"], input=str(clip))
    return render_chunked(spec, out=out, chunks=2, **options)


def test_a_chunked_render_refuses_a_foreign_manifest(tmp_path):
    """A chunked render rewrites OUT/manifest.json: another tool's is refused before
    any chunk starts."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"tool": "x"}')
    with pytest.raises(DreamreelError, match="not dreamreel's"):
        _chunked_into(out)
    assert (out / "manifest.json").read_text() == '{"tool": "x"}'


def test_a_chunked_render_refuses_a_linked_chunks_folder(tmp_path):
    """Each chunk's --restart deletes in OUT/chunks/<range>: a chunks folder that is a
    link out of OUT is refused, and what it points at is left as it was."""
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    write_png(elsewhere / "000000-000006" / "frames" / "000001.png")  # the one chunk here
    (out / "chunks").symlink_to(elsewhere, target_is_directory=True)
    before = tree(elsewhere)
    with pytest.raises(DreamreelError, match="symbolic link"):
        _chunked_into(out, restart=True)
    assert tree(elsewhere) == before


def test_a_chunked_renders_own_manifest_is_dreamreels():
    """It has no spec_hash on purpose (a plain render there is refused as a different
    render, not resumed), and is still dreamreel's."""
    from renderer.store.manifest import not_dreamreels

    assert not_dreamreels({"spec": {"mode": "video"}, "chunked": True}) is None
    assert not_dreamreels({"spec": {"mode": "video"}}) == "no spec_hash"


def test_dry_run_and_a_batchs_checks_refuse_what_the_render_would(tmp_path, capsys):
    """`--dry-run` refuses an OUT the render would refuse (here a frames folder linked
    out of it), and so does `dreamreel batch`'s check of every job before the first one
    renders, naming the job."""
    from renderer.distributed.batch_jobs import check_jobs, read_jobs

    out = tmp_path / "R"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    write_png(elsewhere / "000001.png")
    (out / "frames").symlink_to(elsewhere, target_is_directory=True)
    code, err = render_cli(capsys, out, "--dry-run")
    assert "symbolic link" in one_line(code, err)

    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        '[[job]]\nname = "first"\npreset = "noise-zoom"\n\n'
        f'[[job]]\nname = "second"\npreset = "noise-zoom"\nout = "{out}"\n'
    )
    with pytest.raises(DreamreelError, match="job 'second'.*symbolic link"):
        check_jobs(read_jobs(jobs, tmp_path / "batch"), str(jobs))
