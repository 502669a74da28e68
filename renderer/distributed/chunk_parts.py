"""A chunked clip assembled from parts the workers encoded: the driver reads the seams only.

The serial assembly (renderer/distributed/chunk_assemble.py) reads every frame once more to
encode the MP4: 12 ms a 720p frame, the cap on a chunked render's speed-up
(benchmarks/history/chunked-video.md).
Here each chunk's worker, right after its render, encodes the final frames it gives alone
(``solo_range``: between the cross-fades) into ``part-<first>-<stop>.mp4`` in its folder,
in parallel with the others. The driver then

    links those frames into OUT/frames/ (no decoding),
    reads the clip and the chunks only around the seams: it blends the cross-faded frames,
    measures the frame pairs the chunks could not, and encodes the blends as small parts,
    joins the parts in order by copying their packets (renderer/media/mp4_concat.py),
    with the clip's sound.

Frames, losses.csv, manifest and report.json are those of the serial assembly; the MP4
differs from one encoded in one go only at the joins, where each part starts on a
keyframe. A GIF, a ping-pong or a held last frame still needs every frame: those renders
take the serial assembly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..imaging.flow import FlowEstimator
from ..imaging.stability import measure_frame
from ..media.images import read_image, write_image_atomic
from ..media.mp4_concat import PartsDiffer, concat_mp4
from ..media.writer import write_mp4
from ..runtime.atomic_files import atomic_path
from ..store.frame_names import FRAMES_DIR, frame_file_name
from .chunk_assemble import ChunkFrames, clip_frames_dir, linked, write_records
from .chunk_plan import Chunk, solo_range

PARTS_DIR = ".parts"  # OUT's blends while they are joined (hidden: never mirrored)


def part_name(frames: range) -> str:
    return f"part-{frames.start:06d}-{frames.stop:06d}.mp4"


def encode_solo_part(folder: Path, *, plan: list[Chunk], index: int, fps: float) -> None:
    """In chunk ``index``'s worker, after its render: the final frames it gives alone, as
    an MP4 in its folder (none when the cross-fades leave it none)."""
    frames = solo_range(plan, index)
    if not frames:
        return
    chunk = plan[index]
    paths = [Path(folder) / FRAMES_DIR / frame_file_name(chunk.local(f)) for f in frames]
    write_mp4(Path(folder) / part_name(frames), (read_image(p) for p in paths), fps)


def parts_ready(plan: list[Chunk], folders: list[Path]) -> bool:
    """Whether every chunk left its part (one rendered by an older dreamreel did not)."""
    return all(
        (folder / part_name(solo_range(plan, index))).is_file()
        for index, folder in enumerate(folders)
        if solo_range(plan, index)
    )


def assemble_from_parts(
    out: Path,
    plan: list[Chunk],
    folders: list[Path],
    *,
    clip,
    fps: float,
    estimator: FlowEstimator,
    mp4: Path,
    audio,
    manifest: dict,
    recipe: str | None = None,
) -> tuple[list[Path], dict]:
    """OUT/frames/, ``mp4`` (carrying ``recipe``) and the records from the chunks' parts
    (module notes); ``clip`` is the raw clip (renderer.media.reader.Clip) the seams are read from.
    PartsDiffer when the parts cannot be joined: the caller assembles serially."""
    count = plan[-1].stop
    frames_dir = clip_frames_dir(out, count)
    chunk_frames = ChunkFrames(plan, folders)
    terms = [chunk_frames.logged_terms(f) for f in range(count)]
    blended: dict[int, object] = {}  # frame -> image, the cross-faded ones
    for first, stop in _runs([f for f in range(count) if terms[f] is None]):
        _measure_run(first, stop, clip, chunk_frames, estimator, terms, blended)
    for frame in range(count):
        target = frames_dir / frame_file_name(frame)
        if frame in blended:
            write_image_atomic(target, blended[frame])
        else:
            source = chunk_frames.unblended(frame)
            if not linked(source, target):
                with atomic_path(target) as temp:
                    shutil.copyfile(source, temp)
    parts_dir = out / PARTS_DIR
    parts_dir.mkdir(exist_ok=True)
    try:
        parts = []
        for index, chunk in enumerate(plan):
            overlap = range(chunk.keep_start, chunk.own_start)
            if overlap:
                parts.append(parts_dir / part_name(overlap))
                write_mp4(parts[-1], (blended[f] for f in overlap), fps)
            if solo_range(plan, index):
                parts.append(folders[index] / part_name(solo_range(plan, index)))
        written = concat_mp4(mp4, parts, fps, audio=audio, comment=recipe)
    finally:
        shutil.rmtree(parts_dir, ignore_errors=True)
    if written != count:
        raise PartsDiffer(f"the parts hold {written} frames, the clip {count}")
    return [mp4], write_records(out, plan, chunk_frames, terms, fps, estimator, manifest)


def _runs(frames: list[int]) -> list[tuple[int, int]]:
    """Sorted frame numbers as (first, stop) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for frame in frames:
        if runs and runs[-1][1] == frame:
            runs[-1] = (runs[-1][0], frame + 1)
        else:
            runs.append((frame, frame + 1))
    return runs


def _measure_run(
    first: int,
    stop: int,
    clip,
    chunk_frames: ChunkFrames,
    estimator: FlowEstimator,
    terms: list,
    blended: dict,
) -> None:
    """Frames first..stop-1 (a seam): their images (blends where cross-faded) and terms,
    each against the frame before it (read too, unless the run starts the clip)."""
    start = max(0, first - 1)
    raws = clip.frames(start)
    previous = None
    try:
        for frame in range(start, stop):
            raw = next(raws)
            image = chunk_frames.read(frame, raw)
            if chunk_frames.unblended(frame) is None:
                blended[frame] = image
            if frame >= first:
                terms[frame] = measure_frame(raw, image, previous, estimator=estimator)
            previous = (raw, image)
    finally:
        raws.close()
