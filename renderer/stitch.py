"""Stitch a render folder's numbered PNG frames into `<name>.mp4` and `<name>.gif`.

Frames are read from disk one at a time as the encoders ask for them: the MP4 never
holds more than one frame in memory (the GIF writer, Pillow, keeps its downscaled
frames until the file closes).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from renderer.errors import DreamreelError
from renderer.frame_store import (
    FRAMES_DIR,
    done_frame_count,
    numbered_frame_files,
    read_manifest,
)
from renderer.media.audio import AudioSource
from renderer.media.writer import check_fps, write_gif, write_mp4
from renderer.media.images import read_image
from renderer.stage_clock import NULL_CLOCK


def play_order(count: int, *, fps: float, pingpong: bool = False, hold_last: float = 0.0
               ) -> list[int]:
    """Frame indices in playing order.

    pingpong: 0..n-1 then n-2..1, so the loop repeats neither end frame (2n-2 frames).
    hold_last: the last frame shown round(hold_last * fps) extra times; ignored with
    pingpong, whose last frame leads straight back into the first.
    """
    forward = list(range(count))
    if pingpong:
        return forward + forward[-2:0:-1]
    extra = max(0, round(hold_last * fps)) if count else 0
    return forward + [count - 1] * extra


def _stream(paths: Sequence[Path], order: Sequence[int]) -> Iterator[np.ndarray]:
    """Decode frames lazily in `order`; a frame repeated back to back is decoded once."""
    last_index, last_frame = None, None
    for index in order:
        if index != last_index:
            last_index, last_frame = index, read_image(paths[index])
        yield last_frame


def stitch(
    out_dir: str | Path,
    *,
    name: str,
    fps: float,
    count: int | None = None,
    mp4: bool = True,
    gif: bool = True,
    gif_max_side: int = 480,
    pingpong: bool = False,
    hold_last: float = 0.0,
    audio: AudioSource | None = None,
    clock=NULL_CLOCK,
) -> list[Path]:
    """Write out_dir/<name>.mp4 and/or <name>.gif from out_dir/frames/*.png; return them.

    `count` takes only the first that many frames (e.g. the done ones of a resumed run).
    `audio` (a video render's `clip.audio`) puts the clip's sound under the MP4.
    `clock` (a StageClock) gets the seconds of each as "encode_mp4" and "encode_gif"
    (reading the PNGs back included).
    """
    out_dir = Path(out_dir)
    fps = check_fps(fps)
    if not (hold_last >= 0 and hold_last != float("inf")):
        raise DreamreelError(f"hold_last must be a number of seconds >= 0, got {hold_last}")
    if not name or Path(name).name != name or name in (".", ".."):
        raise DreamreelError(f"output name must be a plain file name, got {name!r}")
    frames_dir = out_dir / FRAMES_DIR
    paths = numbered_frame_files(frames_dir)
    if count is not None:
        if count > len(paths):
            raise DreamreelError(
                f"{frames_dir} holds {len(paths)} frames, fewer than the {count} to stitch"
            )
        paths = paths[: max(0, count)]
    if not paths:
        raise DreamreelError(f"no frames in {frames_dir} to stitch")

    order = play_order(len(paths), fps=float(fps), pingpong=pingpong, hold_last=hold_last)
    written = []
    if mp4:
        target = out_dir / f"{name}.mp4"
        with clock.stage("encode_mp4"):
            write_mp4(target, _stream(paths, order), fps, audio=audio)
        written.append(target)
    if gif:
        target = out_dir / f"{name}.gif"
        with clock.stage("encode_gif"):
            write_gif(target, _stream(paths, order), fps, loop=True, max_side=gif_max_side)
        written.append(target)
    return written


def stitch_from_manifest(out_dir: str | Path) -> list[Path]:
    """`dreamreel stitch OUT_DIR`: stitch the done frames with the settings in manifest.json
    (and a video render's recorded fps and sound).

    Done frames are those with a PNG and a losses.csv row (FrameStore's rule), in every mode.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise DreamreelError(f"cannot stitch '{out_dir}': no such folder")
    manifest = read_manifest(out_dir)
    if manifest is None:
        raise DreamreelError(
            f"cannot stitch '{out_dir}': no manifest.json there (not a dreamreel render folder)"
        )
    spec = manifest["spec"]
    output = spec.get("output") or {}
    try:
        name = str(spec["mode"])
        fps = float(manifest.get("fps") or spec["fps"])  # a clip's own fps, when recorded
        settings = {
            "mp4": bool(output.get("mp4", True)),
            "gif": bool(output.get("gif", True)),
            "gif_max_side": int(output.get("gif_max_side", 480)),
            "pingpong": bool(output.get("pingpong", False)),
            "hold_last": float(output.get("hold_last", 0.0)),
        }
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise DreamreelError(
            f"cannot stitch '{out_dir}': manifest.json lacks a usable mode/fps/output ({err!r})"
        ) from err
    count = done_frame_count(out_dir)
    if count <= 0:
        raise DreamreelError(f"no frames in {out_dir / FRAMES_DIR} to stitch")
    try:
        audio = AudioSource.from_dict(manifest["audio"]) if manifest.get("audio") else None
    except (TypeError, ValueError, AttributeError) as err:
        raise DreamreelError(
            f"cannot stitch '{out_dir}': manifest.json has an unusable audio entry ({err})"
        ) from err
    return stitch(out_dir, name=name, fps=fps, count=count, audio=audio, **settings)
