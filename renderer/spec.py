"""RenderSpec: a preset (TOML) plus ``--set`` overrides, validated and fully resolved.

Every key is checked against the dataclasses below: an unknown key or a value of the
wrong type ends in one line naming the valid keys, before any TensorFlow work starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

from .dream import DreamSettings
from .errors import DreamreelError

MODES = ("progress",)


@dataclass(frozen=True)
class ProgressSettings:
    every: int = 5                 # a snapshot every this many steps (and at each octave end)
    caption: bool = True           # octave, step and loss written on each snapshot
    contact_columns: int = 0       # columns of the contact sheet; 0 picks ~sqrt(n)
    contact_thumb: int = 256       # long side of each contact-sheet thumbnail


@dataclass(frozen=True)
class OutputSettings:
    gif: bool = True
    mp4: bool = True
    gif_max_side: int = 480        # GIFs get big fast; the MP4 keeps the full size
    hold_last: float = 1.0         # seconds the final image stays on screen in GIF/MP4


@dataclass(frozen=True)
class RenderSpec:
    mode: str = "progress"
    model: str = "mobilenet_v2_dogs"
    layers: dict[str, float] | None = None   # None: the model's default layers
    preprocess: str | None = None            # only for user model files
    input: str | None = None                 # image path; None dreams from noise
    noise: str = "uniform"                   # kind of noise when there is no input
    width: int | None = None                 # output size; None keeps the input's
    height: int | None = None
    seed: int = 0
    fps: float = 8.0
    dream: DreamSettings = field(default_factory=DreamSettings)
    progress: ProgressSettings = field(default_factory=ProgressSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    name: str = "custom"                     # the preset's name, for output folders

    def dream_settings(self) -> DreamSettings:
        """The dream table with the render seed applied."""
        return dataclasses.replace(self.dream, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# Keys a preset may not set: the seed is the render's, the name comes from the file.
_HIDDEN = {"dream.seed", "name"}


def presets_dir() -> Path:
    """Presets ship inside the package; a plain checkout reads them from presets/."""
    checkout = Path(__file__).resolve().parent.parent / "presets"
    if checkout.is_dir():
        return checkout
    from importlib.resources import files

    return Path(str(files("renderer.presets")))


def preset_names() -> list[str]:
    return sorted(p.stem for p in presets_dir().glob("*.toml"))


def resolve_preset(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise DreamreelError(f"preset file not found: {name_or_path}")
        return path
    candidate = presets_dir() / f"{name_or_path}.toml"
    if candidate.is_file():
        return candidate
    names = preset_names()
    close = difflib.get_close_matches(name_or_path, names, n=3)
    hint = f"did you mean: {', '.join(close)}? " if close else ""
    raise DreamreelError(f"unknown preset {name_or_path!r}; {hint}(presets: {', '.join(names)})")


def load_spec(name_or_path: str, overrides: list[str] = (), **direct: Any) -> RenderSpec:
    """Preset + ``key.sub=value`` overrides + direct keyword values -> RenderSpec."""
    path = resolve_preset(name_or_path)
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise DreamreelError(f"cannot read preset {path}: {exc}") from None
    for item in overrides:
        key, value = parse_override(item)
        _set_path(table, key, value)
    for key, value in direct.items():
        if value is not None:
            table[key] = value
    table["name"] = path.stem
    return _build(RenderSpec, table, "")


def parse_override(item: str) -> tuple[list[str], Any]:
    """``dream.steps=30`` -> (["dream", "steps"], 30); values read as TOML, else a string."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise DreamreelError(f"--set expects key=value (e.g. dream.steps=30), got {item!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare words like model=vgg16
    return key.strip().split("."), value


def _set_path(table: dict, key: list[str], value: Any) -> None:
    for part in key[:-1]:
        child = table.setdefault(part, {})
        if not isinstance(child, dict):
            raise DreamreelError(f"cannot set {'.'.join(key)}: {part} is not a table")
        table = child
    table[key[-1]] = value


def _build(cls, table: dict, prefix: str):
    if not isinstance(table, dict):
        raise DreamreelError(f"{prefix.rstrip('.')} must be a table")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if prefix + f.name not in _HIDDEN]
    values = {}
    for key, raw in table.items():
        full = prefix + key
        if key not in names and full != "name":  # name: set by load_spec, not by users
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {prefix}{close[0]}? " if close else ""
            raise DreamreelError(f"unknown key {full!r}; {hint}valid keys: "
                                 f"{', '.join(prefix + n for n in names)}")
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            values[key] = _build(kind, raw, full + ".")
        else:
            values[key] = _coerce(full, kind, raw)
    spec = cls(**values)
    _check(spec, prefix)
    return spec


def _coerce(key: str, kind, value: Any):
    """Check ``value`` against a field's annotation; ints pass as floats."""
    options = typing.get_args(kind) if isinstance(kind, UnionType) else (kind,)
    if value is None and NoneType in options:
        return None
    for option in options:
        origin = typing.get_origin(option) or option
        if origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin in (bool, str) and isinstance(value, origin):
            return value
        if origin is dict and key == "layers":
            return _layers(value)
    wanted = " or ".join(_type_name(o) for o in options if o is not NoneType)
    raise DreamreelError(f"{key} must be {wanted}, got {value!r}")


def _layers(value: Any) -> dict[str, float]:
    """layers = ["a", "b"] (weight 1 each), "a" or { a = 1.0, b = 0.5 }."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return {name: 1.0 for name in value}
    if isinstance(value, dict) and value and all(
            isinstance(w, (int, float)) and not isinstance(w, bool) for w in value.values()):
        return {str(k): float(w) for k, w in value.items()}
    raise DreamreelError(f"layers must be a layer name, a list of names or a table of "
                         f"name = weight, got {value!r}")


def _type_name(kind) -> str:
    origin = typing.get_origin(kind) or kind
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            dict: "a table"}.get(origin, str(kind))


def _check(spec, prefix: str) -> None:
    """Range checks that the types alone don't express."""
    if isinstance(spec, DreamSettings):
        spec.validate()
    elif isinstance(spec, RenderSpec):
        if spec.mode not in MODES:
            raise DreamreelError(f"mode must be one of {', '.join(MODES)}, got {spec.mode!r}")
        for key in ("width", "height"):
            value = getattr(spec, key)
            if value is not None and not 16 <= value <= 8192:
                raise DreamreelError(f"{key} must be between 16 and 8192, got {value}")
        if spec.fps <= 0:
            raise DreamreelError(f"fps must be > 0, got {spec.fps}")
    elif isinstance(spec, ProgressSettings):
        if spec.every < 1:
            raise DreamreelError(f"{prefix}every must be >= 1, got {spec.every}")
        if spec.contact_columns < 0 or spec.contact_thumb < 16:
            raise DreamreelError(f"{prefix}contact_columns must be >= 0 and "
                                 f"{prefix}contact_thumb >= 16")
    elif isinstance(spec, OutputSettings):
        if spec.gif_max_side < 16 or spec.hold_last < 0:
            raise DreamreelError(f"{prefix}gif_max_side must be >= 16 and {prefix}hold_last >= 0")
