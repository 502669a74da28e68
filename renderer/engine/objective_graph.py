"""An Objective bound to a model, and the keras.ops function that measures it on a window.

Binding (numpy + one forward pass for guide images, handed in as arrays) resolves what the
text left open:
the extractor output each term reads, channel counts, the classifier head's column for a
class, the guide image's features. The engine (renderer/engine/ascent.py) then calls
``window_value`` on every tile window: tiling, jitter and normalisation stay there.
The function is written in keras.ops, so every Keras backend's step shares it.

A window's value comes in two parts, because tiles must add up to the whole image:
- the *mean* part: terms that are a mean over positions (layer, channel, class, guide
  terms, tv, temporal; the guide direction is taken on each window's mean activation). The engine
  weighs it by the window's share of the image, so tiles add up to the
  whole image's mean;
- the *point* part: terms at one place (neuron), counted in the one tile whose core holds
  that place and never scaled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..models.class_labels import class_index, classifier_head
from ..runtime.errors import DreamreelError
from .objectives import Objective, from_layers


@dataclass(frozen=True, eq=False)
class TermPlan:
    kind: str
    output: int  # the extractor output it reads (-1: the image, tv and temporal)
    index: int = 0  # channel / neuron channel
    vector: np.ndarray | None = None  # class: the head's kernel column (channels,)
    bias: float = 0.0  # class: the head's bias for it
    features: np.ndarray | None = None  # guide_match: (positions, channels); guide: the
    # unit mean feature (1, channels); float32
    scale: np.ndarray | None = None  # temporal: 1 / each channel's model-space range, so
    # differences read as RGB in 0..1 whatever the model family's input range


TEMPORAL = "temporal"


@dataclass(frozen=True, eq=False)
class BoundObjective:
    """An Objective ready for one model's extractor. ``key`` names it for the compiled
    step cache: equal keys give equal graphs (guide images by content)."""

    objective: Objective
    plans: tuple[TermPlan, ...]
    key: str

    @property
    def has_point_terms(self) -> bool:
        return any(plan.kind == "neuron" for plan in self.plans)

    def weights(self, frame: int = 0) -> list[float]:
        return self.objective.weights(frame)


def classic(model) -> BoundObjective:
    """The model's own layers' weighted mean activations: the classic dream."""
    objective = from_layers(dict(zip(model.layers, model.weights)))
    plans = tuple(TermPlan("layer", i) for i in range(len(model.layers)))
    return BoundObjective(objective, plans, "classic")


def bind(
    objective: Objective, model, guides: Mapping[str, np.ndarray] | None = None
) -> BoundObjective:
    """Resolve ``objective`` (its layers already bound: Objective.with_layers) against
    ``model``, a DreamModel whose extractor reads every layer the terms name. ``guides``:
    each guide term's image by its path, RGB float32 0..255 (the engine reads no files)."""
    outputs = {name: i for i, name in enumerate(model.layers)}
    channels = [int(shape[-1]) for shape in _output_shapes(model)]
    plans, key_parts = [], []
    for term in objective.terms:
        if term.kind == "tv":
            plans.append(TermPlan("tv", -1))
            key_parts.append("tv")
            continue
        if term.kind == TEMPORAL:
            prep = model.preprocessing
            scale = 1.0 / (np.asarray(prep.high, np.float32) - np.asarray(prep.low, np.float32))
            plans.append(TermPlan(TEMPORAL, -1, scale=np.broadcast_to(scale, (3,)).copy()))
            key_parts.append(TEMPORAL)
            continue
        if term.layer not in outputs:
            raise DreamreelError(
                f"objective term {term} reads layer {term.layer!r}, which "
                f"the loaded model does not extract ({', '.join(outputs)})"
            )
        output = outputs[term.layer]
        if term.kind in ("channel", "neuron"):
            assert isinstance(term.key, int)  # an index: objectives.channel/neuron made it
            if not 0 <= int(term.key) < channels[output]:
                raise DreamreelError(
                    f"objective term {term}: layer {term.layer} has "
                    f"{channels[output]} channels (0..{channels[output] - 1})"
                )
            plans.append(TermPlan(term.kind, output, int(term.key)))
        elif term.kind == "class":
            plans.append(_class_plan(model, term, output))
        elif term.kind in ("guide", "guide_match"):
            if guides is None or term.guide is None or term.guide not in guides:
                raise DreamreelError(
                    f"objective term {term}: its guide image was not read (pass it in guides)"
                )
            features = guide_features(model, guides[term.guide], output)
            if term.kind == "guide":  # the direction of the guide's mean feature
                mean = features.mean(axis=0, keepdims=True)
                features = mean / max(float(np.linalg.norm(mean)), 1e-12)
            plans.append(TermPlan(term.kind, output, features=features))
            key_parts.append(hashlib.sha256(features.tobytes()).hexdigest()[:16])
        else:
            plans.append(TermPlan("layer", output))
        key_parts.append(str(term))
    return BoundObjective(objective, tuple(plans), " | ".join(key_parts))


