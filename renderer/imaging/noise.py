"""Seeded noise images to dream from: one helper, several kinds."""

from __future__ import annotations

import cv2
import numpy as np

from ..media.images import to_uint8
from ..runtime.errors import DreamreelError

NOISE_KINDS = ("uniform", "gaussian", "smooth", "fractal")


def make_noise(height: int, width: int, *, kind: str = "uniform", seed: int = 0) -> np.ndarray:
    """An RGB uint8 noise image.

    uniform  -- every pixel uniform in 0..255, as the seeds start their zooms;
    gaussian -- mid grey plus gaussian noise (sd 40): calmer, no pure black/white;
    smooth   -- uniform noise at 1/16 size upscaled: soft colour blobs;
    fractal  -- sum of smooth noise at several scales (1/f-like, cloud texture).
    """
    if height < 1 or width < 1:
        raise DreamreelError(f"noise size must be positive, got {width}x{height}")
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if kind == "gaussian":
        return to_uint8(127.5 + 40.0 * rng.standard_normal((height, width, 3)))
    if kind == "smooth":
        return to_uint8(_smooth_layer(rng, height, width, 16) * 255.0)
    if kind == "fractal":
        # Halving the amplitude with each finer scale gives the 1/f look of clouds.
        scales = (64, 32, 16, 8, 4, 2)
        amplitudes = np.array([0.5**i for i in range(len(scales))])
        total = sum(a * _smooth_layer(rng, height, width, s) for a, s in zip(amplitudes, scales))
        total = (total - total.min()) / max(float(np.ptp(total)), 1e-8)
        return to_uint8(total * 255.0)
    raise DreamreelError(f"unknown noise kind {kind!r}; choose one of: {', '.join(NOISE_KINDS)}")


def _smooth_layer(rng: np.random.Generator, height: int, width: int, factor: int) -> np.ndarray:
    """Uniform [0, 1] noise at 1/factor resolution, bicubically upscaled."""
    small = rng.random((max(1, height // factor), max(1, width // factor), 3)).astype(np.float32)
    return np.clip(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)
