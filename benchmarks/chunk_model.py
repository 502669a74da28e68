"""A model of a chunked render's speed-up on N GPU workers, from measured pieces.

A 10-minute 720p clip (14,400 frames at 24 fps) rendered with video-dream in N chunks, one
per worker. What this machine can measure, it does, at 1280x720:
- a worker's start: a fresh process importing TensorFlow and building the model;
- the driver's assembly, per frame (renderer/distributed/chunk_assemble.py, one after another): read
  the chunk's PNG (on threads, read ahead), hard-link it into the clip's frames, an x264
  encode; and per seam, the stability meter's two flows for each of its crossfade + 1
  frame pairs (the chunks measured the others as they rendered). "write PNG" is what a
  blended frame costs.
What it cannot (no GPU here) is the dream's time per frame on a GPU, ``t_f``: the model is
printed for several (0.1 s is the issue's 10 frames/s goal). Per chunk after the first,
``video.warmup + video.crossfade`` extra frames are dreamed (the seam's cost), and every
chunk's first frame dreams fully (video-dream: 30 steps x 4 octaves against 8 x 2, about
4.7 frames' work at octave scale 1.4).

    T(1) = start + t_f * (F + first)                       (a plain render; its stability
                                                            and encoding overlap the dream)
    T(N) = ray + start + t_f * (F / N + extra + first) + F * t_assemble
           + (N - 1) * (crossfade + 1) * (t_stability + t_write)

and the parts way (renderer/distributed/chunk_parts.py), where each worker encodes its own frames:

    T(N) = ray + start + t_f * (F / N + extra + first) + F / N * (t_read + t_encode)
           + F * (t_link + t_join)
           + (N - 1) * (crossfade + 1) * (t_stability + t_write + 2 t_read + t_encode)

    PYTHONPATH=. python benchmarks/chunk_model.py [--frames 14400] [--t-f 0.1 0.25 0.5]
    PYTHONPATH=. python benchmarks/chunk_model.py --assembly-ms 16
        (what if: see benchmarks/history/chunked-video.md)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import cv2
import numpy as np

WIDTH, HEIGHT = 1280, 720
# A local Ray's start, measured with `dreamreel batch --ray` (benchmarks/history/chunked-video.md).
RAY_START_S = 5.0
FIRST_FRAME = (30 * (1 + 1.4**-2 + 1.4**-4 + 1.4**-6)) / (8 * (1 + 1.4**-2))


def _frames(count: int) -> list[np.ndarray]:
    """A textured 720p pan: what flow and the encoder see in a real clip."""
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(
        rng.integers(0, 256, (HEIGHT + 64, WIDTH + 256, 3), np.uint8), (0, 0), 2
    )
    return [
        np.ascontiguousarray(texture[16 : 16 + HEIGHT, 4 * i : 4 * i + WIDTH]) for i in range(count)
    ]


def worker_start_s() -> float:
    """A fresh process: import the engine, build the model (as a chunk's worker does)."""
    code = (
        "from renderer.runtime.backend_choice import use; use('tensorflow'); "
        "from renderer.models.loading import load_dream_model; "
        "load_dream_model('mobilenet_v2_dogs', "
        "{'block_12_expand_relu': 1.0, 'block_13_expand_relu': 1.0})"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def assembly_s(count: int = 24) -> dict[str, float]:
    """Per-frame seconds of the driver's assembly steps at 720p (median over frames)."""
    from renderer.imaging.flow import FlowEstimator
    from renderer.imaging.stability import StabilityMeter
    from renderer.media.images import read_image, write_image_atomic

    frames = _frames(count)
    meter = StabilityMeter(24, FlowEstimator("dis", "medium"))
    times: dict[str, list[float]] = {
        "read PNG": [],
        "link": [],
        "encode": [],
        "write PNG": [],
        "stability": [],
    }
    with (
        tempfile.TemporaryDirectory() as folder,
        av.open(str(Path(folder) / "clip.mp4"), "w") as container,
    ):
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i, frame in enumerate(frames):
            path = Path(folder) / f"{i:06d}.png"
            start = time.perf_counter()
            write_image_atomic(path, frame)
            times["write PNG"].append(time.perf_counter() - start)
            start = time.perf_counter()
            image = read_image(path)
            times["read PNG"].append(time.perf_counter() - start)
            start = time.perf_counter()
            os.link(path, path.with_suffix(".link"))
            times["link"].append(time.perf_counter() - start)
            start = time.perf_counter()
            meter.add(frame, image)
            times["stability"].append(time.perf_counter() - start)
            start = time.perf_counter()
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
            times["encode"].append(time.perf_counter() - start)
        # What the assembly does now: the next frames read on threads meanwhile.
        paths = sorted(Path(folder).glob("*.png"))
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            start = time.perf_counter()
            list(pool.map(read_image, paths))
            threaded = (time.perf_counter() - start) / len(paths)
        # The parts way: the driver joins the workers' parts by copying packets.
        from renderer.media.mp4_concat import concat_mp4
        from renderer.media.writer import write_mp4

        part = Path(folder) / "part.mp4"
        write_mp4(part, frames, 24)
        start = time.perf_counter()
        joined = concat_mp4(Path(folder) / "joined.mp4", [part] * 10, 24)
        join = (time.perf_counter() - start) / joined
    pieces = {name: statistics.median(values[1:]) for name, values in times.items()}
    return {**pieces, "read PNG, threads": threaded, "join": join}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=14_400)
    parser.add_argument("--t-f", type=float, nargs="+", default=[0.1, 0.25, 0.5])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument(
        "--extra", type=int, default=16 + 8, help="video.warmup + video.crossfade (defaults 16 + 8)"
    )
    parser.add_argument(
        "--assembly-ms",
        type=float,
        help="model this assembly cost per frame instead of the measured one",
    )
    parser.add_argument("--crossfade", type=int, default=8)
    args = parser.parse_args()

    start = worker_start_s()
    pieces = assembly_s()
    per_frame = pieces["read PNG, threads"] + pieces["link"] + pieces["encode"]
    per_seam = (args.crossfade + 1) * (pieces["stability"] + pieces["write PNG"])
    print(
        f"measured at {WIDTH}x{HEIGHT}: worker start {start:.1f} s; "
        + ", ".join(f"{name} {1000 * s:.1f} ms" for name, s in pieces.items())
    )
    print(
        f"assembly {1000 * per_frame:.0f} ms/frame (threaded read, link, encode) + "
        f"{per_seam:.1f} s "
        f"per seam ({args.crossfade + 1} blended pairs measured)"
    )
    if args.assembly_ms is not None:
        per_frame = args.assembly_ms / 1000
        print(f"modelled with an assembly of {args.assembly_ms:g} ms/frame instead")
    frames = args.frames
    print(
        f"{frames} frames; first frame = {FIRST_FRAME:.1f} frames' work; "
        f"{args.extra} extra frames per chunk after the first"
    )
    # The parts way (renderer/distributed/chunk_parts.py): each worker reads and encodes its own
    # frames after dreaming them; the driver links every frame, joins the parts, and per
    # seam reads both chunks' frames, blends, measures and encodes the cross-fade.
    worker_part = pieces["read PNG"] + pieces["encode"]
    parts_frame = pieces["link"] + pieces["join"]
    parts_seam = (args.crossfade + 1) * (
        pieces["stability"] + pieces["write PNG"] + 2 * pieces["read PNG"] + pieces["encode"]
    )
    print(
        f"parts way: workers {1000 * worker_part:.1f} ms/frame (read, encode); driver "
        f"{1000 * parts_frame:.2f} ms/frame (link, join) + {parts_seam:.1f} s per seam"
    )
    for way in ("serial", "parts"):
        print(
            f"\n{way} assembly\n{'t_f s':>6} {'N':>4} {'T(N) min':>9} {'speed-up':>9} "
            f"{'seams %':>8} {'assembly %':>11}"
        )
        for t_f in args.t_f:
            plain = start + t_f * (frames + FIRST_FRAME)
            for n in args.workers:
                if n == 1:
                    total, seams, assembly = plain, 0.0, 0.0
                    print(f"{t_f:>6.2f} {n:>4} {total / 60:>9.1f} {1:>9.2f} {0:>8.2f} {0:>11.1f}")
                    continue
                seams = (n - 1) * args.extra * t_f  # all workers' extra dreaming
                chunk = t_f * (frames / n + args.extra + FIRST_FRAME)
                if way == "serial":
                    assembly = frames * per_frame + (n - 1) * per_seam
                else:
                    chunk += frames / n * worker_part
                    assembly = frames * parts_frame + (n - 1) * parts_seam
                total = RAY_START_S + start + chunk + assembly
                print(
                    f"{t_f:>6.2f} {n:>4} {total / 60:>9.1f} {plain / total:>9.2f} "
                    f"{100 * seams / (t_f * frames):>8.2f} {100 * assembly / total:>11.1f}"
                )


if __name__ == "__main__":
    main()
