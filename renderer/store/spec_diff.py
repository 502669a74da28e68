"""The spec diff that explains a refused resume: "dream.steps 20 -> 30, ..."."""

from __future__ import annotations

import json
from typing import Any

_MAX_CHANGES_SHOWN = 5
_MAX_VALUE_CHARS = 40


def one_line(text: str) -> str:
    """`text` on one line: each run of spaces and line breaks becomes one space."""
    return " ".join(text.split())


def _flatten(spec: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(spec, dict) and (spec or not prefix):
        flat: dict[str, Any] = {}
        for key, value in spec.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: spec}


_ABSENT = object()


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def spec_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """ "dream.steps 20 -> 30" for every dotted key whose value differs, sorted by key.

    Values compare as JSON text (what spec_hash hashes), so 20 vs 20.0 shows up too.
    """
    flat_old, flat_new = _flatten(old), _flatten(new)
    changes = []
    for key in sorted(set(flat_old) | set(flat_new)):
        before, after = flat_old.get(key, _ABSENT), flat_new.get(key, _ABSENT)
        if before is _ABSENT or after is _ABSENT or _canon(before) != _canon(after):
            changes.append(f"{key} {_show(before)} -> {_show(after)}")
    return changes


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    """The first few spec_changes on one line, for the message of a refused resume."""
    changes = spec_changes(old, new) or ["spec_hash"]
    shown = changes[:_MAX_CHANGES_SHOWN]
    if len(changes) > _MAX_CHANGES_SHOWN:
        shown.append("...")
    return one_line(", ".join(shown))
