"""The page's **Preview**: one frame of the render dreamed at ~256 px, as ``dreamreel
preview --look`` dreams its tiles (renderer/rendering/preview_look.py): the frame's start
picture, its scheduled settings, seed and layer or objective weights, the mode's own
changes. The model stays loaded in this process (cached_dream_model), so a second
preview of the same model and layers costs the dream alone. Masks are not applied."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..engine.objective_graph import bind
from ..engine.objective_layers import resolved_objective
from ..media.images import encode_image
from ..models.loading import cached_dream_model
from ..rendering.guides import read_guides
from ..rendering.preview_look import _frame_tile, _progress_tiles
from ..rendering.preview_path import path_preview, preview_size
from ..rendering.preview_plan import plan_preview
from ..rendering.spec import RenderSpec
from ..runtime.errors import DreamreelError
from ..runtime.quiet_tensorflow import use_backend_quietly

PREVIEW_SIDE = 256  # the dreamed frame's long side

_one_at_a_time = threading.Lock()  # one model, one dream at a time


@dataclass(frozen=True)
class Preview:
    jpeg: bytes
    frame: int  # 1-based, among the played frames
    frames: int  # played frames


def preview_frame(spec: RenderSpec, frame: int = 1, side: int = PREVIEW_SIDE) -> Preview:
    """Frame ``frame`` (1-based, of the played ones) of ``spec`` dreamed at ``side`` px."""
    with _one_at_a_time:
        plan = plan_preview(spec)
        if not 1 <= frame <= plan.played:
            raise DreamreelError(
                f"preview frame {frame}: this render plays frames 1 to {plan.played}"
            )
        index = plan.lead_in + frame - 1
        use_backend_quietly(spec.backend)  # before Keras loads: the spec's backend
        objective = resolved_objective(spec.objective, spec.model)
        layers = spec.layer_weights(0) if objective is None else objective.layer_names()
        model = cached_dream_model(spec.model, layers, preprocess=spec.preprocess)
        bound = None if objective is None else bind(objective, model, read_guides(objective))
        size = preview_size(plan.height, plan.width, side)
        if spec.mode == "progress":  # one dream: its last snapshot
            tile: np.ndarray = _progress_tiles(plan, 1, model, bound, size)[-1]
        else:
            path = path_preview(plan, side=side, max_frames=1, also=[index])
            if path is None or index not in path.starts:
                raise DreamreelError(f"no preview of frame {frame} for a {spec.mode} render")
            tile = _frame_tile(plan, index, *path.starts[index], model, bound, size)
        return Preview(encode_image(tile, ".jpg"), frame, plan.played)
