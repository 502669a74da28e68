"""The frame loop every mode runs through.

For each frame: derive the frame's own seed, evaluate the schedules, ask the mode where
the dream starts, dream, let the mode turn the result into the stored picture, hand it
to the store. Frames chain through the PNGs as stored (uint8), so a render resumed from
disk continues exactly where an uninterrupted one would have: same inputs, same seeds,
same (deterministic) engine.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.dream import dream
from ..engine.numeric_faults import NumericalFault
from ..media.truncated_input import InputEnded
from ..runtime.allocator import reuse_freed_buffers
from ..runtime.atomic_files import write_json_atomic
from ..runtime.errors import DreamreelError
from ..store.frame_store import FrameStore, read_manifest
from ..store.manifest import build_manifest
from ..store.render_lock import render_lock
from .masks import FrameMasks, open_masks
from .modes.base import FrameOut
from .modes.builtin import create_mode
from .pipelining import Ahead, Behind
from .schedule_binding import bind_render
from .short_ending import finish_short
from .spec import RenderSpec
from .stage_clock import StageClock
from .stitch import Stitcher

# Progress callback: (frames done, frames total, last frame's loss or None).
FrameProgress = Callable[[int, int, "float | None"], None]

# Frames the workers may run ahead of the dream / lag behind it. Enough to hide a slow
# frame's decode, flow or write; small, since each holds full-size frames and flows.
_AHEAD = 2
_BEHIND = 2


@dataclass
class RenderResult:
    out_dir: Path
    mode: str
    frames: int  # frames in the folder now
    rendered: int  # frames dreamed by this run (the rest were resumed)
    seconds: float
    outputs: list[Path]  # MP4, GIF and whatever the mode adds (a contact sheet)
    report: dict  # video: temporal stability and scene cuts; else empty
    final_loss: float | None  # the last measured loss (None if this run measured none)
    # Where this run's time went: StageClock.table() (seconds per stage, frames/s, summary)
    profile: dict = field(default_factory=dict)


def frame_seed(render_seed: int, frame: int) -> int:
    """Each frame's own seed: independent of which frames were rendered before."""
    return int(np.random.SeedSequence([render_seed, frame]).generate_state(1)[0] % 2**31)


def render_frames(
    spec: RenderSpec,
    model,
    out_dir: Path,
    *,
    restart: bool = False,
    progress: FrameProgress | None = None,
    announce: Callable[[str], None] | None = None,
) -> RenderResult:
    """Render (or resume) ``spec``'s frames into ``out_dir`` and stitch MP4/GIF.
    ``announce`` gets the mode's notes (octaves dropped for a small image...)."""
    reuse_freed_buffers()  # frame-sized temporaries without page faults (heap_reuse.py)
    clock = StageClock()
    with clock.stage("open"):  # opening the input (probing a clip, listing a folder)
        mode = create_mode(spec)
    # One render per folder, from before it writes there until it ends (render_lock).
    # Leaving it closes the mode's input (a clip) and a mask clip (renderer/rendering/masks.py).
    with mode, open_masks(spec, mode) as masks, render_lock(out_dir):
        for note in mode.notes() if announce else ():
            announce(note)
        mode.clock = clock  # the mode times its own stages (decode, flow, carry...)
        return _render(mode, spec, model, Path(out_dir), restart, progress, clock, masks)


@dataclass
class _Dreamed:
    """A frame dreamed and finished, on its way to the store (behind the dream)."""

    index: int
    ready: Any  # what mode.prepare gave
    out: FrameOut
    octave_losses: list
    final_loss: float
    seconds: float
    steps: int
    log: dict


