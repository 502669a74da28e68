"""A small line chart of the final loss per frame, drawn with OpenCV (no matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

_BACKGROUND = (255, 255, 255)
_AXIS = (60, 60, 60)
_GRID = (225, 225, 225)
_TEXT = (40, 40, 40)
_LINE = (30, 100, 200)  # RGB: a calm blue
_FONT = cv2.FONT_HERSHEY_SIMPLEX


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


def _value_range(ys: list[float]) -> tuple[float, float]:
    finite = [y for y in ys if math.isfinite(y)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if high - low < 1e-12 * max(1.0, abs(high)):  # constant: centre it in a sensible band
        pad = abs(high) * 0.1 or 1.0
        return low - pad, high + pad
    pad = (high - low) * 0.05
    return low - pad, high + pad


def _label(value: float) -> str:
    return f"{value:.4g}"


def _text(canvas, text, org, scale, *, align="left", valign="baseline") -> None:
    (w, h), _ = cv2.getTextSize(text, _FONT, scale, 1)
    x, y = org
    if align == "right":
        x -= w
    elif align == "center":
        x -= w // 2
    if valign == "middle":
        y += h // 2
    elif valign == "top":
        y += h
    cv2.putText(canvas, text, (int(x), int(y)), _FONT, scale, _TEXT, 1, cv2.LINE_AA)


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
    scale = max(0.3, min(0.45, height / 700))
    _, text_h = cv2.getTextSize("0", _FONT, scale, 1)[0]

    y_low, y_high = _value_range(ys)
    x_low, x_high = (min(xs), max(xs)) if xs else (1.0, 1.0)
    if x_high - x_low < 1:
        x_low, x_high = x_low - 0.5, x_high + 0.5
    y_ticks = _ticks(y_low, y_high, max(2, height // 60))
    x_ticks = _ticks(x_low, x_high, max(2, width // 90), integer=True)

    label_w = max((cv2.getTextSize(_label(t), _FONT, scale, 1)[0][0] for t in y_ticks), default=0)
    left = min(width // 3, label_w + 12)
    right = max(4, min(16, width // 20))
    top = min(height // 4, text_h * 2 + 10)
    bottom = min(height // 4, text_h + 14)
    plot_w, plot_h = max(1, width - left - right), max(1, height - top - bottom)

    def px(x: float) -> int:
        return round(left + (x - x_low) / (x_high - x_low) * plot_w)

    def py(y: float) -> int:
        return round(top + plot_h - (y - y_low) / (y_high - y_low) * plot_h)

    for tick in y_ticks:  # horizontal grid and value labels
        y = py(tick)
        cv2.line(canvas, (left, y), (left + plot_w, y), _GRID, 1)
        _text(canvas, _label(tick), (left - 6, y), scale, align="right", valign="middle")
    for tick in x_ticks:  # frame-number ticks
        x = px(tick)
        cv2.line(canvas, (x, top + plot_h), (x, top + plot_h + 4), _AXIS, 1)
        _text(canvas, str(int(tick)), (x, top + plot_h + 7), scale, align="center", valign="top")
    cv2.line(canvas, (left, top), (left, top + plot_h), _AXIS, 1)
    cv2.line(canvas, (left, top + plot_h), (left + plot_w, top + plot_h), _AXIS, 1)
    _text(canvas, title, (left + plot_w // 2, max(text_h + 2, top - text_h - 2)), scale,
          align="center")

    if not xs:
        _text(canvas, "no frames", (left + plot_w // 2, top + plot_h // 2), scale,
              align="center", valign="middle")
        return canvas

    segment: list[tuple[int, int]] = []
    segments = []
    for x, y in zip(xs, ys):
        if math.isfinite(y):
            segment.append((px(x), py(y)))
        elif segment:
            segments.append(segment)
            segment = []
    if segment:
        segments.append(segment)
    for points in segments:
        if len(points) == 1:
            cv2.circle(canvas, points[0], 3, _LINE, -1, cv2.LINE_AA)
        else:
            array = np.array(points, np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [array], False, _LINE, 2, cv2.LINE_AA)
    return canvas
