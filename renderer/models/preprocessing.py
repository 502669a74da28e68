"""Per-family preprocessing: RGB 0..255 <-> the model's input space, and that space's range.

The engine dreams in model space and clips to ``low``/``high`` there, so every family
only has to say how it maps RGB and back; nothing else in the engine depends on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..runtime.errors import DreamreelError

_IMAGENET_MEAN_RGB = np.array([123.68, 116.779, 103.939], np.float32)
_IMAGENET_STD_RGB = np.array([0.229, 0.224, 0.225], np.float32) * 255.0


@dataclass(frozen=True)
class Preprocessing:
    """An affine per-channel map x_model = (rgb[..., order] - shift) / scale."""

    name: str
    shift: tuple[float, float, float]
    scale: tuple[float, float, float]
    bgr: bool = False
    description: str = ""

    def to_model(self, rgb: np.ndarray) -> np.ndarray:
        """RGB float/uint8 in 0..255 -> float32 model input."""
        x = np.asarray(rgb, np.float32)
        if self.bgr:
            x = x[..., ::-1]
        return (x - np.float32(self.shift)) / np.float32(self.scale)

    def from_model(self, x: np.ndarray) -> np.ndarray:
        """Model input -> RGB float32 in 0..255 (not clipped, not rounded)."""
        rgb = np.asarray(x, np.float32) * np.float32(self.scale) + np.float32(self.shift)
        return rgb[..., ::-1] if self.bgr else rgb

    @property
    def low(self) -> np.ndarray:
        """Per-channel lower bound of the model's input range (channel order of the model)."""
        return self.to_model(np.zeros(3, np.float32))

    @property
    def high(self) -> np.ndarray:
        """Per-channel upper bound of the model's input range."""
        return self.to_model(np.full(3, 255.0, np.float32))


def _bgr_mean_shift() -> tuple[float, float, float]:
    return tuple(float(v) for v in _IMAGENET_MEAN_RGB[::-1])


FAMILIES: dict[str, Preprocessing] = {
    p.name: p
    for p in (
        Preprocessing(
            "tf",
            (127.5,) * 3,
            (127.5,) * 3,
            description="RGB scaled to [-1, 1] (Inception, MobileNet, Xception)",
        ),
        Preprocessing(
            "caffe",
            _bgr_mean_shift(),
            (1.0,) * 3,
            bgr=True,
            description="BGR minus the ImageNet mean (VGG, ResNet50)",
        ),
        Preprocessing(
            "torch",
            tuple(float(v) for v in _IMAGENET_MEAN_RGB),
            tuple(float(v) for v in _IMAGENET_STD_RGB),
            description="RGB in [0, 1], ImageNet mean/std normalised (DenseNet)",
        ),
        Preprocessing("unit", (0.0,) * 3, (255.0,) * 3, description="RGB in [0, 1]"),
        Preprocessing(
            "raw",
            (0.0,) * 3,
            (1.0,) * 3,
            description="RGB in [0, 255]; models that rescale inside (EfficientNet)",
        ),
    )
}


def get_preprocessing(name: str) -> Preprocessing:
    try:
        return FAMILIES[name]
    except KeyError:
        raise DreamreelError(
            f"unknown preprocessing {name!r}; choose one of: {', '.join(FAMILIES)}"
        ) from None
