"""What a render returns: its folder, frames, outputs, time and report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
