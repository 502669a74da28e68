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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.dream import dream
from ..engine.numeric_faults import NumericalFault
from ..media.truncated_input import InputEnded
from ..runtime.atomic_files import write_json_atomic
from ..store.frame_store import FrameStore
from .live_preview import LivePreview
from .masks import FrameMasks
from .modes.base import FrameOut
from .pipelining import Ahead, Behind
from .prepared import PreparedRender, prepared_render
from .render_result import RenderResult
from .spec import RenderSpec
from .stage_clock import StageClock
from .stitch import Stitcher

# Progress callback: (frames done, frames total, last frame's loss or None).
FrameProgress = Callable[[int, int, "float | None"], None]

# Frames the workers may run ahead of the dream / lag behind it. Enough to hide a slow
# frame's decode, flow or write; small, since each holds full-size frames and flows.
_AHEAD = 2
_BEHIND = 2


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
    ``model``: one loaded already, or None to load the spec's (kept between calls).
    ``announce`` gets the mode's notes (octaves dropped for a small image...)."""
    with prepared_render(
        spec, Path(out_dir), restart=restart, announce=announce, model=model
    ) as prepared:
        return run_frames(prepared, progress=progress)


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


def run_frames(prepared: PreparedRender, *, progress: FrameProgress | None = None) -> RenderResult:
    """Render (or resume) the prepared render's frames and stitch its MP4/GIF."""
    p = prepared
    spec, mode, model, out_dir, clock = p.spec, p.mode, p.model, p.out_dir, p.clock
    restart, manifest, audio = p.restart, p.manifest, p.audio
    store = FrameStore(
        out_dir,
        manifest,
        restart=restart,
        columns=("steps", *mode.columns),
        recipe=p.recipe,
        frames_format=spec.output.frames_format,
    )
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
        output=out,
        lead_in=manifest.get("lead_in", 0),
        audio=audio,
        clock=clock,
        threaded=spec.pipeline,
        recipe=p.recipe,
    )
    # latest.jpg and preview.mp4: what the user can watch while the render runs.
    live = LivePreview(
        out_dir,
        read_frame=store.read_frame,
        fps=mode.fps,
        every=out.preview_every,
        lead_in=manifest.get("lead_in", 0),
        threaded=spec.pipeline,
    )

    def store_frame(job: _Dreamed | int) -> None:
        if isinstance(job, int):  # frames 0..job-1, stored before: into the outputs
            for index in range(job):
                with clock.stage("encode_read"):
                    image = store.read_frame(index)
                stitcher.add(index, image)
            with clock.stage("latest_jpg"):
                live.show(image)  # the last frame kept, not an older run's
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
                exact=job.out.exact,
                **job.log,
                **job.out.log,
                **log,
            )
        with clock.stage("latest_jpg"):
            live.stored(job.index, job.out.image)
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
                p.tile_size,
                ahead,
                behind,
                progress,
                clock,
                p.masks,
                p.objective,
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
        live.close()  # a preview being made is dropped: the last complete one stays
    result = _end_of_render(p, store, stitcher, first, final_loss, stopped)
    live.finished()  # the render's own outputs are there: the partial MP4 goes
    return result


def _end_of_render(
    p: PreparedRender,
    store: FrameStore,
    stitcher: Stitcher,
    first: int,
    final_loss: float | None,
    stopped: InputEnded | None,
) -> RenderResult:
    """The one ending of every render: the loss plot, the mode's close and report, the
    MP4/GIF, this run's time in the manifest.

    ``stopped``: the input ran out early (renderer/media/truncated_input.py). The frames
    dreamed before the damage stay stored (a later run resumes them) and report.json says
    where and why; only with the mode's opt-in key (a shorter video is what the user
    accepts) are they stitched and the render succeeds, else ``stopped`` is raised, naming
    the key."""
    mode, clock, out_dir = p.mode, p.clock, p.out_dir
    if stopped is not None:
        if stopped.frame == 0:  # nothing to keep, report or stitch
            raise stopped
        mode.count = stopped.frame  # the frames the render has: what close() and stitch use
    with clock.stage("loss_plot"):
        store.write_loss_plot()
    with clock.stage("close"):
        summary = mode.close(store)
    report = summary.report
    if stopped is not None:
        report = {
            **summary.report,
            "stopped": stopped.stopped_line(),
            "partial": True,
            "frames": stopped.frame,
            "promised_frames": stopped.count,
        }
    if report:
        write_json_atomic(out_dir / "report.json", report)
    if stopped is not None:
        if not stopped.allowed:
            raise stopped
        # The live encoder was abandoned with the dream: the kept frames, read back.
        stitcher = Stitcher(
            out_dir,
            name=mode.name,
            fps=mode.fps,
            count=stopped.frame,
            output=p.spec.output,
            audio=p.audio,
            clock=clock,
            recipe=p.recipe,
        )
        try:
            for index in range(stopped.frame):
                with clock.stage("encode_read"):
                    image = store.read_frame(index)
                stitcher.add(index, image)
        except BaseException:
            stitcher.abandon()
            raise
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
        max(0, mode.count - first),
        seconds,
        outputs + summary.files,
        report,
        final_loss,
        profile,
    )


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
    dreamed_before = None  # the user mask's pixels dreamed in the frame before (0/1)
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
        shape = start.image.shape[:2]
        temporal = start.temporal
        if masks.active and temporal is not None:
            # Held only where the frame before was dreamed: what its mask kept raw, a
            # mask that moves on may now dream (its carried residual there is 0).
            if dreamed_before is None:  # a resumed render's first frame
                dreamed_before = (masks.mask_for(index - 1, shape) > 0).astype(np.float32)
            temporal = dataclasses.replace(temporal, weight=temporal.weight * dreamed_before)
        mask = masks.mask_for(index, shape) if masks.active else None
        steps_where = None if mask is None else (mask > 0).astype(np.float32)
        dreamed_before = steps_where
        if start.step_map is not None:  # the engine's mask scales each pixel's step
            steps_where = start.step_map if steps_where is None else steps_where * start.step_map
        with clock.stage("dream"):
            try:
                result = dream(
                    start.image,
                    model,
                    settings,
                    layer_weights=None if weights is None else list(weights.values()),
                    objective=objective,
                    mask=steps_where,
                    temporal=temporal,
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
