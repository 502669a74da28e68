"""Captions burnt into images, e.g. "octave 2/4  step 30  loss 1.234" on progress snapshots.

The text sits on a semi-opaque dark band across the full width, so it reads on any dream.
Its size follows the image width (the same look at 128 px and at 1920 px); when a line
would not fit it wraps, at double spaces first (they separate fields), and only when
a single word is still too wide does the text shrink. It never runs off the image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT_COLOR = (255, 255, 255)
_BAND_DARKEN = 0.6  # share of black blended into the band
_CAP_PER_WIDTH = 1 / 48  # cap height as a share of image width
_MIN_CAP_PX = 9  # smaller Hershey capitals stop being legible
_MAX_BAND_SHARE = 0.5  # the caption may cover at most this much of the height
_SHRINK = 0.9  # per try, when the text does not fit
_MIN_SCALE = 0.1


@dataclass(frozen=True)
class _Layout:
    lines: list[str]
    scale: float
    thickness: int
    ascent: int  # pixels above the baseline
    descent: int  # pixels below it (g, p, y)
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
    for index, line in enumerate(layout.lines):
        origin = (layout.padding, top + layout.baseline(index))
        cv2.putText(
            out, line, origin, _FONT, layout.scale, _TEXT_COLOR, layout.thickness, cv2.LINE_AA
        )
    return out


def _layout(text: str, width: int, height: int) -> _Layout:
    """Largest readable layout that fits; shrinks only when wrapping is not enough."""
    cap_at_scale_1 = cv2.getTextSize("H", _FONT, 1.0, 1)[0][1]
    scale = max(_MIN_CAP_PX, width * _CAP_PER_WIDTH) / cap_at_scale_1
    while True:
        layout = _layout_at(text, width, scale)
        fits = layout is not None and layout.band_height <= height * _MAX_BAND_SHARE
        if fits or scale * _SHRINK < _MIN_SCALE:
            # Below the minimum scale the image is too small for any text: draw a
            # single line, which putText clips, rather than loop forever.
            return layout or _layout_at(" ".join(text.split()), 10**9, scale)
        scale *= _SHRINK


def _layout_at(text: str, width: int, scale: float) -> _Layout | None:
    """Wrap `text` at this scale, or None if a single word is wider than the image."""
    thickness = max(1, round(scale * 1.5))
    (_, ascent), descent = cv2.getTextSize("Hg", _FONT, scale, thickness)
    padding = max(2, round(ascent * 0.5))

    def measure(line: str) -> int:
        return cv2.getTextSize(line, _FONT, scale, thickness)[0][0]

    lines = _wrap(text, width - 2 * padding, measure)
    if lines is None:
        return None
    gap = max(1, round(ascent * 0.4))
    return _Layout(lines, scale, thickness, ascent, descent, gap, padding)


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
