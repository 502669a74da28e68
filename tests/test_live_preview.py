"""What a user can look at while a render runs (issue 20, item 2): OUT/latest.jpg, the frame
just stored, and OUT/preview.mp4, the frames so far every output.preview_every frames.

Renders here are tiny zooms into a smooth picture with no dream step (frames that differ
clearly, and survive JPEG and H.264 nearly intact) and ``pipeline = false``, so a frame is
stored when the progress callback hears of it and each preview is made in line. What is
checked is what a viewer opens: the JPEG and the MP4 as OpenCV and PyAV decode them.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import av
import cv2
import fsspec
import numpy as np
import pytest
from helpers import decode_frames, fetched, set_args

import renderer
from renderer.cli.main import main
from renderer.media.writer import write_mp4
from renderer.rendering import live_preview
from renderer.rendering.default_out import default_out
from renderer.rendering.live_preview import LivePreview
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError
from renderer.runtime.interrupts import Interrupted

SIZE = 64
TINY = [
    f"width={SIZE}",
    f"height={SIZE}",
    "dream.steps=0",
    "zoom.first_steps=0",
    "zoom.first_octaves=1",
    "zoom.scale=1.3",  # each frame clearly not the one before
    "output.gif=false",
    "pipeline=false",
]
VICTIM_BYTES = b"the user's precious file\n"
JPEG_ERROR = 5  # mean levels JPEG (quality 85) moves these frames by: about 3


def smooth_picture(path: Path) -> Path:
    """Gradients and a disc: JPEG and x264 keep it within a few levels."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    image = np.stack([x * 3.5, y * 3.5, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    cv2.circle(image, (40, 24), 12, (250, 240, 30), -1)
    cv2.imwrite(str(path), image[..., ::-1])
    return path


def render(tmp_path, out, *settings, progress=None, restart=False):
    picture = tmp_path / "picture.png"
    if not picture.exists():
        smooth_picture(picture)
    return renderer.render(
        "noise-zoom",
        input=picture,
        out=out,
        overrides=[*TINY, *settings],
        progress=progress,
        restart=restart,
    )


def stored(out: Path, count: int) -> np.ndarray:
    """Frame number ``count`` (1-based) as stored."""
    return cv2.imread(str(out / "frames" / f"{count:06d}.png"))[..., ::-1]


def latest(out: Path) -> np.ndarray:
    return cv2.imread(str(out / "latest.jpg"))[..., ::-1]


def error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def preview_frames(out: Path) -> list[np.ndarray] | None:
    path = out / "preview.mp4"
    return decode_frames(path) if path.exists() else None


def leftovers(out: Path) -> list[str]:
    """Temp files a write cut short would have left (hidden, ".partial")."""
    return [p.name for p in out.rglob("*") if p.name.endswith(".partial")]


pytestmark = pytest.mark.usefixtures("embedded_cache")


# ---------------------------------------------------------------- latest.jpg


def test_latest_jpg_is_each_frame_as_soon_as_it_is_stored(tmp_path):
    out = tmp_path / "out"
    seen = []

    def progress(done, total, loss):
        if done:
            shown = latest(out)
            mine = error(shown, stored(out, done))
            before = error(shown, stored(out, done - 1)) if done > 1 else np.inf
            seen.append((done, mine, before))

    render(tmp_path, out, "frames=4", progress=progress)
    assert [done for done, _, _ in seen] == [1, 2, 3, 4]
    for done, mine, before in seen:  # that frame within JPEG's error, not the one before
        assert mine < JPEG_ERROR and before > 2 * mine + JPEG_ERROR, (done, mine, before)
    assert error(latest(out), stored(out, 4)) < JPEG_ERROR  # the render's last frame stays
    assert not (out / "preview.mp4").exists()  # no preview unless asked for


