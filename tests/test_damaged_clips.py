"""Clips that cannot be decoded to their end: damaged in the middle or truncated, in MP4,
Matroska and AVI. The reader stops at the first frame it cannot give (InputEnded, "stopped
at frame k of n: <reason>"), never shifts later pictures into the gap, and a render keeps
the frames before the damage, says so, and stitches them only with video.allow_partial.

Note: damage a decoder merely conceals (garbled pictures, no error and no missing packet)
cannot be told from a real picture, and is not detected.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from helpers import decode_frames, read_until_stopped

from renderer.cli.main import main
from renderer.media import open_video
from renderer.media.truncated_input import InputEnded
from renderer.runtime.errors import DreamreelError

FRAMES = 96  # 4 s at 24 fps


def ffmpeg(*args) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *map(str, args)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def damage_middle(source: Path, target: Path) -> Path:
    """Zeros over an eighth of the file, from its middle."""
    data = bytearray(source.read_bytes())
    start = len(data) // 2
    data[start : start + len(data) // 8] = bytes(len(data) // 8)
    target.write_bytes(bytes(data))
    return target


def truncate(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) * 6 // 10])
    return target


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damaged")
    test_source = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=24:duration=4"]
    ffmpeg(*test_source, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", 12, folder / "whole.mp4")
    ffmpeg("-i", folder / "whole.mp4", "-c", "copy", folder / "whole.mkv")
    ffmpeg(
        "-i",
        folder / "whole.mp4",
        "-c",
        "copy",
        "-movflags",
        "+faststart",
        folder / "whole_faststart.mp4",
    )
    ffmpeg(*test_source, "-c:v", "mpeg4", "-g", 12, folder / "whole.avi")
    made = {}
    for name in ("whole.mp4", "whole.mkv", "whole.avi"):
        suffix = Path(name).suffix
        made[f"middle{suffix}"] = damage_middle(folder / name, folder / f"middle{suffix}")
    made["truncated.mkv"] = truncate(folder / "whole.mkv", folder / "truncated.mkv")
    made["truncated.avi"] = truncate(folder / "whole.avi", folder / "truncated.avi")
    made["truncated.mp4"] = truncate(folder / "whole_faststart.mp4", folder / "truncated.mp4")
    # moov (the index) at the end: cut off, nothing says what the file holds.
    made["no_index.mp4"] = truncate(folder / "whole.mp4", folder / "no_index.mp4")
    for name in ("whole.mp4", "whole.mkv", "whole.avi"):
        made[name] = folder / name
    # Whole AVIs that must not look damaged: dropped frames (empty chunks the index lists
    # but the demuxer skips) and sound interleaved between the video chunks.
    ffmpeg(
        *test_source,
        "-vf",
        r"select=not(between(n\,10\,14))",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "mpeg4",
        folder / "dropped.avi",
    )
    ffmpeg(
        *test_source,
        "-f",
        "lavfi",
        "-i",
        "sine=duration=4",
        "-c:v",
        "mpeg4",
        "-c:a",
        "pcm_s16le",
        folder / "sound.avi",
    )
    made["dropped.avi"], made["sound.avi"] = folder / "dropped.avi", folder / "sound.avi"
    return made


@pytest.mark.parametrize(
    "name",
    ["middle.mp4", "middle.mkv", "middle.avi", "truncated.mkv", "truncated.avi", "truncated.mp4"],
)
def test_a_damaged_clip_stops_at_the_first_frame_it_cannot_give(clips, name):
    whole = clips["whole" + Path(name).suffix]
    with open_video(whole) as clip:
        intact = list(clip.frames())
    assert len(intact) == FRAMES

    frames, stopped = read_until_stopped(clips[name])

    k = len(frames)
    assert 0 < k < FRAMES
    assert (stopped.frame, stopped.count) == (k, FRAMES)
    assert stopped.stopped_line().startswith(f"stopped at frame {k} of {FRAMES}: ")
    assert stopped.reason
    # Each frame is the clip's own frame: nothing after the damage moved into its place.
    # Frames in the first 30 (the damage starts in the middle of the file) are bit-exact;
    # past that a decoder may conceal broken pictures without an error (undetectable).
    for index, frame in enumerate(frames):
        assert nearest_frame(frame, intact) <= index
        if index < 30:
            assert np.array_equal(frame, intact[index]), f"frame {index} differs"


def nearest_frame(frame: np.ndarray, frames: list[np.ndarray]) -> int:
    errors = [np.abs(frame.astype(np.int16) - other).mean() for other in frames]
    return int(np.argmin(errors))


def test_the_reason_is_the_demuxers_own_words(clips):
    assert "File ended prematurely" in read_until_stopped(clips["truncated.mkv"])[1].reason
    assert "Invalid data" in read_until_stopped(clips["middle.mp4"])[1].reason


def test_whole_clips_read_to_their_end(clips):
    for name in ("whole.mp4", "whole.mkv", "whole.avi", "dropped.avi", "sound.avi"):
        with open_video(clips[name]) as clip:
            assert clip.promised_count == clip.frame_count == FRAMES
            assert len(list(clip.frames())) == FRAMES


def test_a_range_that_ends_before_the_damage_is_whole(clips):
    frames, stopped = read_until_stopped(clips["middle.mkv"])
    with open_video(clips["middle.mkv"], end_frame=stopped.frame) as clip:
        assert clip.promised_count == clip.frame_count == stopped.frame
        assert len(list(clip.frames())) == stopped.frame


def test_a_range_that_starts_past_the_damage_stops_at_once(clips):
    _, stopped = read_until_stopped(clips["truncated.mkv"])
    with pytest.raises(InputEnded) as late:
        open_video(clips["truncated.mkv"], start_frame=stopped.frame + 4)
    assert late.value.frame == 0
    assert "File ended prematurely" in str(late.value)


def test_resuming_past_the_damage_stops_at_the_same_frame(clips):
    _, stopped = read_until_stopped(clips["middle.mp4"])
    with open_video(clips["middle.mp4"]) as clip:
        frames = clip.frames(first=stopped.frame - 2)
        next(frames), next(frames)
        with pytest.raises(InputEnded) as again:
            next(frames)
    assert again.value.frame == stopped.frame


def test_an_mp4_without_its_index_is_one_line(clips):
    with pytest.raises(DreamreelError, match="not a media file ffmpeg can read"):
        open_video(clips["no_index.mp4"])


# ---------------------------------------------------------------- through a render

QUICK = [
    "--set",
    "video.every=2",
    "--set",
    "video.end=",
    "--set",
    "video.max_size=32",
    "--set",
    "dream.steps=1",
    "--set",
    "video.first_steps=1",
    "--set",
    "video.first_octaves=1",
    "--set",
    "flow.preset=ultrafast",
    "--set",
    "output.gif=false",
    "--quiet",
]


def render(capsys, clip, out, *extra):
    code = main(["render", "video-quick", "--input", str(clip), "--out", str(out), *QUICK, *extra])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", ["middle.mp4", "truncated.mkv"])
def test_a_render_keeps_the_frames_before_the_damage_and_stitches_them_only_if_allowed(
    capsys, tmp_path, clips, name, embedded_cache
):
    frames, stopped = read_until_stopped(clips[name])
    expected = (stopped.frame + 1) // 2  # every=2: frames 0, 2, ... before the damage
    out = tmp_path / "out"

    code, err = render(capsys, clips[name], out)

    lines = err.strip().splitlines()
    assert code == 4 and len(lines) == 1 and lines[0].startswith("dreamreel: error:"), err
    assert f"stopped at frame {expected} of {FRAMES // 2}" in lines[0]
    assert "video.allow_partial" in lines[0]
    kept = sorted((out / "frames").glob("*.png"))
    assert len(kept) == expected
    report = json.loads((out / "report.json").read_text())
    assert report["stopped"].startswith(f"stopped at frame {expected} of {FRAMES // 2}: ")
    assert not (out / "video.mp4").exists()  # nothing stitched from a short render
    before = [p.read_bytes() for p in kept]

    code, err = render(capsys, clips[name], out, "--set", "video.allow_partial=true")

    assert code == 0, err
    assert "warning" in err and f"stopped at frame {expected}" in err
    assert [p.read_bytes() for p in sorted((out / "frames").glob("*.png"))] == before
    assert len(decode_frames(out / "video.mp4")) == expected
    assert json.loads((out / "report.json").read_text())["partial"] is True
