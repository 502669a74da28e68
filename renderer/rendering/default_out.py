"""Where a render goes when no --out is given: a folder of its own for each recipe.

``renders/<preset>-<input name>-<hash>``: the hash is the first 8 hex digits of the
render's identity (renderer/rendering/identity.py: what decides its pixels, ``frames``
left out), so the same command resumes the same folder, a longer ``--frames`` extends
it, and another input or any other setting starts a new folder instead of being refused
by the old one. Decided from the spec alone, before TensorFlow loads.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..store.manifest import spec_hash
from .identity import render_identity

if TYPE_CHECKING:
    from .spec import RenderSpec

RENDERS_DIR = Path("renders")
_LABEL_CHARS = 32  # of the input's name: enough to recognise it, short enough to read
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_out(spec: RenderSpec) -> Path:
    """``renders/<preset>-<input name, or noise>-<8 hex digits of the identity>``."""
    digest = spec_hash(render_identity(spec, track=True))[:8]
    return RENDERS_DIR / f"{spec.name}-{_input_label(spec)}-{digest}"


def _input_label(spec: RenderSpec) -> str:
    """The input's file or folder name without its suffix, in safe characters; a morph
    without --input: its first photo's; none: "noise"."""
    morph = spec.tables.get("morph")
    source = spec.input or next(iter(getattr(morph, "images", ()) or ()), None)
    if not source:
        return "noise"
    stem = Path(source.rstrip("/")).stem or Path(source.rstrip("/")).name
    return _UNSAFE.sub("_", stem)[:_LABEL_CHARS].strip("._-") or "input"
