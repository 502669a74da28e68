"""``dreamreel preview --look N``: N evenly spaced frames dreamed at a reduced size, as a
contact sheet (look.jpg). This part loads the model (TensorFlow, or the spec's backend).

Each tile is one frame's dream from the picture the render would start it from without
the chain of dreams before it (renderer/rendering/preview_path.py gives it: a zoom's start
picture moved by the camera up to the frame, a morph's photo or cross-fade, the clip's
frame), dreamed with that frame's scheduled settings, the mode's own changes (frame 0
and cuts dream harder, frames between cadence keyframes take ``between_steps``), its seed,
layer or objective weights: the engine called as ``renderer.dream_image`` calls it. A
zoom's later frames are dreamed as hard as its first (zoom.first_steps, first_octaves),
standing in for the dream the chain builds up (captioned "settled"). A
progress render is one dream: its tiles are that dream's snapshots, evenly spaced.
Masks are not applied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..engine.dream import Snapshot, dream
from ..engine.objective_graph import bind
from ..engine.objective_layers import resolved_objective
from ..imaging.captions import caption
from ..imaging.contact_sheet import contact_sheet
from ..media.images import to_uint8
from ..models.loading import cached_dream_model
from ..runtime.quiet_tensorflow import use_backend_quietly
from .frame_loop import frame_seed
from .guides import read_guides
from .preview_path import preview_size, start_picture

if TYPE_CHECKING:
    from .preview_plan import PreviewPlan

LOOK_SIDE = 192  # each tile's long side


def look_frames(plan: PreviewPlan, count: int) -> list[int]:
    """``count`` stored frames spread evenly over the played ones, first and last in."""
    count = max(1, min(count, plan.played))
    if count == 1:
        return [plan.lead_in]
    span = plan.played - 1
    return sorted({plan.lead_in + round(k * span / (count - 1)) for k in range(count)})


def look_sheet(
    plan: PreviewPlan,
    starts: dict[int, tuple[np.ndarray, dict]],
    count: int,
    *,
    announce: Callable[[str], None] | None = None,
) -> np.ndarray:
    """The contact sheet: ``starts`` maps a frame to (its start picture, the mode's
    changes to its dream settings); a progress render dreams once and shows ``count``
    snapshots. RGB uint8."""
    spec = plan.spec
    use_backend_quietly(spec.backend)  # before Keras loads: the spec's backend
    objective = resolved_objective(spec.objective, spec.model)
    layers = spec.layer_weights(0) if objective is None else objective.layer_names()
    model = cached_dream_model(spec.model, layers, preprocess=spec.preprocess, announce=announce)
    bound = None if objective is None else bind(objective, model, read_guides(objective))
    size = preview_size(plan.height, plan.width, LOOK_SIDE)
    if spec.mode == "progress":
        tiles = _progress_tiles(plan, count, model, bound, size)
    else:
        tiles = [
            _frame_tile(plan, index, *starts[index], model, bound, size) for index in sorted(starts)
        ]
    return contact_sheet(tiles)


def _frame_tile(plan, index, picture, changes, model, objective, size) -> np.ndarray:
    spec = plan.spec
    seed = frame_seed(max(spec.seed, 0), spec.frame_offset + index)
    settings = dataclasses.replace(spec.dream.at(index, seed), **changes).validate()
    settled = ""
    if spec.mode == "zoom" and index > plan.lead_in:
        # A zoom's later frame carries the dream its chain built up; dreamed alone from
        # its start picture with its own few steps, noise would stay noise. The first
        # frame's strength stands in for the chain's.
        first = spec.zoom
        stronger = {
            "steps": max(settings.steps, first.first_steps),
            "octaves": max(settings.octaves, first.first_octaves),
        }
        settings, settled = dataclasses.replace(settings, **stronger).validate(), " (settled)"
    start = cv2.resize(picture, size[::-1], interpolation=cv2.INTER_AREA)
    result = dream(
        start,
        model,
        settings,
        layer_weights=_weights(plan, index, objective),
        objective=objective,
        measure_octave_ends=False,
    )
    played = index - plan.lead_in
    label = f"frame {played + 1}  t={index}  {settings.steps} steps{settled}"
    return caption(to_uint8(result.image), label)


def _progress_tiles(plan, count, model, objective, size) -> list[np.ndarray]:
    """The one dream of a progress render, at the tiles' size: ``count`` of its
    snapshots (the start, every progress.every steps, each octave's end), evenly."""
    spec = plan.spec
    snapshots: list[Snapshot] = []
    dream(
        start_picture(spec, *size),
        model,
        spec.dream.at(0, max(spec.seed, 0)),  # ProgressMode: frame 0's, the render's seed
        layer_weights=_weights(plan, 0, objective),
        objective=objective,
        measure_octave_ends=False,
        snapshot_every=spec.progress.every,
        on_snapshot=snapshots.append,
    )
    chosen = _evenly(snapshots, count)
    return [
        caption(
            to_uint8(cv2.resize(s.image, size[::-1], interpolation=cv2.INTER_CUBIC)),
            f"octave {s.octave}/{s.octaves}  step {s.step}/{s.steps}",
        )
        for s in chosen
    ]


def _weights(plan: PreviewPlan, index: int, objective) -> list[float] | None:
    """The frame's layer weights, or its objective's (as the frame loop gives them)."""
    if objective is not None:
        return list(objective.weights(index))
    weights = plan.spec.layer_weights(index)
    return None if weights is None else list(weights.values())


def _evenly(items: Sequence, count: int) -> list:
    if len(items) <= count:
        return list(items)
    picks = sorted({round(k * (len(items) - 1) / max(1, count - 1)) for k in range(count)})
    return [items[i] for i in picks]
