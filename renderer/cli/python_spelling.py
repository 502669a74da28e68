"""Errors raised through the Python API, worded for Python: ``restart=True``, not --restart.

The messages below the CLI name the command line's flags (the CLI is where most users
meet them). ``renderer.render`` and friends take the same things as keywords, so the API
face rewrites each whole flag into its keyword on the way out. Only the flags the
render path's messages use are here; any other text is left exactly as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..runtime.errors import DreamreelError

# A whole flag: where a word starts (after a space or "(", not inside a path such as
# /tmp/--out/x), and not the start of a longer one ("--output", "--restart-all").
_BEFORE, _AFTER = r"(?<![^\s(])", r"(?![\w-])"
# Quoted text is the user's own (a path, a value): never rewritten. An apostrophe inside
# a word ("the clip's") opens no quote.
_QUOTED = re.compile(r"((?<!\w)'[^']*'(?!\w))")
# One --set's key=value: up to a space or the punctuation that ends a phrase around it.
_KEY_VALUE = r"[A-Za-z_][\w.\[\]-]*=[^\s,;()]*"

Replacement = str | Callable[[re.Match[str]], str]
Rules = list[tuple[re.Pattern[str], Replacement]]


def _rules(set_as: Replacement) -> Rules:
    """The table, with ``--set key=value`` written by ``set_as``. Order matters: a flag
    with its value before the bare flag."""
    table: list[tuple[str, Replacement]] = [
        (r"--set " + _KEY_VALUE + r"(?: --set " + _KEY_VALUE + r")*", set_as),
        (r"--set ([A-Za-z_][\w.\[\]-]*):", r'overrides=["\1=..."]:'),  # its value failed
        (r"--set" + _AFTER, "overrides"),
        (r"--restart" + _AFTER, "restart=True"),
        (r"--out (?=\w+://)", "out="),  # --out s3://bucket/x
        (r"--out" + _AFTER, "out="),
        (r"--input ([A-Z]+)" + _AFTER, r"input=\1"),  # --input CLIP, --input FOLDER
        (r"--input" + _AFTER, "input="),
        (r"--audio ([A-Z]+)" + _AFTER, r"audio=\1"),  # --audio TRACK
        (r"--audio" + _AFTER, "audio="),
        (r"--size WxH" + _AFTER, "width=W, height=H"),
    ]
    return [(re.compile(_BEFORE + pattern), replacement) for pattern, replacement in table]


def _settings(match: re.Match[str]) -> list[str]:
    return re.findall(r"--set (" + _KEY_VALUE + ")", match.group(0))


def _as_overrides(match: re.Match[str]) -> str:
    # "--set a= --set b=" -> overrides=["a=", "b="]: one list, as render() takes them.
    return "overrides=[" + ", ".join(f'"{item}"' for item in _settings(match)) + "]"


def _as_keywords(match: re.Match[str]) -> str:
    # "--set max_input_pixels=200000000" -> max_input_pixels=200000000: dream_image's own
    # keywords are the settings' names.
    return ", ".join(_settings(match))


_FOR_RENDER, _FOR_KEYWORDS = _rules(_as_overrides), _rules(_as_keywords)


def python_spelling(message: str, *, settings_as_keywords: bool = False) -> str:
    """``message`` with every CLI flag the render path names written as its keyword;
    ``--set key=value`` as ``overrides=["key=value"]`` (render), or as ``key=value``
    where the settings are keywords themselves (dream_image)."""
    rules = _FOR_KEYWORDS if settings_as_keywords else _FOR_RENDER
    parts = _QUOTED.split(message)  # odd indices: the quoted parts
    for index in range(0, len(parts), 2):
        for pattern, replacement in rules:
            parts[index] = pattern.sub(replacement, parts[index])
    return "".join(parts)


@contextmanager
def spelled_for_python(*, settings_as_keywords: bool = False) -> Iterator[None]:
    """Re-raise a DreamreelError from inside with its message in Python's spelling (the
    same exception, its type and traceback kept)."""
    try:
        yield
    except DreamreelError as error:
        # A subclass that builds its own text (NumericalFault) names no flag: left as is.
        if type(error).__str__ is BaseException.__str__ and error.args:
            first = error.args[0]
            if isinstance(first, str):
                error.args = (
                    python_spelling(first, settings_as_keywords=settings_as_keywords),
                    *error.args[1:],
                )
        raise
