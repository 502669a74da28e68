"""`dreamreel stability`: a dreamed video against its source, frames paired by time.

Frame k of a render is the source's frame at `start + k * every / rate`, not the
source's frame k: paired by index, a render with ``video.every = 2`` or a later
``video.start`` measured a dream against the wrong pictures (80x the flicker its own
report.json gave). So:

* a render folder (or a file inside one, its video.mp4): the range, ``every``,
  ``max_size`` and rate come from its manifest.json, and the source is opened with them by
  the video mode's own reader (renderer.media.open_video), which picks the very frames the
  render dreamed; the folder's PNGs are measured as report.json measured them;
* a bare video: paired only when the timing says how (the same rate and frame count, or
  the source's rate a whole multiple of the output's over the same duration); otherwise
  refused, saying how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..imaging.flow import FlowEstimator
from ..imaging.stability import StabilityMeter, StabilityReport
from ..media.images import read_image
from ..media.reader import open_video
from ..runtime.errors import DreamreelError
from ..store.frame_names import FRAMES_DIR, frame_file_name
from ..store.frame_store import done_frame_count, read_manifest

_RANGE_KEYS = ("start", "end", "start_frame", "end_frame", "every", "max_size")
_DEFAULT_FLOW = {"method": "dis", "preset": "medium"}


def stability_of_videos(
    output_path: str | Path,
    source_path: str | Path | None = None,
    *,
    method: str | None = None,
    preset: str | None = None,
) -> StabilityReport:
    """E_warp and dream strength of ``output_path`` (a render folder, a file in one, or a
    bare video) against ``source_path`` (default: a render's recorded input)."""
    output = Path(output_path)
    folder = _render_folder_of(output)
    if folder is not None:
        return _of_render(folder, output, source_path, method, preset)
    if output.is_dir():
        raise DreamreelError(
            f"cannot measure '{output}': a folder without manifest.json (not "
            f"a dreamreel render folder); give a render folder or a video"
        )
    if source_path is None:
        raise DreamreelError(
            f"'{output}' is not inside a render folder: give the clip it was "
            f"made from with --source CLIP"
        )
    return _of_bare_video(output, Path(source_path), _estimator(method, preset, {}))


def _render_folder_of(path: Path) -> Path | None:
    """The render folder ``path`` is, or holds a file of (with its manifest.json)."""
    folder = path if path.is_dir() else path.parent
    return folder if (folder / "manifest.json").is_file() else None


def _estimator(method: str | None, preset: str | None, flow: dict[str, Any]) -> FlowEstimator:
    """The render's own flow settings unless told otherwise: report.json used them."""
    return FlowEstimator(
        method or flow.get("method") or _DEFAULT_FLOW["method"],
        preset or flow.get("preset") or _DEFAULT_FLOW["preset"],
    )


def _open(path: str | Path, role: str, **options: Any):
    """open_video, its errors naming the video's role ("output", "source")."""
    try:
        return open_video(path, **options)
    except DreamreelError as err:
        message = str(err).replace("cannot read video", f"cannot read {role} video", 1)
        raise DreamreelError(message) from None


def _of_render(folder: Path, output: Path, source_path, method, preset) -> StabilityReport:

    manifest = read_manifest(folder)
    spec = manifest["spec"]
    if spec.get("mode") != "video":
        raise DreamreelError(
            f"'{folder}' holds a {spec.get('mode')} render: stability "
            f"compares a dreamed clip with the clip it was made from"
        )
    source = source_path if source_path is not None else spec.get("input")
    if not source:
        raise DreamreelError(f"'{folder}' records no input: give the clip with --source CLIP")
    video = spec.get("video") or {}
    options = {key: video.get(key) for key in _RANGE_KEYS}
    options["every"] = options["every"] or 1
    # The clip as the render saw it: transparent pixels on the render's background.
    if spec.get("input_background"):
        options["background"] = spec["input_background"]
    estimator = _estimator(method, preset, spec.get("flow") or {})
    with _open(source, "source", folder_fps=float(spec.get("fps") or 24.0), **options) as clip:
        rendered_fps = manifest.get("fps")
        if rendered_fps and not math.isclose(float(clip.fps), float(rendered_fps), rel_tol=1e-6):
            raise DreamreelError(
                f"'{source}' gives {float(clip.fps):g} fps over the render's range, the render "
                f"in '{folder}' has {float(rendered_fps):g}: pass the clip it was made from "
                f"(its input was '{spec.get('input')}')"
            )
        meter = StabilityMeter(clip.fps, estimator)
        done = done_frame_count(folder)
        count = min(done, clip.frame_count)
        if done < clip.frame_count:
            meter.notes.append(
                f"the render has {done} of its {clip.frame_count} frames: measured those"
            )
        if count == 0:
            raise DreamreelError(f"no frames in '{folder}' to measure")
        if output.is_dir():
            frames = _stored_frames(folder, count)
        else:
            frames = _file_frames(output, clip, count, meter)
        _measure(meter, frames, clip.frames(), (clip.width, clip.height))
        return meter.report()


def _stored_frames(folder: Path, count: int) -> Iterator[np.ndarray]:
    """The render's PNGs: lossless, what its report.json measured."""
    for index in range(count):
        yield read_image(folder / FRAMES_DIR / frame_file_name(index))


def _file_frames(output: Path, clip, count: int, meter: StabilityMeter) -> Iterator[np.ndarray]:
    """A video of the render (its MP4): its first ``count`` frames, on the source's times
    (what follows them, hold_last or a pingpong's way back, is no source frame)."""
    video = _open(output, "output")
    if not math.isclose(float(video.fps), float(clip.fps), rel_tol=1e-6):
        video.close()
        raise DreamreelError(
            f"'{output}' plays at {float(video.fps):g} fps, the render at {float(clip.fps):g}: "
            f"measure the render folder '{output.parent}' instead"
        )
    if video.frame_count < count:
        meter.notes.append(
            f"'{output.name}' holds {video.frame_count} of the render's "
            f"{count} frames: measured those"
        )
    return _closing(video, video.frames(), count)


def _closing(video, frames: Iterator[np.ndarray], count: int) -> Iterator[np.ndarray]:
    try:
        for _, frame in zip(range(count), frames):
            yield frame
    finally:
        video.close()


def _measure(
    meter: StabilityMeter,
    outputs: Iterator[np.ndarray],
    sources: Iterator[np.ndarray],
    source_size: tuple[int, int],
) -> None:
    """Feed the pairs; a source of another size is resized to the output's (a note)."""
    for out_frame, src_frame in zip(outputs, sources):
        size = (out_frame.shape[1], out_frame.shape[0])
        if size != source_size:
            if not meter.frames:
                meter.notes.append(
                    f"source {source_size[0]}x{source_size[1]} resized to the "
                    f"output's {size[0]}x{size[1]}"
                )
            src_frame = cv2.resize(src_frame, size, interpolation=cv2.INTER_AREA)
        meter.add(src_frame, out_frame)


def _of_bare_video(output: Path, source: Path, estimator: FlowEstimator) -> StabilityReport:
    with _open(output, "output") as out, _open(source, "source") as src:
        every = _every_for(out, src)
        if every is None:
            raise DreamreelError(
                f"cannot pair the frames of '{output}' ({out.frame_count} at {float(out.fps):g} "
                f"fps) with '{source}' ({src.frame_count} at {float(src.fps):g} fps) by time: "
                f"measure the render folder instead (its manifest.json knows the range), or "
                f"give a source cut to the output's range and rate"
            )
    with _open(output, "output") as out, _open(source, "source", every=every) as src:
        meter = StabilityMeter(out.fps, estimator)
        if every > 1:
            meter.notes.append(
                f"source at {src.source_fps:g} fps: 1 frame in {every} "
                f"taken, at the output's {float(out.fps):g} fps"
            )
        _measure(meter, out.frames(), src.frames(), (src.width, src.height))
        return meter.report()


def _every_for(out, src) -> int | None:
    """n when the output is the source at 1/n of its rate over the same time; None when
    the timing does not say which source frame each output frame is."""
    ratio = src.rate / out.rate
    if ratio.denominator != 1 or ratio < 1:
        return None
    every = int(ratio)
    return every if out.frame_count == -(-src.frame_count // every) else None
