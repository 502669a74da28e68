"""Chunked video renders: the clip's frames in chunks, one after another or on Ray.

Each chunk is an ordinary video render (`renderer.render`) of a sub-range of the clip
into OUT/chunks/<first>-<stop>/, so a chunk writes its frames atomically and a chunk run
again resumes from its own frames; the batch runner (renderer/distributed/batch_run.py) runs them,
here or as Ray tasks. A chunk folder is named by its range: a changed plan (other
chunks, warm-up) renders new folders instead of refusing the old ones. Then
renderer/distributed/chunk_parts.py (an MP4 alone: each worker encoded its part) or
renderer/distributed/chunk_assemble.py (every frame read again) makes the clip's frames, MP4/GIF and
report.json in OUT.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..imaging.flow import FlowEstimator
from ..rendering.preflight import check_out_folder
from ..rendering.recipe import recipe_text
from ..rendering.schedule_binding import bind_render
from ..rendering.seeds import resolve_random_seed
from ..rendering.spec import OutputSettings, RenderSpec, load_spec
from ..rendering.stitch import Stitcher
from ..runtime.errors import DreamreelError
from ..store.frame_names import MANIFEST_NAME
from ..store.frame_store import read_manifest
from ..store.out_folder import check_no_managed_links
from ..store.render_lock import render_lock
from ..store.shared_storage import is_url, location, seen_from, staged
from .batch_jobs import Job
from .batch_run import ray_joined, ray_workers, run_on_ray, run_one_by_one
from .chunk_assemble import assemble
from .chunk_parts import (
    PARTS_DIR,
    PartsDiffer,
    assemble_from_parts,
    encode_solo_part,
    parts_ready,
)
from .chunk_plan import Chunk, default_chunk_count, plan_chunks
from .progress import JobsProgress

CHUNKS_DIR = "chunks"


@dataclass
class ChunkedResult:
    out_dir: Path
    frames: int  # frames of the assembled clip
    chunks: int
    rendered: int  # frames the chunks dreamed this run (warm-up included)
    seconds: float  # the chunks' own seconds, added up
    outputs: list[Path]
    report: dict


@dataclass(frozen=True)
class ClipRange:
    """The render's range on the clip, as the video mode resolved it."""

    count: int
    fps: float
    first_source_frame: int  # the clip's frame of the render's frame 0
    every: int


def chunk_folder(out: Path, chunk: Chunk) -> Path:
    return out / CHUNKS_DIR / f"{chunk.render_start:06d}-{chunk.stop:06d}"


def check_chunkable(spec: RenderSpec) -> None:
    """One line when the spec's mode does not render in chunks."""
    if spec.mode != "video":
        raise DreamreelError(
            f"--ray and --chunks split a clip into chunks: only video mode "
            f"renders in chunks, not {spec.mode}"
        )
    if spec.output.frames_format != "png":  # the chunks' frames16/ are not gathered yet
        raise DreamreelError(
            f"output.frames_format = {spec.output.frames_format!r}: 16-bit frames are made "
            f"by a render in one piece; drop --ray/--chunks, or keep output.frames_format = "
            f'"png" for a chunked render'
        )


def chunk_spec(spec: RenderSpec, clip: ClipRange, chunk: Chunk) -> RenderSpec:
    """The video render of ``chunk``'s frames (warm-up included), stitching nothing; its
    schedules and frame seeds count from the chunk's first frame in the whole render."""
    first = clip.first_source_frame + chunk.render_start * clip.every
    stop = clip.first_source_frame + chunk.stop * clip.every
    offset = spec.frame_offset + chunk.render_start
    return load_spec(
        spec,
        [
            "video.start=",
            "video.end=",
            f"video.start_frame={first}",
            f"video.end_frame={stop}",
            f"frame_offset={offset}",
            "output.mp4=false",
            "output.gif=false",
        ],
    )


def render_chunked(
    spec: RenderSpec,
    *,
    out: str | Path,
    chunks: int | None = None,
    ray: bool = False,
    address: str | None = None,
    workers: int | None = None,
    restart: bool = False,
    announce: Callable[[str], None] = lambda line: None,
    bar: JobsProgress | None = None,
) -> ChunkedResult:
    """Render the video ``spec`` in chunks into ``out`` (see the module's notes).

    chunks  -- how many (default video.chunks, else one per worker: ``workers``, else the
               Ray cluster's GPUs or cores, else this machine's cores)
    ray     -- run them as Ray tasks (a cluster at ``address`` / RAY_ADDRESS, else a local
               Ray with this machine's cores); else one after another in this process
    bar     -- shows the chunks' frames (the CLI passes its progress bar)
    """
    check_chunkable(spec)
    out = location(out)
    out = out if is_url(out) else out.absolute()
    if not is_url(out):  # the chunks check their own folders; the assembled files live here
        check_out_folder(spec, out, restart=restart)  # its manifest.json is rewritten too
    # The chunks lock their own folders (a URL's: their staging copies).
    with (
        contextlib.nullcontext() if is_url(out) else render_lock(out),
        ray_joined(address) if ray else contextlib.nullcontext(),
    ):
        clip, audio = _clip_range(spec)
        v = spec.video
        workers = workers or (ray_workers() if ray else os.cpu_count() or 1)
        count = (
            chunks
            or v.chunks
            or default_chunk_count(clip.count, workers, warmup=v.warmup, crossfade=v.crossfade)
        )
        plan = plan_chunks(
            clip.count, count, warmup=v.warmup, crossfade=v.crossfade, align=v.cadence
        )
        spec = _seeded(spec, out, plan, restart, announce)
        folders = [chunk_folder(out, c) for c in plan]
        if not is_url(out):  # a chunk's --restart deletes in its folder: no link out of OUT
            check_no_managed_links(out, also=[out / CHUNKS_DIR, out / PARTS_DIR, *folders])
        parts = in_parts(spec)
        jobs = [
            Job(
                f"chunk {c.index + 1}/{len(plan)}",
                spec.name,
                spec.input,
                (),
                folder,
                after=functools.partial(encode_solo_part, plan=plan, index=c.index, fps=clip.fps)
                if parts
                else None,
            )
            for c, folder in zip(plan, folders)
        ]
        specs = [chunk_spec(spec, clip, c) for c in plan]
        announce(
            f"{clip.count} frames in {len(plan)} chunks "
            f"({'on Ray' if ray else 'one after another'}): "
            + ", ".join(f"{c.keep_start}-{c.stop - 1} (+{c.warmup} warm-up)" for c in plan)
        )

        def finished(outcome) -> None:
            if bar is not None:
                bar.job_done()
            if outcome.error is None:
                announce(
                    f"{outcome.name}: {outcome.frames} frames ({outcome.outcome}) "
                    f"in {outcome.seconds:.1f} s"
                )

        report = None
        if bar is not None:
            bar.jobs, report = len(jobs), bar.frames
        if ray:
            outcomes = run_on_ray(
                jobs, specs, restart=restart, address=address, finished=finished, report=report
            )
        else:
            outcomes = run_one_by_one(
                jobs, specs, restart=restart, finished=finished, report=report
            )
        failed = [o for o in outcomes if o.error is not None]
        if failed:
            raise DreamreelError(
                f"{len(failed)} of {len(plan)} chunks failed ({failed[0].name}: "
                f"{failed[0].error}); run again to resume them"
            )
        outputs, report = _assemble(spec, out, plan, clip, audio)
    return ChunkedResult(
        out,
        clip.count,
        len(plan),
        sum(o.rendered for o in outcomes),
        sum(o.seconds for o in outcomes),
        outputs,
        report,
    )


