"""What ``renderer.dream_image`` takes, made into what the engine takes.

A picture is a path (read like a render's input: any format, EXIF upright, the pixel
limit), a PIL image, or an array: greyscale (H, W) or (H, W, 1), RGB or RGBA, uint8
0..255 or float 0..1. Transparency is flattened onto a background colour, as a render
does with a transparent input (white unless told). Settings are DreamSettings' fields.
Anything else is refused in one line.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any

import numpy as np

from ..engine.dream import DreamSettings
from ..media.images import read_image
from ..media.limits import MIN_FRAME_SIDE, check_input_pixels
from ..media.transparency import parse_background
from ..runtime.errors import DreamreelError, closest


@dataclasses.dataclass(frozen=True)
class Picture:
    rgb: np.ndarray  # RGB float32 0..255, transparency flattened
    dtype: np.dtype  # what the dreamed image is given back as: uint8 or the input's float


def picture(image: Any, *, background: str, max_pixels: int | None) -> Picture:
    """Any picture ``dream_image`` accepts as RGB float32 0..255 (see the module's notes)."""
    colour = parse_background(background)  # a bad colour: one line, before any reading
    if isinstance(image, (str, os.PathLike)):
        rgb = read_image(image, max_pixels=max_pixels, background=background)
        return Picture(_sized(rgb.astype(np.float32)), np.dtype(np.uint8))
    pil = sys.modules.get("PIL.Image")  # a PIL image only if Pillow is loaded already
    if pil is not None and isinstance(image, pil.Image):
        image = _pil_array(image)
    try:
        array = np.asarray(image)
    except (ValueError, TypeError) as err:  # ragged nested lists, odd objects
        raise DreamreelError(f"dream_image: not an image array ({err})") from None
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))):
        raise DreamreelError(
            f"dream_image: expected an image of shape (H, W) or (H, W, 1) (greyscale), "
            f"(H, W, 3) (RGB) or (H, W, 4) (RGBA), got {array.shape}"
        )
    # An array is in memory already, but its float copies and the dream's are not yet.
    check_input_pixels("the image", array.shape[1], array.shape[0], max_pixels)
    scale = _scale(array)  # before any conversion: an object array has none
    pixels = array.astype(np.float32) * scale  # 0..255 either way
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] == 4:
        alpha = pixels[:, :, 3:] / 255.0
        pixels = pixels[:, :, :3] * alpha + np.asarray(colour, np.float32) * (1.0 - alpha)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    kind = np.dtype(np.uint8) if array.dtype == np.uint8 else array.dtype
    return Picture(_sized(np.ascontiguousarray(pixels, np.float32)), kind)


def _pil_array(image: Any) -> np.ndarray:
    """A PIL image as RGBA uint8 (any mode: palette, grey, with transparency...)."""
    try:
        return np.asarray(image.convert("RGBA"))
    except (OSError, ValueError) as err:  # truncated data, a mode with no RGBA conversion
        raise DreamreelError(f"dream_image: cannot read the PIL image ({err})") from None


def _scale(array: np.ndarray) -> float:
    """255 for float pixels (0..1), 1 for uint8; other types and ranges refused."""
    if array.dtype == np.uint8:
        return 1.0
    if array.dtype.kind != "f":
        raise DreamreelError(
            f"dream_image: expected uint8 pixels (0..255) or float pixels (0..1), got "
            f"{array.dtype} (convert with .astype(np.uint8) or divide by 255)"
        )
    if array.size and not np.isfinite(array).all():
        raise DreamreelError("dream_image: the image holds NaN or infinite values")
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if low < 0.0 or high > 1.0:
        raise DreamreelError(
            f"dream_image: float pixels must lie in 0..1, got {low:g}..{high:g} "
            f"(for 0..255 values pass a uint8 array, or divide by 255)"
        )
    return 255.0


def _sized(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    if min(height, width) < MIN_FRAME_SIDE:  # the model's convolutions run out of pixels
        raise DreamreelError(
            f"dream_image: the image is {width}x{height}, too small to dream: both sides "
            f"must be at least {MIN_FRAME_SIDE} px"
        )
    return rgb


def given_back(dreamed: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The engine's RGB float 0..255 as the caller's kind: uint8, or float 0..1."""
    if dtype == np.uint8:
        return np.clip(np.rint(dreamed), 0, 255).astype(np.uint8)
    return (np.clip(dreamed, 0.0, 255.0) / 255.0).astype(dtype)


def dream_settings(given: dict[str, Any]) -> DreamSettings:
    """DreamSettings from ``dream_image``'s keywords: an unknown name or a value of the
    wrong type is one line naming it (ranges: DreamSettings.validate)."""
    defaults = DreamSettings()
    names = [f.name for f in dataclasses.fields(DreamSettings)]
    checked = {}
    for key, value in given.items():
        if key not in names:
            close = closest(key, names)
            hint = f"did you mean {close[0]}? " if close else ""
            raise DreamreelError(
                f"dream_image: unknown setting {key!r}; {hint}settings: {', '.join(names)}"
            )
        expected = _type_of(getattr(defaults, key))
        if expected is not None and not _is(value, expected):
            raise DreamreelError(
                f"dream_image: {key} must be {expected.__name__}, got {value!r}"
                f" ({type(value).__name__})"
            )
        checked[key] = value if expected is None else expected(value)  # numpy's -> Python's
    return DreamSettings(**checked).validate()


def _type_of(default: Any) -> type | None:
    """The type a setting takes, from its default (None: validate() judges it)."""
    return None if default is None else type(default)


def _is(value: Any, expected: type) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return expected is bool
    if expected is float:
        return isinstance(value, (int, float, np.integer, np.floating))
    if expected is int:
        return isinstance(value, (int, np.integer))
    return isinstance(value, expected)
