"""A long clip rendered whole and in chunks: wall time, what comes out, how the seams look.

Makes a 10 s 320x180 24 fps pan over samples/coffee.jpg with a 440 Hz track, renders it
with video-quick (every 2nd frame) plain, in 2 chunks one after another, and (with Ray
installed) in 2 chunks on a local Ray, then prints per run: wall seconds, the MP4's frame
count, fps and sound, and per seam (report.json "seams") its flicker and dream strength
against the rest of the clip.

    PYTHONPATH=. python benchmarks/chunk_seams.py [--out /tmp/chunk_seams] [--no-ray]
        [--no-plain] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from importlib import util
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import SAMPLES
from helpers import write_clip

FRAMES, FPS, WIDTH, HEIGHT = 240, 24, 320, 180


def make_clip(path: Path) -> Path:
    photo = np.asarray(Image.open(SAMPLES / "coffee.jpg").convert("RGB"))
    big = cv2.resize(photo, (720, 405), interpolation=cv2.INTER_AREA)
    frames = [
        cv2.warpAffine(
            big,
            np.float32([[1, 0, -400 * t / (FRAMES - 1)], [0, 1, -40]]),
            (WIDTH, HEIGHT),
            flags=cv2.INTER_LINEAR,
        )
        for t in range(FRAMES)
    ]
    seconds = np.arange(int(FRAMES / FPS * 48000)) / 48000
    return write_clip(
        path, frames, FPS, audio=(0.3 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32)
    )


def described(mp4: Path) -> str:
    with av.open(str(mp4)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video))
        sound = "sound" if container.streams.audio else "no sound"
        return f"{frames} frames, {float(video.average_rate):g} fps, {sound}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/chunk_seams"))
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--no-plain", action="store_true", help="the chunked runs only")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE for every run")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    clip = make_clip(args.out / "long.mp4")
    runs = {"plain": [], "2 chunks": ["--chunks", "2"]}
    if args.no_plain:
        del runs["plain"]
    if not args.no_ray and util.find_spec("ray") is not None:
        runs["2 chunks on Ray"] = ["--chunks", "2", "--ray"]
    for name, extra in runs.items():
        out = args.out / name.replace(" ", "-")
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "renderer.cli.main",
                "render",
                "video-quick",
                "--input",
                str(clip),
                "--out",
                str(out),
                "--restart",
                "--quiet",
                "--set",
                "video.end=",
                "--set",
                "output.gif=false",
                *[arg for value in args.set for arg in ("--set", value)],
                *extra,
            ],
            check=True,
        )
        seconds = time.perf_counter() - start
        print(f"{name}: {seconds:.1f} s, {described(out / 'video.mp4')}")
        for seam in json.loads((out / "report.json").read_text()).get("seams", []):
            print(
                f"  seam at frames {seam['frames'][0]}-{seam['frames'][1]}: flicker "
                f"{seam['e_warp_ratio']}x the median elsewhere ("
                f"{seam['e_warp_over_source_ratio']}x against the source's, added flicker "
                f"{seam['added_flicker_ratio']}x), dream strength "
                f"{seam['dream_strength_ratio']}x"
            )


if __name__ == "__main__":
    main()