def _clip_manifest(spec: RenderSpec, first_chunk: Path, clip: ClipRange) -> dict:
    """OUT's manifest.json: the first chunk's (model, versions, the clip's fps and sound)
    with the whole render's spec. No spec_hash: a plain render there is refused (its
    frames are the chunks'), not resumed."""
    manifest = dict(read_manifest(first_chunk) or {})
    for key in ("spec_hash", "seconds_this_run", "profile"):
        manifest.pop(key, None)
    return {**manifest, "spec": spec.to_dict(), "frames": clip.count, "chunked": True}


def _clip_range(spec: RenderSpec):
    """The video mode's own reading of the range (and the sound the MP4 gets)."""
    from ..rendering.modes.builtin import create_mode  # lazy: loads Pillow

    with create_mode(spec) as mode:
        clip = ClipRange(mode.count, mode.fps, mode.source.start_frame, mode.source.every)
        return clip, bind_render(spec, mode).audio


def _seeded(spec: RenderSpec, out: Path, plan: list[Chunk], restart: bool, announce):
    """A random seed (negative) drawn once, kept by the first chunk's folder."""
    with staged(chunk_folder(out, plan[0]), only=[MANIFEST_NAME], write=False) as first:
        spec, note = resolve_random_seed(spec, first, restart=restart)
    if note:
        announce(note)
    return spec


def _assemble(
    spec: RenderSpec, out: Path, plan: list[Chunk], clip: ClipRange, audio
) -> tuple[list[Path], dict]:
    with staged(out) as local:  # a URL: the chunks' frames come down, the clip goes up
        outputs, report = _assemble_here(spec, local, plan, clip, audio)
    return seen_from(out, local, outputs), report


def in_parts(spec: RenderSpec) -> bool:
    """Whether the workers encode the clip's parts (renderer/distributed/chunk_parts.py): an MP4
    alone, encoded as they encode it (the default codec and settings); a GIF, ping-pong,
    held last frame, in-betweens or another encoding needs every frame in one place."""
    o, plain = spec.output, OutputSettings()
    encoding = ("codec", "pixel_format", "crf", "preset", "interpolate")
    if any(getattr(o, key) != getattr(plain, key) for key in encoding):
        return False
    return o.mp4 and not (o.gif or o.pingpong or o.hold_last)


def _assemble_here(
    spec: RenderSpec, out: Path, plan: list[Chunk], clip: ClipRange, audio
) -> tuple[list[Path], dict]:
    from ..rendering.modes.builtin import create_mode  # lazy: loads Pillow

    folders = [chunk_folder(out, c) for c in plan]
    manifest = _clip_manifest(spec, folders[0], clip)
    recipe = recipe_text(manifest)  # the whole clip's, in its MP4 and GIF
    estimator = FlowEstimator(spec.flow.method, spec.flow.preset)
    with create_mode(spec) as mode:  # the raw frames, for the stability meter
        if in_parts(spec) and parts_ready(plan, folders):
            try:
                return assemble_from_parts(
                    out,
                    plan,
                    folders,
                    clip=mode.source,
                    fps=clip.fps,
                    estimator=estimator,
                    mp4=out / "video.mp4",
                    audio=audio,
                    manifest=manifest,
                    recipe=recipe,
                )
            except PartsDiffer:
                pass  # encoded unalike (another FFmpeg?): encode the clip here instead
        o = spec.output
        stitcher = Stitcher(
            out,
            name="video",
            fps=clip.fps,
            count=clip.count,
            output=o,
            audio=audio,
            threaded=spec.pipeline,
            recipe=recipe,
        )
        try:
            return assemble(
                out,
                plan,
                folders,
                raw_frames=mode.source.frames(),
                fps=clip.fps,
                stitcher=stitcher,
                estimator=estimator,
                manifest=manifest,
            )
        except BaseException:
            stitcher.abandon()
            raise
