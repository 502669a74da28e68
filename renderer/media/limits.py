"""The sizes a render accepts: inputs under a pixel limit, frames over a minimum side.

Both are checked from headers where the size is known before decoding: a 40000x40000
PNG is 1.5 MB on disk but 4.8 GB decoded, and a 32x14 frame only fails deep inside the
model's gradient (its strided convolutions run out of pixels).
"""

from __future__ import annotations

from pathlib import Path

from ..runtime.errors import DreamreelError

# Well above 8K (33 MP): what a user means to render; above it, usually a mistake or a
# decompression bomb. `max_input_pixels` raises it.
DEFAULT_MAX_INPUT_PIXELS = 100_000_000
MAX_INPUT_PIXELS_KEY = "max_input_pixels"

# The smallest frame side the engine dreams. Measured with the default model on the CPU:
# 15 px frames dream, 14 px ones end in a oneDNN convolution error; 16 is also the least
# `width`/`height` take. Octaves below renderer.engine.dream.MIN_OCTAVE_SIDE are dropped instead.
MIN_FRAME_SIDE = 16


def megapixels(pixels: int) -> str:
    """1600000000 -> "1600 MP", 2500000 -> "2.5 MP"."""
    value = pixels / 1e6
    return f"{value:.0f} MP" if value >= 10 else f"{value:.2g} MP"


def check_input_pixels(
    path: str | Path, width: int, height: int, max_pixels: int | None = DEFAULT_MAX_INPUT_PIXELS
) -> None:
    """Refuse an input whose header size is above the limit (None: no limit)."""
    if max_pixels is None or width * height <= max_pixels:
        return
    raise DreamreelError(
        f"{Path(path).name} is {width}x{height} ({megapixels(width * height)}), above the "
        f"{megapixels(max_pixels)} limit; raise {MAX_INPUT_PIXELS_KEY} to render it "
        f"(e.g. --set {MAX_INPUT_PIXELS_KEY}={_suggested(width * height)})"
    )


def check_frame_side(width: int, height: int, what: str, keys: str) -> None:
    """Refuse frames whose shorter side is under MIN_FRAME_SIDE. ``what`` names the frames
    ("frames of clip.mp4 with video.max_size=32"), ``keys`` the keys that change it."""
    if min(width, height) >= MIN_FRAME_SIDE:
        return
    raise DreamreelError(
        f"{what} are {width}x{height}, too small to dream: both sides must be at least "
        f"{MIN_FRAME_SIDE} px; {keys}"
    )


def _suggested(pixels: int) -> int:
    """A round limit just above ``pixels``."""
    step = 10 ** max(6, len(str(pixels)) - 2)
    return (pixels // step + 1) * step
