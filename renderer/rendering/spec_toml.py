"""A resolved RenderSpec as TOML that ``dreamreel render`` reads back (``render --dry-run``).

Every key is written, defaults included, so the text is the whole render: a preset to
keep, diff or edit. TOML has no null, so an unset key (``width``: keep the input's) is a
comment line. The writer is small and exact for what a spec holds: strings escaped as
TOML basic strings, floats as Python's shortest round-trip repr, tables nested.
``name`` is left out: it comes from the file's name when read back.

Reading goes through ``read_toml`` (presets, jobs files): one line for a file that
cannot be read, and no table or list nested over MAX_NESTING levels, nor a NUL in any
setting (``refuse_nul``), reaches what walks them.
"""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

from ..models.model_files import is_model_file
from ..runtime.errors import DreamreelError

# Tables and lists inside one another: no setting needs more than a few levels, and what
# walks them (merging, building, writing TOML back) recurses, as tomllib itself does.
MAX_NESTING = 32
TOO_DEEP = (
    f"nests tables or lists more than {MAX_NESTING} levels deep (no setting needs more than a few)"
)
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
# Schedules of a count (the engine rounds them to whole steps): a constant one is written
# as the integer it is, ``steps = 5`` rather than 5.0 (it reads back as the same schedule).
_COUNT_SCHEDULES = (("dream", "steps"),)
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's table, or one line saying why it cannot be read."""
    try:
        table = tomllib.loads(Path(path).read_text())
    except OSError as exc:  # the reason alone: the OS's text repeats the (maybe long) path
        raise DreamreelError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DreamreelError(f"cannot read {what} {path}: {exc}") from None
    except ValueError:  # an integer of over 4300 digits: int() refuses to read it
        raise DreamreelError(
            f"cannot read {what} {path}: it holds a number of over 4300 digits (no setting "
            f"is that long)"
        ) from None
    except RecursionError:  # "[[[[...": tomllib recurses once per level
        raise DreamreelError(f"cannot read {what} {path}: it {TOO_DEEP}") from None
    deep = too_deep(table)
    if deep is not None:
        raise DreamreelError(f"cannot read {what} {path}: {deep} {TOO_DEEP}")
    return table


def too_deep(value: Any) -> str | None:
    """Where tables and lists nest more than MAX_NESTING levels inside ``value`` (its
    dotted key, or "the value"), else None. A loop, not recursion: any depth is safe."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, dict):
            children = [(v, f"{where}.{k}" if where else str(k)) for k, v in item.items()]
        elif isinstance(item, list):
            children = [(v, where) for v in item]
        else:
            continue
        if depth > MAX_NESTING:
            return where or "the value"
        stack += [(child, depth + 1, key) for child, key in children]
    return None


def refuse_nul(table: dict) -> None:
    """No setting holds a NUL character: the OS takes none in a path (input, audio, mask,
    a model file, morph.images, an objective's guide images), and a name or a schedule
    has no use for one. A loop, not recursion, like too_deep."""
    stack: list[tuple[Any, str]] = [(table, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str) and "\0" in item:
            raise DreamreelError(
                f"{where or 'a setting'} holds a NUL character (\\u0000), which no path or "
                f"setting can hold: {item!r}"
            )
        if isinstance(item, dict):
            stack += [(v, f"{where}.{k}" if where else str(k)) for k, v in item.items()]
        elif isinstance(item, list):
            stack += [(v, where) for v in item]


def spec_to_toml(spec, heading: str = "") -> str:
    """The spec as a preset file: the tables its mode reads (not the other modes'), after
    ``heading`` (comment lines: where the render goes, what is there)."""
    from .modes.builtin import MODES, mode_class  # lazy: loads Pillow

    data = spec.to_dict()
    data.pop("name", None)
    own = mode_class(spec.mode).settings
    for name in MODES.tables():
        if name not in own:
            data.pop(name, None)
    for table, key in _COUNT_SCHEDULES:
        value = data.get(table, {}).get(key)
        if isinstance(value, float) and value.is_integer():
            data[table][key] = int(value)
    return heading + dumps(data, notes=_notes(spec))


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
