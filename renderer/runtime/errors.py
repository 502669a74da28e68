"""The one error type a user can cause and fix (bad file, key, layer, no weights offline),
and the one way every message finds the name a typo meant."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DreamreelError(Exception):
    """Printed by the CLI as a single line, without a traceback."""


def closest(
    query: str,
    candidates: Iterable[str],
    n: int = 1,
    *,
    cutoff: float = 0.6,
    within: float | None = None,
) -> list[str]:
    """The names ``query`` was probably meant to be, best first, at most ``n``: "did you
    mean" in every message. ``within``: keep only those scoring within that much of the
    best, so a long list of names offers no also-rans (models, layers)."""
    names = list(candidates)
    if within is None:
        return difflib.get_close_matches(query, names, n=n, cutoff=cutoff)
    scored = sorted((-difflib.SequenceMatcher(None, query, c).ratio(), c) for c in names)
    if not scored or -scored[0][0] < cutoff:
        return []
    return [c for score, c in scored[:n] if -score >= -scored[0][0] - within]


def one_of(key: str, value: str, choices) -> None:
    """A setting that must be one of a few names: a wrong one names them all (and the
    closest, for a typo)."""
    if value not in choices:
        close = closest(str(value), choices)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise DreamreelError(f"{key} must be one of {', '.join(choices)}, got {value!r}{hint}")
