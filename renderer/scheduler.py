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
from .modes.zoom import ZoomFrames
from renderer.media.images import to_uint8
from renderer.files import write_json_atomic
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
    report: dict          # video: temporal stability and scene cuts; zoom: empty


def frame_seed(render_seed: int, frame: int) -> int:
    """Each frame's own seed: independent of which frames were rendered before."""
    return int(np.random.SeedSequence([render_seed, frame]).generate_state(1)[0] % 2**31)


def frames_for(spec: RenderSpec):
    """The mode object that says where each frame's dream starts."""
    if spec.mode == "video":
        from .modes.video import VideoFrames

        return VideoFrames(spec)
    return ZoomFrames(spec)


def render_animation(spec: RenderSpec, model, out_dir: Path, *, restart: bool = False,
                     progress: FrameProgress | None = None) -> AnimationResult:
    """Render (or resume) ``spec``'s frames into ``out_dir`` and stitch MP4/GIF."""
    _deterministic_ops()
    started = time.perf_counter()
    mode = frames_for(spec)
    audio = mode.audio()
    manifest = build_manifest(spec.to_dict(), model, identity=spec.frames_identity(),
                              mode=spec.mode, fps=mode.fps,
                              audio={"path": str(audio[0]), "start": audio[1]} if audio else None)
    store = FrameStore(out_dir, manifest, restart=restart)
    start = min(store.done_count(), mode.count)
    mode.resume(start, store.read_frame)
    if progress:
        progress(start, mode.count, None)
    for index in range(start, mode.count):
        frame_started = time.perf_counter()
        seed = frame_seed(spec.seed, index)
        init, overrides, extra = mode.start(index, seed)
        settings = spec.dream.at(index, seed, **overrides)
        weights = spec.layer_weights(index)
        result = dream(init, model, settings,
                       layer_weights=None if weights is None else list(weights.values()))
        frame = to_uint8(result.image)
        store.write_frame(index, frame, octave_losses=result.octave_losses,
                          final_loss=result.final_loss,
                          seconds=time.perf_counter() - frame_started,
                          steps=settings.steps, **extra)
        mode.finished(index, frame)
        if progress:
            progress(index + 1, mode.count, result.final_loss)
    store.write_loss_plot()
    report = mode.close(store)
    if report:
        write_json_atomic(out_dir / "report.json", report)
    out = spec.output
    outputs = stitch(out_dir, name=mode.name, fps=mode.fps, count=mode.count, mp4=out.mp4,
                     gif=out.gif, gif_max_side=out.gif_max_side, pingpong=out.pingpong,
                     hold_last=0.0 if out.pingpong else out.hold_last,
                     audio_from=audio[0] if audio else None,
                     audio_start=audio[1] if audio else 0.0)
    seconds = time.perf_counter() - started
    store.update_manifest(frames=mode.count, seconds_this_run=round(seconds, 2))
    return AnimationResult(out_dir, mode.count, mode.count - start, seconds, outputs, report)


def _deterministic_ops() -> None:
    """Same inputs, same frames: resuming must reproduce an uninterrupted render."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
