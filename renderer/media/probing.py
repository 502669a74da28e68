"""Facts about a video file from its container (no decoding): for tests and reports."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..runtime.errors import InputDamaged
from .clip_scan import check_decodable, sound_stream
from .container import open_container, video_stream


def probe(path: str | os.PathLike, *, count_frames: bool = True) -> dict[str, Any]:
    """Describe a video: codec, pix_fmt, width, height, fps, duration, audio, frames.

    `fps` is the stream's average rate (a float; None if unknown); `duration` the
    container's, in seconds; `audio` the codec name of the first audio stream FFmpeg can
    decode (the sound the reader carries) or None; `frames` the pictures in the video
    stream, counted by demuxing (empty and edit-list discarded packets left out; None
    with count_frames=False); `rotation` the degrees the display matrix turns the
    pictures counter-clockwise (from the first picture).
    A video FFmpeg has no decoder for is refused as the reader refuses it (one line).
    """
    import av

    source = Path(path)
    with open_container(source) as container:
        stream = video_stream(container, source)
        check_decodable(container, stream, source)
        codec = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate
        sound, _ = sound_stream(container)
        audio = None if sound is None else sound.codec_context.name
        info = {
            "codec": codec.name,
            "pix_fmt": codec.pix_fmt,
            "width": codec.width,
            "height": codec.height,
            "fps": float(rate) if rate else None,
            "duration": container.duration / av.time_base if container.duration else None,
            "audio": audio,
            "frames": None,
        }
        if count_frames:
            try:
                info["frames"] = sum(
                    1 for packet in container.demux(stream) if packet.size and not packet.is_discard
                )
            except av.FFmpegError as err:
                raise InputDamaged(f"cannot read video '{source}': damaged ({err})") from err
    return info
