"""Live stitching: a Stitcher fed frame by frame writes the very bytes `stitch()` writes
from the PNGs, reads back only what it must, and leaves nothing behind when abandoned."""

import threading
from dataclasses import replace

import cv2
import numpy as np
import pytest
from helpers import click_track, write_clip

from renderer.media import AudioSource, probe
from renderer.media.writer import GifWriter, Mp4Writer, write_gif, write_mp4
from renderer.rendering.stage_clock import StageClock
from renderer.rendering.stitch import PLAIN, Stitcher, stitch
from renderer.runtime.errors import DreamreelError

H, W = 37, 50  # odd height: the MP4 crops to even, the GIF downscales (max side 32)
GIF_SIDE = 32


def busy_frames(count, height=H, width=W, seed=0):
    """Noise drifting one pixel a frame: detail x264 must really encode, frames that
    correlate (as a dream's do), so motion search and lookahead have work to do."""
    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (height, width + count, 3), dtype=np.uint8)
    return [np.ascontiguousarray(texture[:, k : k + width]) for k in range(count)]


def save_pngs(out_dir, frames):
    folder = out_dir / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        assert cv2.imwrite(str(folder / f"{index + 1:06d}.png"), frame[..., ::-1])


def leftovers(folder):
    """Files a failed write may have left: outputs and temp files, hidden ones included."""
    return sorted(p.name for p in folder.iterdir() if p.is_file())


SETTINGS = {
    "plain": {},
    "hold_last": {"hold_last": 0.5},  # round(0.5 s * 8 fps) = 4 extra last frames
    "pingpong": {"pingpong": True, "hold_last": 0.25},  # 2 held where the loop turns
}
PLAY_ORDER = {
    "plain": [0, 1, 2, 3, 4, 5, 6],
    "hold_last": [0, 1, 2, 3, 4, 5, 6, 6, 6, 6, 6],
    "pingpong": [0, 1, 2, 3, 4, 5, 6, 6, 6, 5, 4, 3, 2, 1],
    "audio": [0, 1, 2, 3, 4, 5, 6],
}


@pytest.mark.parametrize("case", [*SETTINGS, "audio"])
def test_live_outputs_are_byte_identical_to_stitch_from_pngs(tmp_path, case):
    frames = busy_frames(7)
    save_pngs(tmp_path, frames)
    settings = dict(fps=8, output=replace(PLAIN, gif_max_side=GIF_SIDE, **SETTINGS.get(case, {})))
    if case == "audio":
        clip = write_clip(
            tmp_path / "clip.mkv", busy_frames(16, 32, 32), 8, audio=click_track(2.0, 0.3)
        )
        settings["audio"] = AudioSource(str(clip), start=0.125)

    reference = stitch(tmp_path, name="ref", **settings)
    read = []

    def read_frame(index):
        read.append(index)
        return frames[index]

    stitcher = Stitcher(tmp_path, name="live", count=len(frames), **settings)
    feeder = threading.Thread(  # as the frame loop does: behind the dream, on a worker
        target=lambda: [stitcher.add(i, frame) for i, frame in enumerate(frames)]
    )
    feeder.start()
    feeder.join()
    live = stitcher.finish(read_frame)

    # What stitching means, written without the Stitcher: the frames in playing order.
    played = [frames[i] for i in PLAY_ORDER[case]]
    write_mp4(tmp_path / "expected.mp4", played, 8, audio=settings.get("audio"))
    write_gif(tmp_path / "expected.gif", played, 8, max_side=GIF_SIDE)

    assert live == [tmp_path / "live.mp4", tmp_path / "live.gif"]
    for mine, theirs, suffix in zip(live, reference, (".mp4", ".gif"), strict=True):
        expected = (tmp_path / "expected").with_suffix(suffix).read_bytes()
        assert mine.read_bytes() == theirs.read_bytes() == expected, mine.name
    # Only the pingpong's way back is read again; the held last frame stays in memory.
    assert read == ([5, 4, 3, 2, 1] if case == "pingpong" else [])
    info = probe(live[0])
    assert info["frames"] == len(played)
    assert info["audio"] == ("aac" if case == "audio" else None)
    assert not [name for name in leftovers(tmp_path) if name.endswith(".partial")]


def zooming_noise(count, side=96, seed=1):
    """Noise zoomed in 25 % a frame (as the noise-zoom preset starts): on this, x264's
    SIMD MB-tree code gave other bytes in about every other encode."""
    rng = np.random.default_rng(seed)
    image, frames = rng.integers(0, 256, (side, side, 3), dtype=np.uint8), []
    for _ in range(count):
        frames.append(image)
        big = cv2.resize(image, None, fx=1.25, fy=1.25, interpolation=cv2.INTER_CUBIC)
        crop = (big.shape[0] - side) // 2
        noise = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        image = cv2.addWeighted(big[crop : crop + side, crop : crop + side], 0.9, noise, 0.1, 0)
    return frames


