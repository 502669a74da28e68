"""RenderSpec: a preset (TOML) plus ``--set`` overrides, validated and fully resolved.

Every key is checked against the dataclasses below: an unknown key or a value of the
wrong type ends in one line naming the valid keys, before any TensorFlow work starts.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import NoneType, UnionType
from typing import Any

from ..engine.dream import DreamSettings
from ..engine.objective_parser import parse_objective
from ..engine.objectives import Objective
from ..media.codecs import AUTO, DEFAULT_CODEC, DEFAULT_CRF, DEFAULT_PRESET, check_output_encoding
from ..media.images import FRAMES_FORMATS
from ..media.limits import DEFAULT_MAX_INPUT_PIXELS
from ..media.transparency import DEFAULT_BACKGROUND, parse_background
from ..runtime.atomic_files import resolved_user_path
from ..runtime.backend_choice import BACKENDS
from ..runtime.errors import DreamreelError, closest, one_of
from ..schedules.keyframe_parser import constant, parse_schedule, schedule_frame_rate
from ..schedules.keyframes import INTERPOLATIONS, MAX_FRAMES, Schedule, count_text
from .preset_files import resolve_preset
from .recipe import recipe_preset
from .spec_toml import TOO_DEEP, read_toml, refuse_nul, too_deep

_ENGINE = DreamSettings()  # the engine's defaults, so the two never disagree
MAX_INTERPOLATE = 16  # output.interpolate: at most 15 in-betweens a pair
MAX_FPS = 1000.0  # a render's frame rate: beyond any camera a dream starts from
# TOML's integers are 64-bit; Python's tomllib reads longer ones, which no setting means.
_INT_LIMIT = 2**63


@dataclass(frozen=True)
class DreamTable:
    """The ``dream`` table: DreamSettings, with steps and step size as keyframe schedules."""

    steps: Schedule = constant(_ENGINE.steps)
    step_size: Schedule = constant(_ENGINE.step_size)
    octaves: int = _ENGINE.octaves
    octave_scale: float = _ENGINE.octave_scale
    tile_size: int | str = "auto"  # an integer >= 64, or "auto": from the machine's memory
    tile_margin: int = _ENGINE.tile_margin
    jitter: int = _ENGINE.jitter
    normalize_gradients: bool = _ENGINE.normalize_gradients
    smoothing: float = _ENGINE.smoothing
    keep_source_detail: bool = _ENGINE.keep_source_detail

    def at(self, frame: int, seed: int, **changes: Any) -> DreamSettings:
        """The engine's settings for one frame (schedules evaluated, seed applied)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        values["steps"] = round(self.steps(frame))
        values["step_size"] = self.step_size(frame)
        values.update(changes)
        return DreamSettings(**values, seed=seed).validate()

    def check(self, prefix: str) -> None:
        for frame in _keyframe_frames(self.steps, self.step_size):
            self.at(frame, seed=0)  # the engine validates every keyframe's values


@dataclass(frozen=True)
class OutputSettings:
    gif: bool = True
    mp4: bool = True
    gif_max_side: int = 480  # GIFs get big fast; the MP4 keeps the full size
    hold_last: float = 1.0  # seconds the final image stays on screen in GIF/MP4
    pingpong: bool = False  # forward then backward: a seamless loop
    # OUT/preview.mp4 of the frames so far every this many (live_preview.py); 0: none
    preview_every: int = 0
    # The video's encoding (renderer/media/codecs.py): the container and the file's suffix
    # follow the codec (zoom.mp4, zoom.mov, zoom.mkv). Not part of the render's identity.
    codec: str = DEFAULT_CODEC
    pixel_format: str = AUTO  # auto: the codec's first (h264: yuv420p)
    crf: int = DEFAULT_CRF
    preset: str = DEFAULT_PRESET  # x264/x265's speed preset
    # N - 1 flow in-betweens after each played frame, at fps * N (inbetween_feed.py); 1: off
    interpolate: int = 1
    # "png16", "tiff16": a 16-bit copy of each frame beside the 8-bit ones (frames16/)
    frames_format: str = "png"

    def check(self, prefix: str) -> None:
        check_output_encoding(self.codec, self.pixel_format, self.crf, self.preset, where=prefix)
        one_of(f"{prefix}frames_format", self.frames_format, FRAMES_FORMATS)
        if self.gif_max_side < 16 or self.hold_last < 0:
            raise DreamreelError(f"{prefix}gif_max_side must be >= 16 and {prefix}hold_last >= 0")
        if not 0 <= self.preview_every <= MAX_FRAMES:
            raise DreamreelError(
                f"{prefix}preview_every must be from 0 (none) to {MAX_FRAMES:,} frames, "
                f"got {count_text(self.preview_every)}"
            )
        if not 1 <= self.interpolate <= MAX_INTERPOLATE:
            raise DreamreelError(
                f"{prefix}interpolate must be from 1 (off) to {MAX_INTERPOLATE}, "
                f"got {count_text(self.interpolate)}"
            )


