"""``render --seed/--frames/--size``: shorthands that become ``--set`` overrides.

They are turned into the same ``key=value`` strings ``--set`` takes, so a bad value gets
the same one-line refusal as ``--set`` would give it. What ``--size`` sets depends on the
mode: a zoom or progress image is exactly WxH; a video keeps its clip's aspect, so WxH
caps its long side at max(W, H) (``video.max_size``).
"""

from __future__ import annotations

import re

from ..runtime.errors import DreamreelError

SIZE_HELP = (
    "output size, e.g. 640x360: width and height of a zoom or progress render; "
    "for a video, its long side at most max(W, H) (video.max_size; the clip's "
    "aspect is kept)"
)
# At most 9 digits a side: int() refuses 4300+, and no frame is near a billion pixels.
_SIZE = re.compile(r"^\s*(\d{1,9})\s*[xX]\s*(\d{1,9})\s*$")


def shorthand_overrides(
    mode: str, *, seed: str | None = None, frames: str | None = None, size: str | None = None
) -> list[str]:
    overrides = []
    if seed is not None:
        overrides.append(f"seed={seed}")
    if frames is not None:
        if mode == "video":
            raise DreamreelError(
                "--frames sets the length of a zoom or progress render; a "
                "video's frames come from its clip: choose them with --set "
                "video.end=SECONDS or --set video.end_frame=N"
            )
        if mode == "morph":
            raise DreamreelError(
                "--frames sets the length of a zoom or progress render; a "
                "morph has photos x morph.hold + fades x morph.fade frames: "
                "choose them with --set morph.hold=N --set morph.fade=N"
            )
        overrides.append(f"frames={frames}")
    if size is not None:
        width, height = parse_size(size)
        if mode == "video":
            overrides.append(f"video.max_size={max(width, height)}")
        else:
            overrides += [f"width={width}", f"height={height}"]
    return overrides


def parse_size(text: str) -> tuple[int, int]:
    match = _SIZE.match(text)
    if not match:
        shown = text if len(text) <= 40 else f"{text[:37]}..."  # one readable line
        raise DreamreelError(f"--size expects WIDTHxHEIGHT in pixels, e.g. 640x360, got {shown!r}")
    return int(match[1]), int(match[2])
