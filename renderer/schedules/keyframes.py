"""Keyframe schedules: per-frame values in the Deforum syntax ``"0:(1.0), 60:(1.04)"``.

A schedule is a few ``frame:(value)`` keyframes; frames between them are interpolated,
frames before the first keyframe take the first value and frames after the last take
the last. A plain number (``1.04`` or ``"1.04"``) is a constant schedule.

A value may also be an expression of the frame, as Deforum users write them:
``"0:(1.02 + 0.01*sin(2*pi*t/48))"``, with ``t`` the frame, ``s`` the seconds (t / fps)
and ``fps``; text without keyframes (``"1 + 0.01*t"``) is one value for every frame.
``"audio: 1.01 + 0.04*onset"`` may also read the music track's features (``rms``,
``onset``, ``low``, ``mid``, ``high``: renderer/schedules/audio_features.py). The schedule text is
split into keyframes by a small hand-written parser (renderer/schedules/keyframe_parser.py);
each value that is not a plain number is compiled by renderer/schedules/expressions.py
(Python's ``ast`` and a whitelist: nothing is ever evaluated as code,
``"0:(__import__('os'))"`` is an error naming its column).
Expressions without variables (``"0:(2*pi)"``) are computed once and are plain numbers.

What a frame's value is, keyframe by keyframe (Deforum's rule):

- after a keyframe whose value is an expression, up to the next keyframe, the value is
  that expression evaluated at the frame (after the last keyframe: to the end; frames
  before the first keyframe belong to it too);
- after a keyframe whose value is a number, the value is interpolated from that number
  to the next keyframe's value *at the frame* (its number, or its expression evaluated
  at the frame), so the schedule glides into an expression instead of jumping.

A schedule whose values are all numbers therefore interpolates exactly as before, and so
does one whose expressions are all constant. ``keyframes`` holds every keyframe's value at
its own frame (an expression's too), for checks such as "zoom.scale > 0".

``s`` and ``fps`` read the schedule's ``fps``: the spec's, given when the spec is loaded
(renderer/rendering/spec.py parses its schedules inside ``schedule_frame_rate(spec fps)``, which
objective weights parsed there get too), and the render's own once bound
(``Schedule.bind``: a video renders at its clip's rate; renderer/rendering/schedule_binding.py
binds a whole spec). A schedule built without one that reads ``s`` or ``fps`` is an
error. Audio features read the bound
track; before a track is bound (a spec's own checks) they read 0, silence: a render binds
its track before the first frame, and one without a track is refused before TensorFlow
loads (renderer/rendering/preflight.py).

Interpolation between keyframes:

linear -- straight lines.
smooth -- monotone piecewise cubic Hermite (Fritsch-Carlson, as in PCHIP): interior
          tangents are the weighted harmonic mean of the neighbouring slopes (zero at a
          local extremum), so the curve never overshoots the keyframe values, is monotone
          wherever the keyframes are and has continuous slope through interior
          keyframes. The tangents at the first and last keyframe are zero: the value is
          held before and after them, so motion eases in and out instead of jerking into
          a constant (two keyframes give an ease-in-out "smoothstep" curve). Into an
          expression keyframe the glide follows the smoothstep curve.
"""

from __future__ import annotations

import bisect
import math
import numbers
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..runtime.errors import DreamreelError
from .expressions import AUDIO_NAMES, EvaluationError, Expression

if TYPE_CHECKING:
    from .audio_features import AudioFeatures

INTERPOLATIONS = ("linear", "smooth")

EXAMPLE = '"0:(1.0), 60:(1.04)"'
EXPECTED = f"expected a number or frame:(value) pairs like {EXAMPLE}"
AUDIO_PREFIX = "audio:"

_SHOWN_CHARS = 80  # longer schedule texts are cut in messages
# No render has more frames (4.6 days at 25 fps): a keyframe or a frame count beyond is
# a typo or a hostile file, and Python's ints and floats would fail on it untidily.
MAX_FRAMES = 10_000_000
# Keyframe numbers at most this big interpolate (linearly or by a cubic whose overshoot
# is a small multiple of its numbers) to finite values: such schedules need no check.
_SAFE_MAGNITUDE = 1e300
_SILENCE = dict.fromkeys(AUDIO_NAMES, 0.0)