@dataclass(frozen=True)
class RenderSpec:
    mode: str = "progress"
    model: str = "mobilenet_v2_dogs"
    layers: dict[str, Schedule] | None = None  # name -> weight (a schedule); None: defaults
    preprocess: str | None = None  # only for user model files
    # What the dream maximises (renderer/engine/objectives.py), e.g. "class:golden_retriever" or
    # "layer:block_13_expand_relu + 0.5*channel:block_12_expand_relu:37 - 0.1*tv";
    # None: the layers' weighted mean activations (the classic dream). When set, it
    # replaces `layers` (whose entries are its layer:NAME terms).
    objective: Objective | None = None
    input: str | None = None  # image path; None dreams from noise
    noise: str = "uniform"  # kind of noise when there is no input
    audio: str | None = None  # a music track: "audio: ..." schedules follow
    # it and the MP4 carries it (zoom, morph...)
    mask: str | None = None  # white dreams, black stays: an image, or for
    # video a clip / folder of numbered masks
    # Inputs (photos, clips, frames) above this many pixels are refused from their header,
    # before decoding: a decompression bomb or a mistake (renderer/media/limits.py).
    max_input_pixels: int = DEFAULT_MAX_INPUT_PIXELS
    input_background: str = DEFAULT_BACKGROUND  # "#rrggbb" behind a transparent input
    width: int | None = None  # output size; None keeps the input's
    height: int | None = None
    frames: int = 60  # frames to render (zoom; video: the clip decides)
    fps: float = 8.0
    seed: int = 0
    # The render's frame 0 is frame frame_offset of the schedules and per-frame seeds: a
    # chunk of a longer render (renderer/distributed/chunk_render.py) dreams its frames as the whole
    # render would. 0 for a render of its own.
    frame_offset: int = 0
    interpolation: str = "linear"  # between schedule keyframes: linear or smooth
    dream: DreamTable = field(default_factory=DreamTable)
    output: OutputSettings = field(default_factory=OutputSettings)
    name: str = "custom"  # the preset's name, for output folders
    # Decode and compute flow ahead of the dream, write and encode behind it, on threads
    # (renderer/rendering/pipelining.py). false: the plain sequential loop, the reference; the
    # frames are byte-identical either way.
    pipeline: bool = True
    # The Keras backend that dreams: "tensorflow", "jax" or "torch" (renderer/backends).
    # None: the KERAS_BACKEND environment variable, else tensorflow. Part of the render's
    # identity.
    backend: str | None = None
    # The modes' own tables (zoom, video, flow, progress...), each defined by its mode:
    # read them as attributes, spec.zoom.scale.
    tables: dict[str, Any] = field(default_factory=lambda: _mode_table_defaults())

    def __getattr__(self, name: str) -> Any:
        if name != "tables" and name in self.tables:
            return self.tables[name]
        raise AttributeError(f"RenderSpec has no {name!r}")

    def check(self, prefix: str = "") -> None:
        from .modes.builtin import mode_class  # lazy: loads Pillow

        mode_class(self.mode).check(self)  # an unknown mode: one line naming the modes
        if not 1 <= self.frames <= MAX_FRAMES:
            raise DreamreelError(
                f"frames must be from 1 to {MAX_FRAMES:,}, got {count_text(self.frames)}"
            )
        for key in ("width", "height"):
            value = getattr(self, key)
            if value is not None and not 16 <= value <= 8192:
                raise DreamreelError(f"{key} must be between 16 and 8192, got {value}")
        if not 0 < self.fps <= MAX_FPS:  # nan too
            raise DreamreelError(f"fps must be > 0 and at most {MAX_FPS:g}, got {self.fps}")
        if not 0 <= self.frame_offset <= MAX_FRAMES:
            raise DreamreelError(
                f"frame_offset must be from 0 to {MAX_FRAMES:,}, got {self.frame_offset}"
            )
        if self.max_input_pixels < 1:
            raise DreamreelError(f"max_input_pixels must be >= 1, got {self.max_input_pixels}")
        parse_background(self.input_background)
        if self.backend is not None:
            one_of("backend", self.backend, BACKENDS)

    def dream_settings(self, frame: int = 0) -> DreamSettings:
        """The dream table at ``frame`` with the render seed applied."""
        return self.dream.at(frame, self.seed)

    def layer_weights(self, frame: int = 0) -> dict[str, float] | None:
        if self.layers is None:
            return None
        return {name: weight(frame) for name, weight in self.layers.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (schedules as their text) for manifests and ``presets show``."""
        return _plain(self)


def _mode_tables() -> dict[str, type]:
    from .modes.builtin import MODES  # lazy: loads Pillow

    return MODES.tables()


def _mode_table_defaults() -> dict[str, Any]:
    return {name: cls() for name, cls in _mode_tables().items()}


def _plain(value: Any) -> Any:
    if isinstance(value, RenderSpec):  # the modes' tables read as top-level tables
        plain = {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        tables, name = plain.pop("tables"), plain.pop("name")
        return {**plain, **tables, "name": name}
    if isinstance(value, Objective):  # its text, or a table when a weight follows a schedule
        return value.to_plain()
    if isinstance(value, Schedule):  # a one-keyframe number reads back as the number
        return value.to_plain()
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# Top-level keys naming files, stored absolute.
_PATH_KEYS = ("input", "audio", "mask")

# Keys a preset may not set: the seed is the render's, the name comes from the file, the
# modes' tables are set by their own names.
_HIDDEN = {"dream.seed", "name", "tables"}


def load_spec(preset: str | RenderSpec, overrides: Sequence[str] = (), **direct: Any) -> RenderSpec:
    """A preset (a name, a .toml path, a RenderSpec, or a render's folder or output that
    carries its recipe: renderer/rendering/recipe.py) + ``key.sub=value`` overrides +
    direct keyword values (tables as dicts: ``dream={"steps": 8}``) -> RenderSpec."""
    changes = {key: value for key, value in direct.items() if value is not None}
    if isinstance(preset, RenderSpec) and not overrides and not changes:
        return preset  # loaded and checked already: built once, not again from its dict
    recipe = None if isinstance(preset, RenderSpec) else recipe_preset(preset)
    if isinstance(preset, RenderSpec):
        table, name = preset.to_dict(), preset.name  # plain data: schedules as their text
    elif recipe is not None:  # a render's folder or output: the recipe it carries
        table, name = recipe.table(), recipe.name
    else:
        path = resolve_preset(preset)
        table = read_toml(path, "preset")
        name = path.stem
    given = list(changes)  # the keys given on top of the preset
    for item in overrides:
        key, value = parse_override(item)
        _set_path(table, key, value)
        given.append(".".join(key))
    _merge(table, changes)
    deep = too_deep(table)  # a dotted key as long as a.a.a.a... builds tables too
    if deep is not None:
        raise DreamreelError(f"{deep} {TOO_DEEP}")
    refuse_nul(table)
    if "mode" not in table:  # an empty or half-written TOML must not render progress silently
        from .modes.builtin import MODES  # lazy: loads Pillow

        raise DreamreelError(
            f'preset {name!r} sets no mode: add mode = "progress" (or '
            f"{', '.join(m for m in MODES.names() if m != 'progress')}) to it, "
            f"or give --set mode=..."
        )
    if recipe is not None:  # what a recipe may not do by itself (a stranger's file)
        recipe.check_on_top(table, given)
    for key in _PATH_KEYS:
        if isinstance(table.get(key), str) and table[key]:
            # Absolute: the manifest's record (and a video's sound) must not depend on
            # the folder a render or `dreamreel stitch` runs from.
            table[key] = resolved_user_path(table[key], key)
    table["name"] = name
    interpolation = table.get("interpolation", "linear")
    one_of("interpolation", interpolation, INTERPOLATIONS)
    fps = table.get("fps", RenderSpec.fps)  # what s and fps read in schedule expressions
    valid = isinstance(fps, (int, float)) and not isinstance(fps, bool) and 0 < fps <= MAX_FPS
    with schedule_frame_rate(float(fps) if valid else RenderSpec.fps):
        return _build(RenderSpec, table, "", interpolation)


def _merge(table: dict, changes: dict) -> None:
    """Deep-merge ``changes`` into ``table``: {"dream": {"steps": 5}} changes one key."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(table.get(key), dict):
            _merge(table[key], value)
        else:
            table[key] = value


# ``--set key=`` or ``--set key=none``: drop the key, so it takes its default again (a
# preset's video.end cleared to give video.end_frame instead). TOML has no null to say it.
UNSET = object()
_UNSET_WORDS = ("", "none")


def parse_override(item: str) -> tuple[list[str], Any]:
    """``dream.steps=30`` -> (["dream", "steps"], 30); values read as TOML, else a string;
    an empty value or ``none`` -> UNSET."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise DreamreelError(f"--set expects key=value (e.g. dream.steps=30), got {item!r}")
    if raw.strip().lower() in _UNSET_WORDS:
        return key.strip().split("."), UNSET
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare words like model=vgg16
    except ValueError:  # an integer of over 4300 digits: int() refuses to read it
        raise DreamreelError(
            f"--set {key.strip()}: a number of {len(raw.strip())} digits is beyond any setting"
        ) from None
    except RecursionError:  # "[[[[...": tomllib recurses once per level
        raise DreamreelError(f"--set {key.strip()}: the value {TOO_DEEP}") from None
    if too_deep([value]) is not None:  # as deep as in a preset, whose table is a level
        raise DreamreelError(f"--set {key.strip()}: the value {TOO_DEEP}")
    return key.strip().split("."), value


def output_settings(recorded: dict, overrides: Sequence[str] = ()) -> OutputSettings:
    """A manifest's output table with ``--set output.KEY=VALUE`` on top (``dreamreel stitch``),
    checked as a preset's is. Keys the manifest holds but this version has no setting for
    are dropped; an override's must name one. Another key: one line."""
    known = {f.name for f in dataclasses.fields(OutputSettings)}
    table = {key: value for key, value in recorded.items() if key in known}
    for item in overrides:
        key, value = parse_override(item)
        if len(key) != 2 or key[0] != "output":
            raise DreamreelError(
                f"stitch re-encodes; output.* only, {'.'.join(key)} changes the frames: "
                f"render again"
            )
        if value is UNSET:
            table.pop(key[1], None)
        else:
            table[key[1]] = value
    return _build(OutputSettings, table, "output.", "linear")


def _set_path(table: dict, key: list[str], value: Any) -> None:
    if value is UNSET:
        _check_key(key)  # a misspelt key must not be "cleared" without a word
        for part in key[:-1]:
            table = table.get(part)
            if not isinstance(table, dict):
                return  # nothing set there: already the default
        table.pop(key[-1], None)
        return
    for part in key[:-1]:
        child = table.setdefault(part, {})
        if not isinstance(child, dict):
            raise DreamreelError(f"cannot set {'.'.join(key)}: {part} is not a table")
        table = child
    table[key[-1]] = value


def _check_key(key: list[str]) -> None:
    """Refuse a dotted key that names no setting, the way _build refuses one."""
    cls, prefix = RenderSpec, ""
    for part in key:
        if cls is None:
            return  # inside a free-form table (layers.NAME)
        tables = _mode_tables() if cls is RenderSpec else {}
        names = [f.name for f in dataclasses.fields(cls) if prefix + f.name not in _HIDDEN]
        names += list(tables)
        if part not in names:
            close = closest(part, names)
            hint = f"did you mean {prefix}{close[0]}? " if close else ""
            raise DreamreelError(
                f"unknown key {prefix + part!r}; {hint}valid keys: "
                f"{', '.join(prefix + n for n in names)}"
            )
        kind = tables[part] if part in tables else typing.get_type_hints(cls)[part]
        cls = kind if dataclasses.is_dataclass(kind) else None
        prefix += part + "."


def _build(cls, table: dict, prefix: str, interpolation: str):
    if not isinstance(table, dict):
        raise DreamreelError(f"{prefix.rstrip('.')} must be a table")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if prefix + f.name not in _HIDDEN]
    values = {}
    mode_tables = _mode_tables() if cls is RenderSpec else {}
    if mode_tables:
        names += list(mode_tables)
        values["tables"] = _mode_table_defaults()
    for key, raw in table.items():
        full = prefix + key
        if key not in names and full != "name":  # name: set by load_spec, not by users
            close = closest(key, names)
            hint = f"did you mean {prefix}{close[0]}? " if close else ""
            raise DreamreelError(
                f"unknown key {full!r}; {hint}valid keys: {', '.join(prefix + n for n in names)}"
            )
        if key in mode_tables:
            values["tables"][key] = _build(mode_tables[key], raw, full + ".", interpolation)
            continue
        kind = hints[key]
        if kind is Schedule:
            values[key] = parse_schedule(raw, key=full, interpolation=interpolation)
        elif kind == Schedule | None:  # unset (None): another setting decides
            values[key] = (
                None if raw is None else parse_schedule(raw, key=full, interpolation=interpolation)
            )
        elif full == "layers":
            values[key] = None if raw is None else _layers(raw, interpolation)
        elif full == "objective":
            values[key] = (
                None if raw is None else parse_objective(raw, key=full, interpolation=interpolation)
            )
        elif dataclasses.is_dataclass(kind):
            values[key] = _build(kind, raw, full + ".", interpolation)
        else:
            values[key] = _coerce(full, kind, raw)
    if values.get("objective") is not None:
        values["layers"] = None  # an objective replaces the preset's layers (its layer: terms)
    spec = cls(**values)
    spec.check(prefix)  # each table checks its own ranges
    return spec


