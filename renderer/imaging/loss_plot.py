"""A small line chart of the final loss per frame: lines by OpenCV, text by Pillow.

Labelled axes ("frame" across, "loss" up), the value at both ends of each axis, in the
captions' font (renderer.captions: scalable, open zeros). No matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .captions import caption_font

_BACKGROUND = (255, 255, 255)
_AXIS = (60, 60, 60)
_GRID = (225, 225, 225)
_TEXT = (40, 40, 40)
_LINE = (30, 100, 200)  # RGB: a calm blue
_TICK = 4  # tick mark length in pixels
X_LABEL = "frame"
Y_LABEL = "loss"


def _points(rows_or_values: Sequence[Any]) -> tuple[list[float], list[float]]:
    """(frame numbers, losses) from FrameStore rows or plain values (frames 1..n)."""
    xs, ys = [], []
    for position, item in enumerate(rows_or_values, start=1):
        if isinstance(item, Mapping):
            xs.append(float(item.get("frame", position)))
            ys.append(float(item["final_loss"]))
        else:
            xs.append(float(position))
            ys.append(float(item))
    return xs, ys


def _nice_step(span: float, target_ticks: int) -> float:
    """A 1, 2 or 5 times a power of ten step giving about `target_ticks` ticks over `span`."""
    raw = span / max(1, target_ticks)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power


def _ticks(low: float, high: float, target: int, *, integer: bool = False) -> list[float]:
    step = _nice_step(high - low, target)
    if integer:
        step = max(1.0, round(step))
    first = math.ceil(low / step - 1e-9) * step
    ticks, value = [], first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def _value_axis(ys: list[float], max_ticks: int) -> tuple[list[float], int]:
    """Ticks of the loss axis, the first and last at its ends, and their decimals.

    The axis runs from a round value at or below the lowest loss to one at or above the
    highest, so both ends carry a value: the finest 1-2-5 step that needs at most
    `max_ticks` ticks. A constant loss sits in the middle of its band.
    """
    finite = [y for y in ys if math.isfinite(y)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high - low < 1e-12 * max(1.0, abs(high)):
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    power = math.floor(math.log10(high - low))
    for step in (f * 10.0**p for p in range(power - 2, power + 3) for f in (1, 2, 5)):
        first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
        if last - first + 1 <= max(2, max_ticks):
            break
    ticks = [(0.0 if n == 0 else n * step) for n in range(first, last + 1)]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return ticks, decimals


def _value_label(value: float, decimals: int) -> str:
    if decimals > 6 or abs(value) >= 1e7:
        return f"{value:.6g}"
    return f"{value:.{decimals}f}"


def _frame_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass
class _Text:
    text: str
    xy: tuple[float, float]
    anchor: str  # Pillow anchor, e.g. "rm": right edge, vertical middle


def loss_plot(
    rows_or_values: Sequence[Any],
    *,
    width: int = 640,
    height: int = 320,
    title: str = "loss per frame",
) -> np.ndarray:
    """Draw final_loss against frame number as an HxWx3 RGB uint8 image.

    Accepts FrameStore.rows() (dicts with "frame" and "final_loss") or plain loss values
    (plotted at frames 1..n). One frame is drawn as a dot, constant losses as a flat line
    in the middle, non-finite losses as gaps; an empty input gives empty axes.
    """
    if width < 16 or height < 16:
        raise ValueError(f"loss plot must be at least 16x16, got {width}x{height}")
    xs, ys = _points(list(rows_or_values))
    canvas = np.full((height, width, 3), _BACKGROUND, np.uint8)

    font = caption_font(max(10, min(14, round(min(height / 24, width / 40)))))
    ascent = -font.getbbox("Hd0", anchor="ls")[1]
    line_h = ascent + font.getbbox("gjpy", anchor="ls")[3]
    pad = max(3, line_h // 3)

    def text_w(text: str) -> int:
        return math.ceil(font.getlength(text))

    top = min(height // 4, pad + (line_h + pad if title else ascent // 2))
    bottom = min(height // 3, _TICK + 4 + line_h + pad + line_h + pad)
    plot_h = max(1, height - top - bottom)
    y_ticks, decimals = _value_axis(ys, round(plot_h / (1.8 * line_h)))  # room to breathe
    y_labels = [_value_label(t, decimals) for t in y_ticks]
    y_low, y_high = y_ticks[0], y_ticks[-1]
    x_low, x_high = (min(xs), max(xs)) if xs else (1.0, 1.0)
    single = x_high - x_low < 1
    if single:
        x_low, x_high = x_low - 0.5, x_high + 0.5

    label_w = max(text_w(label) for label in y_labels)
    last_x_w = text_w(_frame_label(x_high if not single else x_low + 0.5))
    left = min(width // 3, pad + line_h + pad + label_w + _TICK + 3)
    right = min(width // 4, max(3 * pad, last_x_w // 2 + 2))
    plot_w = max(1, width - left - right)

    def px(x: float) -> int:
        return round(left + (x - x_low) / (x_high - x_low) * plot_w)

    def py(y: float) -> int:
        return round(top + plot_h - (y - y_low) / (y_high - y_low) * plot_h)

    texts: list[_Text] = []
    for tick, label in zip(y_ticks, y_labels):  # grid lines and loss values
        y = py(tick)
        if tick != y_low:  # the x axis is drawn there
            cv2.line(canvas, (left + 1, y), (left + plot_w, y), _GRID, 1)
        cv2.line(canvas, (left - _TICK, y), (left, y), _AXIS, 1)
        texts.append(_Text(label, (left - _TICK - 3, y), "rm"))

    x_ticks = _frame_ticks(x_low, x_high, single, plot_w, text_w)
    tick_text_top = top + plot_h + _TICK + 4
    for tick in x_ticks:  # frame numbers
        x = px(tick)
        cv2.line(canvas, (x, top + plot_h), (x, top + plot_h + _TICK), _AXIS, 1)
        texts.append(_Text(_frame_label(tick), (x, tick_text_top), "mt"))
    cv2.line(canvas, (left, top), (left, top + plot_h), _AXIS, 1)
    cv2.line(canvas, (left, top + plot_h), (left + plot_w, top + plot_h), _AXIS, 1)
    texts.append(_Text(X_LABEL, (left + plot_w / 2, tick_text_top + line_h + pad), "mt"))
    if title:
        texts.append(_Text(title, (left + plot_w / 2, pad), "mt"))
    if not xs:
        texts.append(_Text("no frames", (left + plot_w / 2, top + plot_h / 2), "mm"))
    else:
        _draw_line(canvas, xs, ys, px, py)

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for item in texts:
        draw.text(item.xy, item.text, font=font, fill=_TEXT, anchor=item.anchor)
    _draw_up(image, Y_LABEL, font, (pad + line_h // 2, top + plot_h // 2))
    return np.asarray(image).copy()


def _frame_ticks(x_low, x_high, single, plot_w, text_w) -> list[float]:
    """The first and last frame, and round frame numbers between that do not crowd them."""
    if single:
        return [x_low + 0.5]
    ends = [x_low, x_high]
    widest = max(text_w(_frame_label(x)) for x in ends)
    room = max(2, plot_w // max(1, 2 * widest + 12))  # labels with a gap of their width
    scale = plot_w / (x_high - x_low)
    inner = [
        t
        for t in _ticks(x_low, x_high, min(room, max(2, plot_w // 90)), integer=True)
        if all(abs(t - end) * scale > widest + 8 for end in ends)
    ]
    if (x_high - x_low) * scale <= widest + 4:  # the two ends would overlap: label the last
        return [x_high]
    return [x_low, *inner, x_high]


def _draw_line(canvas, xs, ys, px, py) -> None:
    draw_broken_line(canvas, xs, ys, px, py, _LINE, dot_radius=3)


def draw_broken_line(canvas, xs, values, px, py, colour, *, dot_radius: int = 2) -> None:
    """The values as lines through (px(x), py(value)), broken where one is not finite
    (a lost frame, a cut); a lone value as a dot."""
    segment: list[tuple[int, int]] = []
    segments = []
    for x, value in zip(xs, values):
        if math.isfinite(value):
            segment.append((px(x), py(value)))
        elif segment:
            segments.append(segment)
            segment = []
    if segment:
        segments.append(segment)
    for points in segments:
        if len(points) == 1:
            cv2.circle(canvas, points[0], dot_radius, colour, -1, cv2.LINE_AA)
        else:
            array = np.array(points, np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [array], False, colour, 2, cv2.LINE_AA)


def _draw_up(image: Image.Image, text: str, font, centre: tuple[int, int]) -> None:
    """Draw `text` reading upwards (rotated 90 degrees), centred on `centre`."""
    _, _, right, bottom = font.getbbox(text)
    tile = Image.new("L", (max(1, right), max(1, bottom)), 0)
    ImageDraw.Draw(tile).text((0, 0), text, font=font, fill=255)
    tile = tile.rotate(90, expand=True)
    corner = (centre[0] - tile.width // 2, centre[1] - tile.height // 2)
    image.paste(Image.new("RGB", tile.size, _TEXT), corner, tile)
