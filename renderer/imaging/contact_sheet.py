"""A contact sheet: equally sized images laid out in a grid."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..media.images import as_rgb


def contact_sheet(
    images: Iterable[np.ndarray],
    *,
    columns: int | None = None,
    gap: int = 4,
    background: tuple[int, int, int] = (16, 16, 16),
) -> np.ndarray:
    """Lay equally sized images out in a grid, row by row, `gap` pixels apart and around.

    `columns` defaults to ceil(sqrt(n)), the most nearly square grid.
    """
    tiles = [as_rgb(image) for image in images]
    if not tiles:
        raise ValueError("contact_sheet needs at least one image")
    tile_h, tile_w = tiles[0].shape[:2]
    if any(tile.shape[:2] != (tile_h, tile_w) for tile in tiles):
        raise ValueError("contact_sheet needs images of one size")
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    sheet = np.empty(
        (rows * tile_h + (rows + 1) * gap, columns * tile_w + (columns + 1) * gap, 3), np.uint8
    )
    sheet[:] = background
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        top, left = gap + row * (tile_h + gap), gap + column * (tile_w + gap)
        sheet[top : top + tile_h, left : left + tile_w] = tile
    return sheet
