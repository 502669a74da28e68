"""Keyframe schedules: per-frame values in the Deforum syntax ``"0:(1.0), 60:(1.04)"``.

A schedule is a few ``frame:(value)`` keyframes; frames between them are interpolated,
frames before the first keyframe take the first value and frames after the last take
the last. A plain number (``1.04`` or ``"1.04"``) is a constant schedule.

The text is read by a small hand-written parser (regular expressions, one entry at a
time): values must be plain numbers. Nothing is ever evaluated, so ``"0:(1+t)"`` or
``"0:(__import__('os'))"`` are errors, not code.

Interpolation between keyframes:

linear -- straight lines.
smooth -- monotone piecewise cubic Hermite (Fritsch-Carlson, as in PCHIP): interior
          tangents are the weighted harmonic mean of the neighbouring slopes (zero at a
          local extremum), so the curve never overshoots the keyframe values, is monotone
          wherever the keyframes are and has continuous slope through interior
          keyframes. The tangents at the first and last keyframe are zero: the value is
          held before and after them, so motion eases in and out instead of jerking into
          a constant (two keyframes give an ease-in-out "smoothstep" curve).
"""

from __future__ import annotations

import bisect
import math
import numbers
import re
from dataclasses import dataclass, field, replace

from .errors import DreamreelError

INTERPOLATIONS = ("linear", "smooth")

EXAMPLE = '"0:(1.0), 60:(1.04)"'
EXPECTED = f"expected a number or frame:(value) pairs like {EXAMPLE}"

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_VALUE = rf"\(\s*(?P<paren>{_NUMBER})\s*\)|(?P<bare>{_NUMBER})"
_CONSTANT_RE = re.compile(rf"\s*(?:{_VALUE})\s*")
_VALUE_RE = re.compile(rf"(?:{_VALUE})")
_FRAME_RE = re.compile(r"\d+")
_SHOWN_CHARS = 80  # longer schedule texts are cut in messages


@dataclass(frozen=True)
class Schedule:
    """Per-frame values from keyframes; call it with a frame number."""

    key: str                                   # e.g. "zoom.scale", for messages
    keyframes: tuple[tuple[int, float], ...]   # sorted by frame, unique frames
    interpolation: str = "linear"              # "linear" or "smooth"
    _tangents: tuple[float, ...] = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        _check_interpolation(self.interpolation, self.key)
        pairs = []
        for pair in self.keyframes:
            try:
                frame, value = pair
            except (TypeError, ValueError):
                raise DreamreelError(
                    f"{self.key}: keyframe {pair!r} is not a (frame, value) pair; {EXPECTED}"
                ) from None
            pairs.append((_check_frame(frame, self.key), _check_value(value, self.key)))
        if not pairs:
            raise DreamreelError(f"{self.key}: a schedule needs at least one keyframe; {EXPECTED}")
        pairs.sort(key=lambda pair: pair[0])
        for (before, _), (after, _) in zip(pairs, pairs[1:]):
            if before == after:
                raise DreamreelError(
                    f"{self.key}: frame {after} has two keyframes; each frame may appear once, "
                    f"like {EXAMPLE}"
                )
        keyframes = tuple(pairs)
        object.__setattr__(self, "keyframes", keyframes)
        if self.interpolation == "smooth":
            object.__setattr__(self, "_tangents", _monotone_tangents(keyframes))

    def __call__(self, frame: int) -> float:
        first, last = self.keyframes[0], self.keyframes[-1]
        if frame <= first[0]:
            return first[1]
        if frame >= last[0]:
            return last[1]
        # keyframes[k] <= frame < keyframes[k + 1]
        k = bisect.bisect_right(self.keyframes, frame, key=lambda keyframe: keyframe[0]) - 1
        (x0, y0), (x1, y1) = self.keyframes[k], self.keyframes[k + 1]
        h = x1 - x0
        t = (frame - x0) / h
        if self.interpolation == "linear":
            return y0 + (y1 - y0) * t
        d0, d1 = self._tangents[k], self._tangents[k + 1]
        t2, t3 = t * t, t * t * t
        return ((2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + t) * h * d0
                + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * h * d1)

    def values(self, frames: int) -> list[float]:
        """The values of frames 0 .. frames - 1."""
        if isinstance(frames, bool) or not isinstance(frames, numbers.Integral) or frames < 0:
            raise DreamreelError(f"{self.key}: frame count must be a non-negative integer, "
                                 f"got {frames!r}")
        return [self(frame) for frame in range(frames)]

    def is_constant(self) -> bool:
        first = self.keyframes[0][1]
        return all(value == first for _, value in self.keyframes)

    def __str__(self) -> str:
        return ", ".join(f"{frame}:({value!r})" for frame, value in self.keyframes)


def parse_schedule(value: str | int | float | Schedule, *, key: str,
                   interpolation: str = "linear") -> Schedule:
    """A Schedule from a number, a schedule string or a Schedule (re-keyed).

    A Schedule passed in comes back with the given key and interpolation.
    """
    _check_interpolation(interpolation, key)
    if isinstance(value, Schedule):
        if value.key == key and value.interpolation == interpolation:
            return value
        return replace(value, key=key, interpolation=interpolation)
    if isinstance(value, bool):
        raise DreamreelError(f"{key}: expected a number or a schedule like {EXAMPLE}, "
                             f"got a bool ({value})")
    if isinstance(value, numbers.Real):
        return Schedule(key, ((0, _check_value(value, key)),), interpolation)
    if not isinstance(value, str):
        raise DreamreelError(f"{key}: expected a number or a schedule like {EXAMPLE}, "
                             f"got {type(value).__name__}")
    return Schedule(key, _parse_text(value, key), interpolation)


