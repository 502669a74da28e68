"""`output.interpolate`: how close flow in-betweens come to the frames they stand for, and
what they cost (issue 21, item 5).

A 24 fps sequence is synthesized (a smooth texture panning and slowly zooming, with a
brighter square moving across it faster, so there are occlusions), every other frame is
dropped (12 fps), and the dropped ones are made again at t = 0.5 by:

* repeat: the previous kept frame (what a 12 fps render shows at 24 fps);
* blend: the cross-fade of the two kept neighbours;
* flow: renderer.imaging.interpolate (occlusion-aware, DIS medium flow).

Reported against the true dropped frames: mean absolute error (0..255) and E_warp-style
masked squared error (RGB in [0, 1], the pixels the flow's forward-backward check trusts);
then seconds per pair (both flows, masks) and per in-between at 384x384 and 1280x720.

    PYTHONPATH=. .venv/bin/python benchmarks/interpolate_check.py
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from renderer.imaging.flow import FlowEstimator
from renderer.imaging.interpolate import inbetween, linear_blend, pair_motion


def texture(height: int, width: int, seed: int, sigma: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigma)
    return cv2.normalize(blurred, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def sequence(count: int, height: int, width: int) -> list[np.ndarray]:
    """Frame k: the background panned 3 px and zoomed 0.4 % a frame, a square moving 6 px."""
    background = texture(height * 2, width * 2, seed=0, sigma=4.0)
    square = texture(height // 4, height // 4, seed=1, sigma=2.0) // 2 + 128
    frames = []
    for k in range(count):
        scale = 1.0 + 0.004 * k
        matrix = np.float32([[1 / scale, 0, width / 2 + 3 * k], [0, 1 / scale, height / 2]])
        frame = cv2.warpAffine(background, matrix, (width, height), flags=cv2.WARP_INVERSE_MAP)
        left = 10 + 6 * k
        side = square.shape[0]
        top = height // 3
        if left + side < width:
            frame[top : top + side, left : left + side] = square
        frames.append(frame)
    return frames


def errors(made: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    diff = made.astype(np.float32) - truth.astype(np.float32)
    squared = ((diff / 255.0) ** 2).sum(axis=2)
    return float(np.abs(diff).mean()), float((squared * mask).sum() / max(mask.sum(), 1.0))


def quality(count: int, size: int) -> dict[str, tuple[float, float]]:
    frames = sequence(count, size, size)
    estimator = FlowEstimator()
    totals: dict[str, list[tuple[float, float]]] = {"repeat": [], "blend": [], "flow": []}
    for k in range(0, count - 2, 2):
        a, truth, b = frames[k], frames[k + 1], frames[k + 2]
        motion = pair_motion(estimator, a, b)
        mask = motion.trusted_a * motion.trusted_b  # pixels both flows agree on
        totals["repeat"].append(errors(a, truth, mask))
        totals["blend"].append(errors(linear_blend(a, b, 0.5), truth, mask))
        totals["flow"].append(errors(inbetween(a, b, 0.5, motion), truth, mask))
    return {name: tuple(np.mean(values, axis=0)) for name, values in totals.items()}


def cost(height: int, width: int, repeats: int = 5) -> tuple[float, float]:
    a, b = sequence(2, height, width)
    estimator = FlowEstimator()
    pair_motion(estimator, a, b)  # warm
    start = time.perf_counter()
    for _ in range(repeats):
        motion = pair_motion(estimator, a, b)
    per_pair = (time.perf_counter() - start) / repeats
    start = time.perf_counter()
    for _ in range(repeats):
        inbetween(a, b, 0.5, motion)
    return per_pair, (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=25, help="24 fps frames synthesized")
    parser.add_argument("--size", type=int, default=384, help="side of the quality test")
    args = parser.parse_args()
    print(f"quality: {args.frames} frames at {args.size}x{args.size}, every other dropped")
    print("method   MAE (0..255)   E_warp-style (masked MSE, [0,1])")
    for name, (mae, e_warp) in quality(args.frames, args.size).items():
        print(f"{name:8s} {mae:12.2f}   {e_warp:.5f}")
    for height, width in ((384, 384), (720, 1280)):
        pair, tween = cost(height, width)
        print(
            f"cost {width}x{height}: {pair * 1000:.1f} ms a pair (2 flows + masks), "
            f"{tween * 1000:.1f} ms an in-between"
        )


if __name__ == "__main__":
    main()
