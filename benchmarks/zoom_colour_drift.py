"""Colour drift of a long zoom, with colour coherence on and off.

Renders the noise-zoom preset (by default 101 frames) twice and compares the Lab colour
statistics (per-channel mean and std) of the last frame with frame 0's. With coherence
on they should stay close; off, a long zoom drifts.

    PYTHONPATH=. python benchmarks/zoom_colour_drift.py [--frames 101] [--size 384]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def lab_stats(rgb: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return np.concatenate([lab.mean(axis=(0, 1)), lab.std(axis=(0, 1))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=101)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--preset", default="noise-zoom")
    args = parser.parse_args()

    from renderer.models.loading import load_dream_model
    from renderer.rendering.frame_loop import render_frames
    from renderer.rendering.spec import load_spec

    print(
        "| colour coherence | frame | L mean | a mean | b mean | L std | a std | b std | "
        "max abs change vs frame 0 | render s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for coherence in ("true", "false"):
        spec = load_spec(
            args.preset,
            [
                f"frames={args.frames}",
                f"width={args.size}",
                f"height={args.size}",
                f"zoom.color_coherence={coherence}",
                "output.gif=false",
            ],
        )
        model = load_dream_model(spec.model, spec.layer_weights(0))
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            render_frames(spec, model, Path(tmp))
            seconds = time.perf_counter() - started
            first = cv2.cvtColor(cv2.imread(f"{tmp}/frames/000001.png"), cv2.COLOR_BGR2RGB)
            last = cv2.cvtColor(
                cv2.imread(f"{tmp}/frames/{args.frames:06d}.png"), cv2.COLOR_BGR2RGB
            )
        for label, image in (("0", first), (str(args.frames - 1), last)):
            stats = lab_stats(image)
            drift = np.abs(stats - lab_stats(first)).max()
            print(
                f"| {coherence} | {label} | "
                + " | ".join(f"{v:.1f}" for v in stats)
                + f" | {drift:.1f} | {seconds:.0f} |"
            )


if __name__ == "__main__":
    main()