def _render(
    mode,
    spec: RenderSpec,
    model,
    out_dir: Path,
    restart: bool,
    progress: FrameProgress | None,
    clock: StageClock,
    masks: FrameMasks,
) -> RenderResult:
    # Schedules read the render's own fps and music track; the mode gets the bound spec
    # too. The MP4's sound: the mode's, else the spec's track
    # (renderer/rendering/schedule_binding.py).
    bound = bind_render(spec, mode)
    spec, audio = bound.spec, bound.audio
    manifest = build_manifest(
        spec.to_dict(),
        model,
        identity=bound.identity,
        mode=mode.name,
        fps=mode.fps,
        **bound.manifest,
    )
    tile_size = manifest["tile_size"] = _tile_size(spec, out_dir, manifest, restart)
    store = FrameStore(out_dir, manifest, restart=restart, columns=("steps", *mode.columns))
    done = min(store.done_count(), mode.count)
    with clock.stage("mode"):
        first = mode.resume(done, store)
    if first < done:  # the mode cannot pick up from the stored frames alone
        store.rewind(first)
    out = spec.output
    # The MP4 and GIF are encoded as frames are stored (frames kept from an earlier run
    # are read back first), so little is left to do after the last dream.
    stitcher = Stitcher(
        out_dir,
        name=mode.name,
        fps=mode.fps,
        count=mode.count,
        mp4=out.mp4,
        gif=out.gif,
        gif_max_side=out.gif_max_side,
        pingpong=out.pingpong,
        lead_in=manifest.get("lead_in", 0),
        hold_last=out.hold_last,
        audio=audio,
        clock=clock,
        threaded=spec.pipeline,
    )

    def store_frame(job: _Dreamed | int) -> None:
        if isinstance(job, int):  # frames 0..job-1, stored before: into the outputs
            for index in range(job):
                with clock.stage("encode_read"):
                    image = store.read_frame(index)
                stitcher.add(index, image)
            return
        log = mode.measure(job.index, job.ready, job.out)
        with clock.stage("write"):
            store.write_frame(
                job.index,
                job.out.image,
                octave_losses=job.octave_losses,
                final_loss=job.final_loss,
                seconds=job.seconds,
                steps=job.steps,
                checkpoint=job.out.checkpoint,
                **job.log,
                **job.out.log,
                **log,
            )
        stitcher.add(job.index, job.out.image)

    # Ahead of the dream: what the input alone gives (decoding, flow). Behind it: the
    # rest (stability terms, PNG, losses.csv, MP4/GIF encoding). pipeline = false runs
    # the same calls in line: the reference, byte-identical.
    ahead = Ahead(
        mode.prepare, range(first, mode.count), depth=_AHEAD, threaded=spec.pipeline, name="ahead"
    )
    behind = Behind(store_frame, depth=_BEHIND, threaded=spec.pipeline, name="behind")
    failed = True
    stopped: InputEnded | None = None  # the input ran out before mode.count frames
    try:
        if first:
            behind.put(first)
        if progress:
            progress(first, mode.count, None)
        try:
            final_loss = _dream_frames(
                mode,
                spec,
                model,
                first,
                tile_size,
                ahead,
                behind,
                progress,
                clock,
                masks,
                _bound_objective(spec, model),
            )
        except InputEnded as ended:  # a damaged clip: the frames before it are kept
            stopped, final_loss = ended, None
        with clock.stage("wait_behind"):
            behind.close()
        failed = False
    finally:
        ahead.close()
        if failed or stopped is not None:
            behind.close(raise_error=False)  # the frames dreamed so far still count
            stitcher.abandon()
    if stopped is not None:  # stitched only if the user allows it, else raised
        outputs, report = finish_short(stopped, mode, store, out_dir, spec, audio, clock)
        seconds = clock.stop()
        store.update_manifest(
            frames=mode.count, seconds_this_run=round(seconds, 2), profile=clock.table()
        )
        return RenderResult(
            out_dir,
            mode.name,
            mode.count,
            max(0, mode.count - first),
            seconds,
            outputs,
            report,
            final_loss,
            clock.table(),
        )
    with clock.stage("loss_plot"):
        store.write_loss_plot()
    with clock.stage("close"):
        summary = mode.close(store)
    if summary.report:
        write_json_atomic(out_dir / "report.json", summary.report)
    try:
        outputs = stitcher.finish(store.read_frame)
    except BaseException:
        stitcher.abandon()
        raise
    seconds = clock.stop()
    profile = clock.table()
    store.update_manifest(frames=mode.count, seconds_this_run=round(seconds, 2), profile=profile)
    return RenderResult(
        out_dir,
        mode.name,
        mode.count,
        mode.count - first,
        seconds,
        outputs + summary.files,
        summary.report,
        final_loss,
        profile,
    )


