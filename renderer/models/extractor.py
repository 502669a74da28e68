"""Model surgery: find the chosen layers in a Keras model (nested models too) and cut it
into an extractor from the image input to those layers, accepting images of any size.

Keras is imported inside functions: importing this module does not load TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..runtime.errors import DreamreelError
from .layer_names import unknown_layer_message
from .registry import one_line

if TYPE_CHECKING:
    import keras


# A Rescaling/Normalization layer this close to the input means the model takes 0..255.
_PREPROCESSING_SCAN_DEPTH = 4
# Fixed-size user models are rebuilt for any size, then probed this much off their size.
_PROBE_EXTRA_PX = (8, 24)


def walk(model: keras.Model, prefix: str = "") -> Iterator[tuple[str, keras.Model, Any]]:
    """(address, owning model, layer) for every layer, descending into nested models."""
    import keras

    for layer in model.layers:
        yield prefix + layer.name, model, layer
        if isinstance(layer, keras.Model):
            yield from walk(layer, f"{prefix}{layer.name}/")


def spatial_shape(layer: Any) -> tuple | None:
    """The (batch, H, W, C) output shape of a dreamable layer, else None."""
    import keras

    if isinstance(layer, keras.layers.InputLayer):
        return None
    try:
        shape = tuple(layer.output.shape)
    except (AttributeError, ValueError, RuntimeError):  # e.g. a layer called twice
        return None
    return shape if len(shape) == 4 else None


def resolve_layers(
    base: keras.Model, label: str, addresses: list[str]
) -> tuple[keras.Model, list[str]]:
    """The one (sub)model of `base` the chosen layers live in, and their names inside it."""
    index = {address: (scope, layer) for address, scope, layer in walk(base)}
    scopes, names = [], []
    for address in addresses:
        if address not in index:
            raise DreamreelError(_unknown_layer_message(base, label, address))
        scope, layer = index[address]
        shape = spatial_shape(layer)
        if shape is None:
            raise DreamreelError(
                f"layer {address!r} of {label} has no (batch, H, W, C) output to "
                f"dream on; choose a convolutional layer "
                f"(list them: dreamreel models layers {label})"
            )
        scopes.append(scope)
        names.append(layer.name)
    if any(scope is not scopes[0] for scope in scopes):
        raise DreamreelError(
            f"layers {', '.join(addresses)} of {label} sit in different sub-models; "
            f"choose layers of one (sub)model"
        )
    return scopes[0], names


def _unknown_layer_message(base: keras.Model, label: str, address: str) -> str:

    valid = [a for a, _s, layer in walk(base) if spatial_shape(layer) is not None]
    return unknown_layer_message(label, address, valid)


def guess_family(scope: keras.Model) -> str:
    """'raw' (0..255) if the model rescales its input itself, else 'unit' ([0, 1])."""
    import keras

    first = [layer for layer in scope.layers if not isinstance(layer, keras.layers.InputLayer)][
        :_PREPROCESSING_SCAN_DEPTH
    ]
    rescales = (keras.layers.Rescaling, keras.layers.Normalization)
    return "raw" if any(isinstance(layer, rescales) for layer in first) else "unit"


def build_extractor(scope: keras.Model, names: list[str], label: str) -> keras.Model:
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
            f"other sizes ({one_line(error)}); dreaming needs a fully convolutional model"
        ) from error
    return clone
