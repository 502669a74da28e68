"""What a render records about itself: resolved spec, model, library versions, timings."""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from ..runtime.backend_choice import active
from ..runtime.device import render_device
from ..runtime.errors import DreamreelError
from ..runtime.version import __version__
from .frame_names import MANIFEST_NAME
from .spec_diff import one_line

_LIBRARIES = (
    "dreamreel",
    "tensorflow",
    "jax",
    "torch",
    "keras",
    "numpy",
    "opencv-python-headless",
    "av",
    "imageio",
    "pillow",
)


def dreamreel_version() -> str:
    """The installed package's version; a plain checkout falls back to the source's."""
    try:
        return metadata.version("dreamreel")
    except metadata.PackageNotFoundError:
        return __version__


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _backend() -> str:

    return active()


def spec_hash(spec_dict: dict[str, Any]) -> str:
    """A stable hash of the resolved spec: equal specs render equal frames."""
    canonical = json.dumps(spec_dict, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def not_dreamreels(data: Any) -> str | None:
    """Why parsed JSON is not a manifest dreamreel wrote (None: it is one). Every version
    has written a "spec" table and its "spec_hash", but a chunked render's own (marked
    "chunked"), which has no hash so that a plain render there is refused, not resumed."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if not isinstance(data.get("spec"), dict):
        return "no spec table"
    if not isinstance(data.get("spec_hash"), str) and data.get("chunked") is not True:
        return "no spec_hash"
    return None


def build_manifest(
    spec_dict: dict[str, Any], model, *, identity: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """``identity``: the part of the spec that decides the pixels (hashed for resuming);
    by default the whole spec."""
    # What the identity holds beyond the spec (the content of a music track, a mask, a
    # guide image; the fps schedules read): kept, so a refused resume can say which.
    beyond = {key: value for key, value in (identity or {}).items() if key not in spec_dict}
    return {
        "spec": spec_dict,
        "spec_hash": spec_hash(spec_dict if identity is None else identity),
        **({"identity_beyond_spec": beyond} if beyond else {}),
        "model": {
            "name": model.name,
            "layers": dict(zip(model.layers, model.weights)),
            "preprocessing": model.preprocessing.name,
        },
        "versions": library_versions(),
        "device": render_device(),  # "CPU" or "GPU:0 <name>": a broken CUDA shows here
        "backend": _backend(),
        **extra,
    }


def read_manifest(out_dir: str | Path) -> dict[str, Any] | None:
    """manifest.json of `out_dir` as a dict; None if absent; DreamreelError if unreadable."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DreamreelError(f"cannot read '{path}': {one_line(str(err))}") from err
    if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
        raise DreamreelError(f"cannot read '{path}': not a dreamreel manifest (no spec table)")
    return data
