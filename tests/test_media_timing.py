"""Timing on real-world oddities, through the whole pipeline.

Each test makes a small clip of one odd kind with PyAV (64x48, a few seconds), every
picture painting its own number (frame_image), and knows from the making which picture
a player shows at every instant. A no-dream render (dream.steps=0: every output frame
is its raw frame) must then give, for every output frame k, the picture shown at
start + k / fps, and an MP4 exactly as long as the range asked; the sound must stay at
its time. The output is read back with PyAV directly (tests/helpers.py), not with the
reader under test.
"""

from __future__ import annotations

import struct
from fractions import Fraction

import av
import imageio_ffmpeg
import numpy as np
import pytest
from helpers import click_time, decode_frames

import renderer
from renderer.media import open_video

W, H = 64, 48


def frame_image(index, marker=False):
    """Frame `index` as colour (red: units of 24, green: 24s); `marker` adds a white
    8x8 block in the top-left corner to tell orientations apart."""
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = 8 + 10 * (index % 24)
    image[..., 1] = 8 + 10 * (index // 24)
    image[..., 2] = 128
    if marker:
        image[:8, :8] = 255
    return image


def frame_id(image):
    """The number a frame_image shows (codecs move colours by a few levels)."""
    core = image[image.shape[0] // 4 :, image.shape[1] // 4 :]  # away from the marker
    red, green = core[..., 0].mean(), core[..., 1].mean()
    return round((red - 8) / 10) + 24 * round((green - 8) / 10)


def write_clip(
    path,
    times,
    time_base,
    *,
    codec="libx264",
    rate=None,
    fmt=None,
    rotation=None,
    marker=False,
    empty=(),
    audio=None,
):
    """Picture i at `times[i]` (in time_base units); `empty`: times of empty packets
    (dropped frames); `audio`: (mono float32 samples, sample rate, start in seconds)."""
    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream(codec, rate=rate)
        video.width, video.height = W, H
        video.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        video.codec_context.time_base = time_base
        if rotation is not None:
            video.set_display_rotation(rotation)
        sound = None
        if audio is not None:
            samples, sample_rate, _ = audio
            sound = container.add_stream("aac", rate=sample_rate, layout="mono")
        packets = []
        for index, pts in enumerate(times):
            picture = av.VideoFrame.from_ndarray(frame_image(index, marker), format="rgb24")
            picture.pts, picture.time_base = pts, time_base
            packets += video.encode(picture)
        packets += video.encode(None)
        for pts in empty:
            packet = av.Packet(b"")
            packet.pts = packet.dts = pts
            packet.duration = 1
            packet.time_base = time_base
            packet.stream = video
            packets.append(packet)
        for packet in sorted(packets, key=lambda p: (p.dts, p.pts)):
            container.mux(packet)
        if sound is not None:
            samples, sample_rate, start = audio
            offset = round(start * sample_rate)
            for first in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(
                    samples[None, first : first + 1024], format="flt", layout="mono"
                )
                chunk.sample_rate = sample_rate
                chunk.pts, chunk.time_base = offset + first, Fraction(1, sample_rate)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def shown_at(times, seconds):
    """The picture a player shows at `seconds` (clip time): the last one begun by then."""
    return max(i for i, t in enumerate(times) if t <= seconds)


@pytest.fixture(scope="module")
def model_cache(embedded_cache):
    return embedded_cache


def render_without_dream(clip, out, *overrides):
    """The real pipeline with dream.steps=0: output frame k is raw frame k."""
    return renderer.render(
        "video-quick",
        input=clip,
        out=out,
        overrides=[
            "dream.steps=0",
            "video.first_steps=0",
            "video.first_octaves=1",
            "video.every=1",
            "flow.enabled=false",
            "output.gif=false",
            "output.hold_last=0",
            *overrides,
        ],
    )


def check_render(result, out, expected_ids, fps, seconds):
    """The MP4 holds exactly `expected_ids` at `fps` and lasts `seconds` (the range)."""
    video = out / "video.mp4"
    frames = decode_frames(video)
    assert [frame_id(f) for f in frames] == expected_ids
    assert result.frames == len(expected_ids)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == fps  # exact: 30000/1001 stays 30000/1001
        duration = float(stream.duration * stream.time_base)
    assert duration == pytest.approx(len(expected_ids) / fps, abs=1e-3)
    assert abs(duration - seconds) <= 0.5 / fps  # the range asked, to the frame


# ---------------------------------------------------------------- dropped frames


def avi_empty_chunks(path):
    """(video chunks, empty video chunks) listed in an AVI's idx1 index: the file's own
    record of dropped frames (libavformat skips empty chunks when it demuxes)."""
    data = path.read_bytes()
    index = data.rindex(b"idx1")
    size = struct.unpack_from("<I", data, index + 4)[0]
    entries = [struct.unpack_from("<4sIII", data, index + 8 + 16 * i) for i in range(size // 16)]
    video = [e for e in entries if e[0] == b"00dc"]
    return len(video), sum(1 for e in video if e[3] == 0)


def test_avi_with_empty_dropped_frame_packets_holds_each_picture(model_cache, tmp_path):
    """A webcam AVI at 30 fps where most frames were dropped: the muxer fills each gap
    with empty chunks, players hold the picture before them. 'The first 1.5 s' must
    be 45 frames of the right pictures, not 45 pictures played fast."""
    slots = [0, 1, 2, 7, 8, 15, 16, 17, 18, 30, 31, 44, 45, 50, 58, 59, 60, 75, 89]
    clip = write_clip(tmp_path / "webcam.avi", slots, Fraction(1, 30), codec="mjpeg", rate=30)
    assert avi_empty_chunks(clip) == (90, 90 - len(slots))  # really in the file
    with open_video(clip) as source:
        assert (source.rate, source.frame_count) == (30, 90)

    out = tmp_path / "out"
    result = render_without_dream(clip, out, "video.end=1.5")
    times = [Fraction(s, 30) for s in slots]
    expected = [shown_at(times, Fraction(k, 30)) for k in range(45)]
    check_render(result, out, expected, 30, 1.5)


def test_empty_packets_are_dropped_frames_not_pictures(model_cache, tmp_path):
    """NUT hands empty packets to the reader as they are: each is a dropped frame."""
    slots = [0, 3, 4, 9, 10, 11, 20, 23]
    empty = [s for s in range(24) if s not in slots]
    clip = write_clip(
        tmp_path / "drops.nut",
        slots,
        Fraction(1, 24),
        codec="mjpeg",
        rate=24,
        fmt="nut",
        empty=empty,
    )
    with av.open(str(clip)) as container:
        sizes = [p.size for p in container.demux(video=0) if p.pts is not None]
    assert sizes.count(0) == len(empty) and len(sizes) == 24

    out = tmp_path / "out"
    result = render_without_dream(clip, out, "video.start=0.5")
    times = [Fraction(s, 24) for s in slots]
    expected = [shown_at(times, Fraction(12 + k, 24)) for k in range(12)]
    check_render(result, out, expected, 24, 0.5)


# ---------------------------------------------------------------- rates


def test_variable_rate_mp4_is_sampled_on_its_mean_rate(model_cache, tmp_path):
    rng = np.random.default_rng(7)
    steps = rng.choice([17, 25, 33, 50, 67], size=59)  # ms between pictures
    ms = [0, *np.cumsum(steps).tolist()]
    clip = write_clip(tmp_path / "phone_vfr.mp4", ms, Fraction(1, 1000))
    with open_video(clip) as source:
        fps = source.rate
        span = (ms[-1] + steps[-1]) / 1000  # the last picture lasts as long as the one before
        assert abs(float(fps) - len(ms) / span) <= 0.01 * len(ms) / span  # the mean rate

    out = tmp_path / "out"
    result = render_without_dream(clip, out, "video.start=0.5", "video.end=1.5")
    times = [Fraction(t, 1000) for t in ms]
    first = -(-Fraction(1, 2) * fps // 1)  # the first frame at or after 0.5 s
    count = -(-Fraction(3, 2) * fps // 1) - first
    expected = [shown_at(times, (first + k) / fps) for k in range(count)]
    assert len(set(expected)) > 0.6 * count  # pictures do change along the way
    check_render(result, out, expected, fps, 1.0)


def test_ntsc_rate_stays_exact(model_cache, tmp_path):
    rate = Fraction(30000, 1001)
    clip = write_clip(
        tmp_path / "ntsc.mp4", [i * 1001 for i in range(75)], Fraction(1, 30000), rate=rate
    )
    with open_video(clip) as source:
        assert source.rate == rate and source.fps == float(rate)

    out = tmp_path / "out"
    # 2 s in at 29.97 fps: frame 60 is at 2.002 s, so 'from 1 s to 2 s' is frames 30..59.
    result = render_without_dream(clip, out, "video.start=1", "video.end=2")
    check_render(result, out, list(range(30, 60)), rate, 1.0)


def test_mkv_with_millisecond_timestamps(model_cache, tmp_path):
    clip = write_clip(
        tmp_path / "clip.mkv", list(range(60)), Fraction(1, 24), rate=24, fmt="matroska"
    )
    with av.open(str(clip)) as container:  # stored rounded to the millisecond
        stamps = [p.pts for p in container.demux(video=0) if p.size]
    assert sorted(stamps)[:4] == [0, 42, 83, 125]

    out = tmp_path / "out"
    result = render_without_dream(clip, out, "video.start=0.5", "video.end=2")
    check_render(result, out, list(range(12, 48)), 24, 1.5)


# ---------------------------------------------------------------- rotation


def test_rotated_phone_clip_comes_upright_as_players_show_it(model_cache, tmp_path):
    clip = write_clip(
        tmp_path / "portrait.mp4",
        list(range(24)),
        Fraction(1, 24),
        rate=24,
        rotation=90,
        marker=True,
    )
    # What the ffmpeg program shows (it applies the display matrix): the ground truth.
    reader = imageio_ffmpeg.read_frames(str(clip))
    width, height = next(reader)["size"]
    upright = np.frombuffer(next(reader), np.uint8).reshape(height, width, 3)
    reader.close()
    assert (width, height) == (H, W)

    out = tmp_path / "out"
    result = render_without_dream(clip, out, "video.end=0.5")
    frames = decode_frames(out / "video.mp4")
    assert frames[0].shape == (W, H, 3)
    corner = frames[0].min(axis=2) > 200  # where the white marker is
    assert (corner == (upright.min(axis=2) > 200)).mean() > 0.99
    assert corner[-8:, :8].all()  # turned a quarter counter-clockwise: now bottom left
    check_render(result, out, list(range(12)), 24, 0.5)


# ---------------------------------------------------------------- sound


def click(seconds, at, rate):
    t = np.arange(round(seconds * rate)) / rate
    samples = np.zeros(t.shape, np.float32)
    burst = np.abs(t - at) < 0.005
    samples[burst] = 0.8 * np.sin(2 * np.pi * 2000 * (t[burst] - at))
    return samples


def test_sound_that_starts_after_the_picture_keeps_its_time(model_cache, tmp_path):
    """The sound track starts 0.5 s after the first picture (its click 1.2 s into the
    clip, 0.7 s into the track). Rendering from 0.25 s, the output's click is at 0.95 s,
    silence before the track starts, and the sound lasts exactly as long as the video."""
    rate = 48000
    clip = write_clip(
        tmp_path / "late_sound.mp4",
        list(range(48)),
        Fraction(1, 24),
        rate=24,
        audio=(click(1.5, 0.7, rate), rate, 0.5),
    )
    with av.open(str(clip)) as container:
        assert float(
            container.streams.audio[0].start_time * container.streams.audio[0].time_base
        ) == pytest.approx(0.5, abs=0.03)
    assert click_time(clip) == pytest.approx(1.2, abs=0.003)  # the clip's own sync
    with open_video(clip, start=0.25) as source:
        assert source.audio.container_start == pytest.approx(0.25)

    out = tmp_path / "out"
    result = render_without_dream(clip, out, "video.start=0.25", "video.end=1.75")
    check_render(result, out, list(range(6, 42)), 24, 1.5)
    video = out / "video.mp4"
    assert click_time(video) == pytest.approx(0.95, abs=0.005)
    with av.open(str(video)) as container:
        sound = container.streams.audio[0]
        assert float(sound.duration * sound.time_base) == pytest.approx(1.5, abs=0.001)
        quiet = [
            np.abs(f.to_ndarray()).max()
            for f in container.decode(sound)
            if f.pts is not None and float(f.pts * f.time_base) < 0.2
        ]
        assert quiet and max(quiet) < 1e-3  # before the track starts: silence


# ---------------------------------------------------------------- the rules alone


def test_rate_rules_on_timestamps_alone():
    from renderer.media.timeline import build_timeline, tidy_rate

    assert tidy_rate(29.97) == Fraction(30000, 1001) and tidy_rate(24.0001) == 24
    assert tidy_rate(25.47) == Fraction(25.47).limit_denominator(1000)  # no common rate
    # A GIF's 40, 40, 50 ms delays at 1/100 s: 24 fps, not the time base's 100.
    gif = [round(i * 100 / 24) / 100 for i in range(48)]
    assert build_timeline(gif, end=2.0, nominal=[Fraction(100)], resolution=0.01).rate == 24
    # 30 fps with four frames in five dropped (gaps, no empty packets): still 30 fps.
    webcam = build_timeline(
        [i / 30 for i in (0, 1, 5, 10, 15, 20, 25, 29)], end=1.0, nominal=[Fraction(30)]
    )
    assert (webcam.rate, webcam.frame_count) == (30, 30)
    assert [webcam.picture_at(k) for k in range(7)] == [0, 1, 1, 1, 1, 2, 2]
    # A phone clip drifting off its nominal 30 fps keeps it; a jittery one takes its mean.
    drifting = [i / 29.9 for i in range(300)]
    assert build_timeline(drifting, nominal=[Fraction(30)]).rate == 30
    jittery = np.cumsum(np.random.default_rng(1).uniform(0.02, 0.06, 100)).tolist()
    assert build_timeline(jittery, nominal=[Fraction(90000)]).rate == pytest.approx(
        99 / (jittery[-1] - jittery[0]), rel=0.005
    )
