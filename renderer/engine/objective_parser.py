"""Objective text and tables -> Objective (renderer/engine/objectives.py), parsed by hand.

Text form (TOML ``objective = "..."``): terms joined by ``+`` and `` - `` (a minus needs a
space before it, so paths and layer names may hold hyphens), each optionally multiplied
by a number (``0.5*channel:block_12_expand_relu:37`` or ``tv*0.1``). A path with spaces
is quoted: ``guide:"my dog.jpg"``. The text is parsed by hand; nothing is evaluated.
Table form (TOML ``[objective]``): term = weight, a number or a keyframe schedule:
``{ "layer:block_13_expand_relu" = 1.0, "tv" = "0:(0), 60:(0.2)" }``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

from ..runtime.errors import DreamreelError
from ..schedules.keyframe_parser import parse_schedule
from ..schedules.keyframes import Schedule, check_value
from .objectives import (
    EXAMPLE,
    IMAGE_KINDS,
    INDEX_RE,
    KINDS,
    Objective,
    channel,
    class_logit,
    guide,
    layer,
    neuron,
    temporal,
    tv,
)

_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SHOWN = 80


def parse_objective(
    value: Any, *, key: str = "objective", interpolation: str = "linear"
) -> Objective:
    """An Objective from its text form, its table form or an Objective."""
    if isinstance(value, Objective):
        return value
    if isinstance(value, str):
        return _parse_text(value, key)
    if isinstance(value, Mapping) and value:
        return _sum(
            _weighted_term(str(text), weight, key, interpolation) for text, weight in value.items()
        )
    raise DreamreelError(
        f"{key} must be text like {EXAMPLE} or a table of term = weight, got {value!r}"
    )


def _weighted_term(text: str, weight: Any, key: str, interpolation: str) -> Objective:
    """One row of the table form: ``text`` times its weight (a number or a schedule)."""
    part = _parse_text(text, f"{key}.{text}")
    factor: float | Schedule
    if isinstance(weight, str):
        schedule = parse_schedule(weight, key=f"{key}.{text}", interpolation=interpolation)
        factor = schedule.keyframes[0][1] if schedule.is_constant() else schedule
    elif isinstance(weight, numbers.Real) and not isinstance(weight, bool):
        factor = check_value(weight, f"{key}.{text}")  # finite: 1e400 reads as inf
    else:
        raise DreamreelError(
            f"{key}.{text}: a weight must be a number or a schedule "
            f'like "0:(0), 60:(1)", got {weight!r}'
        )
    return part * factor


def _sum(parts: Iterator[Objective]) -> Objective:
    """The parts added left to right, each made only once the ones before are added."""
    total = next(parts)
    for part in parts:
        total = total + part
    return total


def _parse_text(text: str, key: str) -> Objective:
    if not text.strip():
        raise DreamreelError(f"{key}: empty objective; expected terms like {EXAMPLE}")
    if len(text) > 4000:
        raise DreamreelError(f"{key}: objective text is too long ({len(text)} characters)")
    return _sum(
        _signed(_parse_term(chunk, text, column, key), sign)
        for sign, chunk, column in _split_terms(text, key)
    )


def _signed(term: Objective, sign: int) -> Objective:
    return term if sign > 0 else -term


def _split_terms(text: str, key: str) -> list[tuple[int, str, int]]:
    """(sign, term text, column) for each term: split at '+' anywhere outside quotes and
    at '-' that starts the text or follows a space (so hyphens inside names stay)."""
    terms: list[tuple[int, str, int]] = []
    sign, start, quote = 1, 0, None
    i = 0
    pending_sign = True  # at the start or just after an operator: a sign may come
    for i, c in enumerate(text):
        if quote:
            if c == quote and text[i - 1] != "\\":
                quote = None
            continue
        if c in "\"'":
            quote = c
        elif c == "+" or (
            c == "-"
            and (i == 0 or text[i - 1].isspace() or pending_sign)
            and not _inside_number(text, i)
        ):
            chunk = text[start:i]
            if chunk.strip():
                terms.append((sign, chunk, start))
                sign = 1
            elif not pending_sign or (c == "+" and terms):
                _fail(text, i, "an operator without a term before it", key)
            sign = sign * (-1 if c == "-" else 1)
            start, pending_sign = i + 1, True
            continue
        if not c.isspace():
            pending_sign = False
    if quote:
        _fail(text, len(text) - 1, "a quote is not closed", key)
    chunk = text[start:]
    if not chunk.strip():
        _fail(text, len(text) - 1, "the text ends with an operator", key)
    terms.append((sign, chunk, start))
    return terms


def _inside_number(text: str, i: int) -> bool:
    """'-' in an exponent (1e-3) belongs to the number."""
    return i >= 2 and text[i - 1] in "eE" and text[i - 2].isdigit()


def _parse_term(chunk: str, text: str, column: int, key: str) -> Objective:
    factors = _split_factors(chunk)
    atom, coef = None, 1.0
    for piece in factors:
        stripped = piece.strip()
        if not stripped:
            _fail(text, column, "a '*' without a factor", key)
        if _NUMBER_RE.fullmatch(stripped):
            number = float(stripped)
            if not math.isfinite(number):
                _fail(text, column, "number out of range", key)
            coef *= number
        elif atom is None:
            atom = stripped
        else:
            _fail(
                text,
                column,
                "two terms multiplied together; only a number may multiply a term",
                key,
            )
    if atom is None:
        _fail(text, column, "a number without a term", key)
    return _parse_atom(atom, text, column + chunk.find(atom), key) * coef


def _split_factors(chunk: str) -> list[str]:
    pieces, start, quote = [], 0, None
    for i, c in enumerate(chunk):
        if quote:
            quote = None if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c == "*":
            pieces.append(chunk[start:i])
            start = i + 1
    pieces.append(chunk[start:])
    return pieces


def _parse_atom(atom: str, text: str, column: int, key: str) -> Objective:
    kind, _, rest = atom.partition(":")
    kind = kind.strip().lower()
    try:
        if kind in IMAGE_KINDS and not rest:
            return tv() if kind == "tv" else temporal()
        if kind in IMAGE_KINDS:
            _fail(text, column, f"{kind} takes no value after ':' (write {kind})", key)
        if kind not in KINDS:
            _fail(
                text,
                column,
                f"unknown term {atom.split(':')[0]!r} (terms: "
                f"{', '.join(k if k in IMAGE_KINDS else k + ':...' for k in KINDS)})",
                key,
            )
        if not rest:
            _fail(text, column, f"{kind}: needs a value after ':'", key)
        if kind == "layer":
            return layer(rest)
        if kind in ("channel", "neuron"):
            name, sep, index = rest.rpartition(":")
            if not sep or not INDEX_RE.fullmatch(index):
                _fail(text, column, f"{kind}: expected {kind}:LAYER:INDEX", key)
            return (channel if kind == "channel" else neuron)(name, int(index))
        if kind == "class":
            return class_logit(rest)
        return _parse_guide(rest, match=kind == "guide_match")
    except DreamreelError as error:
        if str(error).startswith(key):
            raise
        _fail(text, column, str(error), key)


def _parse_guide(rest: str, match: bool) -> Objective:
    """guide:PATH, guide:"PATH", guide:LAYER:PATH, guide:LAYER:"PATH" (guide_match too)."""
    if rest[0] in "\"'":
        return guide(_unquote(rest), match=match)
    layer_name, sep, path = rest.partition(":")
    if sep and path and re.fullmatch(r"[A-Za-z_][\w./]*", layer_name) and "." not in layer_name:
        return guide(_unquote(path), layer_name, match=match)
    return guide(_unquote(rest), match=match)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1].replace('\\"', '"')
    return text


def _fail(text: str, column: int, reason: str, key: str) -> NoReturn:
    flat = " ".join(text.split())
    shown = flat if len(flat) <= _SHOWN else flat[: _SHOWN - 3] + "..."
    raise DreamreelError(
        f'{key}: cannot parse objective "{shown}" at column {column + 1}: '
        f"{reason}; expected terms like {EXAMPLE}"
    )
