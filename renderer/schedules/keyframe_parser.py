"""The schedule text parser: ``"0:(1.0), 60:(1 + 0.01*t)"`` -> a Schedule.

A small hand-written parser cuts the text into ``frame:(value)`` entries at the commas
outside parentheses; each value that is not a plain number is compiled by
renderer/schedules/expressions.py, and errors name the text and the column. The syntax
and what a schedule's values are: renderer/schedules/keyframes.py.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import NoReturn

from ..runtime.errors import DreamreelError
from .expressions import (
    AUDIO_NAMES,
    CONSTANTS,
    TIME_NAMES,
    Expression,
    ExpressionError,
    compile_expression,
)
from .keyframes import (
    AUDIO_PREFIX,
    EXAMPLE,
    EXPECTED,
    MAX_FRAMES,
    Schedule,
    check_interpolation,
    check_value,
    quoted,
    quoted_around,
)

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_VALUE = rf"\(\s*(?P<paren>{_NUMBER})\s*\)|(?P<bare>{_NUMBER})"
_CONSTANT_RE = re.compile(rf"\s*(?:{_VALUE})\s*")
_VALUE_RE = re.compile(rf"(?:{_VALUE})")
_FRAME_RE = re.compile(r"\d+")
_AUDIO_RE = re.compile(r"\s*audio\s*:")
MAX_TEXT = 100_000  # a schedule's whole text (each expression: expressions.MAX_CHARS)
# The frame rate schedules parsed without an explicit fps read s and fps at.
_FRAME_RATE: ContextVar[float | None] = ContextVar("schedule_frame_rate", default=None)


@contextmanager
def schedule_frame_rate(fps: float | None) -> Iterator[None]:
    """Schedules parsed inside (without their own ``fps``) read ``s`` and ``fps`` at
    ``fps``: the spec loader parses a spec's schedules in one, at the spec's fps."""
    token = _FRAME_RATE.set(fps)
    try:
        yield
    finally:
        _FRAME_RATE.reset(token)


def parse_schedule(
    value: str | int | float | Schedule,
    *,
    key: str,
    interpolation: str = "linear",
    fps: float | None = None,
) -> Schedule:
    """A Schedule from a number, a schedule string or a Schedule (re-keyed).

    A Schedule passed in comes back with the given key and interpolation (and bound to
    ``fps``, when given). ``fps``: what ``s`` and ``fps`` read in expressions (the spec's);
    by default the enclosing ``schedule_frame_rate``'s.
    """
    check_interpolation(interpolation, key)
    fps = _FRAME_RATE.get() if fps is None else fps
    if isinstance(value, Schedule):
        if not (value.key == key and value.interpolation == interpolation):
            value = replace(value, key=key, interpolation=interpolation)
        return value.bind(fps=fps)
    if isinstance(value, bool):
        raise DreamreelError(
            f"{key}: expected a number or a schedule like {EXAMPLE}, got a bool ({value})"
        )
    if isinstance(value, numbers.Real):
        return Schedule(key, ((0, check_value(value, key)),), interpolation)
    if not isinstance(value, str):
        raise DreamreelError(
            f"{key}: expected a number or a schedule like {EXAMPLE}, got {type(value).__name__}"
        )
    keyframes, expressions = _Parser(value, key).parse()
    needs_fps = any(e is not None and e.names & {"s", "fps"} for e in expressions)
    return Schedule(
        key,
        keyframes,
        interpolation,
        expressions,
        fps=float(fps) if fps is not None and needs_fps else None,
    )


class _Parser:
    """One schedule text -> keyframes and their expressions (None for numbers)."""

    def __init__(self, text: str, key: str):
        self.text, self.key = text, key
        self.names: tuple[str, ...] = TIME_NAMES

    def parse(self) -> tuple[tuple[tuple[int, float], ...], tuple[Expression | None, ...]]:
        text, key = self.text, self.key
        if len(text) > MAX_TEXT:
            raise DreamreelError(
                f"{key}: a schedule of {len(text)} characters is too long (at most {MAX_TEXT})"
            )
        if not text.strip():
            raise DreamreelError(f"{key}: empty schedule; {EXPECTED}")
        start = 0
        audio = _AUDIO_RE.match(text)
        if audio:
            start, self.names = audio.end(), TIME_NAMES + AUDIO_NAMES
            if not text[start:].strip():
                raise DreamreelError(
                    f'{key}: empty schedule after "{AUDIO_PREFIX}"; expected '
                    f'an expression like "audio: 1.01 + 0.04*onset"'
                )
        entries = _split_entries(text, start)
        if len(entries) == 1 and ":" not in _outside_parentheses(entries[0][0]):
            # No keyframes: one value (a number or an expression) for every frame.
            body, offset = entries[0]
            constant = _CONSTANT_RE.fullmatch(body)
            if constant:
                return ((0, self._number(constant)),), (None,)
            word = body.strip()
            if word.isidentifier() and word not in self.names and word not in CONSTANTS:
                self._fail(word, "not a number, nor an expression like 1+t")  # dream.steps=many
            return ((0, 0.0),), (self._expression(body, offset),)
        if len(entries) > 1 and not entries[-1][0].strip():
            entries.pop()  # one trailing comma is fine
        keyframes: list[tuple[int, float]] = []
        expressions: list[Expression | None] = []
        seen: set[int] = set()
        for entry, offset in entries:
            frame, value, expression = self._entry(entry, offset)
            if frame in seen:
                raise DreamreelError(
                    f"{key}: frame {frame} appears twice in schedule {quoted(text)}; "
                    f"each frame may appear once, like {EXAMPLE}"
                )
            seen.add(frame)
            keyframes.append((frame, value))
            expressions.append(expression)
        return tuple(keyframes), tuple(expressions)

    def _entry(self, entry: str, offset: int) -> tuple[int, float, Expression | None]:
        """One ``frame:(value)`` entry (the text between two commas)."""
        stripped = entry.strip()
        if not stripped:
            self._fail(",", "empty entry between commas")
        if ":" not in stripped:
            self._fail(stripped, "missing ':' between frame and value")
        colon = entry.index(":")
        frame_text, value_text = entry[:colon].strip(), entry[colon + 1 :]
        value_offset = offset + colon + 1 + len(value_text) - len(value_text.lstrip())
        value_text = value_text.strip()
        if not frame_text:
            self._fail(stripped, "missing frame number before ':'")
        if not _FRAME_RE.fullmatch(frame_text):
            self._fail(frame_text, "frames must be non-negative whole numbers")
        if not value_text:
            self._fail(stripped, "missing value after ':'")
        frame = self._frame(frame_text)
        if value_text.startswith("("):
            close = _closing_parenthesis(value_text)
            if close is None:
                self._fail(value_text, "'(' was never closed")
            rest = value_text[close + 1 :]
            if rest.strip():  # a whole value followed by more text: entries run together
                reason = (
                    "missing ',' between entries"
                    if ":" in rest
                    else "unexpected text after the value"
                )
                self._fail(rest.strip(), reason)
            inner = value_text[1:close]
            if not inner.strip():
                self._fail(stripped, "missing value between '(' and ')'")
            number = _CONSTANT_RE.fullmatch(inner)
            if number:
                return frame, self._number(number), None
            return frame, 0.0, self._expression(inner, value_offset + 1)
        match = _VALUE_RE.match(value_text)
        if match and match.end() == len(value_text):
            return frame, self._number(match), None
        if match and value_text[match.end()].isspace():
            rest = value_text[match.end() :]
            reason = (
                "missing ',' between entries" if ":" in rest else "unexpected text after the value"
            )
            self._fail(rest.strip(), reason)
        self._fail(value_text, "a value is a number, or an expression in parentheses like (1+t)")

    def _expression(self, body: str, offset: int) -> Expression:
        try:
            return compile_expression(body, self.names)
        except ExpressionError as error:
            column = offset + error.offset + 1
            if error.what == "invalid syntax":
                self._fail(
                    body.strip(),
                    f"{error.why} at column {column} (a value is a "
                    f"number or an expression like 1+t)",
                )
            raise DreamreelError(
                f"{self.key}: {error.what} at column {column} of "
                f"{quoted_around(self.text, column - 1)}: {error.why}"
            ) from None

    def _frame(self, digits: str) -> int:
        """A keyframe's frame number, refused beyond any render before int() reads it
        (Python's int() refuses text of more than 4300 digits)."""
        significant = digits.lstrip("0") or "0"
        if len(significant) > len(str(MAX_FRAMES)) or int(significant) > MAX_FRAMES:
            shown = significant if len(significant) <= 20 else f"{significant[:10]}..."
            raise DreamreelError(
                f"{self.key}: keyframe {shown} ({len(significant)} digits) is not a frame "
                f"of any render (frames are at most {MAX_FRAMES:,}); {EXPECTED}"
            )
        return int(significant)

    def _number(self, match: re.Match[str]) -> float:
        literal = match.group("paren") or match.group("bare")
        number = float(literal)
        if not math.isfinite(number):
            self._fail(literal, "number out of range")
        return number

    def _fail(self, at: str, reason: str) -> NoReturn:
        raise DreamreelError(
            f"{self.key}: cannot parse schedule {quoted(self.text)} at {quoted(at)}: {reason}; "
            f"{EXPECTED}"
        )


def _split_entries(text: str, start: int) -> list[tuple[str, int]]:
    """``text[start:]`` cut at the commas outside parentheses (``min(a, b)`` stays whole):
    (entry, its offset in text)."""
    entries, depth, begin = [], 0, start
    for index in range(start, len(text)):
        char = text[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth <= 0:
            entries.append((text[begin:index], begin))
            begin = index + 1
    entries.append((text[begin:], begin))
    return entries


def _outside_parentheses(text: str) -> str:
    """The characters of ``text`` at depth 0: a ':' there makes an entry a keyframe."""
    kept, depth = [], 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif depth <= 0:
            kept.append(char)
    return "".join(kept)


def _closing_parenthesis(text: str) -> int | None:
    """Index of the ')' closing the '(' at text[0], or None."""
    depth = 0
    for index, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if depth == 0:
            return index
    return None


def constant(value: float) -> Schedule:
    """A schedule that is ``value`` on every frame (a setting's default)."""
    return parse_schedule(value, key="default")
