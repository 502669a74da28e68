"""Per-frame values over a render's frames, one row each: what ``dreamreel preview``
draws of a spec's schedules, and of its music track under them.

Plain arrays in, an RGB picture out (the caller knows what the values mean): panels of
rows, each row its own line scaled to its own range (a zoom of 1.03 and 8 dream steps
share no axis), the range written beside it; ticks on a row mark frames (keyframes,
beats), vertical lines across a panel mark events (scene cuts, beats). One frame axis
under everything, then free text lines (the constant values). Lines by OpenCV, text by
Pillow in the captions' font, as renderer/imaging/loss_plot.py draws: no matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .captions import caption_font
from .loss_plot import draw_broken_line

_BACKGROUND = (255, 255, 255)
_ROW_BACKGROUND = (246, 246, 248)
_AXIS = (60, 60, 60)
_TEXT = (40, 40, 40)
_MUTED = (110, 110, 110)
LINE = (30, 100, 200)  # RGB: the loss plot's calm blue
AUDIO = (0, 140, 110)
MARK = (200, 40, 40)  # scene cuts
BEAT = (240, 150, 40)
_ROW_HEIGHT = 46
_ROW_GAP = 6
_LABEL_WIDTH = 190
_RIGHT = 16
_FONT_PX = 13


@dataclass(frozen=True)
class Row:
    """One value over the frames, or only ticks (``values`` empty)."""

    label: str
    values: Sequence[float] = ()  # one per frame of the plot's ``frames``
    colour: tuple[int, int, int] = LINE
    ticks: Sequence[float] = ()  # frames marked with a short tick on the row
    tick_colour: tuple[int, int, int] = _AXIS
    value_range: tuple[float, float] | None = None  # fixed, e.g. (0, 1); None: the values'


@dataclass(frozen=True)
class Panel:
    """A heading, its rows, and frames marked by a line across all of them."""

    title: str
    rows: Sequence[Row]
    lines: Sequence[float] = ()  # frames (a cut, a beat) drawn across every row
    line_colour: tuple[int, int, int] = MARK


@dataclass
class _Canvas:
    image: np.ndarray
    texts: list[tuple[str, tuple[float, float], str, tuple[int, int, int]]] = field(
        default_factory=list
    )

    def text(self, text: str, xy, anchor: str = "la", colour=_TEXT) -> None:
        self.texts.append((text, xy, anchor, colour))


def schedule_plot(
    frames: Sequence[float],
    panels: Sequence[Panel],
    *,
    title: str = "",
    notes: Sequence[str] = (),
    x_label: str = "frame",
    width: int = 800,
) -> np.ndarray:
    """Draw ``panels`` over ``frames`` (the x value of each value, in order) as an
    HxWx3 RGB uint8 image: ``title`` on top, the frame axis under the last panel,
    ``notes`` (wrapped) under the axis. A row of one repeated value is a flat line in
    the middle of its band; non-finite values are gaps."""
    if width < 320:
        raise ValueError(f"schedule plot must be at least 320 pixels wide, got {width}")
    xs = np.asarray(frames, np.float64)
    font = caption_font(_FONT_PX)
    line_h = _FONT_PX + 5
    plot_left, plot_right = _LABEL_WIDTH, width - _RIGHT
    note_lines = [line for note in notes for line in _wrap(note, width - 16, font)]
    rows = sum(len(panel.rows) for panel in panels)
    height = (
        (line_h + 8 if title else 4)
        + len(panels) * (line_h + 2)
        + rows * (_ROW_HEIGHT + _ROW_GAP)
        + 2 * line_h
        + 10
        + len(note_lines) * line_h
        + 8
    )
    canvas = _Canvas(np.full((height, width, 3), _BACKGROUND, np.uint8))
    x_low, x_high = (float(xs.min()), float(xs.max())) if len(xs) else (0.0, 1.0)
    if x_high - x_low < 1:
        x_low, x_high = x_low - 0.5, x_high + 0.5

    def px(x: float) -> int:
        return round(plot_left + (x - x_low) / (x_high - x_low) * (plot_right - plot_left))

    top = 4
    if title:
        canvas.text(title, (8, top + 2))
        top += line_h + 8
    for panel in panels:
        canvas.text(panel.title, (8, top), colour=_MUTED)
        top += line_h + 2
        panel_top = top
        for row in panel.rows:
            _draw_row(canvas, row, xs, px, top, plot_left, plot_right)
            top += _ROW_HEIGHT + _ROW_GAP
        for frame in panel.lines:  # across the panel's rows, over their lines
            x = px(frame)
            cv2.line(canvas.image, (x, panel_top), (x, top - _ROW_GAP), panel.line_colour, 1)
    _draw_axis(canvas, x_low, x_high, px, top, plot_left, plot_right, font, x_label)
    top += 2 * line_h + 10
    for line in note_lines:
        canvas.text(line, (8, top), colour=_MUTED)
        top += line_h
    return _with_text(canvas, font)


def _draw_row(canvas: _Canvas, row: Row, xs, px, top: int, left: int, right: int) -> None:
    image = canvas.image
    bottom = top + _ROW_HEIGHT
    cv2.rectangle(image, (left, top), (right, bottom), _ROW_BACKGROUND, -1)
    canvas.text(_fitted(row.label, 30), (8, top + 2))
    for frame in row.ticks:
        x = px(frame)
        cv2.line(image, (x, bottom - 10), (x, bottom), row.tick_colour, 1)
    values = np.asarray(row.values, np.float64)
    if not len(values):
        return
    finite = values[np.isfinite(values)]
    if row.value_range is not None:
        low, high = row.value_range
    elif len(finite):
        low, high = float(finite.min()), float(finite.max())
    else:
        low, high = 0.0, 1.0
    flat = high - low <= 1e-12 * max(1.0, abs(high))
    canvas.text(_number(high) if not flat else _number(low), (left - 6, top + 1), "ra", _MUTED)
    if not flat:
        canvas.text(_number(low), (left - 6, bottom - 1), "rd", _MUTED)
    pad = 5

    def py(value: float) -> int:
        if flat:
            return (top + bottom) // 2
        return round(bottom - pad - (value - low) / (high - low) * (_ROW_HEIGHT - 2 * pad))

    draw_broken_line(image, xs[: len(values)], values, px, py, row.colour)


def _draw_axis(canvas, x_low, x_high, px, top, left, right, font, x_label) -> None:
    cv2.line(canvas.image, (left, top), (right, top), _AXIS, 1)
    for tick in _frame_ticks(x_low, x_high, right - left):
        x = px(tick)
        cv2.line(canvas.image, (x, top), (x, top + 4), _AXIS, 1)
        canvas.text(_number(tick), (x, top + 6), "ma")
    canvas.text(x_label, ((left + right) / 2, top + 6 + _FONT_PX + 5), "ma", _MUTED)


def _frame_ticks(low: float, high: float, pixels: int) -> list[float]:
    """Round frame numbers about 90 pixels apart, the first and last frame always."""
    wanted = max(2, pixels // 90)
    raw = (high - low) / wanted
    power = 10 ** math.floor(math.log10(max(raw, 1e-9)))
    step = next(f * power for f in (1, 2, 5, 10) if f * power >= raw)
    step = max(1.0, step)
    first = math.ceil(low / step) * step
    inner = [
        t
        for t in np.arange(first, high, step)
        if min(t - low, high - t) * pixels / max(high - low, 1e-9) > 40
    ]
    ends = [round(low)] if high - low < 1.5 else [round(low), round(high)]
    return sorted({*ends, *(float(t) for t in inner)})


def _number(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e7:
        return str(int(value))
    return f"{value:.4g}"


def _fitted(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _wrap(text: str, max_width: int, font) -> list[str]:
    """Greedy lines at spaces; a word wider than a line stands alone."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if line and font.getlength(candidate) > max_width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def _with_text(canvas: _Canvas, font) -> np.ndarray:
    image = Image.fromarray(canvas.image)
    draw = ImageDraw.Draw(image)
    for text, xy, anchor, colour in canvas.texts:
        draw.text(xy, text, font=font, fill=colour, anchor=anchor)
    return np.asarray(image).copy()
