"""Peak memory of a video render as the clip gets longer (it should stay flat).

Makes synthetic clips (a pan over a sample photo, 192x160 at 12 fps) of several lengths
and renders each with flow on, in a fresh process, reporting the child's peak RSS. Frames
are streamed from the clip and the stability report is computed frame pair by frame
pair, so nothing should grow with the number of frames but the loss log.

    PYTHONPATH=. python benchmarks/video_memory.py [--frames 24 96 192]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = [
    "mode=video",
    "dream.steps=3",
    "dream.octaves=1",
    "video.first_steps=6",
    "video.first_octaves=1",
    "output.gif=false",
    "output.hold_last=0",
]


def make_clip(path: Path, frames: int) -> None:
    from renderer.media import write_mp4
    from renderer.media.images import read_image

    photo = cv2.resize(read_image(ROOT / "samples" / "astronaut.jpg"), (900, 240))

    def pan():  # 1 px a frame, back and forth, so any length fits the photo
        for t in range(frames):
            x = t % 600 if (t // 600) % 2 == 0 else 600 - t % 600
            yield photo[40:200, x : x + 192]

    write_mp4(path, pan(), 12)


def render_in_child(clip: Path, out: Path) -> tuple[float, float]:
    """(peak RSS MiB of the render process, seconds); ru_maxrss is in KiB on Linux."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "renderer.cli.main",
            "render",
            "progress",
            "--input",
            str(clip),
            "--out",
            str(out),
            "--quiet",
            *[a for s in SETTINGS for a in ("--set", s)],
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"render of {clip} failed with status {status}")
    return usage.ru_maxrss / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[24, 96, 192])
    args = parser.parse_args()
    print(f"# load at start {os.getloadavg()}")
    print("| frames | peak RSS MiB | seconds |")
    print("|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for frames in args.frames:
            clip = Path(tmp) / f"pan{frames}.mp4"
            make_clip(clip, frames)
            peak, seconds = render_in_child(clip, Path(tmp) / f"out{frames}")
            print(f"| {frames} | {peak:.0f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
