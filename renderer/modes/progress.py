"""Progress mode: how one dream grows, as captioned snapshots over steps and octaves.

Writes frames/NNNNNN.png (every snapshot at the output size, captioned), progress.gif,
progress.mp4, contact_sheet.png, losses.csv (one row a snapshot), steps.csv (the loss
before every gradient step) and manifest.json.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from ..captions import caption
from ..dream import Snapshot, dream, octave_shapes, resize
from ..manifest import build_manifest
from renderer.contact_sheet import contact_sheet
from renderer.media.images import to_uint8, write_image_atomic
from renderer.files import write_csv_atomic, write_json_atomic
from ..spec import RenderSpec
from ..stitch import stitch
from .source import source_image


@dataclass
class ProgressResult:
    out_dir: Path
    frames: int
    losses: list[float]       # one per snapshot
    final_loss: float
    seconds: float
    outputs: list[Path]       # GIF/MP4 as asked, the contact sheet


def caption_text(snap: Snapshot) -> str:
    return f"octave {snap.octave}/{snap.octaves}  step {snap.step}/{snap.steps}  loss {snap.loss:.4f}"


def render_progress(spec: RenderSpec, model, out_dir: Path, *,
                    progress: Callable[[int, int], None] | None = None) -> ProgressResult:
    """Dream ``spec``'s image with ``model`` (a models.DreamModel) and write every output.

    ``progress(steps_done, steps_total)`` is called as the dream advances (for a progress bar).
    """
    started = time.perf_counter()
    image = source_image(spec)
    height, width = image.shape[:2]
    frames_dir = out_dir / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    for stale in frames_dir.glob("*.png"):  # a previous run's snapshots would mix in
        stale.unlink()
    rows: list[list] = []
    thumbs: list[tuple[np.ndarray, str]] = []
    settings = spec.dream_settings()
    thumb_shape = _thumb_shape(height, width, spec.progress.contact_thumb)

    def on_snapshot(snap: Snapshot) -> None:
        frame = to_uint8(resize(snap.image, (height, width)))
        text = caption_text(snap)
        thumbs.append((cv2.resize(frame, thumb_shape[::-1], interpolation=cv2.INTER_AREA), text))
        if spec.progress.caption:
            frame = caption(frame, text)
        index = len(rows) + 1
        write_image_atomic(frames_dir / f"{index:06d}.png", frame)
        done = (snap.octave - 1) * snap.steps + snap.step
        rows.append([index, snap.octave, snap.step, done, f"{snap.loss:.6f}"])
        if progress:
            progress(done, snap.octaves * snap.steps)

    result = dream(image, model, settings, snapshot_every=spec.progress.every,
                   on_snapshot=on_snapshot)
    write_csv_atomic(out_dir / "losses.csv", ["frame", "octave", "step", "total_step", "loss"], rows)
    write_csv_atomic(out_dir / "steps.csv", ["octave", "step", "loss"],
                     [[o + 1, s, f"{loss:.6f}"] for o, losses in enumerate(result.losses)
                      for s, loss in enumerate(losses)])
    sheet = contact_sheet([caption(t, text) if spec.progress.caption else t for t, text in thumbs],
                          columns=spec.progress.contact_columns or None)
    write_image_atomic(out_dir / "contact_sheet.png", sheet)
    outputs = _stitch(spec, len(rows), out_dir) + [out_dir / "contact_sheet.png"]
    seconds = time.perf_counter() - started
    shapes = octave_shapes(height, width, settings.octaves, settings.octave_scale)
    manifest = build_manifest(spec.to_dict(), model, mode="progress", frames=len(rows),
                              size=[width, height], octave_shapes=shapes,
                              octave_losses=result.octave_losses, seconds=round(seconds, 2))
    write_json_atomic(out_dir / "manifest.json", manifest)
    return ProgressResult(out_dir, len(rows), [float(r[-1]) for r in rows],
                          result.final_loss, seconds, outputs)


def _stitch(spec: RenderSpec, frame_count: int, out_dir: Path) -> list[Path]:
    """GIF and MP4 from the frames on disk, the last one held ``hold_last`` seconds."""
    out = spec.output
    return stitch(out_dir, name="progress", fps=spec.fps, count=frame_count, mp4=out.mp4, gif=out.gif,
           gif_max_side=out.gif_max_side, hold_last=out.hold_last)


def _thumb_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))
