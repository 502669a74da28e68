"""What every backend's gradient step shares: its settings, its setup and its checks.

The TensorFlow step (renderer/engine/ascent.py), the JAX step (jax_step.py) and the
PyTorch step (torch_step.py) subclass ``AscentStep``: it binds the model, the settings
and the objective, checks the per-term weights and the mask, and leaves each backend
only its own step. No backend library is imported here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...runtime.errors import DreamreelError
from ..objective_graph import BoundObjective, classic, hold_step, window_value

if TYPE_CHECKING:
    from ...models.loading import DreamModel


@dataclass(frozen=True)
class AscentSettings:
    tile_size: int = 512
    tile_margin: int = 64
    jitter: int = 32
    normalize_gradients: bool = True
    smoothing: float = 0.0  # Gaussian sigma in pixels applied to the gradient; 0 is off


# One weight per objective term, or None: the objective's own.
LayerWeights = Sequence[float] | np.ndarray | None
# What the temporal term holds the image to: (reference, weight), model-space (H, W, 3)
# and (H, W, 1) >= 0 (0: held to nothing); None: no earlier frame.
Held = tuple[np.ndarray, np.ndarray] | None

_NO_MASK = np.ones((1, 1, 1), np.float32)  # broadcasts: every pixel dreams


class AscentStep(ABC):
    """Gradient-ascent steps for one model and one set of tiling options.

    ``run(image, steps, step_size, first_step, seed)`` takes and returns model-space
    float32 images (H, W, 3) of any size; ``step_size`` is per channel (a negative one
    descends). The random roll of step i depends only on (seed, first_step + i), so a
    run split into chunks (for snapshots) equals one uninterrupted run. The objective's
    term weights are an input, so a schedule that morphs one layer into another never
    recompiles. A ``mask`` (H, W, 1) >= 0 scales the normalised gradient: black stays,
    white dreams as without one (above 1: harder). ``held`` (reference, weight) is what
    the objective's temporal term holds the image to: rolled with the image each step and
    cut like it into tiles for the term's value, and pulled toward after each gradient step
    (objective_graph.hold_step); ignored by an objective without that term.
    A step whose loss or moved image is NaN or inf raises NumericalFault (numeric_faults).
    """

    def __init__(
        self, model: DreamModel, settings: AscentSettings, objective: BoundObjective | None = None
    ) -> None:
        self.model = model
        self.settings = settings
        self.objective = classic(model) if objective is None else objective
        self._value = window_value(self.objective)
        # Terms at one place (neuron) need to know where that place is in each window.
        self._with_point = self.objective.has_point_terms
        # The temporal term's step toward its reference; None without that term, whose
        # steps take no reference and stay the graphs they always were, op for op.
        self._hold = hold_step(self.objective)
        self._tile = int(settings.tile_size)
        self._margin = int(settings.tile_margin)
        self._jitter = int(settings.jitter)
        self._extractor = model.extractor

    def run(
        self,
        image: np.ndarray,
        steps: int,
        step_size: np.ndarray,
        first_step: int = 0,
        seed: int = 0,
        layer_weights: LayerWeights = None,
        mask: np.ndarray | None = None,
        held: Held = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``steps`` steps from ``image``: the moved image and each step's loss."""
        if steps <= 0:
            return np.asarray(image, np.float32), np.zeros(0, np.float32)
        mask = (
            _NO_MASK
            if mask is None
            else np.asarray(mask, np.float32).reshape(*np.shape(image)[:2], 1)
        )
        weights = self._weights(layer_weights)
        return self._ascend(
            image, steps, step_size, first_step, seed, weights, mask, self._held(image, held)
        )

    @abstractmethod
    def _ascend(
        self,
        image: np.ndarray,
        steps: int,
        step_size: np.ndarray,
        first_step: int,
        seed: int,
        weights: np.ndarray,
        mask: np.ndarray,
        held: Held,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``run`` on this backend, ``steps`` > 0: ``weights`` checked, ``mask`` (H, W, 1)
        or (1, 1, 1), ``held`` checked (None exactly when the objective has no temporal
        term)."""

    @abstractmethod
    def loss(
        self, image: np.ndarray, layer_weights: LayerWeights = None, held: Held = None
    ) -> float:
        """Loss of a model-space image (tiled the same way, no roll)."""

    @abstractmethod
    def gradient(
        self, image: np.ndarray, layer_weights: LayerWeights = None, held: Held = None
    ) -> np.ndarray:
        """The raw (unnormalised, unsmoothed) tiled gradient; for tests and teaching."""

    def _held(self, image: np.ndarray, held: Held) -> Held:
        """``held`` as the backends take it: None without a temporal term; with one,
        full-size arrays (a weight of zeros where no reference was given: the term is 0)."""
        if self._hold is None:
            return None
        shape = np.shape(image)[:2]
        if held is None:
            return np.asarray(image, np.float32), np.zeros((*shape, 1), np.float32)
        reference, weight = held
        reference = np.asarray(reference, np.float32)
        if reference.shape != (*shape, 3):
            raise DreamreelError(
                f"the temporal reference is {reference.shape}, the image {np.shape(image)}"
            )
        return reference, np.asarray(weight, np.float32).reshape(*shape, 1)

    def _weights(self, layer_weights: LayerWeights) -> np.ndarray:
        """One weight per objective term: the objective's own (for the classic objective
        the model's layer weights) unless a caller (a schedule) gives others."""
        given = self.objective.weights(0) if layer_weights is None else layer_weights
        weights = np.asarray(given, np.float32)
        if weights.shape != (len(self.objective.plans),):
            raise DreamreelError(
                f"expected {len(self.objective.plans)} objective weights "
                f"(one per term of {self.objective.objective}), got "
                f"{weights.shape[0] if weights.ndim else 'a scalar'}"
            )
        return weights


def gaussian_taps(sigma: float) -> np.ndarray | None:
    """The (k, k) float32 Gaussian the gradient is smoothed with (sum 1), or None when
    smoothing is off; every backend lays it out for its own depthwise convolution."""
    if sigma <= 0:
        return None
    radius = max(1, int(np.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    g = np.exp(-0.5 * (x / sigma) ** 2)
    return np.outer(g, g) / np.outer(g, g).sum()