def test_x264_output_is_the_same_run_to_run(tmp_path):
    """Byte-identical live and from-disk outputs need a deterministic encoder."""
    clips = [zooming_noise(10), busy_frames(12, 144, 256)]  # the second: several threads
    for index, frames in enumerate(clips):
        encodes = set()
        for _run in range(10):
            write_mp4(tmp_path / "run.mp4", frames, 10)
            encodes.add((tmp_path / "run.mp4").read_bytes())
        assert len(encodes) == 1, f"clip {index}: {len(encodes)} different encodes"


def test_frames_out_of_order_are_refused(tmp_path):
    frames = busy_frames(3)
    stitcher = Stitcher(
        tmp_path, name="x", fps=8, count=3, output=replace(PLAIN, gif_max_side=GIF_SIDE)
    )
    with pytest.raises(ValueError, match="frame 1 .* frame 0 expected"):
        stitcher.add(1, frames[1])
    stitcher.add(0, frames[0])
    with pytest.raises(ValueError, match="frame 0 .* frame 1 expected"):
        stitcher.add(0, frames[0])
    with pytest.raises(ValueError, match="1 of 3 frames"):
        stitcher.finish(lambda index: frames[index])
    stitcher.add(1, frames[1])
    stitcher.add(2, frames[2])
    with pytest.raises(ValueError, match="frame 3 .* all 3 frames given already"):
        stitcher.add(3, frames[0])
    assert len(stitcher.finish(lambda index: frames[index])) == 2


def test_abandon_leaves_no_output_and_no_partial_file(tmp_path):
    frames = busy_frames(4)
    stitcher = Stitcher(
        tmp_path, name="x", fps=8, count=4, output=replace(PLAIN, gif_max_side=GIF_SIDE)
    )
    for index in range(3):
        stitcher.add(index, frames[index])
    # Mid-render the MP4 grows in the temp file a crash sweep (remove_partial_files) finds.
    [partial] = leftovers(tmp_path)
    assert partial.startswith(".x.mp4.") and partial.endswith(".partial")
    stitcher.abandon()
    stitcher.abandon()  # twice is fine
    assert leftovers(tmp_path) == []
    with pytest.raises(ValueError):
        stitcher.add(3, frames[3])


def test_a_frame_of_another_size_raises_and_leaves_nothing(tmp_path):
    frames = busy_frames(3)
    stitcher = Stitcher(
        tmp_path, name="x", fps=8, count=3, output=replace(PLAIN, gif_max_side=GIF_SIDE)
    )
    stitcher.add(0, frames[0])
    with pytest.raises(DreamreelError, match="frame 1 is 50x34, expected 50x36"):
        stitcher.add(1, frames[1][:34])
    assert leftovers(tmp_path) == []


def test_an_mp4_writer_error_deletes_its_temp_file(tmp_path):
    frames = busy_frames(2)
    writer = Mp4Writer(tmp_path / "x.mp4", 8)
    writer.add(frames[0])
    with pytest.raises(DreamreelError, match="all frames of a video must share one size"):
        writer.add(frames[1][:, :40])
    assert leftovers(tmp_path) == []
    writer.abandon()  # after the error: nothing left to do, no error


def test_a_failing_read_in_finish_leaves_nothing(tmp_path):
    frames = busy_frames(4)
    stitcher = Stitcher(
        tmp_path,
        name="x",
        fps=8,
        count=4,
        output=replace(PLAIN, pingpong=True, gif_max_side=GIF_SIDE),
    )
    for index, frame in enumerate(frames):
        stitcher.add(index, frame)

    def unreadable(index):
        raise DreamreelError(f"cannot read frame {index}")

    with pytest.raises(DreamreelError, match="cannot read frame 2"):
        stitcher.finish(unreadable)
    assert leftovers(tmp_path) == []


def test_the_clock_gets_the_encoders_time(tmp_path):
    clock = StageClock()
    frames = busy_frames(3)
    stitcher = Stitcher(
        tmp_path,
        name="x",
        fps=8,
        count=3,
        output=replace(PLAIN, hold_last=0.25, gif_max_side=GIF_SIDE),
        clock=clock,
    )
    for index, frame in enumerate(frames):
        stitcher.add(index, frame)
    stitcher.finish(lambda index: frames[index])
    assert {"encode_mp4", "encode_gif"} <= set(clock.seconds)


def test_writers_as_context_managers(tmp_path):
    frames = busy_frames(3)
    with Mp4Writer(tmp_path / "a.mp4", 8) as mp4, GifWriter(tmp_path / "a.gif", 8) as gif:
        for frame in frames:
            mp4.add(frame)
            gif.add(frame)
    assert (mp4.close(), gif.close()) == (3, 3)  # closed already: the count again
    assert probe(tmp_path / "a.mp4")["frames"] == 3

    with pytest.raises(RuntimeError, match="stop"):
        with Mp4Writer(tmp_path / "b.mp4", 8) as mp4:
            mp4.add(frames[0])
            raise RuntimeError("stop")
    with pytest.raises(DreamreelError, match="no frames to write"):
        with Mp4Writer(tmp_path / "c.mp4", 8):
            pass
    assert leftovers(tmp_path) == ["a.gif", "a.mp4"]
