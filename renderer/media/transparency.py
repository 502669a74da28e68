"""Images with transparency, flattened onto a background colour before anything dreams.

A fully transparent pixel keeps some RGB value in the file (often black, sometimes what
an editor left there); dreaming it would dream something nobody sees in the image. The
background (``input_background``, white by default, like a browser or viewer shows a
transparent PNG on a page) takes its place, and partly transparent pixels blend.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..runtime.errors import DreamreelError
from .image_header import open_image

DEFAULT_BACKGROUND = "#ffffff"
BACKGROUND_KEY = "input_background"
_HEX = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})")


def parse_background(text: str) -> tuple[int, int, int]:
    """ "#rrggbb" or "#rgb" (the # optional) -> (r, g, b)."""
    match = _HEX.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise DreamreelError(
            f'{BACKGROUND_KEY} must be a colour as "#rrggbb" (e.g. '
            f'"#ffffff" for white, "#000000" for black), got {text!r}'
        )
    digits = match.group(1)
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    red, green, blue = (int(digits[i : i + 2], 16) for i in (0, 2, 4))
    return red, green, blue


def flatten(rgba: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """HxWx4 uint8 RGBA over a solid background -> HxWx3 uint8 RGB (alpha blended)."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    colour = np.asarray(background, np.float32)
    rgb = rgba[..., :3].astype(np.float32) * alpha + colour * (1.0 - alpha)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def read_flattened(path: Path, background: str) -> np.ndarray:
    """Decode an image with transparency through Pillow (RGBA, LA, palette or grey with
    a transparent colour), upright by its EXIF orientation, flattened: RGB uint8."""
    from PIL import ImageOps

    colour = parse_background(background)
    with open_image(path) as image:
        upright = ImageOps.exif_transpose(image)
        rgba = np.asarray(upright.convert("RGBA"))
    return flatten(rgba, colour)
