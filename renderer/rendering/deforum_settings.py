"""A Deforum settings file -> a dreamreel zoom preset (``dreamreel import-deforum``).

Deforum writes its run's settings as one JSON object (``*_settings.txt`` beside the frames,
the A1111 extension's "Save settings", the notebooks' settings file). Its 2D camera is
``anim_frame_warp_2d``: ``cv2.getRotationMatrix2D(centre, angle, zoom) @ translate(tx, ty)``
applied to the last frame, which is the zoom mode's warp (renderer/rendering/modes/zoom.py)
up to the translation's sign (Deforum moves the picture by +tx, dreamreel moves the view,
so the picture by -tx). The key by key table, with the reasons: docs/deforum.md.

Schedules are kept as written when dreamreel reads them (the same ``0:(value)`` syntax and
the same rule for expressions); Deforum's own names ``max_f`` and ``s`` (the seed) become
their numbers; a schedule whose units differ is rewritten keyframe by keyframe; one that
dreamreel cannot read is left out, quoted in a comment.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

from ..runtime.errors import DreamreelError, InputDamaged
from ..schedules.keyframe_parser import parse_schedule
from ..schedules.keyframes import MAX_FRAMES, Schedule
from .modes.zoom import ZoomSettings
from .spec_toml import MAX_NESTING, too_deep, value_text

MAX_BYTES = 4 * 1024 * 1024  # Deforum's settings are a few kB; more is not a settings file
# Deforum's noise is N(0, 1) * amount on its [-1, 1] picture scale (the notebooks add it
# to the sample; the A1111 extension mixes in sample_to_cv2(noise), 127.5 per unit, by
# the amount): one unit is 127.5 of dreamreel's 0..255 scale, where zoom.noise is a std.
NOISE_SCALE = 127.5
_SHOWN = 80  # a quoted value longer than this is cut in comments
# Frames whose values are checked here (a render checks all of them before it starts):
# a hostile max_frames of millions would take minutes.
_CHECKED_FRAMES = 100_000

# Deforum key -> (the zoom key, factor applied to its values, what the comment says).
_MOTION = {
    "zoom": ("scale", 1.0, "per-frame scale, as dreamreel's"),
    "angle": ("rotation", 1.0, "degrees per frame, counter-clockwise, as dreamreel's"),
    "translation_x": (
        "translate_x",
        -1.0,
        "negated: Deforum's + moves the picture right, dreamreel's + moves the view right",
    ),
    "translation_y": (
        "translate_y",
        -1.0,
        "negated: Deforum's + moves the picture down, dreamreel's + moves the view down",
    ),
    "noise_schedule": (
        "noise",
        NOISE_SCALE,
        f"x {NOISE_SCALE:g}: Deforum's amount on its [-1, 1] scale -> a std on 0..255",
    ),
}

# What has no counterpart: (the keys, what the comment says), listed when the file has one.
_DROPPED: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("prompts", "positive_prompts", "negative_prompts", "animation_prompts", "prompt"),
        "prompts (dreamreel dreams a CNN's features, not a text prompt)",
    ),
    (
        ("sampler", "steps", "scale", "cfg_scale_schedule", "sd_model_name", "checkpoint"),
        "the sampler, its steps, CFG scale and model (dream.* and model drive dreamreel's dream)",
    ),
    (
        ("strength_schedule",),
        "strength_schedule (the share of the last frame img2img kept: dreamreel's zoom "
        "carries the whole frame; fewer dream.steps change it less)",
    ),
    (("contrast_schedule",), "contrast_schedule"),
    (
        ("translation_z", "rotation_3d_x", "rotation_3d_y", "rotation_3d_z", "fov_schedule"),
        "3D motion (translation_z, rotation_3d_*, fov: dreamreel's camera is 2D)",
    ),
    (
        ("use_depth_warping", "midas_weight", "fov", "near_plane", "far_plane"),
        "depth warping (dreamreel estimates no depth)",
    ),
    (
        ("enable_perspective_flip", "perspective_flip_theta", "perspective_flip_phi"),
        "perspective flips",
    ),
    (("border",), "border (dreamreel fills uncovered edges with reflected ones)"),
    (("noise_type", "perlin_octaves", "perlin_persistence"), "Perlin noise (dreamreel's is white)"),
    (("seed_behavior",), "seed_behavior (dreamreel draws each frame's seed from seed)"),
    (("use_init", "init_image"), "the init image (give it with --input PATH)"),
    (("kernel_schedule", "sigma_schedule", "amount_schedule"), "anti-blur"),
)
_USED = {
    *_MOTION,
    *(key for keys, _ in _DROPPED for key in keys),
    *("W", "H", "seed", "max_frames", "fps", "diffusion_cadence", "color_coherence"),
    "animation_mode",
    "video_init_path",
}
_MODES = {
    "2D": "",
    "3D": "Deforum's 3D mode moved through a depth map: its 2D keys are imported, depth "
    "motion (translation_z, rotation_3d_*) is dropped and translation_x/y read as pixels",
    "Video Input": "Deforum dreamed a clip here: for that, dreamreel's video mode "
    "(dreamreel render video-dream --input CLIP); the 2D keys are imported as a zoom",
    "Interpolation": "Deforum blended prompts without a camera: imported as a zoom",
    "None": "Deforum made still images: imported as a zoom",
}


def read_settings(path: str | Path) -> dict[str, Any]:
    """The JSON object a Deforum settings file holds, or one line saying why not."""
    where = f"Deforum settings {str(path)!r}"
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise DreamreelError(f"cannot read {where}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise DreamreelError(
            f"{where} is over {MAX_BYTES // 2**20} MB: a Deforum settings file "
            f"(*_settings.txt, JSON) is a few kB"
        )
    expected = 'expected Deforum\'s settings as JSON (a *_settings.txt holding {"W": 512, ...})'
    try:
        settings = json.loads(data.decode("utf-8-sig"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise InputDamaged(f"{where} is not text: {expected}") from None
    except RecursionError:
        raise DreamreelError(f"{where} nests over {MAX_NESTING} levels: {expected}") from None
    except ValueError as exc:  # JSONDecodeError, NaN, a number of over 4300 digits
        raise InputDamaged(f"{where} is not JSON ({_cut(str(exc))}): {expected}") from None
    if not isinstance(settings, dict):
        raise DreamreelError(f"{where} holds a JSON {type(settings).__name__}: {expected}")
    deep = too_deep(settings)
    if deep is not None:
        raise DreamreelError(f"{where}: {_cut(deep)} nests over {MAX_NESTING} levels")
    return settings


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is no number")


def deforum_to_toml(settings: dict[str, Any], source: str = "") -> str:
    """The preset text for a Deforum settings dict (raises DreamreelError for a value of
    the wrong type, naming the key)."""
    return _Import(settings).toml(source)


class _Import:
    def __init__(self, settings: dict[str, Any]):
        self.settings = settings
        self.notes: list[str] = []  # comment lines at the top
        self.missing: list[str] = []

    def toml(self, source: str) -> str:
        get = self.settings.get
        top: dict[str, tuple[Any, str]] = {"mode": ("zoom", "")}
        width, height = self._whole("W", 16, 8192), self._whole("H", 16, 8192)
        frames = self._whole("max_frames", 1, MAX_FRAMES)
        seed = self._whole("seed", -(2**63), 2**63 - 1)
        fps = self._number("fps", 1e-3, 1000.0)
        for key, dream_key, value in (
            ("W", "width", width),
            ("H", "height", height),
            ("max_frames", "frames", frames),
            ("fps", "fps", fps),
        ):
            if value is not None:
                top[dream_key] = (value, f"Deforum's {key}")
        if seed is not None:
            random = "; negative: a random seed, recorded in manifest.json" if seed < 0 else ""
            top["seed"] = (seed, f"Deforum's seed{random}")
        zoom: dict[str, tuple[Any, str]] = {}
        for key, (name, factor, why) in _MOTION.items():
            entry = self._schedule(key, name, factor, why, frames, fps, seed)
            if entry is not None:
                zoom[name] = entry
        cadence = self._whole("diffusion_cadence", 1, 1000)
        if cadence is not None:
            zoom["cadence"] = (
                cadence,
                "Deforum's diffusion_cadence: frames between are the camera move alone",
            )
        coherence = self._text("color_coherence")
        if coherence is not None:
            on = coherence.strip().lower() not in ("none", "", "false")
            how = "" if not on or "lab" in coherence.lower() else ", matched in Lab"
            zoom["color_coherence"] = (on, f"Deforum's color_coherence {_quote(coherence)}{how}")
        mode = self._text("animation_mode")
        if mode is not None:
            why = _MODES.get(mode, "unknown to dreamreel: imported as a 2D zoom")
            if why:
                self.notes.append(f"animation_mode {_quote(mode)}: {why}")
        for keys, why in _DROPPED:
            if any(key in self.settings for key in keys):
                self.notes.append(f"not carried over: {why}")
        others = [k for k in self.settings if k not in _USED]
        if others:
            self.notes.append(
                f"not carried over: {len(others)} other keys (output, upscaling, hybrid "
                f"video, Parseq...)"
            )
        if self.missing:
            self.notes.append(f"not in the file (dreamreel's defaults): {', '.join(self.missing)}")
        if get("video_init_path") and mode == "Video Input":
            self.notes.append(f"Deforum's clip: {_quote(str(get('video_init_path')))}")
        lines = ["# a dreamreel preset made by dreamreel import-deforum" + _from(source)]
        lines += [f"# {line}" for line in self.notes if line]
        lines += _table(top) + ["", "[zoom]"] + _table(zoom)
        return "\n".join(lines) + "\n"

    def _schedule(
        self,
        key: str,
        name: str,
        factor: float,
        why: str,
        frames: int | None,
        fps: float | None,
        seed: int | None,
    ) -> tuple[Any, str] | None:
        value = self.settings.get(key)
        if value is None:
            self.missing.append(key)
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise DreamreelError(
                f'Deforum\'s {key}: expected a schedule like "0:(1.0)" or a number, '
                f"got {type(value).__name__}"
            )
        if not isinstance(value, str):
            if not math.isfinite(value):
                raise DreamreelError(f"Deforum's {key}: expected a finite number, got {value}")
            value = f"0:({value!r})"
        text = _deforum_names(value, frames, seed)
        try:
            if text is None:
                raise DreamreelError("it reads Deforum's s (the seed), which is random here")
            schedule = parse_schedule(text, key=f"zoom.{name}", fps=fps or 8.0)
            if factor != 1.0:
                text = _scaled(schedule, factor)
                schedule = parse_schedule(text, key=f"zoom.{name}", fps=fps or 8.0)
            changes: dict[str, Any] = {name: schedule}
            dataclasses.replace(ZoomSettings(), **changes).check("zoom.")
            schedule.check_frames(min(frames or 1, _CHECKED_FRAMES))
        except DreamreelError as exc:
            self.notes.append(
                f"zoom.{name} left out: dreamreel cannot use Deforum's {key} "
                f"{_quote(value)} ({_cut(str(exc))})"
            )
            return None
        shown = "" if text == value else f" {_quote(value)}"
        return text, f"Deforum's {key}{shown}: {why}"

    def _whole(self, key: str, low: int, high: int) -> int | None:
        value = self.settings.get(key)
        if value is None:
            self.missing.append(key)
            return None
        number: float | None = None
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d{1,20}\s*", value):
            number = int(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            number = value
        if number is None or not math.isfinite(number) or number != int(number):
            raise DreamreelError(
                f"Deforum's {key}: expected a whole number, got {_quote(_shown(value))}"
            )
        if not low <= number <= high:
            raise DreamreelError(f"Deforum's {key}: expected {low} to {high}, got {int(number)}")
        return int(number)

    def _number(self, key: str, low: float, high: float) -> float | int | None:
        value = self.settings.get(key)
        if value is None:
            self.missing.append(key)
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DreamreelError(f"Deforum's {key}: expected a number, got {_quote(_shown(value))}")
        if not low <= value <= high:  # nan too
            raise DreamreelError(f"Deforum's {key}: expected {low:g} to {high:g}, got {value}")
        return value

    def _text(self, key: str) -> str | None:
        value = self.settings.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise DreamreelError(f"Deforum's {key}: expected text, got {type(value).__name__}")
        return value


def _deforum_names(text: str, frames: int | None, seed: int | None) -> str | None:
    """Deforum's own expression names as numbers: max_f (the last frame) and s (the
    seed; dreamreel's s is seconds). None when s is read and the seed is random."""
    if frames is not None:
        text = re.sub(r"\bmax_f\b", str(frames - 1), text)
    if re.search(r"(?<![\w.])s\b", text):
        if seed is None or seed < 0:
            return None
        text = re.sub(r"(?<![\w.])s\b", str(seed), text)
    return text


def _scaled(schedule: Schedule, factor: float) -> str:
    """The schedule's text with every value times ``factor`` (keyframe by keyframe)."""
    expressions = schedule.expressions or (None,) * len(schedule.keyframes)
    entries = []
    for (frame, value), expression in zip(schedule.keyframes, expressions):
        if expression is None:
            entries.append(f"{frame}:({_number_text(value * factor)})")
        elif factor == -1.0:
            entries.append(f"{frame}:(-({expression.text}))")
        else:
            entries.append(f"{frame}:({factor:g}*({expression.text}))")
    return ", ".join(entries)


def _number_text(value: float) -> str:
    text = f"{value:.12g}"
    return "0" if text == "-0" else text


def _table(entries: dict[str, tuple[Any, str]]) -> list[str]:
    lines = []
    for key, (value, why) in entries.items():
        line = f"{key} = {value_text(value, key)}"
        lines.append(f"{line}  # {why}" if why else line)
    return lines


def _from(source: str) -> str:
    return f" from {_quote(source)}" if source else ""


def _quote(text: str) -> str:
    """Text from the file, safe in a TOML comment: escaped (no line break, no control
    character) and cut."""
    return value_text(_cut(text))


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else _cut(repr(value))