@dataclass(frozen=True, eq=False)
class Schedule:
    """Per-frame values from keyframes; call it with a frame number. Two schedules are
    equal when their key, interpolation and keyframes (numbers, or expressions' text)
    are: binding them to another fps or track changes their values, not what they are."""

    key: str  # e.g. "zoom.scale", for messages
    # Sorted by frame, unique frames; an expression keyframe's value is the expression's
    # at its own frame (computed here: the value given for it is ignored).
    keyframes: tuple[tuple[int, float], ...]
    interpolation: str = "linear"  # "linear" or "smooth"
    # One per keyframe, in the order keyframes are given (sorted with them): the
    # expression of a keyframe whose value is one, None for a number. () when none is.
    expressions: tuple[Expression | None, ...] = ()
    # What `s` and `fps` read, and the music track's features (None: silence).
    fps: float | None = None
    track: AudioFeatures | None = field(default=None, repr=False)
    # Frame k reads the schedule at k + offset: a chunk of a longer render (its frame 0
    # is the render's frame offset) sees the values the whole render would.
    offset: int = 0
    _tangents: tuple[float, ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        check_interpolation(self.interpolation, self.key)
        expressions = tuple(self.expressions) or (None,) * len(self.keyframes)
        if len(expressions) != len(self.keyframes):
            raise ValueError(
                f"{self.key}: {len(expressions)} expressions for {len(self.keyframes)} keyframes"
            )
        pairs = []
        for pair, expression in zip(self.keyframes, expressions):
            try:
                frame, value = pair
            except (TypeError, ValueError):
                raise DreamreelError(
                    f"{self.key}: keyframe {pair!r} is not a (frame, value) pair; {EXPECTED}"
                ) from None
            frame = _check_frame(frame, self.key)
            if expression is not None and expression.constant:
                value, expression = expression({}), None  # a number written as 2*pi
            value = 0.0 if expression is not None else check_value(value, self.key)
            pairs.append((frame, value, expression))
        if not pairs:
            raise DreamreelError(f"{self.key}: a schedule needs at least one keyframe; {EXPECTED}")
        pairs.sort(key=lambda pair: pair[0])
        for (before, _, _), (after, _, _) in zip(pairs, pairs[1:]):
            if before == after:
                raise DreamreelError(
                    f"{self.key}: frame {after} has two keyframes; each frame may appear once, "
                    f"like {EXAMPLE}"
                )
        expressions = tuple(expression for _, _, expression in pairs)
        if not any(expressions):
            expressions = ()
        object.__setattr__(self, "expressions", expressions)
        if expressions and self.fps is not None and not (self.fps > 0 and math.isfinite(self.fps)):
            raise DreamreelError(f"{self.key}: fps must be > 0, got {self.fps!r}")
        # Each keyframe's value at its own frame: an expression's is computed now.
        keyframes = tuple(
            (frame, value if expression is None else self._evaluate(expression, frame))
            for frame, value, expression in pairs
        )
        object.__setattr__(self, "keyframes", keyframes)
        if self.interpolation == "smooth":
            object.__setattr__(self, "_tangents", _monotone_tangents(keyframes))

    def __call__(self, frame: int) -> float:
        frame += self.offset
        if self.expressions:
            return self._with_expressions(frame)
        first, last = self.keyframes[0], self.keyframes[-1]
        if frame <= first[0]:
            return first[1]
        if frame >= last[0]:
            return last[1]
        # keyframes[k] <= frame < keyframes[k + 1]
        k = bisect.bisect_right(self.keyframes, frame, key=lambda keyframe: keyframe[0]) - 1
        return self._between(k, frame)

    def _between(self, k: int, frame: float) -> float:
        """Interpolated between the numbers of keyframes k and k + 1."""
        (x0, y0), (x1, y1) = self.keyframes[k], self.keyframes[k + 1]
        h = x1 - x0
        t = (frame - x0) / h
        if self.interpolation == "linear":
            return y0 + (y1 - y0) * t
        d0, d1 = self._tangents[k], self._tangents[k + 1]
        t2, t3 = t * t, t * t * t
        return (
            (2 * t3 - 3 * t2 + 1) * y0
            + (t3 - 2 * t2 + t) * h * d0
            + (-2 * t3 + 3 * t2) * y1
            + (t3 - t2) * h * d1
        )

    def _with_expressions(self, frame: int) -> float:
        """The value at ``frame`` when some keyframes are expressions (the module's rule)."""
        k = max(0, bisect.bisect_right(self.keyframes, frame, key=lambda kf: kf[0]) - 1)
        expression = self.expressions[k]
        if expression is not None:  # its own segment (and before the first keyframe)
            return self._evaluate(expression, frame)
        (x0, y0) = self.keyframes[k]
        if frame <= x0 or k == len(self.keyframes) - 1:
            return y0
        following = self.expressions[k + 1]
        if following is None:
            return self._between(k, frame)
        t = (frame - x0) / (self.keyframes[k + 1][0] - x0)
        target = self._evaluate(following, frame)  # glide into the expression's value
        weight = t if self.interpolation == "linear" else t * t * (3 - 2 * t)
        return y0 + (target - y0) * weight

    def _evaluate(self, expression: Expression, frame: float) -> float:
        variables: dict[str, float] = {"t": float(frame)}
        if expression.names & {"s", "fps"}:
            if self.fps is None:
                raise DreamreelError(
                    f"{self.key}: {quoted(str(self))} reads s or fps, but no frame rate was "
                    f"given for it (parse_schedule(..., fps=...) or Schedule.bind(fps=...))"
                )
            variables["s"], variables["fps"] = frame / self.fps, float(self.fps)
        if expression.names & _SILENCE.keys():
            track = self.track
            variables.update(_SILENCE if track is None else track.at(frame, expression.names))
        try:
            return expression(variables)
        except EvaluationError as error:
            raise ScheduleFault.fault(self.key, expression.text, frame, str(error)) from None

    def _written(self) -> tuple:
        expressions = self.expressions or (None,) * len(self.keyframes)
        return tuple(
            (frame, value if expression is None else expression.text)
            for (frame, value), expression in zip(self.keyframes, expressions)
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schedule):
            return NotImplemented
        return (self.key, self.interpolation, self._written()) == (
            other.key,
            other.interpolation,
            other._written(),
        )

    def __hash__(self) -> int:
        return hash((self.key, self.interpolation, self._written()))

    def bind(
        self,
        *,
        fps: float | None = None,
        track: AudioFeatures | None = None,
        offset: int | None = None,
    ) -> Schedule:
        """This schedule with ``s`` and ``fps`` read at ``fps``, the audio features read
        from ``track`` and frames counted from ``offset``; itself when it reads none of
        them (or nothing changes)."""
        changes: dict[str, Any] = {}
        if offset is not None and offset != self.offset and not self.is_constant():
            changes["offset"] = int(offset)
        if fps is not None and self.names & {"s", "fps"} and fps != self.fps:
            changes["fps"] = float(fps)
        if track is not None and self.follows_audio and track is not self.track:
            changes["track"] = track
        return replace(self, **changes) if changes else self

    @property
    def names(self) -> frozenset[str]:
        """The variables its expressions read (t, s, fps, onset...); empty for numbers."""
        return frozenset().union(*(e.names for e in self.expressions if e is not None))

    @property
    def follows_audio(self) -> bool:
        """Whether it reads the music track's features (an ``audio:`` schedule)."""
        return bool(self.names & _SILENCE.keys())

    def values(self, frames: int) -> list[float]:
        """The values of frames 0 .. frames - 1."""
        if isinstance(frames, bool) or not isinstance(frames, numbers.Integral) or frames < 0:
            raise DreamreelError(
                f"{self.key}: frame count must be a non-negative integer, got {frames!r}"
            )
        return [self(frame) for frame in range(frames)]

    def check_frames(self, frames: int) -> None:
        """Refuse (one line) a schedule without a finite value at one of the frames
        0 .. frames - 1: found before the render's first frame, not at that frame."""
        if self.is_constant():  # its one value was checked when it was built
            return
        if not self.expressions and all(abs(v) <= _SAFE_MAGNITUDE for _, v in self.keyframes):
            return  # numbers this size cannot interpolate past the float range
        for frame in range(min(frames, MAX_FRAMES)):
            try:
                value = self(frame)
            except ScheduleFault as fault:
                raise DreamreelError(self._unrenderable(frame, frames, fault.reason)) from None
            if not math.isfinite(value):  # numbers interpolated past the float range
                raise DreamreelError(self._unrenderable(frame, frames, f"it gives {value}"))

    def _unrenderable(self, frame: int, frames: int, reason: str) -> str:
        t = frame + self.offset
        seconds = f", s = {t / self.fps:.4g}" if self.fps else ""
        return (
            f"{self.key} = {quoted(str(self))} has no finite value at frame {frame} of "
            f"{frames} (t = {t}{seconds}): {reason}; change the schedule, or end the "
            f"render before frame {frame}"
        )

    def is_constant(self) -> bool:
        if self.expressions:
            return False
        first = self.keyframes[0][1]
        return all(value == first for _, value in self.keyframes)

    def to_plain(self) -> float | str:
        """What a spec file shows: a one-keyframe number as that number, else the text."""
        if len(self.keyframes) == 1 and not self.expressions:
            return self.keyframes[0][1]
        return str(self)

    def __str__(self) -> str:
        expressions = self.expressions or (None,) * len(self.keyframes)
        text = ", ".join(
            f"{frame}:({value!r})" if expression is None else f"{frame}:({expression.text})"
            for (frame, value), expression in zip(self.keyframes, expressions)
        )
        return f"{AUDIO_PREFIX} {text}" if self.follows_audio else text


def quoted(text: str) -> str:
    """Quoted, on one line, cut when long."""
    flat = " ".join(text.split())
    if len(flat) > _SHOWN_CHARS:
        flat = flat[: _SHOWN_CHARS - 3] + "..."
    return f'"{flat}"'


def quoted_around(text: str, index: int) -> str:
    """Quoted on one line with every character in its place (columns stay true), cut to a
    window around ``index`` when long."""
    flat = "".join(" " if char.isspace() else char for char in text)
    if len(flat) <= _SHOWN_CHARS:
        return f'"{flat}"'
    begin = max(0, min(index - _SHOWN_CHARS // 2, len(flat) - _SHOWN_CHARS))
    window = flat[begin : begin + _SHOWN_CHARS]
    return f'"{"..." if begin else ""}{window}{"..." if begin + _SHOWN_CHARS < len(flat) else ""}"'


def check_interpolation(interpolation: object, key: str) -> None:
    """An error naming ``key`` unless ``interpolation`` is one of INTERPOLATIONS."""
    if interpolation not in INTERPOLATIONS:
        raise DreamreelError(
            f"{key}: unknown interpolation {quoted(str(interpolation))}; "
            f"expected one of: {', '.join(INTERPOLATIONS)}"
        )


class ScheduleFault(DreamreelError):
    """A schedule's expression has no finite value at a frame (``1/(t-5)`` at t = 5);
    ``reason`` says why. Built by ``fault`` (one message argument: it pickles, for Ray)."""

    reason = ""

    @classmethod
    def fault(cls, key: str, text: str, frame: float, reason: str) -> ScheduleFault:
        error = cls(f"{key}: cannot compute {quoted(text)} at t = {frame:g}: {reason}")
        error.reason = reason
        return error


def _check_frame(frame: object, key: str) -> int:
    if isinstance(frame, bool) or not isinstance(frame, numbers.Integral) or frame < 0:
        raise DreamreelError(
            f"{key}: keyframe frames must be non-negative integers, got {frame!r}; {EXPECTED}"
        )
    number = int(frame)
    if number > MAX_FRAMES:
        raise DreamreelError(
            f"{key}: keyframe {count_text(number)} is not a frame of any render (frames "
            f"are at most {MAX_FRAMES:,}); {EXPECTED}"
        )
    return number


def count_text(number: int) -> str:
    """A whole number for a message; a long one cut, with its digits counted (str()
    refuses ints of more than 4300 digits: those are only said to be that long)."""
    if abs(number) < 10**20:
        return str(number)
    if abs(number) >= 10**4000:
        return "a number of over 4000 digits"
    text = str(abs(number))
    return f"{'-' * (number < 0)}{text[:10]}... ({len(text)} digits)"


def check_value(value: object, key: str) -> float:
    """A keyframe's value as a finite float, or an error naming ``key``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DreamreelError(f"{key}: keyframe values must be numbers, got {value!r}; {EXPECTED}")
    try:
        number = float(value)
    except OverflowError:  # a TOML integer of 400 digits
        number = math.inf
    if not math.isfinite(number):
        shown = count_text(int(value)) if isinstance(value, numbers.Integral) else repr(value)
        raise DreamreelError(
            f"{key}: keyframe values must be finite numbers, got {shown}; {EXPECTED}"
        )
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
