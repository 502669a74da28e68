"""The page's gallery: the render folders under the out root (each with its
manifest.json), newest first, with what a user looks at: the MP4 or GIF, losses.png,
report.json's stability line, the recipe. A folder without its MP4 or GIF was stopped
(or is rendering): the page offers to resume it."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from ..rendering.recipe import recipe_text
from ..runtime.errors import DreamreelError
from .jobs import read_losses

MANIFEST = "manifest.json"
MAX_ENTRIES = 60  # newest first; older ones stay on disk


def gallery(out_root: Path, live: Collection[Path] = ()) -> list[dict[str, Any]]:
    """One entry per render folder directly under ``out_root``, newest first; ``live``:
    the folders a queued or running job renders into (not resumable: being rendered)."""
    if not out_root.is_dir():
        return []
    folders = [p.parent for p in out_root.glob(f"*/{MANIFEST}") if p.is_file()]
    folders.sort(key=lambda p: (p / MANIFEST).stat().st_mtime, reverse=True)
    entries = [entry for p in folders[:MAX_ENTRIES] if (entry := _entry(p)) is not None]
    rendering = {p.resolve() for p in live}
    for entry in entries:
        entry["rendering"] = Path(entry["path"]).resolve() in rendering
    return entries


def _entry(folder: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        recipe = recipe_text(manifest)
    except (OSError, ValueError, KeyError, TypeError, DreamreelError):
        return None  # not a dreamreel render's manifest, or half written
    if not isinstance(manifest, dict):
        return None
    outputs = [name for name in manifest.get("outputs") or [] if (folder / str(name)).is_file()]
    video = next((n for n in outputs if str(n).endswith(".mp4")), None)
    gif = next((n for n in outputs if str(n).endswith(".gif")), None)
    summary = ""
    try:
        report = json.loads((folder / "report.json").read_text())
        summary = str(report.get("summary", "")) if isinstance(report, dict) else ""
    except (OSError, ValueError):
        pass
    spec = manifest.get("spec") or {}
    return {
        "folder": folder.name,
        "path": str(folder),
        "name": str(spec.get("name", folder.name)),
        "mode": str(manifest.get("mode", spec.get("mode", ""))),
        "stored": len(read_losses(folder)),
        "frames": manifest.get("frames"),
        "finished": bool(outputs),
        "mp4": video,
        "gif": gif,
        "losses_png": (folder / "losses.png").is_file(),
        "latest": (folder / "latest.jpg").is_file(),
        "stability": summary,
        "recipe": recipe,
    }
