"""Loading a model to dream on: a registry name or the user's .keras/.h5 file, and a choice
of layers, into a `DreamModel` (the extractor plus its preprocessing), kept for reuse.

TensorFlow/Keras are imported inside functions: `import renderer.models.loading` stays
cheap for the CLI's `--help` and `models list`.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtime.errors import DreamreelError
from .extractor import build_extractor, guess_family, resolve_layers, spatial_shape, walk
from .model_file_checks import check_model_file
from .model_files import is_model_file
from .preprocessing import Preprocessing, get_preprocessing
from .registry import REGISTRY, Announce, one_line

if TYPE_CHECKING:
    import keras


# Loaded models kept by `cached_dream_model` (renderer.dream_image / renderer.load_model).
_LOADED_KEPT = 3


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: the step cache's key
class DreamModel:
    """What the dream engine needs: model-space image -> activations of the chosen layers.

    `extractor` maps a (batch, H, W, 3) float32 model-space image of any H, W to the chosen
    layers' activations in order. Keras unwraps a one-element output list, so with a single
    layer it returns a bare tensor: call `activations` to always get a list.
    """

    name: str
    extractor: keras.Model = field(repr=False)
    layers: tuple[str, ...]
    weights: tuple[float, ...]
    preprocessing: Preprocessing

    def activations(self, x: Any) -> list[Any]:
        out = self.extractor(x, training=False)
        return list(out) if isinstance(out, (list, tuple)) else [out]


@dataclass(frozen=True)
class _Source:
    """A loaded base model and what the registry (if any) says about it."""

    label: str
    base: keras.Model
    default_layers: dict[str, float] | None
    family: str | None  # None: guess from the model's first layers


_BASES: dict[tuple, Any] = {}  # (name, weights) or (path, mtime) -> built keras.Model


def load_dream_model(
    model: str,
    layers: Mapping[str, float] | Sequence[str] | None = None,
    *,
    preprocess: str | None = None,
    weights: str | None = "default",
    announce: Announce | None = None,
) -> DreamModel:
    """Build the extractor for `model` (registry name or .keras/.h5 path) and `layers`.

    layers: None -> the model's defaults; a list -> weight 1.0 each; nested sub-model layers
    are addressed "submodel/layer". weights: "default" (imagenet/embedded) or None (random
    init, for tests); ignored for model files, which carry their own.
    """
    source = _open_source(model, weights, announce)
    chosen = _normalise_layers(layers, source)
    scope, names = resolve_layers(source.base, source.label, list(chosen))
    family = preprocess or source.family or guess_family(scope)
    return DreamModel(
        name=source.label,
        extractor=build_extractor(scope, names, source.label),
        layers=tuple(chosen),
        weights=tuple(chosen.values()),
        preprocessing=get_preprocessing(family),
    )


_LOADED: collections.OrderedDict[tuple, DreamModel] = collections.OrderedDict()


def cached_dream_model(
    model: str | os.PathLike,
    layers: Mapping[str, float] | Sequence[str] | None = None,
    *,
    preprocess: str | None = None,
    weights: str | None = "default",
    announce: Announce | None = None,
) -> DreamModel:
    """`load_dream_model`, but the last few loaded models are kept (least recently used
    goes first), so repeated `renderer.dream_image` calls reuse the model and its traced
    ascent. The key is the registry name (or the model file's resolved path and mtime:
    an edited file loads afresh), the layers as given, the preprocessing and the weights."""
    key = _loaded_key(model, layers, preprocess, weights)
    if key is None:  # unhashable layer spec: let load_dream_model judge it, uncached
        return load_dream_model(
            model, layers, preprocess=preprocess, weights=weights, announce=announce
        )
    dream_model = _LOADED.get(key)
    if dream_model is None:
        dream_model = load_dream_model(
            model, layers, preprocess=preprocess, weights=weights, announce=announce
        )
        _LOADED[key] = dream_model
        while len(_LOADED) > _LOADED_KEPT:
            _LOADED.popitem(last=False)
    _LOADED.move_to_end(key)
    return dream_model


def _loaded_key(
    model: str | os.PathLike, layers: Any, preprocess: str | None, weights: str | None
) -> tuple | None:
    model = os.fspath(model)
    if is_model_file(model):
        path = Path(model).expanduser()
        if not path.is_file():
            raise DreamreelError(f"model file {path} does not exist")
        source: tuple = ("file", str(path.resolve()), path.stat().st_mtime_ns)
    else:
        entry = REGISTRY.get(model)
        source = (
            "registry",
            entry.name,
            entry.default_weights if weights == "default" else weights,
        )
    if layers is None or isinstance(layers, str):
        chosen: Any = layers
    elif isinstance(layers, Mapping):
        chosen = ("mapping", tuple(layers.items()))
    else:
        chosen = ("sequence", tuple(layers))
    key = (source, chosen, preprocess)
    try:
        hash(key)
    except TypeError:
        return None
    return key


def dreamable_layers(model: str, weights: str | None = None) -> list[tuple[str, tuple]]:
    """(address, output shape) of every layer one can dream on, input to output
    (`dreamreel models layers NAME`). Random weights by default: shapes need no download."""
    source = _open_source(model, weights, announce=None)
    return [
        (address, shape)
        for address, _scope, layer in walk(source.base)
        if (shape := spatial_shape(layer)) is not None
    ]


def fetch_weights(name: str, *, announce: Announce | None = None) -> Path:
    """Make a registered model's pretrained weights available offline; returns their path."""
    return REGISTRY.get(name).fetch(announce=announce)


def _open_source(
    model: str | os.PathLike, weights: str | None, announce: Announce | None
) -> _Source:
    model = os.fspath(model)  # notebooks pass Path objects
    if is_model_file(model):
        return _Source(model, _load_model_file(Path(model).expanduser()), None, None)
    entry = REGISTRY.get(model)
    resolved = entry.default_weights if weights == "default" else weights
    key = (entry.name, resolved)
    if key not in _BASES:  # building takes seconds: once per process
        _BASES[key] = entry.build(resolved, announce=announce)
    return _Source(entry.name, _BASES[key], entry.default_layers, entry.family)


def _load_model_file(path: Path) -> keras.Model:
    import keras

    if not path.is_file():
        raise DreamreelError(f"model file {path} does not exist")
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _BASES:
        for stale in [k for k in _BASES if k[0] == key[0]]:  # an older version of the file
            del _BASES[stale]
        check_model_file(path)  # before Keras parses a byte of it
        try:
            # safe_mode is Keras' default; said here so no release's default can drop it.
            _BASES[key] = keras.models.load_model(path, compile=False, safe_mode=True)
        except Exception as error:  # RecursionError included: one line, no traceback
            raise DreamreelError(f"could not load model file {path}: {one_line(error)}") from error
    return _BASES[key]


def _normalise_layers(
    layers: Mapping[str, float] | Sequence[str] | None, source: _Source
) -> dict[str, float]:
    if layers is None:
        if source.default_layers is None:
            raise DreamreelError(
                f"model file {source.label} has no default layers; choose some "
                f"(list them: dreamreel models layers {source.label})"
            )
        layers = source.default_layers
    if isinstance(layers, str):
        layers = [layers]
    chosen = dict(layers) if isinstance(layers, Mapping) else dict.fromkeys(layers, 1.0)
    if not chosen:
        raise DreamreelError(f"no layers chosen for {source.label}")
    try:
        return {str(name): float(weight) for name, weight in chosen.items()}
    except (TypeError, ValueError):
        raise DreamreelError(
            f"layer weights for {source.label} must be numbers: {chosen}"
        ) from None
