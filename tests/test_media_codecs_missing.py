"""Clips FFmpeg cannot fully decode (issue 19, item 3: findings of the fuzz battery).

A video stream in a codec FFmpeg has no decoder for gets no codec context from PyAV:
the reader and `probe` refuse such a clip in one line when it is opened, naming the
codec as the file tags it. Sound FFmpeg cannot decode (no decoder, or one that refuses
to open on the stream) is not carried: the clip opens without an AudioSource, with the
reason in its scan, and `has_sound` says False. Any error FFmpeg's audio decoder returns
for a packet leaves silence where its samples were, never a traceback after a render.
The seeds are the battery's (tests/test_fuzz.py), made bit-exact, so the byte offsets of
its findings hold.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from test_fuzz import make_clips_of

from renderer.media import open_video, probe
from renderer.media.audio import AudioSource, AudioTrack, has_sound
from renderer.media.clip_scan import scan_clip
from renderer.media.writer import write_mp4
from renderer.runtime.errors import DreamreelError


def seed(folder: Path, name: str) -> Path:
    """The battery's seed (tests/test_fuzz.py): 8 frames of 32x24 at 8 fps with 1 s of a
    440 Hz tone, made once per folder."""
    path = folder / f"seed.{name}"
    return path if path.exists() else make_clips_of(folder, name)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("seeds")


def retagged(seeds: Path, folder: Path, name: str, tag: bytes) -> Path:
    """The seed with every `tag` made as many Q's: a codec FFmpeg demuxes, cannot decode."""
    data = seed(seeds, name).read_bytes()
    assert tag in data
    path = folder / f"unknown-{tag.decode()}.{name}"
    path.write_bytes(data.replace(tag, b"Q" * len(tag)))
    return path


def patched(seeds: Path, folder: Path, name: str, at: int, value: bytes) -> Path:
    """The seed with `value` written at byte `at` (a finding's mutation)."""
    data = bytearray(seed(seeds, name).read_bytes())
    data[at : at + len(value)] = value
    path = folder / f"patched-{at}.{name}"
    path.write_bytes(bytes(data))
    return path


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def sound_carried(audio: AudioSource, out: Path, frames: int = 8) -> float:
    """The sound through the MP4 writer's sound path; the output's audio seconds."""
    with av.open(str(out), "w") as output:
        track = AudioTrack(output, audio)
        for k in range(1, frames + 1):
            track.advance_to(k / 8)
        track.finish(frames / 8)
    with av.open(str(out)) as done:
        stream = done.streams.audio[0]
        return float(stream.duration * stream.time_base)


# ---------------------------------------------------------------- G, H: the video


@pytest.mark.parametrize(("name", "tag"), [("mp4", b"avc1"), ("mov", b"avc1"), ("avi", b"FMP4")])
def test_a_video_in_a_codec_without_a_decoder_is_refused_when_opened(seeds, tmp_path, name, tag):
    """Found by the battery (clip-mp4-unknown-avc1): an AttributeError from the sample
    aspect ratio of a stream without a codec context. A player says it cannot decode it."""
    clip = retagged(seeds, tmp_path, name, tag)
    with pytest.raises(DreamreelError) as err:
        open_video(clip)
    assert one_line(err) == (
        f"cannot read video '{clip}': its video is in a codec this FFmpeg cannot decode (QQQQ)"
    )


def test_probe_refuses_a_video_without_a_decoder_as_the_reader_does(seeds, tmp_path):
    """Found by the battery (probe-mp4-unknown-avc1): the codec name read from None."""
    clip = retagged(seeds, tmp_path, "mp4", b"avc1")
    with pytest.raises(DreamreelError) as err:
        probe(clip, count_frames=False)
    assert one_line(err).endswith("its video is in a codec this FFmpeg cannot decode (QQQQ)")


# ---------------------------------------------------------------- I: sound without a decoder


