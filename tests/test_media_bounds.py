"""Resources bounded by what a clip holds, not by what its timestamps or header claim.

Each test makes a tiny clip with PyAV whose numbers lie (a packet stamped a month or
half an hour ahead, a header promising 20 million frames) and checks what a player
would do: the sound under the MP4 stays within the video's range and lands at its own
time, and a clip claims no more frames than its packets could hold (or is refused in
one line). The output is read back with PyAV directly, not with the code under test.
"""

from __future__ import annotations

import struct
import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest
from helpers import click_time, click_track, write_clip

from renderer.media import open_video
from renderer.media.audio import AudioSource
from renderer.media.timeline import SLOWEST_RATE, build_timeline, tidy_rate
from renderer.media.truncated_input import InputEnded
from renderer.media.writer import write_mp4
from renderer.runtime.errors import DreamreelError

RATE = 48000
SIDE = 32
MONTH_S = 30 * 86400


def grey_frames(count):
    return [np.full((SIDE, SIDE, 3), 16 * (i % 16), np.uint8) for i in range(count)]


def write_stamped_clip(path, picture_stamps, time_base, fmt, *, rate=24, sound=()):
    """MJPEG pictures at `picture_stamps` (time_base units) and, in `sound`, PCM chunks
    as (first sample on the 48 kHz clock, (channels, n) float samples), muxed as given."""
    # MP4 on a timescale of the rate: on its default (1/12288) a month overflows 32 bits.
    options = {"video_track_timescale": str(rate)} if fmt == "mp4" else {}
    with av.open(str(path), "w", format=fmt, options=options) as container:
        video = container.add_stream("mjpeg", rate=rate)
        video.width = video.height = SIDE
        video.pix_fmt = "yuvj420p"
        video.codec_context.time_base = time_base
        audio = None
        if sound:
            layout = "mono" if sound[0][1].shape[0] == 1 else "stereo"
            audio = container.add_stream("pcm_s16le", rate=RATE, layout=layout)
        for image, stamp in zip(grey_frames(len(picture_stamps)), picture_stamps):
            picture = av.VideoFrame.from_ndarray(image, format="rgb24")
            picture.pts = stamp
            container.mux(video.encode(picture))
        container.mux(video.encode(None))
        for first, samples in sound:
            pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
            chunk = av.AudioFrame.from_ndarray(
                pcm.T.reshape(1, -1).copy(), format="s16", layout=audio.layout.name
            )
            chunk.sample_rate, chunk.pts, chunk.time_base = RATE, first, Fraction(1, RATE)
            container.mux(audio.encode(chunk))
        if audio is not None:
            container.mux(audio.encode(None))
    return path


def sound_seconds(path):
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


# ---------------------------------------------------------------- sound


