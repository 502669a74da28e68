"""A resolved RenderSpec as TOML that ``dreamreel render`` reads back (``render --dry-run``).

Every key is written, defaults included, so the text is the whole render: a preset to
keep, diff or edit. TOML has no null, so an unset key (``width``: keep the input's) is a
comment line. The writer is small and exact for what a spec holds: strings escaped as
TOML basic strings, floats as Python's shortest round-trip repr, tables nested.
``name`` is left out: it comes from the file's name when read back.
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..models.model_files import is_model_file

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def spec_to_toml(spec) -> str:
    data = spec.to_dict()
    data.pop("name", None)
    return dumps(data, notes=_notes(spec))


def dumps(table: dict[str, Any], *, notes: dict[str, str] | None = None) -> str:
    """TOML for nested dicts of str, int, float, bool, lists and None (a comment)."""
    lines: list[str] = []
    _write_table(lines, table, (), notes or {})
    return "\n".join(lines).strip("\n") + "\n"


def _write_table(
    lines: list[str], table: dict, path: tuple[str, ...], notes: dict[str, str]
) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, dict)]
    if path:
        lines += ["", "[" + ".".join(_key(part) for part in path) + "]"]
    for key, value in scalars:
        dotted = ".".join((*path, key))
        if value is None:
            note = notes.get(dotted)
            lines.append(f"# {_key(key)}: unset" + (f" ({note})" if note else ""))
        else:
            lines.append(f"{_key(key)} = {_value(value, dotted)}")
    for key, value in tables:
        _write_table(lines, value, (*path, key), notes)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def value_text(value: Any, where: str = "value") -> str:
    """One value as TOML text: what ``--set key=TEXT`` reads back as the same value."""
    return _value(value, where)


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)  # the shortest text that reads back as the same float
        return text if any(c in text for c in ".e") else text + ".0"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item, where) for item in value) + "]"
    raise TypeError(f"{where}: cannot write {type(value).__name__} {value!r} as TOML")


def _string(text: str) -> str:
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _notes(spec) -> dict[str, str]:
    """What an unset key means, where it is not plain "not used"."""
    notes = {
        "width": "the input's width, or from height",
        "height": "the input's height, or from width",
        "input": "dream from noise",
    }
    from ..models.registry import REGISTRY  # lazy: loads numpy

    if spec.layers is None and not is_model_file(spec.model):
        defaults = REGISTRY.get(spec.model).default_layers
        notes["layers"] = "the model's defaults: " + ", ".join(defaults)
    return notes
