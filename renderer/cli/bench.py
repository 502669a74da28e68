"""`dreamreel bench`: how fast this machine dreams, and which settings suit it.

A short run (1-2 minutes on 2 CPU cores) with the embedded model:
- the engine alone: gradient steps per second and megapixel-steps per second on square
  images (512, 1024, 2048 px by default), traced once beforehand (one trace serves every
  size), with the FLOP rate that makes (`renderer.flops`) against a measured float32
  matmul peak;
- one zoom frame and one video frame at 720p, rendered through the real frame loop
  (`renderer.render`), with where their seconds went when the render records it; the
  video once more with ``pipeline = false``, to compare the loops on this machine;
- suggestions drawn from those numbers.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.flops import image_step_flops, machine_peak
from ..models.loading import cached_dream_model
from ..store.frame_names import LOSSES_CSV
from ..store.loss_log import read_loss_rows

FULL = {"sizes": (512, 1024, 2048), "steps": (6, 3, 2), "frame": (1280, 720), "frames": 3}
QUICK = {"sizes": (64, 128), "steps": (2, 2), "frame": (160, 96), "frames": 3}
# The matmul peak the GFLOP/s are compared with: well under a second on 2 cores.
PEAK_QUICK = {"matmul_size": 2048, "repeats": 5, "budget_s": 1.0}


@dataclass
class EngineSpeed:
    size: int
    steps: int
    seconds: float
    flops_per_step: float = 0.0  # every tile window's forward + input gradient (renderer.flops)

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds

    @property
    def mpix_steps_per_s(self) -> float:
        return self.size * self.size / 1e6 * self.steps_per_s

    @property
    def gflops_per_s(self) -> float:
        return self.flops_per_step * self.steps_per_s / 1e9


@dataclass
class FrameSpeed:
    mode: str
    width: int
    height: int
    seconds_per_frame: float  # median over the frames after the first
    profile: dict[str, Any] | None  # the render's stage table, where it records one
    pipeline: bool = True  # decode/flow ahead, writing behind, on threads

    @property
    def wall_per_frame(self) -> float | None:
        """The render's whole wall time (outputs included) over its frames."""
        profile = self.profile or {}
        if not profile.get("frames"):
            return None
        return profile["wall_seconds"] / profile["frames"]


@dataclass
class BenchReport:
    engine: list[EngineSpeed] = field(default_factory=list)
    frames: list[FrameSpeed] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)
    peak: dict[str, Any] | None = None  # renderer.flops.machine_peak()

    def share_of_peak(self, engine: EngineSpeed) -> float | None:
        """The engine's GFLOP/s over the measured matmul peak."""
        measured = (self.peak or {}).get("measured_gflops")
        return engine.gflops_per_s / measured if measured else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": [
                {
                    **asdict(e),
                    "steps_per_s": round(e.steps_per_s, 3),
                    "mpix_steps_per_s": round(e.mpix_steps_per_s, 3),
                    "gflops_per_s": round(e.gflops_per_s, 2),
                    "share_of_matmul_peak": _rounded(self.share_of_peak(e), 4),
                }
                for e in self.engine
            ],
            "peak": self.peak,
            "frames": [asdict(f) for f in self.frames],
            "suggestions": self.suggestions,
        }

    def lines(self) -> list[str]:
        out = ["engine (embedded model, 1 octave):"]
        for e in self.engine:
            share = self.share_of_peak(e)
            out.append(
                f"  {e.size:>5} px  {e.steps_per_s:7.2f} steps/s  "
                f"{e.mpix_steps_per_s:7.2f} megapixel-steps/s  "
                f"{e.gflops_per_s:6.1f} GFLOP/s"
                + (f"  {share:4.0%} of matmul peak" if share is not None else "")
            )
        if self.peak:
            out.append(
                f"  GFLOP/s: the convolutions' forward + input gradient per step; "
                f"matmul peak {self.peak['measured_gflops']:.0f} GFLOP/s: "
                f"{self.peak['measured_how']}"
            )
        out.append("frames through the frame loop:")
        for f in self.frames:
            loop = "" if f.pipeline else "  (pipeline = false)"
            out.append(
                f"  {f.mode:<5} {f.width}x{f.height}  {f.seconds_per_frame:6.2f} s/frame" + loop
            )
            summary = (f.profile or {}).get("summary", "")
            if ": " in summary:  # the stages by share, then what ran alongside the dream
                out.append(f"        {summary.split(': ', 1)[1]}")
        out.append("suggestions:")
        out += [f"  - {s}" for s in self.suggestions]
        return out


def run_bench(*, quick: bool = False, say: Callable[[str], None] = print) -> BenchReport:

    plan = QUICK if quick else FULL
    model = cached_dream_model("mobilenet_v2_dogs")
    report = BenchReport()
    for size, steps in zip(plan["sizes"], plan["steps"]):
        say(f"engine: {steps} steps at {size}x{size}...")
        report.engine.append(engine_speed(model, size, steps))
    say("float32 matmul peak...")
    report.peak = machine_peak(**PEAK_QUICK)
    width, height = plan["frame"]
    with tempfile.TemporaryDirectory(prefix="dreamreel-bench-") as tmp:
        say(f"a zoom at {width}x{height}...")
        report.frames.append(zoom_frame_speed(Path(tmp), width, height, plan["frames"]))
        for pipeline in (True, False):  # the zoom traced this size: both run warm
            say(f"a video at {width}x{height}{'' if pipeline else ', pipeline = false'}...")
            report.frames.append(
                video_frame_speed(Path(tmp), width, height, plan["frames"], pipeline=pipeline)
            )
    report.suggestions = suggest(report)
    return report