def test_sound_in_a_codec_without_a_decoder_is_not_carried(seeds, tmp_path):
    """Found by the battery (clip-mov-unknown-sowt): has_sound said True and AudioTrack
    read the channels of None, so a video render would crash writing its MP4 after every
    frame. The clip opens without sound, the reason kept for a note."""
    clip = retagged(seeds, tmp_path, "mov", b"sowt")
    with open_video(clip) as opened:
        assert opened.audio is None and opened.frame_count == 8
    assert scan_clip(clip).audio_note == (
        "sound not carried: its audio is in a codec this FFmpeg cannot decode (QQQQ)"
    )
    assert not has_sound(clip)
    assert not has_sound(AudioSource(str(clip), stream=1))
    facts = probe(clip)
    assert facts["audio"] is None and facts["frames"] == 8


def test_a_video_render_says_its_sound_is_not_carried(seeds, tmp_path):
    """The render's first lines say the MP4 will be silent and why, not the user finding out."""
    from renderer.rendering.modes.builtin import create_mode
    from renderer.rendering.spec import load_spec

    spec = load_spec("video-quick", input=str(retagged(seeds, tmp_path, "mov", b"sowt")))
    with create_mode(spec) as mode:
        notes = mode.notes()
    assert "sound not carried: its audio is in a codec this FFmpeg cannot decode (QQQQ)" in notes


def test_the_writer_leaves_out_sound_it_cannot_decode(seeds, tmp_path):
    """A render given such a source (a manifest's, say) writes its MP4 without sound;
    AudioTrack itself says why in one line."""
    clip = retagged(seeds, tmp_path, "mov", b"sowt")
    audio = AudioSource(str(clip), stream=1)
    frames = [np.full((24, 32, 3), 60 * k, np.uint8) for k in range(4)]
    assert write_mp4(tmp_path / "out.mp4", frames, 8, audio=audio) == 4
    assert probe(tmp_path / "out.mp4")["audio"] is None
    with av.open(str(tmp_path / "direct.mp4"), "w") as output:
        with pytest.raises(DreamreelError) as err:
            AudioTrack(output, audio)
    assert one_line(err) == (
        f"cannot read audio '{clip}': its audio is in a codec this FFmpeg cannot decode (QQQQ)"
    )


def test_a_clip_with_sound_it_can_decode_still_carries_it(seeds, tmp_path):
    clip = seed(seeds, "mov")
    with open_video(clip) as opened:
        assert opened.audio is not None and opened.audio.stream == 1
    assert scan_clip(clip).audio_note is None and has_sound(clip)
    assert probe(clip)["audio"] == "pcm_s16le"


# ---------------------------------------------------------------- J: decoder errors


def test_a_decoder_that_refuses_to_open_carries_no_sound(seeds, tmp_path):
    """Found by a larger run of the battery (clip-webm-187, field@441=80000000): the opus
    decoder refuses the damaged header (PatchWelcomeError from avcodec_open2), raised by
    the first packet's decode at the end of a render. Decided when the clip is opened."""
    clip = patched(seeds, tmp_path, "webm", 441, b"\x80\x00\x00\x00")
    with open_video(clip) as opened:
        assert opened.audio is None and opened.frame_count == 8
    note = scan_clip(clip).audio_note
    assert note is not None and note.startswith("sound not carried: FFmpeg's opus decoder")
    assert not has_sound(clip)


@pytest.mark.parametrize(
    ("name", "at", "value"),
    [("mkv", 2648, b"\x80\x00\x00\x00"), ("mp4", 7189, b"\x00\x00\x00\x00")],
    ids=["eperm-from-receive-frame", "einval-from-send-packet"],
)
def test_any_decoder_error_on_a_packet_leaves_silence(seeds, tmp_path, name, at, value):
    """Found by the battery (clip-mkv-7, size@2648=80000000; clip-mp4-220): the AAC
    decoder returns EPERM from avcodec_receive_frame, or EINVAL from avcodec_send_packet,
    which _decode let through (it caught only InvalidDataError): a traceback after every
    frame was rendered. The packet's samples are missing (silence), the track is whole."""
    clip = patched(seeds, tmp_path, name, at, value)
    with open_video(clip) as opened:
        assert opened.audio is not None
        seconds = sound_carried(opened.audio, tmp_path / "out.mp4")
    assert seconds == pytest.approx(1.0, abs=0.03)
