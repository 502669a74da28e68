"""Layer names a render may dream on, known WITHOUT building the model (no TensorFlow).

`dreamreel render` checks the chosen layers before TensorFlow loads (seconds), so a typo
fails at once:

- registered models (keras.applications and the embedded MobileNetV2): a stored list of
  their dreamable layers, ``model_layers.json``, written by ``python -m
  renderer.models.write_layer_list`` from real builds (tests/test_fail_fast.py checks it
  against them);
- the user's .keras / .h5 files: the model config they carry, read as JSON (zipfile /
  h5py), every layer address ("submodel/layer" inside nested models);
- anything else (a subclassed model, a weights-only file): None, and the check after the
  load (renderer.models) decides.
"""

from __future__ import annotations

import json
import zipfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from ..runtime.errors import DreamreelError, closest
from .model_file_checks import checked_model_config
from .model_files import is_model_file

STORED_LIST = Path(__file__).with_name("model_layers.json")
_FUNCTIONAL = ("Functional", "Model", "Sequential")  # configs that list their layers


def known_layers(model: str) -> list[str] | None:
    """Every layer address of ``model`` one may name, or None when only a build can tell."""
    if is_model_file(model):
        return _file_layers(Path(model).expanduser())
    stored = _stored_lists()
    return stored.get(model) if stored else None


def check_layers(model: str, layers) -> None:
    """Refuse unknown layer names (one line, the closest valid names) without a build."""
    if not layers:
        return
    valid = known_layers(model)
    if valid is None:
        return
    valid_set = set(valid)
    for address in layers:
        if address not in valid_set:
            raise DreamreelError(unknown_layer_message(model, address, valid))


def unknown_layer_message(label: str, address: str, valid: list[str]) -> str:
    """The one "did you mean" line, for this check and for the one after a build."""
    close = closest(address, valid, n=3, cutoff=0.5, within=0.1)
    hint = f"did you mean: {', '.join(close)}? " if close else ""
    return (
        f"unknown layer {address!r} in {label}; {hint}(all layers: dreamreel models layers {label})"
    )


@lru_cache(maxsize=1)
def _stored_lists() -> dict[str, list[str]] | None:
    """The stored lists, trusted only under the Keras major version that wrote them:
    Keras 3's applications keep their layer names across releases, another major may not
    (then the check after the load decides)."""
    try:
        data = json.loads(STORED_LIST.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if _major(data.get("keras", "")) != _major(installed_keras()):
        return None
    return data.get("models") or None


def installed_keras() -> str:
    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:
        return ""


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def _file_layers(path: Path) -> list[str] | None:
    if not path.is_file():
        raise DreamreelError(f"model file {path} does not exist")
    try:
        config = _read_config(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # unreadable here: the load says why, in its own words
    if not isinstance(config, dict) or config.get("class_name") not in _FUNCTIONAL:
        return None  # a subclassed model lists no layers in its config
    return list(_addresses(config))


def _read_config(path: Path):
    """The model config a Keras file carries: config.json in a .keras zip, the
    ``model_config`` attribute of an .h5; read bounded, and a hostile one refused in one
    line (renderer.models.model_file_checks)."""
    return checked_model_config(path)


def _addresses(config: dict, prefix: str = ""):
    """Layer addresses as renderer.models.extractor.walk names them: nested models' layers as
    "outer/inner"; input layers are never dreamable."""
    for entry in config.get("config", {}).get("layers", []):
        if not isinstance(entry, dict):
            continue
        name = (entry.get("config") or {}).get("name") or entry.get("name")
        if not name or entry.get("class_name") == "InputLayer":
            continue
        yield prefix + name
        if entry.get("class_name") in _FUNCTIONAL:
            yield from _addresses(entry, f"{prefix}{name}/")