def _parse_text(text: str, key: str) -> tuple[tuple[int, float], ...]:
    if not text.strip():
        raise DreamreelError(f"{key}: empty schedule; {EXPECTED}")
    constant = _CONSTANT_RE.fullmatch(text)
    if constant:
        return ((0, _number(constant, text, key)),)
    entries = text.split(",")
    if len(entries) > 1 and not entries[-1].strip():
        entries.pop()  # one trailing comma is fine
    keyframes: list[tuple[int, float]] = []
    seen: set[int] = set()
    for entry in entries:
        frame, value = _parse_entry(entry, text, key)
        if frame in seen:
            raise DreamreelError(
                f"{key}: frame {frame} appears twice in schedule {_show(text)}; "
                f"each frame may appear once, like {EXAMPLE}"
            )
        seen.add(frame)
        keyframes.append((frame, value))
    return tuple(keyframes)


def _parse_entry(entry: str, text: str, key: str) -> tuple[int, float]:
    """One ``frame:(value)`` entry (the text between two commas)."""
    stripped = entry.strip()
    if not stripped:
        _fail(text, ",", "empty entry between commas", key)
    if ":" not in stripped:
        _fail(text, stripped, "missing ':' between frame and value", key)
    frame_text, value_text = (part.strip() for part in stripped.split(":", 1))
    if not frame_text:
        _fail(text, stripped, "missing frame number before ':'", key)
    if not _FRAME_RE.fullmatch(frame_text):
        _fail(text, frame_text, "frames must be non-negative whole numbers", key)
    if not value_text:
        _fail(text, stripped, "missing value after ':'", key)
    match = _VALUE_RE.match(value_text)
    if match and match.end() == len(value_text):
        return int(frame_text), _number(match, text, key)
    if match:
        rest = value_text[match.end():]
        if rest[0].isspace() or value_text[match.end() - 1] == ")":
            # A whole value followed by more text: entries run together.
            reason = ("missing ',' between entries" if ":" in rest
                      else "unexpected text after the value")
            _fail(text, rest.strip(), reason, key)
    _fail(text, value_text,
          "values must be plain numbers (expressions like 1+t are not supported)", key)


def _number(match: re.Match[str], text: str, key: str) -> float:
    literal = match.group("paren") or match.group("bare")
    number = float(literal)
    if not math.isfinite(number):
        _fail(text, literal, "number out of range", key)
    return number


def _fail(text: str, at: str, reason: str, key: str):
    raise DreamreelError(
        f"{key}: cannot parse schedule {_show(text)} at {_show(at)}: {reason}; {EXPECTED}"
    )


def _show(text: str) -> str:
    """Quoted, on one line, cut when long."""
    flat = " ".join(text.split())
    if len(flat) > _SHOWN_CHARS:
        flat = flat[:_SHOWN_CHARS - 3] + "..."
    return f'"{flat}"'


def _check_interpolation(interpolation: object, key: str) -> None:
    if interpolation not in INTERPOLATIONS:
        raise DreamreelError(f"{key}: unknown interpolation {_show(str(interpolation))}; "
                             f"expected one of: {', '.join(INTERPOLATIONS)}")


def _check_frame(frame: object, key: str) -> int:
    if isinstance(frame, bool) or not isinstance(frame, numbers.Integral) or frame < 0:
        raise DreamreelError(f"{key}: keyframe frames must be non-negative integers, "
                             f"got {frame!r}; {EXPECTED}")
    return int(frame)


def _check_value(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DreamreelError(f"{key}: keyframe values must be numbers, got {value!r}; "
                             f"{EXPECTED}")
    number = float(value)
    if not math.isfinite(number):
        raise DreamreelError(f"{key}: keyframe values must be finite numbers, got {value!r}; "
                             f"{EXPECTED}")
    return number


def _monotone_tangents(keyframes: tuple[tuple[int, float], ...]) -> tuple[float, ...]:
    """Fritsch-Carlson tangents (PCHIP's interior rule), zero at both ends.

    Interior: zero where the slope changes sign or either side is flat, else the
    weighted harmonic mean of the two secant slopes -- this keeps every cubic piece
    within its keyframe values and monotone where they are.
    """
    n = len(keyframes)
    if n < 2:
        return (0.0,) * n
    h = [keyframes[k + 1][0] - keyframes[k][0] for k in range(n - 1)]
    delta = [(keyframes[k + 1][1] - keyframes[k][1]) / h[k] for k in range(n - 1)]
    tangents = [0.0] * n
    for k in range(1, n - 1):
        before, after = delta[k - 1], delta[k]
        if before * after <= 0:
            continue
        w1 = 2 * h[k] + h[k - 1]
        w2 = h[k] + 2 * h[k - 1]
        tangents[k] = (w1 + w2) / (w1 / before + w2 / after)
    return tuple(tangents)


def constant(value: float) -> Schedule:
    """A schedule that is ``value`` on every frame (a setting's default)."""
    return parse_schedule(value, key="default")
