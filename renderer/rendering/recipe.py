"""The recipe inside every output: a render's settings, carried by its frames, GIF and MP4.

The recipe is the render's resolved spec as TOML (what ``render --dry-run`` prints: a
preset ``dreamreel render`` reads back), after a few comment lines: dreamreel's version,
the preset's name, the model and the seed (drawn ones included: the spec holds the seed
the render used). It is made once per render, from the manifest the render starts
(``recipe_text``: the PreparedRender holds it), and handed as plain text to the frame
store (a PNG text chunk) and the stitcher (the MP4's comment tag, the GIF's comment):
those wings know no spec. ``dreamreel stitch`` makes the same text from manifest.json.

It holds nothing that differs between two runs of the same settings (no output folder,
no time, no machine), so a render made again from it writes the very same frame files,
recipe chunk included. ``pipeline`` is left out: it changes when work runs, never a pixel.

Reading it back (``read_recipe``): a render folder (its manifest.json), a manifest.json,
a frame PNG, the GIF or the MP4 (renderer/media/embedded_text.py walks those, bounded).
``dreamreel render SOURCE`` takes any of them as its preset (``recipe_preset``: the hook
in ``load_spec``), so the recipe then meets exactly the checks a preset file meets, and
``--set``, ``--input`` apply on top. A recipe is a stranger's file as often as one's
own: what it may not make dreamreel do on its own is in ``Recipe.check_on_top``.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..media.embedded_text import MAX_TEXT_BYTES, read_embedded_text
from ..models.model_files import is_model_file
from ..runtime.atomic_files import user_os_errors
from ..runtime.errors import DreamreelError
from ..store.frame_names import MANIFEST_NAME
from ..store.frame_store import RECIPE_KEYWORD
from ..store.manifest import dreamreel_version, not_dreamreels
from .spec_toml import TOO_DEEP, dumps, too_deep

RECIPE_MARKER = "# dreamreel recipe"  # its first line: a comment without it is not ours
# What names a render's output rather than a preset file, by its suffix.
RECIPE_SUFFIXES = (".png", ".gif", ".mp4", ".mov", ".m4v", ".mkv", ".json")
MAX_MANIFEST_BYTES = 16 << 20  # a manifest is a few KB; 16 MB is no manifest at all
_LEFT_OUT = ("name", "pipeline")  # the name is a header line; the pipeline decides no pixel
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a name for renders/NAME-...
_HEADER_LINE = re.compile(r"# ([a-z]+): (.*)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # no line breaks or terminal escapes
# A recipe's files that must be on this machine, and how to give another.
_FILES = {"input": "--input PATH", "audio": "--audio PATH", "mask": "--set mask=PATH"}
NO_RECIPE = "(made by another program, or by a dreamreel from before outputs carried one)"


def recipe_text(manifest: dict[str, Any]) -> str:
    """The recipe of the render ``manifest`` describes (as ``build_manifest`` makes it,
    or as manifest.json holds it): comment lines, then the spec as TOML."""
    spec = manifest["spec"]
    deep = too_deep(spec)
    if deep is not None:
        raise DreamreelError(f"the manifest's spec: {deep} {TOO_DEEP}")
    versions = manifest.get("versions") or {}
    model = (manifest.get("model") or {}).get("name") or spec.get("model")
    lines = [
        f"{RECIPE_MARKER}: `dreamreel render FILE` renders it again, "
        f"`dreamreel info FILE` prints it",
        f"# version: dreamreel {_shown(versions.get('dreamreel') or dreamreel_version())}",
        f"# preset: {_shown(spec.get('name'))}",
        f"# model: {_shown(model)}",
        f"# seed: {_shown(spec.get('seed'))}",
    ]
    if manifest.get("chunked"):
        lines.append(
            "# chunks: rendered in chunks (--chunks, --ray): a render of this recipe in "
            "one piece dreams the seams anew"
        )
    return "\n".join(lines) + "\n" + dumps(_mode_tables_only(spec))


def _shown(value: Any) -> str:
    """``value`` on one line, its control characters escaped: a header line stays one
    comment line, a message one line without terminal escapes (a stranger's values)."""
    return _CONTROL.sub(lambda m: repr(m[0])[1:-1], str(value))


def _mode_tables_only(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec less the name, the pipeline and other modes' tables (as --dry-run)."""
    from .modes.builtin import MODES, mode_class  # lazy: loads Pillow

    own = mode_class(spec["mode"]).settings
    others = [name for name in MODES.tables() if name not in own]
    return {key: value for key, value in spec.items() if key not in (*_LEFT_OUT, *others)}


@dataclass(frozen=True)
class Recipe:
    """A recipe read back from ``source`` (a render's folder or one of its outputs)."""

    text: str
    source: Path

    @property
    def name(self) -> str:
        """The preset's name it was rendered as (the default folder's first part)."""
        name = _header(self.text).get("preset", "")
        return name if _SAFE_NAME.fullmatch(name) else "recipe"

    def table(self) -> dict[str, Any]:
        """The TOML, read with the checks ``read_toml`` makes of a preset file: one line
        for text that is not TOML, numbers of over 4300 digits, nesting too deep."""
        where = f"cannot read the recipe in {self.source}"
        try:
            table = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise DreamreelError(f"{where}: {exc}") from None
        except ValueError:
            raise DreamreelError(f"{where}: it holds a number of over 4300 digits") from None
        except RecursionError:
            raise DreamreelError(f"{where}: it {TOO_DEEP}") from None
        deep = too_deep(table)
        if deep is not None:
            raise DreamreelError(f"{where}: {deep} {TOO_DEEP}")
        return table

    def check_on_top(self, table: dict[str, Any], given: Iterable[str]) -> None:
        """Refuse, in one line, what a recipe may not do by itself: load a model file
        (a model file runs code, SECURITY.md: only the user names one) or read a file
        that is not on this machine (an input, a track, a mask: the user gives it).
        ``table``: the recipe with the --set's and --input on top; ``given``: the keys
        the user gave there."""
        given = set(given)
        model = table.get("model")
        if "model" not in given and isinstance(model, str) and is_model_file(model):
            raise DreamreelError(
                f"the recipe in {self.source} dreams with the model file {_shown(model)}: a "
                f"model file runs code on this machine (SECURITY.md), so only you can pick "
                f"one; --set model={_shown(model)} loads it"
            )
        for key, flag in _FILES.items():
            path = table.get(key)
            if key not in given and isinstance(path, str) and path and not os.path.exists(path):
                raise DreamreelError(
                    f"the recipe in {self.source} reads its {key} from {_shown(path)}, which "
                    f"is not on this machine: give it with {flag}"
                )


def _header(text: str) -> dict[str, str]:
    """The ``# key: value`` lines before the TOML."""
    header = {}
    for line in text.splitlines()[1:]:
        match = _HEADER_LINE.fullmatch(line)
        if match is None:
            break
        header[match[1]] = match[2]
    return header


def recipe_preset(preset: str) -> Recipe | None:
    """The recipe ``preset`` names where it names a render's output (a .png, .gif, .mp4,
    .mov, .json file) or folder (given as a path: ``renders/x``, ``./x``; a bare name
    stays a shipped preset's); None for a preset file or name."""
    if "\0" in preset or preset.endswith(".toml"):
        return None  # resolve_preset says what is wrong with it
    path = Path(preset)
    as_path = any(sep in preset for sep in ("/", os.sep, os.altsep) if sep)
    with user_os_errors(path, "read recipe"):
        folder = as_path and path.is_dir()
        if folder and not (path / MANIFEST_NAME).is_file():
            return None  # no render folder: resolve_preset's line says what it is
    if folder or path.suffix.lower() in RECIPE_SUFFIXES:
        return read_recipe(path)
    return None


def read_recipe(source: str | os.PathLike) -> Recipe:
    """The recipe in a render folder, its manifest.json, a frame PNG, its GIF or MP4;
    one line where there is none or it cannot be read."""
    path = Path(source)
    with user_os_errors(path, "read recipe"):
        if path.is_dir():
            manifest = path / MANIFEST_NAME
            if not manifest.is_file():
                raise DreamreelError(
                    f"{path} is a folder without {MANIFEST_NAME}: not a dreamreel render "
                    f"folder, so it holds no recipe"
                )
            return Recipe(_manifest_recipe(manifest), path)
        if not path.is_file():
            raise DreamreelError(f"cannot read recipe {path}: {_not_a_file(path)}")
        if path.suffix.lower() == ".json":
            return Recipe(_manifest_recipe(path), path)
        text = read_embedded_text(path, keyword=RECIPE_KEYWORD, prefix=RECIPE_MARKER)
    if text is None:
        raise DreamreelError(f"{path} carries no dreamreel recipe {NO_RECIPE}")
    return Recipe(text, path)


def _not_a_file(path: Path) -> str:
    if path.is_symlink():
        return "a symbolic link to nothing, or a loop of links"
    return "it is not a file" if path.exists() else "no such file"


def _manifest_recipe(path: Path) -> str:
    """The recipe of the render a manifest.json describes."""
    with user_os_errors(path, "read recipe"), open(path, "rb") as f:
        data = f.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise DreamreelError(f"cannot read recipe {path}: over 16 MB, no manifest dreamreel wrote")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DreamreelError(f"cannot read recipe {path}: not JSON ({reason})") from None
    why = not_dreamreels(manifest)
    if why is not None:
        raise DreamreelError(f"{path} is not a dreamreel manifest ({why}): it holds no recipe")
    try:
        text = recipe_text(manifest)
    except (KeyError, TypeError, AttributeError) as err:  # values no render wrote
        raise DreamreelError(f"cannot read recipe {path}: its spec is damaged ({err})") from None
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise DreamreelError(f"cannot read recipe {path}: its spec is over 1 MB of TOML")
    return text
