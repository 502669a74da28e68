"""Wrap smoothness of a looped zoom: E_warp of the wrap pair vs the median consecutive pair.

    PYTHONPATH=. .venv/bin/python benchmarks/zoom_loop_wrap.py OUT [SIZE FRAMES LOOP]

Renders noise-zoom at SIZE px with zoom.loop=LOOP and the same chain without a loop
(frames + loop frames), reads both MP4s back with PyAV, and measures each played pair:
known motion (the zoom step redone with OpenCV, no mask) and DIS flow with occlusion mask.
"""

import sys
import time
from pathlib import Path

import av
import cv2
import numpy as np

import renderer
from renderer.imaging.flow import FlowEstimator, flow_pair, occlusion_mask
from renderer.imaging.stability import warp_error
from renderer.rendering.spec import load_spec

out = Path(sys.argv[1])
size, frames, loop = (int(a) for a in (sys.argv[2:] or [256, 48, 8]))
common = [f"width={size}", f"height={size}", "output.gif=false"]
specs = {
    "loop": [*common, f"frames={frames}", f"zoom.loop={loop}"],
    "plain": [*common, f"frames={frames + loop}"],
}
scale = load_spec("noise-zoom").zoom.scale(0)


def frames_of(path):
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def known(a, b):
    h, w = a.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0.0, scale)
    moved = (
        cv2.warpAffine(
            a.astype(np.float32),
            m,
            (w, h),
            flags=cv2.INTER_LANCZOS4,
            borderMode=cv2.BORDER_REFLECT_101,
        )
        / 255
    )
    return float(((b / 255 - moved) ** 2).sum(-1).mean())


flow = FlowEstimator()


def by_flow(a, b):
    back, fwd = flow_pair(flow, a, b)
    return warp_error(a, b, occlusion_mask(back, fwd), back)


for name, overrides in specs.items():
    t = time.time()
    renderer.render(load_spec("noise-zoom", overrides), out=out / name, restart=True)
    played = frames_of(out / name / "zoom.mp4")
    if name == "plain":
        played = played[loop:]  # the same chain frames, played without the fade
    print(f"{name}: {len(played)} MP4 frames played, rendered in {time.time() - t:.0f} s")
    for label, measure in (("known motion", known), ("DIS flow+mask", by_flow)):
        steps = [measure(a, b) for a, b in zip(played, played[1:])]
        wrap, median = measure(played[-1], played[0]), float(np.median(steps))
        print(
            f"  {label}: wrap {wrap:.5f}, median pair {median:.5f}, ratio {wrap / median:.2f},"
            f" max pair {max(steps):.5f}"
        )
