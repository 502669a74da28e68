"""Where a preset's TOML is: a shipped preset by its bare name, else a path."""

from __future__ import annotations

import os
from pathlib import Path

from ..runtime.atomic_files import user_os_errors
from ..runtime.errors import DreamreelError, closest


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
    """A shipped preset's file for a bare name (even where a file or folder of that name
    sits in the working folder: an earlier ``--out morph``); a file for a path, which
    looks like one (``./morph``, ``x.toml``); else one line saying what was tried."""
    if "\0" in name_or_path:  # no file's name: refused before the OS is asked
        raise DreamreelError(f"preset {name_or_path!r}: a path cannot hold a NUL character")
    path = Path(name_or_path)
    # A name too long for the file system, a loop of links: one line, not an OSError.
    with user_os_errors(path, "read preset"):
        return _find_preset(name_or_path, path)


def _find_preset(name_or_path: str, path: Path) -> Path:
    if looks_like_preset_path(name_or_path):
        if not path.is_file():
            raise DreamreelError(_no_preset_file(name_or_path, path))
        return path
    shipped = presets_dir() / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    if path.is_file():  # a TOML preset of one's own, named without its suffix
        return path
    names = preset_names()
    close = closest(name_or_path, names, n=3)
    hint = f"did you mean: {', '.join(close)}? " if close else ""
    beside = f"; ./{name_or_path} is a folder, not a TOML file" if path.is_dir() else ""
    raise DreamreelError(
        f"unknown preset {name_or_path!r}: no shipped preset of that name{beside}; "
        f"{hint}(presets: {', '.join(names)})"
    )


def looks_like_preset_path(text: str) -> bool:
    """``x.toml``, ``./x``, ``sub/x``: a path; a bare name may be a shipped preset's."""
    separators = [sep for sep in ("/", os.sep, os.altsep) if sep]
    return text.endswith(".toml") or any(sep in text for sep in separators)


def _no_preset_file(text: str, path: Path) -> str:
    found = (
        "is a folder, neither a TOML file nor a render folder with a manifest.json"
        if path.is_dir()
        else "is a symbolic link to nothing, or a loop of links"
        if path.is_symlink()
        else "does not exist"
    )
    return (
        f"preset file not found: {text} ({path.absolute()} {found}); a bare name picks a "
        f"shipped preset: {', '.join(preset_names())}"
    )
