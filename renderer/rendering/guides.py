"""Guide images (``guide:`` objective terms): read once for the render, handed to the
engine as arrays, and known by content in the render's identity."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..media.images import read_image
from ..media.limits import DEFAULT_MAX_INPUT_PIXELS

if TYPE_CHECKING:
    from ..engine.objectives import Objective

# Guide images are seen at most this big (longer side): their features are a (positions x
# channels) matrix every window multiplies by, and Google's notebook used 224 px.
GUIDE_MAX_SIDE = 384


def read_guide(path: str) -> np.ndarray:
    """A guide image as the engine sees it: RGB float32 0..255, shrunk to GUIDE_MAX_SIDE."""
    import cv2

    # A guide is seen at GUIDE_MAX_SIDE: a decompression bomb is refused from its header.
    image = read_image(path, max_pixels=DEFAULT_MAX_INPUT_PIXELS).astype(np.float32)
    height, width = image.shape[:2]
    scale = min(1.0, GUIDE_MAX_SIDE / max(height, width))
    if scale < 1.0:
        size = (max(32, round(width * scale)), max(32, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


def read_guides(objective: Objective | None) -> dict[str, np.ndarray]:
    """Every guide image ``objective`` names, by path (none without guide terms)."""
    if objective is None:
        return {}
    return {path: read_guide(path) for path in objective.guide_paths()}


def guide_file_identity(objective: Objective | None) -> dict[str, str]:
    """Guide images by content (sha256): a changed guide must not resume an old render."""
    if objective is None:
        return {}
    identity = {}
    for path in objective.guide_paths():
        try:
            identity[path] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError:
            identity[path] = "unreadable"
    return identity