def test_a_resumed_render_shows_its_last_kept_frame_before_dreaming_on(tmp_path):
    """An older run's latest.jpg (any picture) is replaced by the last frame kept, and
    preview_every, a display setting, resumes the same render (same default folder too)."""
    out = tmp_path / "out"
    render(tmp_path, out, "frames=3")
    cv2.imwrite(str(out / "latest.jpg"), np.zeros((SIZE, SIZE, 3), np.uint8))
    shown = {}

    def progress(done, total, loss):
        shown[done] = (error(latest(out), stored(out, done)), preview_frames(out))

    result = render(tmp_path, out, "frames=5", "output.preview_every=2", progress=progress)
    assert (result.frames, result.rendered) == (5, 2)  # resumed, not refused
    assert shown[3][0] < JPEG_ERROR  # before frame 4 is dreamed
    assert shown[4][1] is not None and len(shown[4][1]) == 4  # the kept frames in it too

    plain = load_spec("noise-zoom", TINY)
    assert default_out(plain) == default_out(load_spec(plain, ["output.preview_every=7"]))


# ---------------------------------------------------------------- preview.mp4


def test_preview_mp4_holds_the_frames_stored_so_far_and_goes_when_the_render_ends(tmp_path):
    out = tmp_path / "out"
    previews = {}

    def progress(done, total, loss):
        previews[done] = preview_frames(out)
        if previews[done] is not None:
            for index, frame in enumerate(previews[done]):
                assert error(frame, stored(out, index + 1)) < 6, (done, index)

    result = render(tmp_path, out, "frames=7", "output.preview_every=2", progress=progress)
    counts = {done: None if frames is None else len(frames) for done, frames in previews.items()}
    assert counts == {0: None, 1: None, 2: 2, 3: 2, 4: 4, 5: 4, 6: 6, 7: 6}
    assert not (out / "preview.mp4").exists()  # the render's own MP4 is there instead
    assert result.outputs == [out / "zoom.mp4"] and len(decode_frames(out / "zoom.mp4")) == 7
    assert leftovers(out) == []


def test_an_interrupted_render_keeps_its_last_whole_preview_and_latest_frame(tmp_path):
    out = tmp_path / "out"

    def stop_after_five(done, total, loss):
        if done == 5:
            raise Interrupted(signal.SIGINT)

    with pytest.raises(Interrupted):
        render(tmp_path, out, "frames=8", "output.preview_every=2", progress=stop_after_five)
    assert len(preview_frames(out) or []) == 4
    assert error(latest(out), stored(out, 5)) < JPEG_ERROR
    assert leftovers(out) == [] and not (out / "zoom.mp4").exists()

    render(tmp_path, out, "frames=8", "output.preview_every=2")  # resumed to the end
    assert not (out / "preview.mp4").exists() and (out / "zoom.mp4").is_file()


def test_without_preview_every_an_older_runs_preview_goes_and_none_is_made(tmp_path):
    out = tmp_path / "out"
    render(tmp_path, out, "frames=2")
    (out / "preview.mp4").write_bytes(b"an interrupted run's preview")
    present = []
    render(
        tmp_path,
        out,
        "frames=5",
        progress=lambda done, total, loss: present.append((out / "preview.mp4").exists()),
    )
    assert present == [False] * 4  # from the resume on (frames 2..5)


def test_restart_deletes_the_latest_frame_and_the_preview_with_the_old_frames(tmp_path):
    out = tmp_path / "out"
    render(tmp_path, out, "frames=2")
    (out / "preview.mp4").write_bytes(b"an interrupted run's preview")
    with pytest.raises(DreamreelError) as refused:  # another render: says what goes
        render(tmp_path, out, "frames=2", "seed=9")
    assert "losses.png, latest.jpg and preview.mp4" in str(refused.value)
    found = []

    def progress(done, total, loss):
        if done == 0:
            found.extend(p.name for p in out.iterdir())

    render(tmp_path, out, "frames=1", "output.preview_every=9", progress=progress, restart=True)
    assert "latest.jpg" not in found and "preview.mp4" not in found


# ---------------------------------------------------------------- OUT's managed names


