"""In-between frames: occlusion-aware, flow-based frame interpolation (`output.interpolate`).

numpy + OpenCV only, arrays in and arrays out, on the flow of renderer.imaging.flow
(OpenCV's convention: ``F = calc(a, b)`` means ``a(x) ~ b(x + F(x))``).

For frames A, B and a time t in (0, 1), with the forward flow ``F_ab = calc(A, B)`` (on A's
pixels) and the backward flow ``F_ba = calc(B, A)`` (on B's pixels):

* A's side: ``A(x + t * F_ba(x))`` and B's side: ``B(x + (1 - t) * F_ab(x))``, each a
  backward warp with its flow scaled by the time to travel (the usual approximation: the
  flow at x of the in-between is read at x of the frame whose flow it is). For content
  that moves by d (``B(x) = A(x - d)``, so ``F_ab = d``, ``F_ba = -d``) both give
  ``A(x - t * d)``, the content half-way there at t = 0.5.
* Occlusion: the forward-backward check of renderer.imaging.flow.occlusion_mask (Sundaram
  et al.). A's side reads F_ba at x, so it is trusted where B's pixel x has a match in A
  (``occlusion_mask(F_ba, F_ab)``); B's side, where A's pixel x has a match in B
  (``occlusion_mask(F_ab, F_ba)``). A region uncovered in B (behind a moving object, or an
  object appearing) fails A's side and is taken from B alone; one covered in B from A.
* The blend: weights ``(1 - t) * trusted_a`` and ``t * trusted_b``; where neither side is
  trusted, plain ``(1 - t, t)``.
* A scene cut between A and B (renderer.imaging.flow.is_scene_cut) has no motion to follow:
  the in-betweens before t = 0.5 show A, the rest B.

The formula is symmetric: ``inbetween(B, A, t)`` with the pair's flows swapped is
``inbetween(A, B, 1 - t)``, so a ping-pong's way back shows the forward in-betweens reversed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .flow import FlowEstimator, backward_warp, is_scene_cut, occlusion_mask, to_gray


@dataclass(frozen=True)
class PairMotion:
    """The flows and occlusion masks between frames A and B, what `inbetween` needs.

    forward  -- F_ab = calc(A, B), float32 (H, W, 2), on A's pixels.
    backward -- F_ba = calc(B, A), on B's pixels.
    trusted_a, trusted_b -- float32 (H, W), 1 where A's side / B's side may be used.
    cut -- whether B starts a new shot (no in-between follows the motion).
    """

    forward: np.ndarray
    backward: np.ndarray
    trusted_a: np.ndarray
    trusted_b: np.ndarray
    cut: bool = False

    @classmethod
    def from_flows(cls, forward: np.ndarray, backward: np.ndarray, *, cut: bool = False):
        """From given flows (F_ab, F_ba): the masks by the forward-backward check."""
        forward = np.asarray(forward, dtype=np.float32)
        backward = np.asarray(backward, dtype=np.float32)
        # A's side reads F_ba: good where B's pixel has a match in A; B's side vice versa.
        return cls(
            forward,
            backward,
            trusted_a=occlusion_mask(backward, forward),
            trusted_b=occlusion_mask(forward, backward),
            cut=cut,
        )


def pair_motion(estimator: FlowEstimator, a: np.ndarray, b: np.ndarray) -> PairMotion:
    """Both flows between RGB (or grey) frames A and B, their masks, and the cut test."""
    gray_a, gray_b = to_gray(a), to_gray(b)
    forward, backward = estimator(gray_a, gray_b), estimator(gray_b, gray_a)
    motion = PairMotion.from_flows(forward, backward)
    # trusted_a is B's pixels' mask (backward flow checked), what the cut test reads
    return replace(motion, cut=is_scene_cut(gray_a, gray_b, motion.trusted_a))


def inbetween(a: np.ndarray, b: np.ndarray, t: float, motion: PairMotion) -> np.ndarray:
    """The frame at time t in (0, 1) between A (t = 0) and B (t = 1), A's dtype.

    A is sampled at ``x + t * F_ba(x)``, B at ``x + (1 - t) * F_ab(x)``; they are blended
    with weights ``(1 - t, t)`` times their trust masks (both untrusted: plain weights).
    """
    if not 0.0 < t < 1.0:
        raise ValueError(f"an in-between's time must be in (0, 1), got {t}")
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"in-between of frames of different sizes: {a.shape} vs {b.shape}")
    if motion.cut:
        return (a if t < 0.5 else b).copy()
    side_a = backward_warp(a, t * motion.backward).astype(np.float32)
    side_b = backward_warp(b, (1.0 - t) * motion.forward).astype(np.float32)
    weight_a = (1.0 - t) * motion.trusted_a
    weight_b = t * motion.trusted_b
    total = weight_a + weight_b
    neither = total <= 0.0
    weight_a = np.where(neither, 1.0 - t, weight_a) / np.where(neither, 1.0, total)
    weight_b = 1.0 - weight_a
    if side_a.ndim == 3:
        weight_a, weight_b = weight_a[..., None], weight_b[..., None]
    blend = weight_a * side_a + weight_b * side_b
    if np.issubdtype(a.dtype, np.integer):
        info = np.iinfo(a.dtype)
        return np.clip(np.rint(blend), info.min, info.max).astype(a.dtype)
    return blend.astype(a.dtype)


def inbetweens(
    a: np.ndarray, b: np.ndarray, count: int, estimator: FlowEstimator
) -> list[np.ndarray]:
    """The count - 1 frames at t = 1/count, ..., (count - 1)/count between A and B (one
    flow pair for all of them); none for count 1."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if count == 1:
        return []
    motion = pair_motion(estimator, a, b)
    return [inbetween(a, b, k / count, motion) for k in range(1, count)]


def linear_blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """The cross-fade ``(1 - t) A + t B``, uint8: the baseline in-betweens are measured
    against (benchmarks/interpolate_check.py, the tests)."""
    blend = (1.0 - t) * np.asarray(a, np.float32) + t * np.asarray(b, np.float32)
    return np.clip(np.rint(blend), 0, 255).astype(np.uint8)
