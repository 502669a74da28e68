"""What an image file's header says (size, orientation, transparency), without decoding it.

Pillow's ``Image.open`` is lazy: it parses the header and stops. It also refuses (or
warns about) images above its own ``MAX_IMAGE_PIXELS``, a "decompression bomb" check
that must never reach the user as a traceback or a stray warning: dreamreel applies its
own limit (``max_input_pixels``, renderer/media/limits.py) to the size read here, so
Pillow's check is switched off for the header read only, under a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

_PILLOW_LIMIT_LOCK = threading.Lock()
_SIDEWAYS = (5, 6, 7, 8)  # EXIF orientations stored turned by 90 degrees


@dataclass(frozen=True)
class ImageHeader:
    width: int  # as the image is shown: EXIF orientation applied
    height: int
    has_alpha: bool  # an alpha channel or a transparent palette/grey colour

    @property
    def pixels(self) -> int:
        return self.width * self.height


def open_image(path: str | Path):
    """``PIL.Image.open`` (lazy: the header only) with Pillow's own pixel limit off: the
    caller checks ``max_input_pixels`` on ``image.size`` before decoding anything."""
    from PIL import Image

    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def read_image_header(path: str | Path) -> ImageHeader | None:
    """The header of an image Pillow can parse; None when it cannot (OpenCV may still
    decode it: the caller decides)."""
    try:
        with open_image(path) as image:
            width, height = image.size
            has_alpha = image_has_alpha(image)
            # A PNG's getexif() decodes the whole image to look for an eXIf chunk after
            # the pixels: only read one it met in the header.
            header_only = image.format != "PNG" or "exif" in image.info
            orientation = image.getexif().get(0x0112, 1) if header_only else 1
    except Exception:  # not an image Pillow knows, or a header it cannot parse
        return None
    if orientation in _SIDEWAYS:
        width, height = height, width
    return ImageHeader(width, height, has_alpha)


def image_has_alpha(image) -> bool:
    """A Pillow image with transparency: RGBA/LA/PA, or a palette or grey PNG with tRNS."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
