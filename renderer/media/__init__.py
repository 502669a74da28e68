"""Media in and out: still images, video clips and frame folders, MP4 and GIF.

    from renderer.media import open_video, write_mp4, write_gif, probe, AudioSource

Video goes through PyAV (FFmpeg's libraries) only: `reader` (the one reader of clips and
numbered-frame folders), `timeline` (which picture shows at which time), `audio` (a
clip's sound carried into the output), `writer` (MP4 and GIF), `probing`. Names are loaded
on first use, so `renderer.media.images` does not import PyAV.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "open_video": "reader",
    "Clip": "reader",
    "AudioSource": "audio",
    "write_mp4": "writer",
    "write_gif": "writer",
    "check_fps": "writer",
    "as_rate": "writer",
    "probe": "probing",
    "numbered_frames": "folder",
    "IMAGE_SUFFIXES": "folder",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'renderer.media' has no attribute {name!r}")
    return getattr(importlib.import_module(f"renderer.media.{module}"), name)