@pytest.mark.skipif(os.name == "nt", reason="POSIX links")
@pytest.mark.parametrize("name", ["latest.jpg", "preview.mp4"])
def test_a_link_planted_at_a_preview_name_is_refused_and_its_target_kept(tmp_path, capsys, name):
    target = tmp_path / "victim.jpg"
    target.write_bytes(VICTIM_BYTES)
    out = tmp_path / "out"
    out.mkdir()
    (out / name).symlink_to(target)
    code = main(["render", "noise-zoom", *set_args(TINY), "--out", str(out), "--quiet"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert target.read_bytes() == VICTIM_BYTES and (out / name).is_symlink()
    assert code != 0 and len(lines) == 1 and "symbolic link" in lines[0] and name in lines[0]


@pytest.mark.skipif(os.name == "nt", reason="POSIX links")
def test_a_link_planted_mid_render_is_replaced_not_written_through(tmp_path):
    target = tmp_path / "victim.jpg"
    target.write_bytes(VICTIM_BYTES)
    (tmp_path / "out").mkdir()
    live = LivePreview(tmp_path / "out", read_frame=lambda i: None, fps=8, every=0)
    (tmp_path / "out" / "latest.jpg").symlink_to(target)
    live.show(np.full((20, 30, 3), 200, np.uint8))
    assert target.read_bytes() == VICTIM_BYTES
    assert not (tmp_path / "out" / "latest.jpg").is_symlink()
    assert latest(tmp_path / "out").shape == (20, 30, 3)


def test_a_folder_at_a_preview_name_is_refused_before_the_first_frame(tmp_path):
    (tmp_path / "latest.jpg" / "mine").mkdir(parents=True)
    with pytest.raises(DreamreelError) as refused:
        LivePreview(tmp_path, read_frame=lambda i: None, fps=8, every=0)
    assert "is a folder" in str(refused.value) and "\n" not in str(refused.value)
    assert (tmp_path / "latest.jpg" / "mine").is_dir()


@pytest.mark.parametrize("value", ["-1", '"x"', "2.5", "true", "100000000"])
def test_an_absurd_preview_every_is_refused_in_one_line(value):
    with pytest.raises(DreamreelError) as refused:
        load_spec("noise-zoom", [f"output.preview_every={value}"])
    assert "output.preview_every" in str(refused.value) and "\n" not in str(refused.value)


# ---------------------------------------------------------------- the preview's worker


def gradient_frames(count: int, height: int = 36, width: int = 48) -> list[np.ndarray]:
    """Smooth frames each a different brightness: which one a decoded frame is shows."""
    ramp = np.linspace(0, 100, width, dtype=np.float32)[None, :, None]
    return [
        np.broadcast_to(ramp + 12 * k, (height, width, 3)).astype(np.uint8) for k in range(count)
    ]


def test_previews_due_while_one_is_made_coalesce_into_one_and_never_hold_up_frames(
    tmp_path, monkeypatch
):
    frames = gradient_frames(10)
    gate, reads, encodes = threading.Event(), [], []

    def read_frame(index):
        reads.append(index)
        gate.wait()  # the first preview is slow: nine more fall due meanwhile
        return frames[index]

    def counted_write_mp4(*args, **kwargs):
        encodes.append(args[0])
        return write_mp4(*args, **kwargs)

    monkeypatch.setattr(live_preview, "write_mp4", counted_write_mp4)
    live = LivePreview(tmp_path, read_frame=read_frame, fps=8, every=1, threaded=True)
    feeder = threading.Thread(target=lambda: [live.stored(i, f) for i, f in enumerate(frames)])
    feeder.start()
    feeder.join(timeout=60)
    try:
        assert not feeder.is_alive(), "storing a frame waited for the preview being made"
    finally:
        gate.set()
    deadline = time.monotonic() + 120
    while len(preview_frames(tmp_path) or []) < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    live.close()
    made = preview_frames(tmp_path)
    assert made is not None and all(error(a, b) < 4 for a, b in zip(made, frames))
    assert sorted(reads) == list(range(10))  # each frame read once
    assert len(encodes) == 2  # frame 0's preview, then 1..9 joined on: not nine more
    assert leftovers(tmp_path) == []


def test_a_preview_cut_short_leaves_the_last_whole_one(tmp_path):
    """Ctrl-C (pipeline = false: in line) or the render's end (close, from the worker's
    thread) mid-preview: the one before stays, whole, and no temp file."""
    frames = gradient_frames(6)

    def interrupting(index):
        if index == 3:
            raise Interrupted(signal.SIGINT)
        return frames[index]

    live = LivePreview(tmp_path, read_frame=interrupting, fps=8, every=2, threaded=False)
    for index in range(3):
        live.stored(index, frames[index])
    with pytest.raises(Interrupted):
        live.stored(3, frames[3])
    assert len(preview_frames(tmp_path) or []) == 2 and leftovers(tmp_path) == []

    ending = threading.Thread(target=lambda: live.close())
    deadline = time.monotonic() + 120

    def closing(index):
        if index == 3:  # the render ends while frame 3 is read for the next preview
            ending.start()
            while not live._stop and time.monotonic() < deadline:  # close() told the worker
                time.sleep(0.01)
        return frames[index]

    other = tmp_path / "threaded"
    other.mkdir()
    live = LivePreview(other, read_frame=closing, fps=8, every=2, threaded=True)
    for index in range(2):
        live.stored(index, frames[index])
    while len(preview_frames(other) or []) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    for index in range(2, 4):
        live.stored(index, frames[index])
    while ending.ident is None and time.monotonic() < deadline:  # not started yet
        time.sleep(0.01)
    ending.join()
    assert len(preview_frames(other) or []) == 2 and leftovers(other) == []


def test_the_lead_in_is_left_out_of_the_preview_as_of_the_mp4(tmp_path):
    frames, on_disk = gradient_frames(4), {}
    live = LivePreview(
        tmp_path, read_frame=on_disk.__getitem__, fps=8, every=2, lead_in=2, threaded=False
    )
    for index, frame in enumerate(frames):
        on_disk[index] = frame  # what the store holds: the frames stored so far
        live.stored(index, frame)
    made = preview_frames(tmp_path)
    assert made is not None and all(error(a, b) < 4 for a, b in zip(made, frames[2:4]))
    assert len(made) == 2


def test_a_preview_replaced_or_removed_mid_render_is_made_anew(tmp_path):
    """Another program's file there, even an MP4 that would join (same size and codec),
    is not built on: the next preview holds the render's frames, all of them."""
    frames = gradient_frames(6)
    live = LivePreview(tmp_path, read_frame=frames.__getitem__, fps=8, every=2, threaded=False)
    for index in range(2):
        live.stored(index, frames[index])
    strangers = [255 - frame for frame in frames[:2]]
    write_mp4(tmp_path / "preview.mp4", strangers, 8, crf=live_preview.PREVIEW_CRF)
    for index in range(2, 4):
        live.stored(index, frames[index])
    made = preview_frames(tmp_path)
    assert made is not None and len(made) == 4
    assert all(error(a, b) < 4 for a, b in zip(made, frames))
    (tmp_path / "preview.mp4").unlink()
    for index in range(4, 6):
        live.stored(index, frames[index])
    assert len(preview_frames(tmp_path) or []) == 6


# ---------------------------------------------------------------- a URL's folder


def test_a_url_render_sends_its_views_up_and_removes_the_preview_when_done(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMREEL_STAGING", str(tmp_path / "staging"))
    url = "memory://renders/live-preview"
    fs, root = fsspec.core.url_to_fs(url)
    if fs.exists(root):
        fs.rm(root, recursive=True)

    def stop_after_three(done, total, loss):
        if done == 3:
            raise Interrupted(signal.SIGINT)

    with pytest.raises(Interrupted):
        render(tmp_path, url, "frames=6", "output.preview_every=2", progress=stop_after_three)
    interrupted = fetched(url, tmp_path / "interrupted")
    assert len(decode_frames(interrupted / "preview.mp4")) == 2
    assert error(latest(interrupted), stored(interrupted, 3)) < JPEG_ERROR

    render(tmp_path, url, "frames=6", "output.preview_every=2")
    done = fetched(url, tmp_path / "done")
    assert not (done / "preview.mp4").exists() and (done / "zoom.mp4").exists()
    assert error(latest(done), stored(done, 6)) < JPEG_ERROR
    with av.open(str(done / "zoom.mp4")) as clip:
        assert clip.streams.video[0].frames == 6