def _bound_objective(spec: RenderSpec, model):
    """The spec's objective bound to ``model`` (None: the classic layers objective)."""
    if spec.objective is None:
        return None
    from ..engine.objective_graph import bind
    from ..engine.objectives import resolved_objective
    from .guides import read_guides

    resolved = resolved_objective(spec.objective, spec.model)
    return bind(resolved, model, read_guides(resolved))


def _dream_frames(
    mode,
    spec: RenderSpec,
    model,
    first: int,
    tile_size: int,
    ahead: Ahead,
    behind: Behind,
    progress: FrameProgress | None,
    clock: StageClock,
    masks: FrameMasks,
    objective=None,
):
    """The critical path: each frame's start (from the last dream), dream and finish.
    ``objective``: a BoundObjective (None: the layers' weighted means).
    Returns the last measured loss (None if no frame measured one)."""
    final_loss = None
    for index in range(first, mode.count):
        frame_started = time.perf_counter()  # the row's seconds: input, start, dream, finish
        with clock.stage("wait_ahead"):  # in line (pipeline = false): the mode's own stages
            ready = next(ahead)
        seed = frame_seed(spec.seed, spec.frame_offset + index)
        with clock.stage("mode"):  # what the mode does not itemise itself
            start = mode.start(index, seed, ready)
        settings = dataclasses.replace(
            spec.dream.at(index, seed), tile_size=tile_size, **start.settings
        ).validate()
        weights = (
            spec.layer_weights(index)
            if objective is None
            else dict(enumerate(objective.weights(index)))
        )
        # The engine takes no step where the mask is black; how much of the dream shows
        # where it is grey is the composite's to say (masking both would dim it twice).
        mask = masks.mask_for(index, start.image.shape[:2]) if masks.active else None
        with clock.stage("dream"):
            try:
                result = dream(
                    start.image,
                    model,
                    settings,
                    layer_weights=None if weights is None else list(weights.values()),
                    objective=objective,
                    mask=None if mask is None else (mask > 0).astype(np.float32),
                    resume=start.state,
                    max_steps=start.max_steps,
                    # A frame that takes no step (between cadence keyframes) skips
                    # the loss pass too: it was half of such a frame's time.
                    measure_octave_ends=settings.steps > 0,
                )
            except NumericalFault as fault:  # never stored: say which frame it was
                fault.frame = index + 1
                raise
        if masks.active:  # black keeps the frame's source exactly (renderer/rendering/masks.py)
            with clock.stage("mask"):
                result = masks.composite(index, start, result)
        with clock.stage("mode"):
            out = mode.finish(index, result)
        loss = result.final_loss if math.isfinite(result.final_loss) else None
        final_loss = final_loss if loss is None else loss  # 0-step frames measure none
        with clock.stage("wait_behind"):  # the queue to the store is full
            behind.put(
                _Dreamed(
                    index,
                    ready,
                    out,
                    result.octave_losses,
                    result.final_loss,
                    time.perf_counter() - frame_started,
                    settings.steps,
                    {**start.log},
                )
            )
        clock.frame()
        if progress:
            progress(index + 1, mode.count, loss)
    return final_loss


def _tile_size(spec: RenderSpec, out_dir: Path, manifest: dict, restart: bool) -> int:
    """The tile side this render dreams with. ``"auto"`` follows the machine's memory, so
    it is resolved once per render folder and kept in the manifest: a resume, here or on a
    machine with other memory, dreams with the tiles its first frames were dreamed with
    (tiles move pixels slightly)."""
    resolved = spec.dream_settings().resolved_tile_size()
    if restart or spec.dream.tile_size != "auto":
        return resolved
    try:
        old = read_manifest(out_dir)
    except DreamreelError:  # unreadable: the store decides what that means
        return resolved
    recorded = (old or {}).get("tile_size")
    same_render = old is not None and old.get("spec_hash") == manifest["spec_hash"]
    if same_render and isinstance(recorded, int) and not isinstance(recorded, bool):
        return recorded
    return resolved
