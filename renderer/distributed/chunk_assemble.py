"""The chunks' frames into one sequence: cross-faded overlaps, MP4/GIF, stability report.

OUT/frames/ gets exactly the clip's frames, read from the chunk folders (warm-up frames
skipped, overlaps blended with `frame_sources`' weights). Everything is a function of the
stored chunk PNGs, so assembling again after a resumed chunk gives the same bytes; frames
outside overlaps are hard links to the chunks' PNGs. The stability report covers the whole
sequence against the raw clip: the chunks' own logged terms where a frame pair is one
chunk's, measured here where a cross-fade touches the pair; ``seams`` in report.json
compares the flicker there with the rest of the clip.
"""

from __future__ import annotations

import collections
import os
import statistics
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..imaging.flow import FlowEstimator
from ..imaging.stability import FrameTerms, StabilityMeter, measure_frame
from ..media.images import read_image, write_image_atomic
from ..rendering.stitch import Stitcher
from ..runtime.atomic_files import write_json_atomic
from ..store.frame_names import (
    FRAMES_DIR,
    LOSSES_CSV,
    MANIFEST_NAME,
    frame_file_name,
    numbered_frame_files,
)
from ..store.loss_log import loss_log_columns, read_loss_rows, write_loss_log
from ..store.removal_log import remove_noted
from .chunk_plan import Chunk, frame_sources

CUT_COLUMN = "cut"


class ChunkFrames:
    """Reads the final frame ``f`` from the chunk folders."""

    def __init__(self, plan: list[Chunk], folders: list[Path]):
        self.plan, self.folders = plan, folders
        self._rows: dict[int, dict] = {}

    def _path(self, chunk: int, local: int) -> Path:
        return self.folders[chunk] / FRAMES_DIR / frame_file_name(local)

    def unblended(self, frame: int) -> Path | None:
        """The chunk PNG that is final frame ``frame`` as it is, or None in an overlap."""
        sources = frame_sources(self.plan, frame)
        return self._path(sources[0].chunk, sources[0].local) if len(sources) == 1 else None

    def logged_terms(self, frame: int) -> FrameTerms | None:
        """The stability terms the chunk logged for ``frame``, where they are the clip's:
        the frame and the one before it are both that chunk's own, unblended (the chunk
        measured that very pair, with the same flow). None near a seam, or unlogged."""
        sources = frame_sources(self.plan, frame)
        if len(sources) != 1:
            return None
        chunk, local = sources[0].chunk, sources[0].local
        if frame > 0:
            before = frame_sources(self.plan, frame - 1)
            if len(before) != 1 or before[0].chunk != chunk:
                return None
        return FrameTerms.from_log(self._logged(chunk).get(local + 1, {}))

    def _logged(self, chunk: int) -> dict[int, dict]:
        """Chunk ``chunk``'s losses.csv rows, by its frame numbers (read once)."""
        if chunk not in self._rows:
            self._rows[chunk] = read_loss_rows(self.folders[chunk] / LOSSES_CSV)
        return self._rows[chunk]

    def read(self, frame: int, raw: np.ndarray) -> np.ndarray:
        """Final frame ``frame``; ``raw`` is the clip's frame it was dreamed from."""
        sources = frame_sources(self.plan, frame)
        images = [read_image(self._path(s.chunk, s.local)) for s in sources]
        if len(images) == 1:
            return images[0]
        # The two chunks' dreams differ in detail, so a plain mix of them averages part of
        # the dream away (0.85x the strength mid-fade). Mix the residuals (dream - raw) and
        # scale the mix to the weighted strength of the two: the dream stays level.
        # float64 and rint: the same bytes on every machine and every run.
        base = raw.astype(np.float64)
        residuals = [image.astype(np.float64) - base for image in images]
        mixed = sum(s.weight * r for s, r in zip(sources, residuals))
        target = sum(s.weight * np.abs(r).mean() for s, r in zip(sources, residuals))
        actual = np.abs(mixed).mean()
        gain = target / actual if actual > 0 else 1.0
        return np.clip(np.rint(base + gain * mixed), 0, 255).astype(np.uint8)

    def rows(self, count: int, terms: list[FrameTerms]) -> list[dict]:
        """The clip's losses.csv rows: each frame's from the chunk that gives most of it
        (the later one mid-fade), with the stability terms of the assembled frames."""
        rows = []
        for frame in range(count):
            source = max(reversed(frame_sources(self.plan, frame)), key=lambda s: s.weight)
            row = self._logged(source.chunk)[source.local + 1]
            rows.append({**row, "frame": frame + 1, **terms[frame].to_log()})
        return rows

    def cuts(self) -> list[int]:
        """Scene cuts the chunks logged in the frames they give (warm-up ones are not)."""
        cuts = []
        for chunk in self.plan:
            rows = self._logged(chunk.index)
            for frame in range(chunk.own_start, chunk.stop):
                if int(rows.get(chunk.local(frame) + 1, {}).get(CUT_COLUMN) or 0):
                    cuts.append(frame)
        return cuts


