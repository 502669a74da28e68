"""Tiles: the grid every backend dreams through, and the tiled loss and gradient of the
backends that cut tiles in Python (JAX while tracing, PyTorch eagerly).

A big image's gradient is taken tile by tile so memory stays bounded: each tile's window
(its core plus a margin of context, cut at the image's edges) goes through the model; only
the core's part of the window's gradient is kept, and the loss counts cores only. The
grid and the bounds are written once here; TensorFlow's graph calls them with tensors and
tf.minimum/tf.maximum (renderer/engine/ascent.py: one graph serves every image size, so its
tiles are cut inside the graph), the others with Python ints.
"""

from __future__ import annotations

from dataclasses import dataclass


def tile_grid(size, tile):
    """(count, step) along one side: near-equal tiles no larger than ``tile``. Plain
    arithmetic, so ``size`` may be an int or a graph tensor."""
    count = (size + tile - 1) // tile
    return count, (size + count - 1) // count


def tile_bounds(row, col, row_step, col_step, height, width, margin, minimum=min, maximum=max):
    """((y0, y1, x0, x1), (wy0, wy1, wx0, wx1)): tile (row, col)'s core and its window."""
    y0, x0 = row * row_step, col * col_step
    y1, x1 = minimum(y0 + row_step, height), minimum(x0 + col_step, width)
    return (
        (y0, y1, x0, x1),
        (
            maximum(y0 - margin, 0),
            minimum(y1 + margin, height),
            maximum(x0 - margin, 0),
            minimum(x1 + margin, width),
        ),
    )


@dataclass(frozen=True)
class Tile:
    core: tuple[int, int, int, int]  # y0, y1, x0, x1: the pixels whose gradient it gives
    window: tuple[int, int, int, int]  # wy0, wy1, wx0, wx1: what the model sees
    core_share: float  # of the image's area: the weight of its loss
    window_share: float

    @property
    def window_size(self) -> tuple[int, int]:
        wy0, wy1, wx0, wx1 = self.window
        return wy1 - wy0, wx1 - wx0


def tiles(height: int, width: int, tile: int, margin: int) -> list[Tile]:
    """Every tile of a height x width image, row by row."""
    rows, row_step = tile_grid(height, tile)
    cols, col_step = tile_grid(width, tile)
    area = float(height * width)
    out = []
    for r in range(rows):
        for c in range(cols):
            core, window = tile_bounds(r, c, row_step, col_step, height, width, margin)
            y0, y1, x0, x1 = core
            wy0, wy1, wx0, wx1 = window
            out.append(
                Tile(core, window, (y1 - y0) * (x1 - x0) / area, (wy1 - wy0) * (wx1 - wx0) / area)
            )
    return out


def focus_in(tile: Tile, focus):
    """(at, in_core) for the place neuron terms read (``focus``: row, col in the image, ints
    or traced scalars): ``at`` = (row, col relative to the window, 1.0 if the window holds
    it), ``in_core`` = 1.0 if the core holds it. In keras.ops, for any backend."""
    from keras import ops

    y0, y1, x0, x1 = tile.core
    wy0, wy1, wx0, wx1 = tile.window
    fy, fx = focus

    def inside(top, bottom, left, right):
        return ops.cast(
            ops.logical_and(
                ops.logical_and(top <= fy, fy < bottom), ops.logical_and(left <= fx, fx < right)
            ),
            "float32",
        )

    at = ops.stack(
        [ops.cast(fy - wy0, "float32"), ops.cast(fx - wx0, "float32"), inside(wy0, wy1, wx0, wx1)]
    )
    return at, inside(y0, y1, x0, x1)


def tiled_loss_and_gradient(
    image,
    focus,
    grid: list[Tile],
    *,
    loss_of,
    value_and_grad=None,
    add_core=None,
    zeros=None,
    with_point: bool = False,
    held=None,
):
    """The image's loss and gradient, tile by tile; the backend gives the calculus:

    - ``loss_of(window, at, held)`` -> (mean part, point part), forward only, ``held``
      the temporal term's (reference, weight) cut to the window (None without one);
    - ``value_and_grad(target, window)`` -> ((value, aux), gradient of value) for
      ``target(window) -> (value, aux)``;
    - ``add_core(gradient, core_gradient, tile)`` -> gradient with the core added, from
      ``zeros`` (an image of zeros).
    Without ``value_and_grad`` it is the loss alone (forward passes), gradient None.

    A place term (neuron) counts once, unscaled; means are scaled by the window's share of
    the image, so each activation weighs what it weighs in the whole image's mean.
    """
    gradient, loss = zeros, 0.0
    for tile in grid:
        wy0, wy1, wx0, wx1 = tile.window
        y0, y1, x0, x1 = tile.core
        at, in_core = focus_in(tile, focus)
        window = image[wy0:wy1, wx0:wx1]
        cut = None if held is None else tuple(t[wy0:wy1, wx0:wx1] for t in held)
        if value_and_grad is None:
            mean, point = loss_of(window, at, cut)
            loss = loss + tile.core_share * mean + point * in_core
            continue

        def target(w, at=at, share=tile.window_share, cut=cut):
            mean, point = loss_of(w, at, cut)
            return (share * mean + point if with_point else mean), (mean, point)

        (_, (mean, point)), window_gradient = value_and_grad(target, window)
        if not with_point:
            window_gradient = window_gradient * tile.window_share
        core = window_gradient[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
        gradient = add_core(gradient, core, tile)
        loss = loss + tile.core_share * mean + point * in_core
    return loss, gradient
