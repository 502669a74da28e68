"""The image a render starts from: the input photo or seeded noise, at the output size."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..media.images import read_image
from ..noise import make_noise

if TYPE_CHECKING:
    from ..spec import RenderSpec


def output_size(spec: RenderSpec, input_shape: tuple[int, int] | None) -> tuple[int, int]:
    """(height, width): given sizes win; one given side keeps the input's aspect ratio."""
    if input_shape is None:
        input_shape = (spec.height or spec.width or 512, spec.width or spec.height or 512)
    in_h, in_w = input_shape
    if spec.width and spec.height:
        return spec.height, spec.width
    if spec.width:
        return max(16, round(in_h * spec.width / in_w)), spec.width
    if spec.height:
        return spec.height, max(16, round(in_w * spec.height / in_h))
    return in_h, in_w


def source_image(spec: RenderSpec) -> np.ndarray:
    """The input photo (or seeded noise) at the output size, RGB float32 0..255."""
    if spec.input:
        image = read_image(spec.input)
        height, width = output_size(spec, image.shape[:2])
        interpolation = cv2.INTER_AREA if height < image.shape[0] else cv2.INTER_CUBIC
        return cv2.resize(image, (width, height), interpolation=interpolation).astype(np.float32)
    height, width = output_size(spec, None)
    return make_noise(height, width, kind=spec.noise, seed=spec.seed).astype(np.float32)
