"""The error types a user can cause and fix (bad file, key, layer, no weights offline; a
folder that refuses the render; a damaged input), each with its exit status, and the one
way every message finds the name a typo meant."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DreamreelError(Exception):
    """Printed by the CLI as a single line, without a traceback; ``exit_code`` is the
    command's exit status. This class: a usage error (a bad flag, preset, setting or
    value; a missing file), status 2 like argparse's own refusals."""

    exit_code = 2


class Refused(DreamreelError):
    """The output folder cannot take this render as asked: it holds another render or a
    manifest not dreamreel's, another run holds its lock, a managed name there is a link,
    an input lies among its files, or it cannot be written. Nothing there was changed."""

    exit_code = 3


class InputDamaged(DreamreelError):
    """An input that exists but cannot be read as what it should be: a clip or image
    that cannot be decoded, a truncated or damaged file, a clip without video."""

    exit_code = 4


class WarningNote(str):
    """A line a render announces that says it differs from what was asked (octaves
    dropped for a small image, photos cropped): the CLI shows it as a warning, which
    ``--quiet`` keeps. Its text is the note's, so a plain callback sees a plain line."""


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
