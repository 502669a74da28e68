"""``python -m renderer.models.write_layer_list``: build every registered model (random
weights) and store its dreamable layers in ``model_layers.json``, which
renderer/models/layer_names.py reads without TensorFlow. Run it after a Keras upgrade."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..runtime.quiet_tensorflow import import_tensorflow_quietly
from .layer_names import STORED_LIST, installed_keras
from .loading import dreamable_layers
from .registry import REGISTRY


def write_stored_list(path: Path = STORED_LIST) -> dict[str, list[str]]:
    """Build every registered model (random weights) and store its dreamable layers."""
    import_tensorflow_quietly()
    models = {
        entry.name: [name for name, _shape in dreamable_layers(entry.name)] for entry in REGISTRY
    }
    # One model a line: a Keras upgrade that renames layers shows as a readable diff.
    lines = [f" {json.dumps(name)}: {json.dumps(names)}" for name, names in models.items()]
    text = (
        f'{{"keras": {json.dumps(installed_keras())}, "models": {{\n' + ",\n".join(lines) + "\n}}"
    )
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return models


if __name__ == "__main__":
    written = write_stored_list()
    print(f"wrote {STORED_LIST}: {', '.join(f'{k} ({len(v)})' for k, v in written.items())}")
