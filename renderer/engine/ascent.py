"""The TensorFlow part of the dream: tiled gradient ascent steps, as one compiled graph.

Everything TensorFlow-specific lives here (GradientTape, tf.function) and in the
objective's window function (renderer/engine/objective_graph.py); octaves, noise and files are
numpy elsewhere. What is maximised is an objective (renderer/engine/objectives.py): by default
the model's layers' weighted mean activations.

Tiling: the image is cut into near-equal tiles no larger than ``tile_size``; each tile's
gradient is taken over the tile plus a ``margin`` of context around it and only the
tile's own core is kept. Convolutions near a window edge see padding instead of the
neighbouring pixels; the margin keeps that error out of the kept core, so tiled and
untiled gradients nearly agree and no grid shows. A random roll (jitter) each step
moves the tile borders and hides what is left.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .numeric_faults import check_steps
from .steps.base import AscentSettings, AscentStep, Held, LayerWeights, gaussian_taps
from .steps.tiling import tile_bounds, tile_grid

if TYPE_CHECKING:
    from ..models.loading import DreamModel
    from .objective_graph import BoundObjective


class Ascent(AscentStep):
    """Compiled gradient-ascent steps (AscentStep) on TensorFlow: the whole run of steps
    is one tf.function; the term weights are a graph input, so new weights never retrace.
    """

    def __init__(
        self, model: DreamModel, settings: AscentSettings, objective: BoundObjective | None = None
    ) -> None:
        import tensorflow as tf  # only on this backend's path

        _deterministic_ops()
        super().__init__(model, settings, objective)
        objective_value = self._value
        hold = self._hold
        with_point = self._with_point
        low = tf.constant(model.preprocessing.low, tf.float32)
        high = tf.constant(model.preprocessing.high, tf.float32)
        tile, margin, jitter = self._tile, self._margin, self._jitter
        kernel = _gaussian_kernel(settings.smoothing)
        extractor = self._extractor

        def window_loss(window, layer_weights, focus, held):
            activations = extractor(window[tf.newaxis], training=False)
            return objective_value(window, activations, layer_weights, focus, held)

        def tiled_loss_and_gradient(image, layer_weights, focus, held, with_gradient=True):
            """The image's loss (and gradient), assembled tile by tile.

            Tiles run one at a time (parallel_iterations=1): autograph's default of 10
            would keep several tiles' activations alive at once and memory would grow
            with the image after all. Without ``with_gradient`` no tape is recorded, so
            measuring a loss costs a forward pass, not a whole step. ``focus`` is the
            image place (row, col) neuron terms read: the image's centre, rolled along.
            ``held``: the temporal term's (reference, weight), rolled as ``image`` is, or
            None (no such term).
            """
            shape = tf.shape(image)
            height, width = shape[0], shape[1]
            area = tf.cast(height * width, tf.float32)
            rows, row_step = tile_grid(height, tile)  # the grid of steps/tiling.py,
            cols, col_step = tile_grid(width, tile)  # cut in the graph: any image size
            gradient = tf.zeros_like(image) if with_gradient else tf.zeros([0, 0, 3])
            loss = tf.constant(0.0)
            for r in tf.range(rows):
                tf.autograph.experimental.set_loop_options(parallel_iterations=1)
                for c in tf.range(cols):
                    tf.autograph.experimental.set_loop_options(parallel_iterations=1)
                    (y0, y1, x0, x1), (wy0, wy1, wx0, wx1) = tile_bounds(
                        r, c, row_step, col_step, height, width, margin, tf.minimum, tf.maximum
                    )
                    core_share = tf.cast((y1 - y0) * (x1 - x0), tf.float32) / area
                    # A place term's gradient comes from every window that sees the place
                    # (each keeps its core, as for the means); its value from the one
                    # whose core holds it.
                    in_window = tf.cast(
                        (wy0 <= focus[0]) & (focus[0] < wy1) & (wx0 <= focus[1]) & (focus[1] < wx1),
                        tf.float32,
                    )
                    in_core = tf.cast(
                        (y0 <= focus[0]) & (focus[0] < y1) & (x0 <= focus[1]) & (focus[1] < x1),
                        tf.float32,
                    )
                    at = tf.stack(
                        [
                            tf.cast(focus[0] - wy0, tf.float32),
                            tf.cast(focus[1] - wx0, tf.float32),
                            in_window,
                        ]
                    )
                    cut = None if held is None else tuple(t[wy0:wy1, wx0:wx1] for t in held)
                    if not with_gradient:
                        mean, point = window_loss(image[wy0:wy1, wx0:wx1], layer_weights, at, cut)
                        loss += core_share * mean + point * in_core
                        continue
                    # Scaled by the window's share of the image, each activation weighs what
                    # it weighs in the whole image's mean; the loss counts only the core.
                    window_share = tf.cast((wy1 - wy0) * (wx1 - wx0), tf.float32) / area
                    with tf.GradientTape() as tape:
                        window = image[wy0:wy1, wx0:wx1]
                        tape.watch(window)
                        mean, point = window_loss(window, layer_weights, at, cut)
                        # A place term (neuron) counts once, unscaled; without one the
                        # graph is the classic dream's, op for op.
                        target = window_share * mean + point if with_point else mean
                    window_gradient = tape.gradient(target, window)
                    if not with_point:
                        window_gradient *= window_share
                    core = window_gradient[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
                    gradient += tf.pad(core, [[y0, height - y1], [x0, width - x1], [0, 0]])
                    loss += core_share * mean + point * in_core
            return loss, gradient

        def step_shift(seed, step):
            if jitter == 0:
                return tf.zeros([2], tf.int32)
            return tf.random.stateless_uniform(
                [2], seed=tf.stack([seed, step]), minval=-jitter, maxval=jitter + 1, dtype=tf.int32
            )

        def smooth(gradient):
            if kernel is None:
                return gradient
            pad = kernel.shape[0] // 2
            padded = tf.pad(
                gradient[tf.newaxis], [[0, 0], [pad, pad], [pad, pad], [0, 0]], "REFLECT"
            )
            return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")[0]

        spec = tf.TensorSpec
        image_spec, weights_spec = spec([None, None, 3], tf.float32), spec([None], tf.float32)
        signature = [
            image_spec,
            weights_spec,
            spec([], tf.int32),
            spec([3], tf.float32),
            spec([], tf.int32),
            spec([], tf.int32),
            spec([None, None, 1], tf.float32),
        ]

        # The temporal term's reference and weight: inputs only of an objective with one.
        held_signature = (
            [spec([None, None, 3], tf.float32), spec([None, None, 1], tf.float32)]
            if hold is not None
            else []
        )

        def centre(image):
            return tf.shape(image)[:2] // 2

        @tf.function(input_signature=signature + held_signature)
        def run(image, layer_weights, steps, step_size, first_step, seed, mask, *held):
            losses = tf.TensorArray(tf.float32, size=steps)
            finite = tf.TensorArray(tf.bool, size=steps)
            size = tf.shape(image)[:2]
            for i in tf.range(steps):
                shift = step_shift(seed, first_step + i)
                rolled = tf.roll(image, shift, axis=[0, 1])
                focus = (centre(image) + shift) % size  # the centre, rolled with the image
                rolled_held = tuple(tf.roll(t, shift, axis=[0, 1]) for t in held) or None
                loss, gradient = tiled_loss_and_gradient(rolled, layer_weights, focus, rolled_held)
                gradient = smooth(tf.roll(gradient, -shift, axis=[0, 1]))
                if settings.normalize_gradients:
                    gradient /= tf.math.reduce_std(gradient) + 1e-8
                gradient *= mask  # after normalising: white dreams as hard as unmasked
                moved = image + step_size * gradient
                if held:  # the temporal term's own step (objective_graph.hold_step)
                    moved = hold(moved, held, layer_weights, step_size)
                # A NaN or inf in the gradient or the image shows here, before the clip
                # could hide it: one pass over the image, nothing next to the network's.
                finite = finite.write(i, tf.reduce_all(tf.math.is_finite(moved)))
                image = tf.clip_by_value(moved, low, high)
                losses = losses.write(i, loss)
            return image, losses.stack(), finite.stack()

        @tf.function(input_signature=signature[:2] + held_signature)
        def measure(image, layer_weights, *held):
            return tiled_loss_and_gradient(
                image, layer_weights, centre(image), held or None, with_gradient=False
            )[0]

        @tf.function(input_signature=signature[:2] + held_signature)
        def gradient_of(image, layer_weights, *held):
            return tiled_loss_and_gradient(image, layer_weights, centre(image), held or None)[1]

        self._run, self._measure, self._gradient = run, measure, gradient_of

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
        out, losses, finite = self._run(
            np.asarray(image, np.float32),
            weights,
            np.int32(steps),
            np.asarray(step_size, np.float32),
            np.int32(first_step),
            np.int32(seed % 2**31),
            mask,
            *(held or ()),
        )
        losses = losses.numpy()
        check_steps(losses, finite.numpy())  # NumericalFault, step 1-based in this run
        return out.numpy(), losses

    def loss(
        self, image: np.ndarray, layer_weights: LayerWeights = None, held: Held = None
    ) -> float:
        """Loss of a model-space image (tiled the same way, no roll)."""
        image = np.asarray(image, np.float32)
        held = self._held(image, held)
        return float(self._measure(image, self._weights(layer_weights), *(held or ())))

    def gradient(
        self, image: np.ndarray, layer_weights: LayerWeights = None, held: Held = None
    ) -> np.ndarray:
        """The raw (unnormalised, unsmoothed) tiled gradient; for tests and teaching."""
        image = np.asarray(image, np.float32)
        held = self._held(image, held)
        return self._gradient(image, self._weights(layer_weights), *(held or ())).numpy()


_determinism_enabled = False


def _deterministic_ops() -> None:
    """Same inputs, same image, bit for bit: a render resumed from disk must equal an
    uninterrupted one, and a dream run in chunks (progress frames) the dream run whole.
    Enabled once, process-wide, before the first ascent is traced."""
    global _determinism_enabled
    if not _determinism_enabled:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        _determinism_enabled = True


def _gaussian_kernel(sigma: float):
    """Depthwise (k, k, 3, 1) Gaussian kernel, or None when smoothing is off."""
    taps = gaussian_taps(sigma)
    if taps is None:
        return None
    import tensorflow as tf

    return tf.constant(np.repeat(taps[:, :, None, None], 3, axis=2), tf.float32)