def engine_speed(model, size: int, steps: int) -> EngineSpeed:
    """Seconds for `steps` gradient steps on a size x size image (after a warm-up step)."""
    from ..engine.dream import DreamSettings, dream  # lazy: loads OpenCV
    from ..imaging.noise import make_noise  # lazy: loads OpenCV

    image = make_noise(size, size, kind="fractal", seed=0).astype(np.float32)
    dream(image, model, DreamSettings(steps=1, octaves=1), measure_octave_ends=False)
    settings = DreamSettings(steps=steps, octaves=1)
    started = time.perf_counter()
    dream(image, model, settings, measure_octave_ends=False)
    seconds = time.perf_counter() - started
    flops = image_step_flops(model, size, size, settings.resolved_tile_size(), settings.tile_margin)
    return EngineSpeed(size, steps, seconds, flops)


def zoom_frame_speed(tmp: Path, width: int, height: int, frames: int) -> FrameSpeed:
    """noise-zoom's settings at this size; frame 0 dreams like the rest (no warm-up)."""
    from ..rendering.render_preset import render  # lazy: loads OpenCV, Pillow

    result = render(
        "noise-zoom",
        out=tmp / "zoom",
        width=width,
        height=height,
        frames=frames,
        zoom={"first_steps": 5, "first_octaves": 1},
        output={"gif": False},
    )
    return FrameSpeed(
        "zoom", width, height, _seconds_per_frame(tmp / "zoom"), getattr(result, "profile", None)
    )


def video_frame_speed(
    tmp: Path, width: int, height: int, frames: int, *, pipeline: bool = True
) -> FrameSpeed:
    """video-quick's settings on a made-up clip of this size (a pan over fractal noise)."""
    from ..imaging.noise import make_noise  # lazy: loads OpenCV
    from ..media.writer import write_mp4  # lazy: loads OpenCV
    from ..rendering.render_preset import render  # lazy: loads OpenCV, Pillow

    clip = tmp / "pan.mp4"
    if not clip.exists():
        scene = make_noise(height + 8 * frames, width + 8 * frames, kind="fractal", seed=1)
        write_mp4(
            clip, (scene[4 * k : 4 * k + height, 8 * k : 8 * k + width] for k in range(frames)), 24
        )
    out = tmp / f"video-{'pipelined' if pipeline else 'sequential'}"
    result = render(
        "video-quick",
        input=clip,
        out=out,
        pipeline=pipeline,
        video={"max_size": max(width, height), "every": 1, "first_steps": 6, "first_octaves": 1},
        output={"gif": False},
    )
    return FrameSpeed(
        "video", width, height, _seconds_per_frame(out), getattr(result, "profile", None), pipeline
    )


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _seconds_per_frame(out_dir: Path) -> float:
    """Median dream-loop seconds of the frames after the first (which pays for tracing)."""
    rows = read_loss_rows(out_dir / LOSSES_CSV)
    seconds = [row["seconds"] for frame, row in sorted(rows.items()) if frame > 1]
    return statistics.median(seconds) if seconds else float("nan")


def suggest(report: BenchReport) -> list[str]:
    """What to try, from the numbers: tiling, previews with cadence, the GPU."""
    notes = []
    small, large = report.engine[0], report.engine[-1]
    ratio = large.mpix_steps_per_s / small.mpix_steps_per_s
    if ratio < 0.75:
        notes.append(
            f"large images dream at {ratio:.0%} of the small-image rate: try a "
            f"larger dream.tile_size (e.g. 1024) if memory allows"
        )
    else:
        notes.append(
            f"tiling costs little here ({large.size} px runs at {ratio:.0%} of the "
            f"{small.size} px rate per pixel): keep dream.tile_size = 'auto'"
        )
    notes.append(_suggest_pipeline(report))
    video = next((f for f in report.frames if f.mode == "video"), None)
    if video is not None and video.seconds_per_frame > 1.0:
        hours = video.seconds_per_frame * 24 * 60 / 3600
        notes.append(
            f"a minute of 24 fps video takes ~{hours:.1f} h at {video.width}x"
            f"{video.height}: preview first with video.cadence=3 (the video-preview "
            f"preset: ~2.7x faster) and video.max_size=480, and render the full "
            f"size on a GPU"
        )
    return [note for note in notes if note]


def _suggest_pipeline(report: BenchReport) -> str | None:
    """pipeline = true or false, from the same video rendered both ways."""
    videos = {f.pipeline: f.wall_per_frame for f in report.frames if f.mode == "video"}
    piped, plain = videos.get(True), videos.get(False)
    if not piped or not plain:
        return None
    if piped <= plain * 1.02:
        return (
            f"keep pipeline = true: a video frame takes {piped:.2f} s with decoding and "
            f"flow ahead of the dream and writing behind it, {plain:.2f} s in line"
        )
    return (
        f"pipeline = false was faster here ({plain:.2f} s against {piped:.2f} s a video "
        f"frame): the dream leaves no core idle for the workers"
    )
