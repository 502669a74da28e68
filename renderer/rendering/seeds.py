"""``seed = -1`` (any negative seed): a random seed, drawn once and then the render's own.

The drawn seed replaces -1 in the spec, so manifest.json records it and a resume (or
``--set seed=N``) renders the same frames. Asking for -1 again in a folder that holds a
render continues that render's seed instead of drawing a new one.
"""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path
from typing import Any

from ..runtime.errors import DreamreelError
from ..store.frame_store import read_manifest
from .spec import RenderSpec

SEED_LIMIT = 2**31  # the frame seeds' range (scheduler.frame_seed)
_UNREAD: Any = object()  # out_dir's manifest not read yet


def earlier_manifest(out_dir: Path) -> dict | None:
    """The manifest.json of a render already in ``out_dir`` (None: none, or unreadable:
    the frame store decides what that means)."""
    try:
        return read_manifest(out_dir)
    except DreamreelError:
        return None


def resolve_random_seed(
    spec: RenderSpec, out_dir: Path, *, restart: bool = False, earlier: Any = _UNREAD
) -> tuple[RenderSpec, str | None]:
    """``spec`` with a negative seed replaced by a real one, and a line saying which
    (None when the seed was given). ``earlier``: out_dir's manifest, when read already."""
    if spec.seed >= 0:
        return spec, None
    if not restart and earlier is _UNREAD:
        earlier = earlier_manifest(out_dir)
    recorded = None if restart else _recorded_seed(earlier)
    if recorded is not None:
        return (
            dataclasses.replace(spec, seed=recorded),
            f"seed {spec.seed}: continuing with seed {recorded}, the one the render in "
            f"{out_dir} drew",
        )
    seed = secrets.randbelow(SEED_LIMIT)
    return (
        dataclasses.replace(spec, seed=seed),
        f"seed {spec.seed}: drew seed {seed} (recorded in manifest.json; "
        f"--set seed={seed} renders the same frames)",
    )


def _recorded_seed(manifest: dict | None) -> int | None:
    seed = (manifest or {}).get("spec", {}).get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0:
        return seed
    return None
