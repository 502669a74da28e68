"""The chunks' frames into one sequence: cross-faded overlaps, MP4/GIF, stability report.

OUT/frames/ gets exactly the clip's frames, read from the chunk folders (warm-up frames
skipped, overlaps blended with `frame_sources`' weights). Everything is a function of the
stored chunk PNGs, so assembling again after a resumed chunk gives the same bytes. The
stability meter then measures the whole sequence against the raw clip, seams included,
and ``seams`` in report.json compares the flicker there with the rest of the clip.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from .chunk_plan import Chunk, frame_sources
from .files import write_json_atomic
from .flow import FlowEstimator, FrameTerms, StabilityMeter
from .frame_store import (FRAMES_DIR, LOSSES_CSV, frame_file_name, numbered_frame_files,
                          read_loss_rows)
from .media.images import read_image, write_image_atomic
from .stitch import Stitcher

CUT_COLUMN = "cut"


class ChunkFrames:
    """Reads the final frame ``f`` from the chunk folders."""

    def __init__(self, plan: list[Chunk], folders: list[Path]):
        self.plan, self.folders = plan, folders

    def read(self, frame: int, raw: np.ndarray) -> np.ndarray:
        """Final frame ``frame``; ``raw`` is the clip's frame it was dreamed from."""
        sources = frame_sources(self.plan, frame)
        images = [read_image(self.folders[s.chunk] / FRAMES_DIR / frame_file_name(s.local))
                  for s in sources]
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

    def cuts(self) -> list[int]:
        """Scene cuts the chunks logged in the frames they give (warm-up ones are not)."""
        cuts = []
        for chunk, folder in zip(self.plan, self.folders):
            rows = read_loss_rows(folder / LOSSES_CSV)
            for frame in range(chunk.own_start, chunk.stop):
                if int(rows.get(chunk.local(frame) + 1, {}).get(CUT_COLUMN) or 0):
                    cuts.append(frame)
        return cuts


def assemble(out: Path, plan: list[Chunk], folders: list[Path], *, raw_frames, fps: float,
             estimator: FlowEstimator, stitcher: Stitcher) -> tuple[list[Path], dict]:
    """Write OUT/frames/, feed the stitcher, measure: the stitched files, report.json."""
    frames_dir = out / FRAMES_DIR
    frames_dir.mkdir(parents=True, exist_ok=True)
    count = plan[-1].stop
    for stale in numbered_frame_files(frames_dir)[count:]:  # a longer earlier plan's
        stale.unlink()
    chunk_frames = ChunkFrames(plan, folders)
    meter = StabilityMeter(fps, estimator)
    terms = []
    for frame, raw in zip(range(count), raw_frames):
        image = chunk_frames.read(frame, raw)
        write_image_atomic(frames_dir / frame_file_name(frame), image)
        stitcher.add(frame, image)
        terms.append(meter.add(raw, image))
    outputs = stitcher.finish(lambda index: read_image(frames_dir / frame_file_name(index)))
    stability = meter.report()
    report = {"summary": stability.summary_line(), **stability.to_dict(),
              "cuts": chunk_frames.cuts(),
              "chunks": [{"first_dreamed": c.render_start, "first_shown": c.keep_start,
                          "own": [c.own_start, c.stop]} for c in plan],
              "seams": seam_report(plan, terms)}
    write_json_atomic(out / "report.json", report)
    return outputs, report


def seam_window(chunk: Chunk) -> range:
    """Frames whose step from the frame before crosses chunk ``chunk``'s seam: the
    overlap and the first frame after it (with no overlap, the first own frame)."""
    return range(chunk.keep_start, chunk.own_start + 1)


def seam_report(plan: list[Chunk], terms: list[FrameTerms]) -> list[dict]:
    """Per seam: the largest flicker (E_warp of the output, and its excess over the
    source's) in its window against the median of the frames outside every window, and
    the mean dream strength there against the median elsewhere."""
    windows = [seam_window(c) for c in plan[1:]]
    at_seams = {f for window in windows for f in window}

    def e_out(t: FrameTerms) -> float | None:
        ok = t.e_warp_output is not None and t.e_warp_output == t.e_warp_output
        return t.e_warp_output if ok else None

    def added(t: FrameTerms) -> float | None:
        return None if e_out(t) is None else t.e_warp_output - t.e_warp_input

    def median_elsewhere(value) -> float | None:
        values = [value(t) for f, t in enumerate(terms) if f not in at_seams]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    def ratio(a, b):
        return None if a is None or not b else round(a / b, 4)

    base = {name: median_elsewhere(fn) for name, fn in
            (("e_warp", e_out), ("added", added), ("strength", lambda t: t.dream_strength))}
    seams = []
    for window in windows:
        inside = [terms[f] for f in window if f < len(terms)]
        e_values = [v for v in map(e_out, inside) if v is not None]
        added_values = [v for v in map(added, inside) if v is not None]
        e_max = max(e_values, default=None)
        added_max = max(added_values, default=None)
        strength = statistics.fmean(t.dream_strength for t in inside) if inside else None
        seams.append({
            "frames": [window.start, window.stop - 1],
            "e_warp": e_max, "e_warp_median_elsewhere": base["e_warp"],
            "e_warp_ratio": ratio(e_max, base["e_warp"]),
            "added_flicker": added_max, "added_flicker_median_elsewhere": base["added"],
            "added_flicker_ratio": ratio(added_max, base["added"]),
            "dream_strength": strength, "dream_strength_median_elsewhere": base["strength"],
            "dream_strength_ratio": ratio(strength, base["strength"]),
        })
    return seams
