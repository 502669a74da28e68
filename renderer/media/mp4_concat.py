"""One MP4 from parts encoded alike, without encoding the pictures again.

A chunked render's workers each encode their own stretch of the clip (``write_mp4``:
the same x264 settings, size and rate, so the same stream parameters); the parts are
laid end to end here, packets copied and their timestamps moved on by the frames before
them. x264 gives every part the same decode delay (B-frames), so the decode order stays
increasing across the joins; each part starts on a keyframe. The sound is encoded
alongside, as ``Mp4Writer`` does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from ..runtime.atomic_files import atomic_path, user_os_errors
from .audio import AudioSource, AudioTrack, has_sound
from .writer import as_rate


class PartsDiffer(ValueError):
    """The parts were not encoded alike: they cannot be joined by copying."""


def concat_mp4(
    path: str | os.PathLike,
    parts: Sequence[str | os.PathLike],
    fps: float | Fraction,
    *,
    audio: AudioSource | None = None,
    comment: str | None = None,
) -> int:
    """Write ``parts`` (MP4s of one stream each, encoded alike) as one MP4 at ``path``
    (atomically) with ``audio`` and a ``comment`` tag (a render's recipe); return the
    frames written. PartsDiffer when a part's
    stream parameters differ from the first's (nothing is written)."""
    import av

    rate = as_rate(fps)
    path = Path(path)
    with atomic_path(path) as temp, user_os_errors(path, "write"):
        with (
            av.open(str(parts[0])) as first,
            av.open(str(temp), mode="w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
            if comment:
                out.metadata["comment"] = comment
            track = AudioTrack(out, audio) if audio is not None and has_sound(audio) else None
            frames = 0
            try:
                for part in parts:
                    frames += _copy_part(part, template, video, out, frames, rate, track)
                if track is not None:
                    track.finish(float(frames / rate))
            finally:
                if track is not None:
                    track.close()
    return frames


def _copy_part(part, template, video, out, before: int, rate: Fraction, track) -> int:
    """Mux ``part``'s packets after ``before`` frames; return its frame count."""
    import av

    with av.open(str(part)) as source:
        stream = source.streams.video[0]
        _check_alike(part, stream, template)
        assert stream.time_base is not None  # an MP4 stream always has one
        step = Fraction(1) / (rate * stream.time_base)  # one frame in the part's ticks
        if step.denominator != 1:
            raise PartsDiffer(f"{part}: its time base {stream.time_base} does not hold a frame")
        shift = before * int(step)
        count = 0
        for packet in source.demux(stream):
            if packet.dts is None:  # the demuxer's end-of-stream marker
                continue
            assert packet.pts is not None  # MP4's packets with a dts have a pts too
            packet.pts += shift
            packet.dts += shift
            packet.stream = video
            out.mux(packet)
            count += 1
            if track is not None:
                track.advance_to(float((before + count) / rate))  # streams interleaved
        return count


def _check_alike(part, stream, template) -> None:
    ours, theirs = stream.codec_context, template.codec_context
    if (stream.codec_context.name, ours.width, ours.height, ours.extradata, stream.time_base) != (
        template.codec_context.name,
        theirs.width,
        theirs.height,
        theirs.extradata,
        template.time_base,
    ):
        raise PartsDiffer(
            f"{part} was encoded unlike the first part "
            f"({ours.width}x{ours.height}, {stream.time_base})"
        )
