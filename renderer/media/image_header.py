"""What an image file's header says (size, orientation, transparency), without decoding it.

Pillow's ``Image.open`` is lazy: it parses the header and stops. It also refuses (or
warns about) images above its own ``MAX_IMAGE_PIXELS``, a "decompression bomb" check
that must never reach the user as a traceback or a stray warning: dreamreel applies its
own limit (``max_input_pixels``, renderer/media/limits.py) to the size read here, so
Pillow's check is switched off for the header read only, under a lock.

The formats OpenCV decodes and Pillow does not parse (Radiance ``.hdr``, ``.pfm``,
``.pam``) have their few header lines read here, so one limit holds for every decoder.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

from ..runtime.errors import InputDamaged

_PILLOW_LIMIT_LOCK = threading.Lock()
_SIDEWAYS = (5, 6, 7, 8)  # EXIF orientations stored turned by 90 degrees
# Real headers are a few lines; reading more than this finds no size in a valid file.
_TEXT_HEADER_BYTES = 64 * 1024
_SIDE = rb"(\d{1,10})"  # a side of up to 10 digits; longer is no image anyone decodes
_RADIANCE_SIGNATURES = (b"#?RADIANCE", b"#?RGBE")  # the ones OpenCV's decoder takes
_RADIANCE_SIZE = re.compile(rb"([-+][XY]) +" + _SIDE + rb" +([-+][XY]) +" + _SIDE)
_PFM = re.compile(rb"P[Ff]\s+" + _SIDE + rb"\s+" + _SIDE + rb"\s")
_PAM_FIELD = re.compile(rb"(WIDTH|HEIGHT)\s+" + _SIDE)


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
    """The header of an image Pillow can parse, or of one only OpenCV decodes (.hdr,
    .pfm, .pam); None for any other file (not an image, as far as both know). Such a
    file whose header gives no size is refused as damaged: InputDamaged."""
    return _pillow_header(path) or _opencv_only_header(Path(path))


def _pillow_header(path: str | Path) -> ImageHeader | None:
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


def _opencv_only_header(path: Path) -> ImageHeader | None:
    """The size in the text header of a Radiance, PFM or PAM image; None for another file."""
    try:
        with open(path, "rb") as file:
            head = file.read(_TEXT_HEADER_BYTES)
    except OSError:  # a folder, a file gone or unreadable: the caller says which
        return None
    if head.startswith(_RADIANCE_SIGNATURES):
        size = _radiance_size(head)
        kind = "Radiance HDR"
    elif re.match(rb"P[Ff]\s", head):
        match = _PFM.match(head)
        size = (int(match[1]), int(match[2])) if match else None
        kind = "PFM"
    elif re.match(rb"P7\s", head):
        size = _pam_size(head)
        kind = "PAM"
    else:
        return None
    if size is None or 0 in size:
        raise InputDamaged(f"cannot read image '{path}': damaged (its {kind} header gives no size)")
    return ImageHeader(size[0], size[1], has_alpha=False)


def _radiance_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the resolution line after the blank line that ends the
    header ("-Y 1000 +X 1200": 1000 rows of 1200 pixels; any order of the axes)."""
    _, blank, rest = head.partition(b"\n\n")
    line = rest.split(b"\n", 1)[0].strip()
    match = _RADIANCE_SIZE.fullmatch(line) if blank else None
    if match is None or match[1][1:] == match[3][1:]:
        return None
    sides = {match[1][1:]: int(match[2]), match[3][1:]: int(match[4])}
    return sides[b"X"], sides[b"Y"]


def _pam_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PAM header's WIDTH and HEIGHT lines, before ENDHDR."""
    fields = head.split(b"ENDHDR", 1)[0] if b"ENDHDR" in head else b""
    lines = (line.strip() for line in fields.splitlines() if not line.startswith(b"#"))
    found: dict[bytes, bytes] = {}
    for match in filter(None, map(_PAM_FIELD.fullmatch, lines)):
        found[match[1]] = match[2]
    if set(found) != {b"WIDTH", b"HEIGHT"}:
        return None
    return int(found[b"WIDTH"]), int(found[b"HEIGHT"])
