"""What holds a video's dream to the scene: the earlier dreamed frames warped onto this
one, for the objective's temporal term (Ruder et al. 2016), and the dial that sets it.

Short-term, the reference is the frame the carry starts from before it is faded: the raw
frame plus the last frame's dream residual warped along the flow (the flow the frame loop
computes ahead; nothing is estimated twice). Long-term (``video.temporal_frames = k``),
frames 2..k back are warped onto this one by flows from this raw frame to theirs,
computed ahead with the rest of the clip's motion; each pixel is held to its most recent
reliable one (Ruder's c_long: a pixel the frame before holds is not held again further
back), so a region seen again after an occlusion takes back the dream it had.

The dial ``video.coherence`` (0..1) sets the carry's blend and the term's weight together
along COHERENCE_CURVE: 0 dreams every frame afresh, 1 glues the dream to the scene.
numpy and OpenCV only.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from ...engine.dream import TemporalTarget
from ...engine.objectives import Objective, from_layers, temporal
from ...imaging.flow import FlowEstimator, backward_warp, flow_pair, occlusion_mask, to_gray
from ...models.model_files import is_model_file
from ...models.registry import REGISTRY
from ...runtime.errors import DreamreelError

# (coherence, blend, temporal weight), piecewise linear between the points: measured on
# real clips with benchmarks/video_coherence.py (benchmarks/RESULTS.md, "coherence").
COHERENCE_CURVE = (
    (0.0, 0.0, 0.0),
    (0.25, 0.9, 0.0),
    (0.5, 0.97, 30.0),
    (0.75, 1.0, 300.0),
    (1.0, 1.0, 3000.0),
)
DEFAULT_COHERENCE = 0.75
CATCH_UP = 2.5  # video.catch_up's default
# The carried dream is warped bicubically: bilinear sampling at a fractional offset
# averages neighbours, and a dream carried frame after frame blurs away (held to that
# blurred reference, bikes kept 0.76 of flow-off's strength; bicubic kept 0.99).
CARRY_INTERPOLATION = cv2.INTER_CUBIC
MAX_TEMPORAL_FRAMES = 8  # each frame back costs two flows a frame, ahead of the dream


def coherence_settings(coherence: float) -> tuple[float, float]:
    """(blend, temporal weight) for a coherence in 0..1, along COHERENCE_CURVE."""
    points = np.asarray(COHERENCE_CURVE, np.float64)
    c = min(max(float(coherence), 0.0), 1.0)
    return float(np.interp(c, points[:, 0], points[:, 1])), float(
        np.interp(c, points[:, 0], points[:, 2])
    )


def held_objective(spec, objective: Objective | None) -> Objective | None:
    """The render's objective (resolved; None: its layers) with ``- temporal`` added when a
    video's dream may be held on some frame and the objective does not name the term
    itself (its coefficient is then the user's; video.temporal_weight scales it)."""
    has_term = objective is not None and any(t.kind == "temporal" for t in objective.terms)
    if spec.mode != "video":
        if has_term:
            raise DreamreelError(
                "objective: temporal holds a video's frames to the ones before them: "
                "only video mode has them (remove the term)"
            )
        return objective
    if has_term or not spec.flow.enabled or not spec.video.may_hold():
        return objective
    if objective is None:
        if spec.layers is None and is_model_file(spec.model):
            return None  # loading the model says it needs layers
        layers = spec.layers if spec.layers is not None else REGISTRY.get(spec.model).default_layers
        objective = from_layers(layers)
    return objective - temporal()


def level_gain(fresh: float | None, previous: float) -> float:
    """How much of the last frame's dream residual to carry: all of it, unless its dream
    strength has grown past ``fresh``, the strength of the last frame dreamed afresh (the
    first, or the first after a cut); then back to it. Held to the frame before, every
    frame still nudges the dream the same way, and a dream carried without a fade grew
    1.3-1.4x over four seconds of two real clips (bunny, carphone); a fade would pull it
    below a fresh dream's strength on others. Flow off dreams every frame afresh: the
    carried dream keeps that strength."""
    if fresh is None or previous <= fresh or previous <= 0.0:
        return 1.0
    return fresh / previous


def last_fresh_strength(rows: list[dict]) -> float | None:
    """``level_gain``'s ``fresh`` from a render's stored rows (a resumed render): the
    logged dream strength of the last frame dreamed afresh."""
    for position in range(len(rows) - 1, -1, -1):
        row = rows[position]
        if position == 0 or row.get("cut") == 1:
            strength = row.get("dream_strength")
            return float(strength) if isinstance(strength, (int, float)) else None
    return None


@dataclass(frozen=True)
class EarlierMotion:
    """Frame t's flow to frame t - ``distance`` (distance >= 2) and where it holds."""

    distance: int
    raw: np.ndarray  # that frame's raw image, RGB uint8
    backward: np.ndarray  # flow t -> t - distance (where each pixel of t comes from)
    mask: np.ndarray  # 1 where the flow passes the consistency check


class RawHistory:
    """prepare()'s memory of the raw frames 2..k back since the last cut (their greys
    too), so each frame's flows to them are computed ahead of the dream."""

    def __init__(self, frames: int):
        # t-1 .. t-k; t-1 is the short-term flow's, kept only to become t-2 next
        self._kept: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=frames if frames > 1 else 0)

    @property
    def wanted(self) -> bool:
        return self._kept.maxlen != 0

    def advance(
        self, estimator: FlowEstimator, raw: np.ndarray, cut: bool
    ) -> tuple[EarlierMotion, ...]:
        """``raw``'s flows to the frames 2, 3... back (none at a cut, which forgets the
        frames before it); then ``raw`` is kept as the newest frame."""
        if not self.wanted:
            return ()
        gray = to_gray(raw)
        if cut:
            self._kept.clear()
        motions = []
        # the newest kept frame is t-1 (the short-term flow's): start one before it
        for distance, (earlier, earlier_gray) in enumerate(list(reversed(self._kept))[1:], 2):
            backward, forward = flow_pair(estimator, earlier_gray, gray)
            motions.append(
                EarlierMotion(distance, earlier, backward, occlusion_mask(backward, forward))
            )
        self._kept.append((raw, gray))
        return tuple(motions)


