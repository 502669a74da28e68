"""Progress mode: how one dream grows, as captioned snapshots over steps and octaves.

Each snapshot is a frame of the common frame loop: frame 0 is the start image, then a
frame every ``progress.every`` steps and at the end of each octave. Each frame continues
the one dream from where the last frame left it (the engine's DreamState, kept as the
frame's checkpoint), so a killed render resumes mid-dream and re-stitches like any other.

Besides frames/, losses.csv, the MP4 and GIF, it writes steps.csv (the loss before every
gradient step), thumbs/ (captioned thumbnails) and contact_sheet.png (a grid of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ...engine.dream import DreamState, octave_shapes, resize
from ...imaging.captions import caption
from ...imaging.contact_sheet import contact_sheet
from ...media.images import read_image, to_uint8, write_image_atomic
from ...runtime.atomic_files import write_csv_atomic
from ...runtime.errors import DreamreelError
from .base import FrameOut, FrameStart, ModeBase, ModeSummary, register
from .source import octave_notes, source_image

if TYPE_CHECKING:
    from ..spec import RenderSpec

THUMBS_DIR = "thumbs"
CONTACT_SHEET = "contact_sheet.png"
STEPS_CSV = "steps.csv"


@dataclass(frozen=True)
class ProgressSettings:
    """The ``progress`` table: which snapshots become frames, and the contact sheet."""

    every: int = 5  # a snapshot every this many steps (and at each octave end)
    caption: bool = True  # octave, step and loss written on each snapshot
    contact_columns: int = 0  # columns of the contact sheet; 0 picks ~sqrt(n)
    contact_thumb: int = 256  # long side of each contact-sheet thumbnail

    def check(self, prefix: str) -> None:
        if self.every < 1:
            raise DreamreelError(f"{prefix}every must be >= 1, got {self.every}")
        if self.contact_columns < 0 or self.contact_thumb < 16:
            raise DreamreelError(
                f"{prefix}contact_columns must be >= 0 and {prefix}contact_thumb >= 16"
            )


def snapshot_plan(octaves: int, steps: int, every: int) -> list[tuple[int, int]]:
    """(octave, steps done in it) of every snapshot, octaves 0-based: the start, every
    ``every`` steps, and each octave's end."""
    if steps == 0:
        return [(0, 0)]  # nothing grows: the start is the whole story
    plan = [(0, 0)]
    for octave in range(octaves):
        plan += [(octave, step) for step in range(every, steps, every)]
        plan.append((octave, steps))
    return plan


def caption_text(octave: int, octaves: int, step: int, steps: int, loss: float) -> str:
    return f"octave {octave}/{octaves}  step {step}/{steps}  loss {loss:.4f}"


@register
class ProgressMode(ModeBase):
    """One image dreamed once; its snapshots are the frames."""

    name = "progress"
    columns = ("octave", "step", "total_step", "step_losses")
    settings = {"progress": ProgressSettings}
    private_tables = ("progress",)

    def __init__(self, spec: RenderSpec):
        self.spec = spec
        self.source = source_image(spec)
        self.height, self.width = self.source.shape[:2]
        # One dream with the render's seed and frame 0's schedules, split into frames.
        self.settings = spec.dream_settings()
        self.shapes = octave_shapes(
            self.height, self.width, self.settings.octaves, self.settings.octave_scale
        )
        self.plan = snapshot_plan(len(self.shapes), self.settings.steps, spec.progress.every)
        self.count = len(self.plan)
        self.fps = spec.fps
        self.state: DreamState | None = None
        self.thumbs_dir: Path | None = None
        scale = min(1.0, spec.progress.contact_thumb / max(self.height, self.width))
        self.thumb_size = (max(1, round(self.width * scale)), max(1, round(self.height * scale)))

    def resume(self, done: int, store) -> int:
        """Continue from the last stored frame's dream state; without one (a render of an
        older version), dream again from the start: the frames come out the same."""
        self.thumbs_dir = store.out_dir / THUMBS_DIR
        if done == 0:
            return 0
        arrays = store.read_checkpoint(done - 1)
        if arrays is None:
            return 0
        self.state = DreamState.from_arrays(arrays)
        return done

    def start(self, index: int, seed: int, ready=None) -> FrameStart:
        octave, step = self.plan[index]
        if index == 0:
            max_steps = 0
        else:
            last_octave, last_step = self.plan[index - 1]
            max_steps = step - last_step if octave == last_octave else step
        settings = {
            "seed": self.settings.seed,
            "steps": self.settings.steps,
            "step_size": self.settings.step_size,
        }
        log = {
            "octave": octave + 1,
            "step": step,
            "total_step": octave * self.settings.steps + step,
        }
        return FrameStart(self.source, settings, log, state=self.state, max_steps=max_steps)

    def finish(self, index: int, result) -> FrameOut:
        self.state = result.state
        octave, step = self.plan[index]
        exact = resize(result.image, (self.height, self.width))
        frame = to_uint8(exact)
        text = caption_text(
            octave + 1, len(self.shapes), step, self.settings.steps, result.final_loss
        )
        thumb = cv2.resize(frame, self.thumb_size, interpolation=cv2.INTER_AREA)
        if self.spec.progress.caption:
            frame, thumb = caption(frame, text), caption(thumb, text)
            if self.spec.objective is not None:  # what this dream maximises, on top
                frame = caption(frame, self.spec.objective.label(index), where="top")
        # Written before the frame counts as done, so every done frame has its thumbnail.
        write_image_atomic(self._thumb_path(index), thumb)
        steps = [np.ravel(losses) for losses in result.losses]
        step_losses = np.concatenate(steps or [np.zeros(0)])
        return FrameOut(
            frame,
            checkpoint=result.state.to_arrays(),
            log={"step_losses": " ".join(f"{v:.6f}" for v in step_losses)},
            exact=exact,  # a caption's pixels: their bytes (renderer/media/images.py to_uint16)
        )

    def notes(self) -> list[str]:
        return octave_notes(self.spec, self.height, self.width)

    def manifest(self) -> dict:
        return {
            "size": [self.width, self.height],
            "octave_shapes": [list(shape) for shape in self.shapes],
        }

    def close(self, store) -> ModeSummary:
        rows = store.rows()[: self.count]
        steps_rows = []
        for row in rows:
            losses = _losses(row.get("step_losses"))
            octave, first = int(row["octave"]), int(row["step"]) - len(losses)
            for offset, loss in enumerate(losses):
                steps_rows.append([octave, first + offset, f"{loss:.6f}"])
        write_csv_atomic(store.out_dir / STEPS_CSV, ["octave", "step", "loss"], steps_rows)
        thumbs = [read_image(self._thumb_path(index)) for index in range(len(rows))]
        sheet = contact_sheet(thumbs, columns=self.spec.progress.contact_columns or None)
        write_image_atomic(store.out_dir / CONTACT_SHEET, sheet)
        return ModeSummary(files=[store.out_dir / CONTACT_SHEET])

    def _thumb_path(self, index: int) -> Path:
        return self.thumbs_dir / f"{index + 1:06d}.png"


def _losses(logged) -> list[float]:
    """A step_losses cell: space-separated numbers (one number reads back as a float)."""
    if logged is None or logged == "":
        return []
    return [float(v) for v in str(logged).split()]
