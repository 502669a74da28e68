"""The compiled gradient steps, kept per model: tracing one costs seconds, and image
sizes never retrace (the graph takes any H, W).

The engine owns this cache, not the model: a model is the network and its chosen layers;
how the engine steps through it (the backend's step class, the tiling options, the
objective) is the engine's. Entries live as long as their model does (a weak key), so a
dropped model takes its traced graphs with it.
"""

from __future__ import annotations

import collections
import weakref
from typing import TYPE_CHECKING, Any

from ..runtime.backend_choice import BACKENDS, active
from ..runtime.errors import one_of
from .steps.base import AscentSettings, AscentStep
from .steps.jax_step import JaxAscent
from .steps.tensorflow_step import Ascent
from .steps.torch_step import TorchAscent

if TYPE_CHECKING:
    from ..models.loading import DreamModel
    from .objective_graph import BoundObjective

# Compiled ascents kept per model (one per tiling option set and objective).
_ASCENTS_KEPT = 4
_CACHE: weakref.WeakKeyDictionary[Any, collections.OrderedDict] = weakref.WeakKeyDictionary()


def step_class(backend: str) -> type[AscentStep]:
    """The Ascent class (run/loss/gradient) of ``backend``."""
    # Each step loads its backend's library (TensorFlow, JAX, torch) when it is built.
    if backend == "jax":
        return JaxAscent
    if backend == "torch":
        return TorchAscent
    if backend == "tensorflow":
        return Ascent
    one_of("backend", backend, BACKENDS)
    raise AssertionError(backend)


def compiled_ascent(
    model: DreamModel,
    settings: AscentSettings | None = None,
    objective: BoundObjective | None = None,
) -> AscentStep:
    """The compiled gradient ascent of ``model`` for these tiling options and ``objective``
    (a BoundObjective; None: the layers' weighted means), traced once per model."""
    settings = AscentSettings() if settings is None else settings
    kept = _CACHE.setdefault(model, collections.OrderedDict())
    key = (settings, None if objective is None else objective.key)
    ascent = kept.get(key)
    if ascent is None:  # the gradient step of the backend Keras runs on
        ascent = kept[key] = step_class(active())(model, settings, objective)
        while len(kept) > _ASCENTS_KEPT:
            kept.popitem(last=False)
    kept.move_to_end(key)
    return ascent