@dataclass(frozen=True)
class HeldFrame:
    """What a frame is held to: the earlier dreamed frames carried onto it
    (``reference``, RGB float32 0..255) and where any of them holds (``covered``)."""

    reference: np.ndarray
    covered: np.ndarray  # (H, W) bool

    def target(self, weight: float) -> TemporalTarget | None:
        """The temporal term's target at ``weight`` (None: 0, nothing to hold)."""
        if weight <= 0.0:
            return None
        return TemporalTarget(self.reference, self.covered.astype(np.float32) * np.float32(weight))

    def difference(self, image: np.ndarray) -> float | None:
        """What the temporal term measures on a finished frame before its weight: the mean
        of (image - reference)^2, RGB in 0..1, over the pixels held (None: none held)."""
        if not self.covered.any():
            return None
        difference = (np.asarray(image, np.float32) - self.reference) / np.float32(255.0)
        return float(np.mean(np.square(difference[self.covered]), dtype=np.float64))


def held_frame(
    held: np.ndarray,
    mask: np.ndarray,
    raw: np.ndarray,
    earlier: tuple[tuple[EarlierMotion, np.ndarray], ...],
    full: bool,
) -> HeldFrame:
    """What a frame is held to. ``held``/``mask``: the frame before, carried unfaded onto
    ``raw``, and where its flow holds. ``earlier``: each EarlierMotion with that frame's
    dream (uint8), nearest first; ``full``: blend_mode full (the warped dream itself, not
    raw + the warped residual). Each pixel takes the nearest frame whose flow holds."""
    reference = held.copy()
    covered = mask > 0.5
    for motion, dream in earlier:
        take = (motion.mask > 0.5) & ~covered
        if not take.any():
            continue
        if full:
            carried = backward_warp(dream.astype(np.float32), motion.backward, CARRY_INTERPOLATION)
        else:
            residual = dream.astype(np.float32) - motion.raw.astype(np.float32)
            carried = raw.astype(np.float32) + backward_warp(
                residual, motion.backward, CARRY_INTERPOLATION
            )
        np.clip(carried, 0.0, 255.0, out=carried)
        reference[take] = carried[take]
        covered |= take
    return HeldFrame(reference, covered)
