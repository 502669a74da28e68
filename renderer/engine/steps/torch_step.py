"""The PyTorch gradient step: autograd per tile, eager, the image kept on the device.

The same dream as the TensorFlow and JAX engines, built from the shared parts: the
objective's window value (keras.ops, renderer/engine/objective_graph.py), the tiled loss and
gradient (steps/tiling.py) and the jitter shifts (steps/shifts.py). Keras' torch
backend puts the model's weights on the GPU when torch sees one; the image goes there once per
``run`` and comes back once, with its losses, after the last step: nothing in the step
loop waits on the host (torch queues CUDA work asynchronously).

Eager, not ``torch.compile``d: on this project's 2-core CPU a compiled step was slower
end to end (benchmarks/history/backends-jax-torch.md, "The PyTorch backend"). The model's
weights are frozen (no gradient kept for them): only the image's gradient is wanted.

PyTorch on the CPU is deterministic for the same inputs and thread count, so a dream run
in chunks equals one run whole, as resume needs; on CUDA ``deterministic`` asks cuDNN for
its deterministic kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..numeric_faults import check_steps
from .base import AscentSettings, AscentStep, Held, LayerWeights, gaussian_taps
from .shifts import jitter_shift
from .tiling import tiled_loss_and_gradient, tiles

if TYPE_CHECKING:
    import torch

    from ...models.loading import DreamModel
    from ..objective_graph import BoundObjective


class TorchAscent(AscentStep):
    """The gradient step (AscentStep: run, loss, gradient) on the PyTorch backend."""

    def __init__(
        self, model: DreamModel, settings: AscentSettings, objective: BoundObjective | None = None
    ) -> None:
        import torch  # only on this backend's path

        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False  # its timing-based choice varies run to run
        self._torch = torch
        super().__init__(model, settings, objective)
        for variable in self._extractor.weights:  # frozen: autograd keeps no weight grads
            variable.value.requires_grad_(False)
        self._device = (
            self._extractor.weights[0].value.device
            if self._extractor.weights
            else torch.device("cpu")
        )
        kernel = _gaussian_kernel(settings.smoothing)
        self._kernel = None if kernel is None else self._tensor(kernel)
        self._low = self._tensor(model.preprocessing.low)  # per channel, like the image
        self._high = self._tensor(model.preprocessing.high)

    def _tensor(self, array) -> torch.Tensor:
        return self._torch.as_tensor(np.asarray(array, np.float32), device=self._device)

    def _window_loss(self, window, weights, at, held):
        activations = self._extractor(window[None], training=False)
        return self._value(window, activations, weights, at, held)

    def _tiled(self, image, weights, focus, held, with_gradient=True):
        """The shared tiled loss and gradient (steps/tiling.py), eagerly."""
        torch = self._torch

        def loss_of(window, at, cut):
            return self._window_loss(window, weights, at, cut)

        def value_and_grad(target, window):
            window = window.detach().requires_grad_(True)
            value, (mean, point) = target(window)
            (gradient,) = torch.autograd.grad(value, window)
            return (value, (mean.detach(), torch.as_tensor(point).detach())), gradient

        def add_core(gradient, core, tile):
            y0, y1, x0, x1 = tile.core
            gradient[y0:y1, x0:x1] += core
            return gradient

        grid = tiles(image.shape[0], image.shape[1], self._tile, self._margin)
        if not with_gradient:
            return tiled_loss_and_gradient(image, focus, grid, loss_of=loss_of, held=held)
        return tiled_loss_and_gradient(
            image,
            focus,
            grid,
            loss_of=loss_of,
            value_and_grad=value_and_grad,
            add_core=add_core,
            zeros=torch.zeros_like(image),
            with_point=self._with_point,
            held=held,
        )

    def _smooth(self, gradient):
        if self._kernel is None:
            return gradient
        functional = self._torch.nn.functional
        pad = self._kernel.shape[-1] // 2
        nchw = gradient.permute(2, 0, 1)[None]
        padded = functional.pad(nchw, (pad, pad, pad, pad), mode="reflect")
        return functional.conv2d(padded, self._kernel, groups=3)[0].permute(1, 2, 0)

    def _step(self, image, weights, shift, step_size, mask, held):
        torch = self._torch
        height, width = image.shape[:2]
        dy, dx = int(shift[0]), int(shift[1])
        rolled = torch.roll(image, (dy, dx), dims=(0, 1))
        focus = ((height // 2 + dy) % height, (width // 2 + dx) % width)  # rolled centre
        rolled_held = None
        if held is not None:  # the temporal term's reference, rolled with the image
            rolled_held = tuple(torch.roll(t, (dy, dx), dims=(0, 1)) for t in held)
        loss, gradient = self._tiled(rolled, weights, focus, rolled_held)
        gradient = self._smooth(torch.roll(gradient, (-dy, -dx), dims=(0, 1)))
        if self.settings.normalize_gradients:
            gradient = gradient / (torch.std(gradient, correction=0) + 1e-8)
        gradient = gradient * mask  # after normalising: white dreams as hard as unmasked
        moved = image + step_size * gradient
        if held is not None:  # the temporal term's own step (objective_graph.hold_step)
            moved = self._hold(moved, held, weights, step_size)
        finite = torch.isfinite(moved).all()  # checked before the clip could hide it
        return torch.clamp(moved, self._low, self._high), loss, finite

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
        torch = self._torch
        mask_t, weights_t = self._tensor(mask), self._tensor(weights)
        held_t = self._held_tensors(held)
        step_size_t = self._tensor(step_size)
        seed = int(np.int32(seed % 2**31))
        current = self._tensor(image)
        losses, finite = [], []
        for i in range(steps):
            shift = jitter_shift(seed, int(np.int32(first_step + i)), self._jitter)
            current, loss, ok = self._step(current, weights_t, shift, step_size_t, mask_t, held_t)
            losses.append(loss)
            finite.append(ok)
        losses_out = torch.stack(losses).cpu().numpy().astype(np.float32)
        check_steps(losses_out, torch.stack(finite).cpu().numpy())  # NumericalFault
        return current.cpu().numpy().astype(np.float32), losses_out

    def _held_tensors(self, held: Held):
        return None if held is None else tuple(self._tensor(t) for t in held)

    def loss(
        self, image: np.ndarray, layer_weights: LayerWeights = None, held: Held = None
    ) -> float:
        """Loss of a model-space image (tiled the same way, no roll)."""
        tensor = self._tensor(image)
        held_t = self._held_tensors(self._held(image, held))
        with self._torch.no_grad():
            loss, _ = self._tiled(
                tensor,
                self._tensor(self._weights(layer_weights)),
                _centre(tensor),
                held_t,
                with_gradient=False,
            )
        return float(loss)

    def gradient(
        self, image: np.ndarray, layer_weights: LayerWeights = None, held: Held = None
    ) -> np.ndarray:
        """The raw (unnormalised, unsmoothed) tiled gradient; for tests and teaching."""
        tensor = self._tensor(image)
        weights = self._tensor(self._weights(layer_weights))
        held_t = self._held_tensors(self._held(image, held))
        _, gradient = self._tiled(tensor, weights, _centre(tensor), held_t)
        return gradient.cpu().numpy().astype(np.float32)


def _centre(image) -> tuple[int, int]:
    return image.shape[0] // 2, image.shape[1] // 2


def _gaussian_kernel(sigma: float) -> np.ndarray | None:
    """The smoothing Gaussian as a (3, 1, k, k) OIHW kernel for a 3-group conv2d, or None
    when off."""
    taps = gaussian_taps(sigma)
    return None if taps is None else np.repeat(taps[None, None], 3, axis=0).astype(np.float32)