@pytest.mark.parametrize("channels", [1, 2])
def test_sound_stamped_half_an_hour_ahead_is_dropped_not_allocated(tmp_path, channels):
    """0.5 s of video; the sound: 0.1 s of silence, a gap, a click stamped at 0.3 s
    (centred 0.32 s), then a loud chunk stamped 30 minutes ahead. The MP4's sound lasts
    the video's 0.5 s with the click in place, and writing it takes a few MB at most
    (filling the gap to the far chunk, then copying it, took ~660 MB a channel)."""
    click = np.repeat(click_track(0.05, 0.02)[None], channels, axis=0)
    sound = [
        (0, np.zeros((channels, round(0.1 * RATE)), np.float32)),
        (round(0.3 * RATE), click),
        (1800 * RATE, np.full((channels, 1024), 0.9, np.float32)),
    ]
    clip = write_stamped_clip(
        tmp_path / "jump.mkv", range(12), Fraction(1, 24), "matroska", sound=sound
    )
    assert clip.stat().st_size < 64_000  # what it claims would cost, not its size

    out = tmp_path / "out.mp4"
    tracemalloc.start()
    try:
        write_mp4(out, grey_frames(12), 24, audio=AudioSource(str(clip)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"writing 0.5 s of sound took {peak / 2**20:.0f} MB"
    assert sound_seconds(out) == pytest.approx(0.5, abs=0.001)
    assert click_time(out) == pytest.approx(0.32, abs=0.003)  # the far chunk is not in it


def test_a_beep_keeps_its_time_from_the_start_and_from_a_later_start(tmp_path):
    """A plain clip: the beep 0.5 s in stays at 0.5 s, and at 0.25 s from a 0.25 s start;
    the sound lasts exactly as long as each video."""
    clip = write_clip(tmp_path / "beep.mkv", grey_frames(16), 8, audio=click_track(2.0, 0.5))
    whole, later = tmp_path / "whole.mp4", tmp_path / "later.mp4"
    write_mp4(whole, grey_frames(16), 8, audio=AudioSource(str(clip)))
    write_mp4(later, grey_frames(6), 8, audio=AudioSource(str(clip), start=0.25))
    assert click_time(whole) == pytest.approx(0.5, abs=0.003)
    assert sound_seconds(whole) == pytest.approx(2.0, abs=0.001)
    assert click_time(later) == pytest.approx(0.25, abs=0.003)
    assert sound_seconds(later) == pytest.approx(0.75, abs=0.001)


# ---------------------------------------------------------------- frame counts


@pytest.mark.parametrize("fmt", ["matroska", "mp4"])
@pytest.mark.parametrize("pictures", [12, 2])
def test_a_timestamp_a_month_ahead_is_refused_in_one_line(tmp_path, fmt, pictures):
    """The last picture stamped 30 days after the others: 62 million frames at 24 fps
    (or, with two pictures, a rate that rounded to 0 fps) from a few KB. Refused in one
    line that gives the numbers, quickly, before anything is sized to the count."""
    stamps = [*range(pictures - 1), MONTH_S * 24]
    clip = write_stamped_clip(tmp_path / f"far.{fmt[:3]}", stamps, Fraction(1, 24), fmt)
    with av.open(str(clip)) as container:  # the far stamp is in the file as written
        last = max(p.pts * p.time_base for p in container.demux(video=0) if p.size)
        assert last == MONTH_S
    with pytest.raises(DreamreelError) as refused:
        open_video(clip)
    message = str(refused.value)
    assert "\n" not in message and f"only {pictures} video packets" in message
    assert "30 days" in message


def test_a_picture_held_for_seconds_is_still_a_clip(tmp_path):
    """A still held for 10 s between two quick pictures (240 frames from 3 packets) is a
    clip a player shows: read, frame for frame."""
    clip = write_stamped_clip(tmp_path / "held.mkv", [0, 1, 241], Fraction(1, 24), "matroska")
    with open_video(clip) as video:
        assert video.rate == 24 and video.frame_count == 242
        assert sum(1 for _ in video.frames()) == 242


def test_a_rate_far_below_one_frame_a_second_never_rounds_to_zero(tmp_path):
    assert tidy_rate(Fraction(1, MONTH_S)) == Fraction(1, MONTH_S)  # was 0: a traceback
    write_mp4(tmp_path / "slow.mp4", grey_frames(2), 0.0001)  # a frame every 10000 s
    with av.open(str(tmp_path / "slow.mp4")) as container:
        assert container.streams.video[0].average_rate == Fraction(1, 10000)
    two_far_apart = build_timeline([0.0, MONTH_S], end=MONTH_S + 0.04)
    assert two_far_apart.rate == SLOWEST_RATE  # the month spans frames the rule counts
    assert two_far_apart.frame_count == round(MONTH_S * SLOWEST_RATE)


def avi_promising(path, frames: int):
    """Write `path` as a 12-frame AVI, then set its headers' frame counts to `frames`."""
    write_stamped_clip(path, range(12), Fraction(1, 24), "avi")
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, data.index(b"avih") + 8 + 16, frames)  # dwTotalFrames
    struct.pack_into("<I", data, data.index(b"strh") + 8 + 32, frames)  # dwLength
    if b"dmlh" in data:  # the OpenDML total
        struct.pack_into("<I", data, data.index(b"dmlh") + 8, frames)
    path.write_bytes(data)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == frames  # the lie is what FFmpeg reads
    return path


def test_a_header_promising_20_million_frames_is_not_believed(tmp_path):
    """A 13 KB AVI whose header counts 20 million frames: the clip is its 12 pictures;
    it still ends as a damaged clip does, without the header's number."""
    clip = avi_promising(tmp_path / "promise.avi", 20_000_000)
    with open_video(clip) as video:
        assert video.frame_count == 12
        assert video.promised_count <= 13  # what a render is sized to
        read = 0
        with pytest.raises(InputEnded) as ended:
            for _ in video.frames():
                read += 1
    assert read == 12
    assert ended.value.count is None and "20000000" not in str(ended.value)