def _class_plan(model, term, output: int) -> TermPlan:

    kernel, bias, _layer = classifier_head(model.name)
    index = class_index(model.name, term.key)
    return TermPlan(
        "class",
        output,
        index,
        np.ascontiguousarray(kernel[:, index], np.float32),
        float(bias[index]),
    )


def _output_shapes(model) -> list[tuple]:
    outputs = model.extractor.outputs
    return [tuple(t.shape) for t in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def guide_features(model, image: np.ndarray, output: int) -> np.ndarray:
    """The guide image's activations at extractor output ``output``, one row per
    position: (positions, channels) float32. ``image``: RGB float32 0..255, as the
    render read it (renderer/rendering/guides.py)."""
    activations = model.activations(model.preprocessing.to_model(image)[np.newaxis])
    feature = np.asarray(activations[output])[0]
    return np.ascontiguousarray(feature.reshape(-1, feature.shape[-1]), np.float32)


def window_value(bound: BoundObjective):
    """``value(window, activations, weights, focus, held=None)`` -> (mean part, point part)
    for the engine's tiled step (``activations``: the extractor's outputs, a list or one
    tensor), in keras.ops: one definition traced into TensorFlow's graph, JAX's jit and
    PyTorch's eager steps alike (renderer/backends). ``focus`` is (row, col, inside): the
    neuron place relative to the window, and 1.0 when this tile's core holds it (else 0.0).
    ``held`` is (reference, weight) cut to the window, rolled as the window was: what the
    temporal term holds the image to, model-space (h, w, 3), and how hard, (h, w, 1) >= 0.
    On TensorFlow each op is the tf op the engine always used (keras.ops.mean is
    tf.reduce_mean...), so its renders keep their bytes."""
    from keras import ops

    constants = [
        None if plan.vector is None else ops.convert_to_tensor(plan.vector) for plan in bound.plans
    ]
    guides = [
        None if plan.features is None else ops.convert_to_tensor(plan.features)
        for plan in bound.plans
    ]

    scales = [
        None if plan.scale is None else ops.convert_to_tensor(plan.scale) for plan in bound.plans
    ]

    def value(window, activations, weights, focus, held=None):
        if not isinstance(activations, (list, tuple)):  # an extractor of one layer
            activations = [activations]
        means, points = [], []
        for i, plan in enumerate(bound.plans):
            if plan.kind == "tv":
                means.append(weights[i] * _total_variation(window))
                continue
            if plan.kind == TEMPORAL:  # its value only: the step takes it by hold_step
                if held is not None:  # none: no frame to be held to, the term is 0
                    difference = ops.stop_gradient(_held_difference(window, held, scales[i]))
                    means.append(weights[i] * difference)
                continue
            a = activations[plan.output]
            if plan.kind == "layer":
                means.append(weights[i] * ops.mean(a))
            elif plan.kind == "channel":
                means.append(weights[i] * ops.mean(a[..., plan.index]))
            elif plan.kind == "class":
                logits = ops.tensordot(a, constants[i], axes=1) + plan.bias
                means.append(weights[i] * ops.mean(logits))
            elif plan.kind == "guide":
                means.append(weights[i] * _toward(a, guides[i]))
            elif plan.kind == "guide_match":
                flat = ops.reshape(a, (-1, a.shape[-1]))
                best = ops.max(ops.matmul(flat, ops.transpose(guides[i])), axis=1)
                means.append(weights[i] * ops.mean(best))
            else:  # neuron: the unit under the focus place
                points.append(weights[i] * _unit_at(a, plan.index, window, focus))
        return _add_all(means), _add_all(points)

    return value


def hold_step(bound: BoundObjective):
    """``hold(image, held, weights, step_size)`` -> the image after the temporal term's
    step, or None for an objective without that term; in keras.ops, for every backend.

    The term is a quadratic in the image itself, so the engine takes it by its exact
    proximal step after each (normalised) gradient step, not through the gradient: in
    0..1 units u, with the gradient step moving u by eta = step_size / range per step,
    ``u = (u' + a * u_ref) / (1 + a)``, ``a = 2 * eta * w * weight`` (w: minus the term's
    weight; a positive weight is taken as 0). The dream's normalised gradient keeps its
    full scale wherever the frame is not held (folded into the gradient, the term's large
    gradient shrank every pixel's step through the normalisation), a weight means the same
    at any gradient scale, and a strong hold settles instead of overshooting.
    ``held`` is (reference, weight) at the image's size, not rolled."""
    from keras import ops

    terms = [(i, plan) for i, plan in enumerate(bound.plans) if plan.kind == TEMPORAL]
    if not terms:
        return None
    scale = ops.convert_to_tensor(terms[0][1].scale)  # every such term's: the model's

    def hold(image, held, weights, step_size):
        reference, weight = held
        w = _add_all([ops.maximum(-weights[i], 0.0) for i, _ in terms])
        rate = 2.0 * ops.abs(step_size) * scale * w * weight  # (h, w, 3): each channel's eta
        return image + (rate / (1.0 + rate)) * (reference - image)

    return hold


def _add_all(parts):
    """Left to right, as tf.add_n adds; 0.0 for none."""
    from keras import ops

    if not parts:
        return ops.convert_to_tensor(0.0)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


# The cosine's power in the guide's direction objective: 4 turned the features of held-out
# photos toward a guide's (mean-feature cosine 0.88 -> 0.97) where the plain dot product
# (power 0) left it flat or lower, and still grows them (benchmarks/objective_checks.py).
GUIDE_COSINE_POWER = 4


def _toward(activation, direction):
    """<mean activation, direction> * cos(mean activation, direction) ** GUIDE_COSINE_POWER
    (``direction``: (1, channels), unit length)."""
    from keras import ops

    mean = ops.mean(ops.reshape(activation, (-1, activation.shape[-1])), axis=0)
    along = ops.sum(mean * direction[0])
    cosine = along / (ops.sqrt(ops.sum(mean * mean)) + 1e-6)
    return along * cosine**GUIDE_COSINE_POWER


def _total_variation(window):
    from keras import ops

    return ops.mean(ops.abs(window[1:] - window[:-1])) + ops.mean(
        ops.abs(window[:, 1:] - window[:, :-1])
    )


def _held_difference(window, held, scale):
    """mean(weight * ((window - reference) * scale)^2) over pixels and channels: Ruder et
    al.'s short- and long-term terms in one, the weight 0 where no earlier frame holds."""
    from keras import ops

    reference, weight = held
    return ops.mean(weight * ops.square((window - reference) * scale))


def _unit_at(activation, channel: int, window, focus):
    """activation[0, fy, fx, channel] at the feature cell over the focus pixel, times the
    inside flag (0 outside this tile's core: another tile counts it)."""
    from keras import ops

    fh, fw = ops.shape(activation)[1], ops.shape(activation)[2]
    wh, ww = ops.shape(window)[0], ops.shape(window)[1]
    row = ops.clip(ops.cast(focus[0], "int32") * fh // wh, 0, fh - 1)
    col = ops.clip(ops.cast(focus[1], "int32") * fw // ww, 0, fw - 1)
    return activation[0, row, col, channel] * focus[2]
