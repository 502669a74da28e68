"""Captions burnt into images, e.g. "octave 2/4  step 30  loss 1.234" on progress snapshots.

The text sits on a semi-opaque dark band across the full width, so it reads on any dream.
Its size follows the image width (the same look at 128 px and at 1920 px); when a line
would not fit it wraps, at double spaces first (they separate fields), and only when
a single word is still too wide does the text shrink. It never runs off the image.

Drawn with Pillow in its built-in scalable font (Aileron, Pillow >= 10.1): clean at any
size, anti-aliased, and its zero has no slash (losses are mostly digits).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_BAND_DARKEN = 0.6  # share of black blended into the band
_CAP_PER_WIDTH = 1 / 48  # cap height as a share of image width
_MIN_CAP_PX = 9  # smaller capitals stop being legible
_MAX_BAND_SHARE = 0.5  # the caption may cover at most this much of the height
_SHRINK = 0.9  # per try, when the text does not fit
_MIN_SIZE_PX = 4  # below this no text is readable: stop shrinking
_REFERENCE_SIZE = 100  # font size at which the cap height is measured once
_TALL_AND_DEEP = "Hdgjpy"  # ink above and below the baseline: a line's full extent


@functools.lru_cache(maxsize=64)
def caption_font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in scalable font at `size` pixels (the em size)."""
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow built without FreeType
        raise RuntimeError("captions need Pillow >= 10.1 with FreeType (pip install Pillow)")
    return font


def _size_for_cap(cap_px: float) -> int:
    """Font size whose capital H is about `cap_px` tall."""
    top = caption_font(_REFERENCE_SIZE).getbbox("H", anchor="ls")[1]  # negative: above
    return max(1, round(cap_px * _REFERENCE_SIZE / -top))


@dataclass(frozen=True)
class _Layout:
    lines: list[str]
    size: int  # font size in pixels
    ascent: int  # ink above the baseline
    descent: int  # ink below it (g, p, y)
    gap: int  # between lines
    padding: int  # around the text block

    @property
    def band_height(self) -> int:
        text = len(self.lines) * (self.ascent + self.descent) + (len(self.lines) - 1) * self.gap
        return text + 2 * self.padding

    def baseline(self, index: int) -> int:
        """Baseline of line `index`, measured from the band's top."""
        return self.padding + self.ascent + index * (self.ascent + self.descent + self.gap)


def caption(image_uint8: np.ndarray, text: str, *, where: str = "bottom") -> np.ndarray:
    """Return a copy of the image with `text` on a dark band at the "bottom" or "top".

    Newlines in `text` force line breaks. Empty text returns an unchanged copy.
    """
    if where not in ("bottom", "top"):
        raise ValueError(f"where must be 'bottom' or 'top', not {where!r}")
    out = np.array(image_uint8, dtype=np.uint8, copy=True)
    if not text.strip():
        return out
    height, width = out.shape[:2]
    layout = _layout(text, width, height)
    top = height - layout.band_height if where == "bottom" else 0
    band = out[max(top, 0) : top + layout.band_height]
    band[:] = (band * (1 - _BAND_DARKEN)).astype(np.uint8)  # blend toward black

    canvas = Image.fromarray(out)
    white = 255 if canvas.mode in ("L", "I", "F") else (255,) * len(canvas.getbands())
    draw = ImageDraw.Draw(canvas)
    font = caption_font(layout.size)
    for index, line in enumerate(layout.lines):
        origin = (layout.padding, top + layout.baseline(index))
        draw.text(origin, line, font=font, fill=white, anchor="ls")
    return np.asarray(canvas).copy()


def _layout(text: str, width: int, height: int) -> _Layout:
    """Largest readable layout that fits; shrinks only when wrapping is not enough."""
    size = _size_for_cap(max(_MIN_CAP_PX, width * _CAP_PER_WIDTH))
    while True:
        layout = _layout_at(text, width, size)
        fits = layout is not None and layout.band_height <= height * _MAX_BAND_SHARE
        smaller = min(size - 1, int(size * _SHRINK))
        if fits or smaller < _MIN_SIZE_PX:
            # Below the minimum size the image is too small for any text: draw a
            # single line, which the image edge clips, rather than loop forever.
            return layout or _layout_at(" ".join(text.split()), 10**9, size)
        size = smaller


def _layout_at(text: str, width: int, size: int) -> _Layout | None:
    """Wrap `text` at this font size, or None if a single word is wider than the image."""
    font = caption_font(size)
    _, top, _, bottom = font.getbbox(_TALL_AND_DEEP, anchor="ls")
    ascent, descent = -top, bottom
    padding = max(2, round(ascent * 0.5))

    def measure(line: str) -> int:
        """Right edge of the ink (or of the advance, if wider) from the line's start."""
        return max(font.getbbox(line, anchor="ls")[2], round(font.getlength(line)))

    lines = _wrap(text, width - 2 * padding, measure)
    if lines is None:
        return None
    gap = max(1, round(ascent * 0.4))
    return _Layout(lines, size, ascent, descent, gap, padding)


def _wrap(text: str, max_width: int, measure) -> list[str] | None:
    """Greedy line filling: fields (split at 2+ spaces) stay whole when they fit."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [text]:
        line = ""
        for field in re.split(r"\s{2,}", paragraph.strip()):
            words = [field] if measure(field) <= max_width else field.split()
            for position, word in enumerate(words):
                if measure(word) > max_width:
                    return None
                joiner = "  " if position == 0 else " "
                candidate = f"{line}{joiner}{word}" if line else word
                if measure(candidate) <= max_width:
                    line = candidate
                else:
                    lines.append(line)
                    line = word
        lines.append(line)
    return lines
