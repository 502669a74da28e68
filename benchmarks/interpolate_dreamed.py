"""`output.interpolate` against a render dreamed at the higher rate (issue 21, item 5).

The same clip (samples/pan.mp4, 24 fps, 2 s) dreamed with the video-quick preset three
ways, each played at 24 fps:

* dreamed: every frame dreamed (video.every = 1);
* in-betweens: every other frame dreamed, output.interpolate = 2;
* repeats: every other frame dreamed, each shown twice (what 12 fps looks like at 24).

For each: the stability meter against the source (E_warp of the output, added flicker,
dream strength: renderer/imaging/stability.py), the mean absolute difference of its
frames from the dreamed-at-24 ones, and the render's CPU seconds (after a warm-up render
has loaded TensorFlow and the model).

    PYTHONPATH=. .venv/bin/python benchmarks/interpolate_dreamed.py
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import numpy as np

from renderer import render
from renderer.imaging.flow import FlowEstimator
from renderer.imaging.stability import StabilityMeter
from renderer.media.reader import open_video

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def frames_of(path: Path) -> list[np.ndarray]:
    with open_video(str(path)) as clip:
        return list(clip.frames())


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rendered(clip: Path, out: Path, *overrides: str) -> tuple[list[np.ndarray], float]:
    started = cpu_seconds()
    result = render("video-quick", input=str(clip), out=out, overrides=overrides, progress=False)
    seconds = cpu_seconds() - started
    mp4 = next(p for p in result.outputs if Path(p).suffix == ".mp4")
    return frames_of(Path(mp4)), seconds


def stability(frames: list[np.ndarray], source: list[np.ndarray]) -> dict:
    meter = StabilityMeter(24.0, FlowEstimator("dis", "medium"))
    for raw, frame in zip(source, frames):
        meter.add(raw, frame)
    return meter.report().to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=SAMPLES / "pan.mp4")
    args = parser.parse_args()
    source = frames_of(args.clip)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        rendered(args.clip, tmp / "warm", "video.end=0.25")  # TensorFlow and the model load
        dreamed, dreamed_s = rendered(args.clip, tmp / "dreamed", "video.every=1")
        between, between_s = rendered(args.clip, tmp / "between", "output.interpolate=2")
        repeats = [frame for frame in frames_of(tmp / "between" / "video.mp4")[::2] for _ in "ab"]
    count = min(len(source), len(dreamed), len(between), len(repeats))
    print(f"{args.clip.name}: {count} frames at 24 fps")
    print("| way | E_warp output | added flicker | dream strength | MAE vs dreamed | CPU s |")
    print("|---|---|---|---|---|---|")
    for name, frames, seconds in (
        ("dreamed at 24", dreamed, dreamed_s),
        ("12 + in-betweens", between, between_s),
        ("12, each twice", repeats, None),
    ):
        report = stability(frames[:count], source[:count])
        mae = np.mean([np.abs(a.astype(np.float32) - b).mean() for a, b in zip(frames, dreamed)])
        shown = "-" if seconds is None else f"{seconds:.1f}"
        print(
            f"| {name} | {report['e_warp_output']:.5f} | {report['added_flicker']:.5f} | "
            f"{report['dream_strength']:.4f} | {mae:.2f} | {shown} |"
        )


if __name__ == "__main__":
    main()