def assemble(
    out: Path,
    plan: list[Chunk],
    folders: list[Path],
    *,
    raw_frames,
    fps: float,
    estimator: FlowEstimator,
    stitcher: Stitcher,
    manifest: dict,
) -> tuple[list[Path], dict]:
    """Write OUT/frames/, feed the stitcher, measure: the stitched files and the records
    (write_records). Every frame is read here, one after another:
    renderer/distributed/chunk_parts.py
    is the way that reads only the seams."""
    frames_dir = clip_frames_dir(out, plan[-1].stop)
    count = plan[-1].stop
    chunk_frames = ChunkFrames(plan, folders)
    terms, previous = [], None
    for frame, raw, image in _read_ahead(chunk_frames, zip(range(count), raw_frames)):
        target = frames_dir / frame_file_name(frame)
        unblended = chunk_frames.unblended(frame)
        if unblended is None or not linked(unblended, target):
            write_image_atomic(target, image)
        stitcher.add(frame, image)
        # The chunks measured their own frames as they rendered them, in parallel: only
        # the pairs a cross-fade touches are measured here (two flows a frame at 720p were
        # 78% of the assembly's cost: benchmarks/chunk_model.py).
        measured = chunk_frames.logged_terms(frame)
        if measured is None:
            measured = measure_frame(raw, image, previous, estimator=estimator)
        terms.append(measured)
        previous = (raw, image)
    outputs = stitcher.finish(lambda index: read_image(frames_dir / frame_file_name(index)))
    return outputs, write_records(out, plan, chunk_frames, terms, fps, estimator, manifest)


def clip_frames_dir(out: Path, count: int) -> Path:
    """OUT/frames/, made, without frames past ``count`` (a longer earlier plan's)."""
    frames_dir = out / FRAMES_DIR
    frames_dir.mkdir(parents=True, exist_ok=True)
    for stale in numbered_frame_files(frames_dir)[count:]:
        remove_noted(out, stale)
    return frames_dir


def write_records(
    out: Path,
    plan: list[Chunk],
    chunk_frames: ChunkFrames,
    terms: list[FrameTerms],
    fps: float,
    estimator: FlowEstimator,
    manifest: dict,
) -> dict:
    """After the clip's frames: losses.csv and ``manifest`` as manifest.json, so OUT
    reads as a render folder (for ``dreamreel stitch`` and ``stability``), and
    report.json (returned): the stability of every frame pair, and the seams."""
    write_loss_log(
        out / LOSSES_CSV,
        chunk_frames.rows(len(terms), terms),
        loss_log_columns(chunk_frames.folders[0] / LOSSES_CSV),
    )
    write_json_atomic(out / MANIFEST_NAME, manifest)
    meter = StabilityMeter(fps, estimator)
    for measured in terms:
        meter.add_terms(measured)
    stability = meter.report()
    report = {
        "summary": stability.summary_line(),
        **stability.to_dict(),
        "cuts": chunk_frames.cuts(),
        "chunks": [
            {
                "first_dreamed": c.render_start,
                "first_shown": c.keep_start,
                "own": [c.own_start, c.stop],
            }
            for c in plan
        ],
        "seams": seam_report(plan, terms),
    }
    write_json_atomic(out / "report.json", report)
    return report


def _read_ahead(chunk_frames: ChunkFrames, frames, depth: int | None = None):
    """(frame, raw, final image) in order, the next ``depth`` frames read (PNG decoding,
    blending) on threads meanwhile: reading was most of what is left of the assembly's
    serial time (benchmarks/chunk_model.py). OpenCV releases the GIL while it decodes."""
    depth = depth or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=depth) as pool:
        pending: collections.deque = collections.deque()
        for frame, raw in frames:
            pending.append((frame, raw, pool.submit(chunk_frames.read, frame, raw)))
            if len(pending) > depth:
                frame_, raw_, image = pending.popleft()
                yield frame_, raw_, image.result()
        while pending:
            frame_, raw_, image = pending.popleft()
            yield frame_, raw_, image.result()