def _coerce(key: str, kind, value: Any):
    """Check ``value`` against a field's annotation; ints pass as floats."""
    options = typing.get_args(kind) if isinstance(kind, UnionType) else (kind,)
    if value is None and NoneType in options:
        return None
    _check_number_range(key, value)
    for option in options:
        origin = typing.get_origin(option) or option
        if origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin in (bool, str) and isinstance(value, origin):
            return value
        if (
            origin is tuple
            and isinstance(value, (list, tuple))
            and all(isinstance(v, str) for v in value)
        ):  # a list of paths (morph.images)
            return tuple(value)
    wanted = " or ".join(_type_name(o) for o in options if o is not NoneType)
    raise DreamreelError(f"{key} must be {wanted}, got {value!r}")


def _check_number_range(key: str, value: Any) -> None:
    """Refuse numbers no setting means: inf and nan (TOML reads 1e400 as inf), and
    integers beyond TOML's 64 bits (tomllib reads them; float() overflows on them)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise DreamreelError(f"{key} must be a finite number, got {value}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _INT_LIMIT:
        raise DreamreelError(
            f"{key}: {count_text(value)} is beyond any setting (integers are 64-bit)"
        )


def _layers(value: Any, interpolation: str) -> dict[str, Schedule]:
    """layers = "a", ["a", "b"] (weight 1 each) or { a = 1.0, b = "0:(0), 60:(1)" }."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        value = {name: 1.0 for name in value}
    if isinstance(value, dict) and value:
        return {
            str(name): parse_schedule(weight, key=f"layers.{name}", interpolation=interpolation)
            for name, weight in value.items()
        }
    raise DreamreelError(
        f"layers must be a layer name, a list of names or a table of "
        f"name = weight (a number or a schedule), got {value!r}"
    )


def _type_name(kind) -> str:
    origin = typing.get_origin(kind) or kind
    return {
        int: "an integer",
        float: "a number",
        bool: "true or false",
        str: "a string",
        dict: "a table",
        tuple: "a list of strings",
    }.get(origin, str(kind))


def _keyframe_frames(*schedules: Schedule) -> list[int]:
    return sorted({frame for schedule in schedules for frame, _ in schedule.keyframes})
