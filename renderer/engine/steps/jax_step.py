"""The JAX gradient step: jax.value_and_grad per tile, one jax.jit-compiled step.

The same dream as the TensorFlow engine (renderer/engine/ascent.py), built from the shared
parts: the objective's window value (keras.ops, renderer/engine/objective_graph.py), the tiled
loss and gradient (steps/tiling.py) and the jitter shifts (steps/shifts.py, the numbers
TensorFlow's stateless RNG draws). What differs is how it compiles: XLA wants static
shapes, so the tiles are cut in Python while tracing (one trace per image size, the
octaves' few) and the step loop runs on the host, one compiled step per call: JAX
dispatches asynchronously, so the loop does not wait on the device between steps.
The model's weights go in as arguments (Keras' stateless_call), not baked-in constants.

XLA on the CPU is deterministic: the same inputs give the same image bit for bit, so a
dream run in chunks equals one run whole, as resume needs. TensorFlow and JAX agree to
float rounding, not bit for bit (tests/test_backends.py measures how close).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...models.embedded import cache_dir
from ..numeric_faults import check_steps
from .base import AscentSettings, AscentStep, Held, LayerWeights, gaussian_taps
from .shifts import jitter_shift
from .tiling import tiled_loss_and_gradient, tiles

if TYPE_CHECKING:
    from ...models.loading import DreamModel
    from ..objective_graph import BoundObjective


def _keep_compiled_steps() -> None:
    """Keep XLA's compiled steps on disk, beside the model cache: a step compiles once per
    image size (9-12 s for 720p's six 512-px tiles on the 2-core dev box), and a resumed
    or repeated render then loads it in 0.3-2.3 s (benchmarks/jax_compile_cache.py). A cache
    dir the user configured (JAX_COMPILATION_CACHE_DIR)
    is left as it is."""
    import jax  # only on this backend's path

    # jax's options are attributes set at run time; its Config class declares none.
    if jax.config.jax_compilation_cache_dir:  # type: ignore[attr-defined]
        return
    jax.config.update("jax_compilation_cache_dir", str(cache_dir() / "jax-compiled"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


class JaxAscent(AscentStep):
    """The gradient step (AscentStep: run, loss, gradient) on the JAX backend."""

    def __init__(
        self, model: DreamModel, settings: AscentSettings, objective: BoundObjective | None = None
    ) -> None:
        import jax  # only on this backend's path
        import jax.numpy as jnp

        _keep_compiled_steps()

        super().__init__(model, settings, objective)
        objective_value = self._value
        hold = self._hold
        with_point = self._with_point
        low = np.float32(model.preprocessing.low)
        high = np.float32(model.preprocessing.high)
        tile, margin = self._tile, self._margin
        hwio = _gaussian_kernel(settings.smoothing)
        kernel = None if hwio is None else jnp.asarray(hwio)
        extractor = self._extractor
        self._state = (
            [v.value for v in extractor.trainable_variables],
            [v.value for v in extractor.non_trainable_variables],
        )

        def window_loss(state, window, layer_weights, at, held):
            activations, _ = extractor.stateless_call(
                state[0], state[1], window[None], training=False
            )
            return objective_value(window, activations, layer_weights, at, held)

        def tiled(state, image, layer_weights, focus, held, with_gradient=True):
            """The shared tiled loss and gradient (steps/tiling.py). Shapes are static
            here, so the tiles are cut in Python while tracing."""

            def loss_of(window, at, cut):
                return window_loss(state, window, layer_weights, at, cut)

            def value_and_grad(target, window):
                return jax.value_and_grad(target, has_aux=True)(window)

            def add_core(gradient, core, t):
                y0, y1, x0, x1 = t.core
                return gradient.at[y0:y1, x0:x1].add(core)

            grid = tiles(image.shape[0], image.shape[1], tile, margin)
            if not with_gradient:
                return tiled_loss_and_gradient(image, focus, grid, loss_of=loss_of, held=held)
            return tiled_loss_and_gradient(
                image,
                focus,
                grid,
                loss_of=loss_of,
                value_and_grad=value_and_grad,
                add_core=add_core,
                zeros=jnp.zeros_like(image),
                with_point=with_point,
                held=held,
            )

        def smooth(gradient):
            if kernel is None:
                return gradient
            pad = kernel.shape[0] // 2
            padded = jnp.pad(gradient, [(pad, pad), (pad, pad), (0, 0)], mode="reflect")
            return jax.lax.conv_general_dilated(
                padded[None],
                kernel,
                (1, 1),
                "VALID",
                dimension_numbers=("NHWC", "HWIO", "NHWC"),
                feature_group_count=3,
            )[0]

        def centre(image):
            return jnp.array([image.shape[0] // 2, image.shape[1] // 2], jnp.int32)

        def step(state, image, layer_weights, shift, step_size, mask, held):
            size = jnp.array(image.shape[:2], jnp.int32)
            rolled = jnp.roll(image, shift, axis=(0, 1))
            focus = (centre(image) + shift) % size  # the centre, rolled with the image
            rolled_held = None
            if held is not None:  # the temporal term's reference, rolled with the image
                rolled_held = tuple(jnp.roll(t, shift, axis=(0, 1)) for t in held)
            loss, gradient = tiled(state, rolled, layer_weights, focus, rolled_held)
            gradient = smooth(jnp.roll(gradient, -shift, axis=(0, 1)))
            if settings.normalize_gradients:
                gradient = gradient / (jnp.std(gradient) + 1e-8)
            gradient = gradient * mask  # after normalising: white dreams as hard as unmasked
            moved = image + step_size * gradient
            if held is not None:  # the temporal term's own step (objective_graph.hold_step)
                moved = hold(moved, held, layer_weights, step_size)
            finite = jnp.all(jnp.isfinite(moved))  # checked before the clip could hide it
            return jnp.clip(moved, low, high), loss, finite

        def measure(state, image, layer_weights, held):
            return tiled(state, image, layer_weights, centre(image), held, with_gradient=False)[0]

        def gradient_of(state, image, layer_weights, held):
            return tiled(state, image, layer_weights, centre(image), held)[1]

        self._step = jax.jit(step)
        self._measure = jax.jit(measure)
        self._gradient = jax.jit(gradient_of)

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
        import jax.numpy as jnp  # only on this backend's path

        step_size = np.asarray(step_size, np.float32)
        seed = int(np.int32(seed % 2**31))
        current = jnp.asarray(np.asarray(image, np.float32))
        losses, finite = [], []
        for i in range(steps):
            shift = jitter_shift(seed, int(np.int32(first_step + i)), self._jitter)
            current, loss, ok = self._step(
                self._state, current, weights, shift, step_size, mask, held
            )
            losses.append(loss)
            finite.append(ok)
        losses_out = np.asarray(jnp.stack(losses), np.float32)
        check_steps(losses_out, np.asarray(jnp.stack(finite)))  # NumericalFault, 1-based step
        return np.asarray(current, np.float32), losses_out

    def loss(
        self, image: np.ndarray, layer_weights: LayerWeights = None, held: Held = None
    ) -> float:
        """Loss of a model-space image (tiled the same way, no roll)."""
        image = np.asarray(image, np.float32)
        weights, held = self._weights(layer_weights), self._held(image, held)
        return float(self._measure(self._state, image, weights, held))

    def gradient(
        self, image: np.ndarray, layer_weights: LayerWeights = None, held: Held = None
    ) -> np.ndarray:
        """The raw (unnormalised, unsmoothed) tiled gradient; for tests and teaching."""
        image = np.asarray(image, np.float32)
        weights, held = self._weights(layer_weights), self._held(image, held)
        return np.asarray(self._gradient(self._state, image, weights, held), np.float32)


def _gaussian_kernel(sigma: float) -> np.ndarray | None:
    """The smoothing Gaussian as an (k, k, 1, 3) HWIO kernel for a 3-group conv, or None
    when off."""
    taps = gaussian_taps(sigma)
    return None if taps is None else np.repeat(taps[:, :, None, None], 3, axis=3).astype(np.float32)
