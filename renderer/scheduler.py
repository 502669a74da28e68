"""The frame loop every animation mode runs through.

For each frame: evaluate the schedules, derive the frame's own seed, ask the mode where
the dream starts, dream, hand the frame to the store. Frames chain through the PNGs as
stored (uint8), so a render resumed from disk continues exactly where an uninterrupted
one would have: same inputs, same seeds, same (deterministic) TensorFlow ops.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .dream import dream
from .frame_store import FrameStore
from .manifest import build_manifest
from .modes import zoom
from .modes.source import source_image
from .spec import RenderSpec
from .stitch import stitch

# Progress callback: (frames done, frames total, last frame's loss or None).
FrameProgress = Callable[[int, int, "float | None"], None]


@dataclass
class AnimationResult:
    out_dir: Path
    frames: int          # frames in the folder now
    rendered: int        # frames dreamed by this run (the rest were resumed)
    seconds: float
    outputs: list[Path]


def frame_seed(render_seed: int, frame: int) -> int:
    """Each frame's own seed: independent of which frames were rendered before."""
    return int(np.random.SeedSequence([render_seed, frame]).generate_state(1)[0] % 2**31)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def render_animation(spec: RenderSpec, model, out_dir: Path, *, restart: bool = False,
                     progress: FrameProgress | None = None) -> AnimationResult:
    """Render (or resume) ``spec``'s frames into ``out_dir`` and stitch MP4/GIF."""
    _deterministic_ops()
    started = time.perf_counter()
    manifest = build_manifest(spec.to_dict(), model, identity=spec.frames_identity(),
                              mode=spec.mode)
    store = FrameStore(out_dir, manifest, restart=restart)
    start = min(store.done_count(), spec.frames)
    reference = store.read_frame(0) if start > 0 else None
    previous = store.read_frame(start - 1) if start > 0 else None
    if progress:
        progress(start, spec.frames, None)
    for index in range(start, spec.frames):
        frame_started = time.perf_counter()
        seed = frame_seed(spec.seed, index)
        if index == 0:
            init = source_image(spec)
            # Noise has no detail worth keeping: its grain would return at every octave.
            settings = spec.dream.at(0, seed, steps=spec.zoom.first_steps,
                                     octaves=spec.zoom.first_octaves,
                                     keep_source_detail=spec.dream.keep_source_detail
                                     and spec.input is not None)
        else:
            init = zoom.next_init(spec, previous, reference, index, seed)
            settings = spec.dream.at(index, seed)
        weights = spec.layer_weights(index)
        result = dream(init, model, settings,
                       layer_weights=None if weights is None else list(weights.values()))
        previous = to_uint8(result.image)
        reference = previous if reference is None else reference
        motion = zoom.Motion.at(spec, index)
        store.write_frame(index, previous, octave_losses=result.octave_losses,
                          final_loss=result.final_loss,
                          seconds=time.perf_counter() - frame_started,
                          steps=settings.steps, zoom=round(motion.scale, 6),
                          rotation=round(motion.rotation, 6))
        if progress:
            progress(index + 1, spec.frames, result.final_loss)
    store.write_loss_plot()
    out = spec.output
    outputs = stitch(out_dir, name=spec.mode, fps=spec.fps, count=spec.frames, mp4=out.mp4,
                     gif=out.gif, gif_max_side=out.gif_max_side, pingpong=out.pingpong,
                     hold_last=0.0 if out.pingpong else out.hold_last)
    seconds = time.perf_counter() - started
    store.update_manifest(frames=spec.frames, seconds_this_run=round(seconds, 2))
    return AnimationResult(out_dir, spec.frames, spec.frames - start, seconds, outputs)


def _deterministic_ops() -> None:
    """Same inputs, same frames: resuming must reproduce an uninterrupted render."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