def linked(source: Path, target: Path) -> bool:
    """``target`` as a hard link to ``source`` (the same bytes, nothing encoded or copied),
    swapped in atomically; False where links cannot be made (another file system...)."""
    temp = target.with_name(f".{target.name}.link.partial")
    try:
        temp.unlink(missing_ok=True)
        os.link(source, temp)
        os.replace(temp, target)
        return True
    except OSError:
        temp.unlink(missing_ok=True)
        return False


def seam_window(chunk: Chunk) -> range:
    """Frames whose step from the frame before crosses chunk ``chunk``'s seam: the
    overlap and the first frame after it (with no overlap, the first own frame)."""
    return range(chunk.keep_start, chunk.own_start + 1)


def seam_report(plan: list[Chunk], terms: list[FrameTerms]) -> list[dict]:
    """Per seam: the largest flicker (E_warp of the output, its excess over the source's,
    and its ratio to the source's) in its window against the median of the frames
    outside every window, the
    largest added flicker against the typical worst frame of as many frames elsewhere,
    and the mean dream strength there against the median elsewhere."""
    windows = [seam_window(c) for c in plan[1:]]
    at_seams = {f for window in windows for f in window}

    def e_out(t: FrameTerms) -> float | None:
        ok = t.e_warp_output is not None and t.e_warp_output == t.e_warp_output
        return t.e_warp_output if ok else None

    def added(t: FrameTerms) -> float | None:
        return None if e_out(t) is None else t.e_warp_output - t.e_warp_input

    def over_source(t: FrameTerms) -> float | None:
        """E_warp against the source's own there: what a long seam window compares
        fairly with frames elsewhere (the flow errs more in some parts of a clip)."""
        return None if e_out(t) is None or not t.e_warp_input else t.e_warp_output / t.e_warp_input

    def median_elsewhere(value) -> float | None:
        values = [value(t) for f, t in enumerate(terms) if f not in at_seams]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def ratio(a, b):
        return None if a is None or not b else round(a / b, 4)

    def typical_stretch_max(value, length: int) -> float | None:
        """The median, over stretches of ``length`` frames clear of every seam, of each
        one's worst frame: what a seam's worst frame compares with where the flicker
        swings by itself (cadence: carried pairs near 0; music-driven steps)."""
        maxima = []
        for start in range(1, len(terms) - length + 1):
            stretch = range(start, start + length)
            if at_seams.isdisjoint(stretch):
                values = [v for v in (value(terms[f]) for f in stretch) if v is not None]
                if values:
                    maxima.append(max(values))
        return statistics.median(maxima) if maxima else None

    base = {
        name: median_elsewhere(fn)
        for name, fn in (
            ("e_warp", e_out),
            ("added", added),
            ("over_source", over_source),
            ("strength", lambda t: t.dream_strength),
        )
    }
    seams = []
    for window in windows:
        inside = [terms[f] for f in window if f < len(terms)]
        e_values = [v for v in map(e_out, inside) if v is not None]
        added_values = [v for v in map(added, inside) if v is not None]
        over_max = max((v for v in map(over_source, inside) if v is not None), default=None)
        e_max = max(e_values, default=None)
        added_max = max(added_values, default=None)
        stretch_max = typical_stretch_max(added, len(window))
        strength = statistics.fmean(t.dream_strength for t in inside) if inside else None
        seams.append(
            {
                "frames": [window.start, window.stop - 1],
                "e_warp": e_max,
                "e_warp_median_elsewhere": base["e_warp"],
                "e_warp_ratio": ratio(e_max, base["e_warp"]),
                "e_warp_over_source_ratio": ratio(over_max, base["over_source"]),
                "added_flicker": added_max,
                "added_flicker_median_elsewhere": base["added"],
                "added_flicker_ratio": ratio(added_max, base["added"]),
                "added_flicker_stretch_max_elsewhere": stretch_max,
                "added_flicker_vs_stretches": ratio(added_max, stretch_max),
                "dream_strength": strength,
                "dream_strength_median_elsewhere": base["strength"],
                "dream_strength_ratio": ratio(strength, base["strength"]),
            }
        )
    return seams
