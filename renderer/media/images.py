"""Still images: read any format as RGB uint8, write PNG frames atomically (8 or 16 bits), sizes."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..runtime.atomic_files import user_os_errors, write_bytes_atomic
from ..runtime.errors import DreamreelError, InputDamaged
from .image_header import read_image_header
from .limits import check_input_pixels
from .transparency import DEFAULT_BACKGROUND, read_flattened

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# output.frames_format: "png" keeps only the 8-bit frames; the others add a 16-bit file
# per frame, with this suffix (renderer/store/frame_store.py writes them).
SIXTEEN_BIT_SUFFIXES = {"png16": ".png", "tiff16": ".tif"}
FRAMES_FORMATS = ("png", *SIXTEEN_BIT_SUFFIXES)


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Return an HxWx3 uint8 view or copy: grayscale is repeated, alpha dropped."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        # Refuse rather than guess whether floats mean 0..1 or 0..255.
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 image, got {image.shape}")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3]


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float RGB in 0..255 (any range) -> uint8: rounded, clipped."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def write_image_atomic(path: str | os.PathLike, rgb_uint8: np.ndarray) -> None:
    """Encode an RGB image (format from the suffix, PNG for frames) and write it atomically."""
    target = Path(path)
    write_bytes_atomic(target, encode_image(rgb_uint8, target.suffix or ".png", target))


def encode_image(rgb_uint8: np.ndarray, suffix: str = ".png", target: object = None) -> bytes:
    """An RGB image encoded by OpenCV with its defaults (every frame is: a recipe chunk
    added later changes no pixel byte); ``target`` names the file in a refusal."""
    bgr = cv2.cvtColor(np.ascontiguousarray(as_rgb(rgb_uint8)), cv2.COLOR_RGB2BGR)
    return _encoded(bgr, suffix, target, f"'{suffix}' images")


def to_uint16(exact: np.ndarray | None, stored: np.ndarray) -> np.ndarray:
    """The 16-bit picture of a frame stored as ``stored`` (RGB uint8) whose float values
    (0..255) were ``exact``: round(clip(exact) * 257), so round(value / 257) is always the
    stored byte. A pixel whose float does not round to its byte (a caption drawn on it)
    is the byte * 257, as is every pixel without ``exact``."""
    byte = as_rgb(stored).astype(np.int32) * 257
    if exact is None:
        return byte.astype(np.uint16)
    exact = np.asarray(exact, np.float64)
    if exact.shape != byte.shape:
        raise ValueError(f"exact image {exact.shape} is not the stored frame's {byte.shape}")
    wide = np.rint(np.clip(exact, 0.0, 255.0) * 257.0).astype(np.int32)
    near = np.clip(wide, byte - 128, byte + 128)  # float32 noise at a .5: still the byte
    agrees = np.rint(np.clip(exact, 0.0, 255.0)).astype(np.int32) * 257 == byte
    return np.clip(np.where(agrees, near, byte), 0, 65535).astype(np.uint16)


def encode_image16(rgb_uint16: np.ndarray, suffix: str, target: object = None) -> bytes:
    """An RGB uint16 image as a 16-bit PNG or TIFF (OpenCV's defaults)."""
    if rgb_uint16.dtype != np.uint16 or rgb_uint16.ndim != 3 or rgb_uint16.shape[2] != 3:
        raise ValueError(
            f"expected an HxWx3 uint16 image, got {rgb_uint16.dtype} {rgb_uint16.shape}"
        )
    bgr = np.ascontiguousarray(rgb_uint16[:, :, ::-1])
    return _encoded(bgr, suffix, target, f"16-bit '{suffix}' images")


def _encoded(bgr: np.ndarray, suffix: str, target: object, what: str) -> bytes:
    """OpenCV's encoding of ``bgr`` as ``suffix``; one line naming ``target`` if it can't."""
    try:
        ok, encoded = cv2.imencode(suffix, bgr)
    except cv2.error:
        ok = False
    if not ok:
        raise DreamreelError(f"cannot write '{target or 'an image'}': OpenCV cannot encode {what}")
    return encoded.tobytes()


def read_image(
    path: str | os.PathLike, *, max_pixels: int | None = None, background: str = DEFAULT_BACKGROUND
) -> np.ndarray:
    """Read any image OpenCV decodes (jpg, png, webp, ...) as HxWx3 RGB uint8.

    Grayscale becomes RGB, 16-bit is scaled to 8-bit, and EXIF orientation is applied
    (phone photos come out upright). An image with transparency is flattened onto
    ``background`` ("#rrggbb"). ``max_pixels`` refuses larger images from their header,
    before decoding (renderer.media.limits), whichever library decodes them; None: only
    OpenCV's own limit.
    """
    source = Path(path)
    with user_os_errors(source, "read image"):  # e.g. a name too long for the file system
        found, is_dir = source.exists(), source.is_dir()
    if not found:
        raise DreamreelError(f"cannot read image '{source}': no such file")
    if is_dir:
        raise DreamreelError(f"cannot read image '{source}': it is a folder, not a file")
    with user_os_errors(source, "read image"):
        header = read_image_header(source)
    if header is not None:
        check_input_pixels(source, header.width, header.height, max_pixels)
        if header.has_alpha:
            return _read_transparent(source, background)
    with user_os_errors(source, "read image"):
        data = np.fromfile(source, dtype=np.uint8)  # unlike imread, fine with non-ASCII paths
    if not _png_chunks_fit(data):  # OpenCV allocates a chunk's declared length first
        raise InputDamaged(
            f"cannot read image '{source}': damaged (a PNG chunk runs past the end of the file)"
        )
    try:
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    except cv2.error as err:  # e.g. above OpenCV's own size limit (2**30 pixels)
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else "cv2.error"
        if "CV_IO_MAX_IMAGE_PIXELS" in reason:
            reason = (
                "it is above OpenCV's own limit of 2**30 pixels (the environment "
                "variable CV_IO_MAX_IMAGE_PIXELS raises it)"
            )
        raise InputDamaged(
            f"cannot read image '{source}': OpenCV cannot decode it: {reason}"
        ) from None
    if bgr is None:
        raise InputDamaged(f"cannot read image '{source}': not an image file OpenCV can decode")
    if header is None:  # a format no header reader here knows: its decoded size, then
        check_input_pixels(source, bgr.shape[1], bgr.shape[0], max_pixels)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _png_chunks_fit(data: np.ndarray) -> bool:
    """False for a PNG with a chunk that says it runs past the end of the file (OpenCV's
    reader would allocate that much first: 2 GB for a 123-byte file); True otherwise."""
    raw = data.data  # a memoryview: no copy of the file
    if raw[:8] != _PNG_SIGNATURE:
        return True
    at = 8
    while at + 8 <= len(raw):
        length, kind = int.from_bytes(raw[at : at + 4], "big"), raw[at + 4 : at + 8]
        at += 12 + length  # length, type, data, CRC
        if at > len(raw):
            return False
        if kind == b"IEND":
            break
    return True


def _read_transparent(source: Path, background: str) -> np.ndarray:
    try:
        with user_os_errors(source, "read image"):
            return read_flattened(source, background)
    except (OSError, ValueError, SyntaxError) as err:  # Pillow: truncated or damaged data
        raise InputDamaged(f"cannot read image '{source}': damaged ({err})") from None


def even_size(rgb: np.ndarray) -> np.ndarray:
    """Crop the last row/column if needed so width and height are even (yuv420p needs it)."""
    height, width = rgb.shape[:2]
    if height < 2 or width < 2:
        raise ValueError(f"image of {width}x{height} is too small for a video frame")
    return rgb[: height - height % 2, : width - width % 2]


def fit_long_side(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    height, width = rgb.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return rgb
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)  # INTER_AREA: no aliasing


def video_frame_size(width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """Even width and height for video frames: long side at most max_size, aspect kept,
    never larger (an odd last row or column is cropped). ValueError below 2x2."""
    if width < 2 or height < 2:
        raise ValueError(f"{width}x{height} frames are too small for video (2x2 at least)")
    if max_size is None or max(width, height) <= max_size:
        return width - width % 2, height - height % 2
    scale = max_size / max(width, height)

    def even(side: int) -> int:
        return min(side - side % 2, max(2, 2 * round(side * scale / 2)))

    new_width, new_height = even(width), even(height)
    long_side = 2 * (max_size // 2)  # rounding must not push the long side past max_size
    if width >= height:
        new_width = long_side
    else:
        new_height = long_side
    return new_width, new_height
