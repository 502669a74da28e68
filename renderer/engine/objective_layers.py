"""A render's objective for its model: the layers its class and guide terms leave open.

Class terms read the layer feeding the model's classifier head; guide terms without a
layer read the model's deepest default layer. Names and files only: no TensorFlow.
"""

from __future__ import annotations

from ..models.class_labels import classifier_head
from ..models.model_files import is_model_file
from ..models.registry import REGISTRY
from ..runtime.errors import DreamreelError
from .objectives import GUIDE_KINDS, Objective


def resolved_objective(objective: Objective | None, model: str) -> Objective | None:
    """``objective`` with every term's layer named, for ``model`` (a registry name or a
    model file): class terms read the layer feeding the model's classifier head, guide
    terms without a layer read the model's deepest default layer. No TensorFlow."""
    if objective is None:
        return None
    kinds = {term.kind for term in objective.terms if term.layer is None}
    class_layer = guide_layer = None
    if "class" in kinds:
        class_layer = classifier_head(model)[2]
    if kinds & set(GUIDE_KINDS):
        guide_layer = _deepest_default_layer(model)
    return objective.with_layers(class_layer, guide_layer)


def _deepest_default_layer(model: str) -> str:
    if is_model_file(model):
        raise DreamreelError(
            f"model file {model} has no default layers: name the guide's "
            f"layer, guide:LAYER:PATH (list them: dreamreel models layers "
            f"{model})"
        )
    return list(REGISTRY.get(model).default_layers)[-1]  # listed shallow to deep
