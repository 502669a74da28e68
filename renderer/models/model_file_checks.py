"""What a user's .keras/.h5 file must pass before Keras (or anything else) parses it.

A model file is as trusted as code; these checks keep out the known ways one runs code or
exhausts memory while it loads:

- a .keras zip may not declare more than it could hold: JSON members up to
  `MAX_JSON_MEMBER_BYTES`, all members together up to `MAX_EXPANSION` times the archive
  past a small allowance (zipfile stops inflating a member at its declared size, so
  declared sizes bound memory);
- its config (config.json, or an .h5's ``model_config``) is read bounded and walked without
  recursion, nesting at most `MAX_CONFIG_DEPTH` levels;
- no layer that runs code the file carries or reaches outside the file when it loads:
  what Keras' safe_mode refuses, checked here too because Keras before 3.11 loaded an .h5's
  Lambda layers whatever safe_mode said (CVE-2025-9905).
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..runtime.errors import DreamreelError

# 16x the config of the largest keras.applications model (NASNetLarge, ~1 MB).
MAX_JSON_MEMBER_BYTES = 16 * 2**20
# Weights deflate barely (~1.1:1); 100:1 is Keras' own sign of a decompression bomb.
MAX_EXPANSION = 100
# Below this, a member's expansion costs nothing worth refusing (a tiny all-zero model).
EXPANSION_ALLOWANCE_BYTES = 64 * 2**20
# Real models nest 13-14 levels, one more layer of nested models adds about seven.
MAX_CONFIG_DEPTH = 100

# class_name -> why loading it runs or reads what the file does not show.
CODE_RUNNING_CLASSES = {
    "Lambda": "runs Python code the file carries",
    "__lambda__": "is Python code the file carries",
    "TFSMLayer": "loads a TensorFlow SavedModel from outside the file",
    "TorchModuleWrapper": "unpickles a torch module the file carries",
}
# Lookup layers whose `vocabulary` may name a file to read from outside the model.
VOCABULARY_LAYERS = ("StringLookup", "IntegerLookup", "TextVectorization")

# What a damaged zip member raises while it inflates.
_UNREADABLE_MEMBER = (OSError, EOFError, RuntimeError, NotImplementedError, zlib.error)


def check_model_file(path: Path) -> None:
    """Refuse, in one line, a model file that fails a check above."""
    checked_model_config(path)


def checked_model_config(path: Path) -> Any | None:
    """The model config `path` carries once it passed every check, or None when the file
    carries none to read (neither a zip with config.json nor an HDF5 file with a
    ``model_config``): Keras' own load then says what is wrong.

    A file that is both a zip and an HDF5 file has both configs checked (Keras picks the
    format by suffix); the zip's config is returned."""
    configs = {"config.json": _zip_config(path), "model_config": _h5_config(path)}
    for what, config in configs.items():
        if config is not None:
            _check_config(path, config, what)
    return next((config for config in configs.values() if config is not None), None)


# ------------------------------------------------------------------ reading, bounded


def _zip_config(path: Path) -> Any | None:
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            _check_declared_sizes(path, archive)
            if "config.json" not in archive.namelist():
                return None
            with archive.open("config.json") as member:
                raw = member.read(MAX_JSON_MEMBER_BYTES + 1)
    except (zipfile.BadZipFile, *_UNREADABLE_MEMBER) as error:
        raise DreamreelError(
            f"model file {path} is a damaged zip ({_first_line(error)}); save it again"
        ) from None
    return _parse_config(path, raw, "config.json")


def _check_declared_sizes(path: Path, archive: zipfile.ZipFile) -> None:
    for info in archive.infolist():
        if info.filename.endswith(".json") and info.file_size > MAX_JSON_MEMBER_BYTES:
            raise DreamreelError(
                f"model file {path}: its {info.filename} declares {_mib(info.file_size)}, "
                f"over the {_mib(MAX_JSON_MEMBER_BYTES)} a model's JSON may take; "
                "Keras writes nothing like it: use a model file from a source you trust"
            )
    declared = sum(info.file_size for info in archive.infolist())
    on_disk = path.stat().st_size  # real bytes: a member's declared compressed size may lie
    if declared > EXPANSION_ALLOWANCE_BYTES + MAX_EXPANSION * on_disk:
        raise DreamreelError(
            f"model file {path} declares {_mib(declared)} of contents in {_mib(on_disk)} "
            f"(over {MAX_EXPANSION}x): a decompression bomb, not a model; use a model file "
            "from a source you trust"
        )


def _h5_config(path: Path) -> Any | None:
    import h5py  # Keras' own dependency; light, no TensorFlow

    try:
        if not h5py.is_hdf5(str(path)):
            return None
        with h5py.File(path, "r") as h5:
            raw = h5.attrs.get("model_config")
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise DreamreelError(
            f"model file {path} is a damaged HDF5 file ({_first_line(error)}); save it again"
        ) from None
    if raw is None:
        return None  # weights only: Keras says so
    return _parse_config(path, raw, "model_config")


def _parse_config(path: Path, raw: Any, what: str) -> Any:
    if not isinstance(raw, (str, bytes)) or len(raw) > MAX_JSON_MEMBER_BYTES:
        raise DreamreelError(
            f"model file {path}: its {what} is not JSON of at most "
            f"{_mib(MAX_JSON_MEMBER_BYTES)}; save the model again with Keras"
        )
    try:
        return json.loads(raw)
    except RecursionError:  # json's C parser stops at Python's recursion limit
        raise _too_deep(path, what) from None
    except ValueError as error:  # UnicodeDecodeError included
        raise DreamreelError(
            f"model file {path}: its {what} is not valid JSON ({_first_line(error)})"
        ) from None


# ------------------------------------------------------------------ walking, no recursion


def _check_config(path: Path, config: Any, what: str) -> None:
    """Refuse a config nested past `MAX_CONFIG_DEPTH` or holding a code-running layer."""
    for node, depth in _containers(config):
        if depth > MAX_CONFIG_DEPTH:
            raise _too_deep(path, what)
        if isinstance(node, dict):
            reason = _runs_code(node)
            if reason is not None:
                raise DreamreelError(
                    f"model file {path} has {_describe(node)}, which {reason}; dreamreel "
                    "does not load such layers: rebuild the model without it"
                )


def _containers(config: Any) -> Iterator[tuple[Any, int]]:
    """Every dict and list in `config` with its nesting depth (the top is 1), iteratively:
    a hostile depth cannot exhaust the stack."""
    stack = [(config, 1)] if isinstance(config, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        yield node, depth
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _runs_code(node: dict) -> str | None:
    class_name = node.get("class_name")
    if not isinstance(class_name, str):
        return None
    if class_name in CODE_RUNNING_CLASSES:
        return CODE_RUNNING_CLASSES[class_name]
    config = node.get("config")
    if class_name in VOCABULARY_LAYERS and isinstance(config, dict):
        if isinstance(config.get("vocabulary"), str):
            return "reads a vocabulary file from outside the model"
    return None


def _describe(node: dict) -> str:
    """The class and, where the config gives one, the name: a Lambda layer 'evil'."""
    if node["class_name"] == "__lambda__":
        return "a serialized Python lambda"
    config = node.get("config")
    name = config.get("name") if isinstance(config, dict) else node.get("name")
    named = f" {name!r}" if isinstance(name, str) else ""
    return f"a {node['class_name']} layer{named}"


def _too_deep(path: Path, what: str) -> DreamreelError:
    return DreamreelError(
        f"model file {path}: its {what} nests deeper than {MAX_CONFIG_DEPTH} levels, "
        "which no real model does; save the model again with Keras"
    )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
