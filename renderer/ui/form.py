"""The page's form as the CLI's arguments: a preset (or a recipe's file), inputs and
``--set KEY=VALUE`` overrides, loaded through ``load_spec`` so every value gets the
checks ``dreamreel render`` gives it, and the ``dreamreel render`` line that makes the
same render (the background job runs exactly that line)."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..rendering.default_out import default_out
from ..rendering.spec import RenderSpec, load_spec
from ..runtime.errors import DreamreelError

# The knobs the page shows, per mode, as ``--set`` keys (blank: the preset's value).
# Any other key goes in the page's "more settings" box, one KEY=VALUE a line.
COMMON_KNOBS = (
    "dream.steps",
    "dream.step_size",
    "dream.octaves",
    "layers",
    "objective",
    "seed",
    "mask",
)
MODE_KNOBS = {
    "zoom": ("width", "height", "frames", "zoom.scale", "zoom.rotation", "zoom.first_steps"),
    "progress": ("width", "height", "progress.every"),
    "video": (
        "video.max_size",
        "video.end",
        "video.coherence",
        "video.cadence",
        "video.first_steps",
    ),
    "morph": ("width", "height", "morph.hold", "morph.fade", "morph.blend"),
}
MAX_FIELD = 4000  # characters of one value: a schedule fits, a pasted file does not


@dataclass
class Form:
    """What the page sends: ``preset`` a shipped preset's name or a recipe's path."""

    preset: str
    input: str = ""
    audio: str = ""
    knobs: dict[str, str] = field(default_factory=dict)
    more: str = ""  # more KEY=VALUE lines

    @classmethod
    def from_json(cls, data: Any) -> Form:
        if not isinstance(data, dict):
            raise DreamreelError("the page sent no form")
        knobs = data.get("knobs") or {}
        if not isinstance(knobs, dict):
            raise DreamreelError("the page sent knobs that are not KEY: VALUE pairs")
        form = cls(
            preset=_text(data.get("preset"), "preset"),
            input=_text(data.get("input"), "input"),
            audio=_text(data.get("audio"), "audio"),
            knobs={str(k): _text(v, str(k)) for k, v in knobs.items()},
            more=_text(data.get("more"), "more settings"),
        )
        if not form.preset:
            raise DreamreelError("choose a preset or open a recipe first")
        return form

    def overrides(self) -> list[str]:
        """The ``--set`` items: the knobs given (in the page's order), then the extra lines."""
        items = [f"{key}={value}" for key, value in self.knobs.items() if value.strip()]
        for line in self.more.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                if "=" not in line:
                    raise DreamreelError(f"more settings: {line!r} is not KEY=VALUE")
                items.append(line)
        return items

    def spec(self) -> RenderSpec:
        """The RenderSpec ``dreamreel render`` would build from the same arguments."""
        return load_spec(
            self.preset, self.overrides(), input=self.input or None, audio=self.audio or None
        )

    def render_args(self, out: Path) -> list[str]:
        """``dreamreel render``'s arguments for this form, into ``out``."""
        args = ["render", self.preset]
        if self.input:
            args += ["--input", self.input]
        if self.audio:
            args += ["--audio", self.audio]
        for item in self.overrides():
            args += ["--set", item]
        return [*args, "--out", str(out)]


def out_folder(spec: RenderSpec, out_root: Path) -> Path:
    """The CLI's own folder name for ``spec`` (renders/PRESET-INPUT-HASH), under ``out_root``."""
    return out_root / default_out(spec).name


def cli_line(args: list[str]) -> str:
    """The shell line a user can paste: ``dreamreel render ...``."""
    return shlex.join(["dreamreel", *args])


def subprocess_argv(args: list[str]) -> list[str]:
    """This Python running the CLI, with a progress line per tenth and a JSON summary."""
    return [sys.executable, "-m", "renderer.cli", *args, "--progress", "lines", "--json"]


def knobs_for(mode: str) -> list[str]:
    return [*MODE_KNOBS.get(mode, ()), *COMMON_KNOBS]


def knob_values(spec: RenderSpec) -> dict[str, str]:
    """The value each of the mode's knobs has in ``spec``, as ``--set`` takes it: what the
    page shows in a blank knob (a preset's or an opened recipe's own settings)."""
    values: dict[str, str] = {}
    tree = spec.to_dict()
    for key in knobs_for(spec.mode):
        value: Any = tree
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values[key] = (
            "(from the input)" if value is None and key == "height" else _as_setting(value)
        )
    return values


def _as_setting(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):  # layers: a TOML inline table, as --set takes it
        return "{" + ", ".join(f"{k}={_as_setting(v)}" for k, v in value.items()) + "}"
    return str(value)


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DreamreelError(f"{what}: expected text, got {type(value).__name__}")
    text = str(value)
    if len(text) > MAX_FIELD:
        raise DreamreelError(f"{what}: {len(text)} characters, more than {MAX_FIELD}")
    if "\x00" in text:
        raise DreamreelError(f"{what}: holds a NUL character")
    return text.strip()
