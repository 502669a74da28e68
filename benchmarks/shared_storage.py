"""What rendering into an object store costs: the same render into a local folder and
into S3 (moto's server on this machine), each in a fresh process.

Per run: wall seconds of `dreamreel render`, frames/s, and for S3 how far the URL lags
the render (rows at the URL sampled while it runs, against the frames on the staging
disk) and the bytes that went up. moto on localhost has no network latency: a real
store adds its round trips to the mirror thread, not to the dream.

    PYTHONPATH=. python benchmarks/shared_storage.py [--frames 60] [--size 512]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def render_cmd(out: str, frames: int, size: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "renderer.cli.main",
        "render",
        "noise-zoom",
        "--out",
        out,
        "--quiet",
        "--set",
        f"frames={frames}",
        "--set",
        f"width={size}",
        "--set",
        f"height={size}",
        "--set",
        "dream.steps=4",
        "--set",
        "output.gif=false",
    ]


def timed(cmd: list[str], env: dict, sample=None) -> tuple[float, list]:
    started = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    samples = []
    while child.poll() is None:
        if sample:
            samples.append(sample())
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    if child.returncode:
        sys.exit(child.stderr.read().decode())
    return seconds, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    import fsspec
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    os.environ.update(
        {
            k: env[k]
            for k in (
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION",
                "AWS_ENDPOINT_URL",
            )
        }
    )
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir("bench")
    env["DREAMREEL_STAGING"] = staging = tempfile.mkdtemp(prefix="bench-staging-")
    with tempfile.TemporaryDirectory() as local:
        local_s, _ = timed(render_cmd(f"{local}/zoom", args.frames, args.size), env)

    def sample() -> tuple[int, int]:
        """(rows at the URL, frame PNGs in the staging copy) right now."""
        fs.invalidate_cache()
        try:
            rows = len(fs.cat("bench/zoom/losses.csv").splitlines()) - 1
        except FileNotFoundError:
            rows = 0
        on_disk = sum(
            len(files) for folder, _, files in os.walk(staging) if folder.endswith("frames")
        )
        return rows, on_disk

    s3_s, samples = timed(render_cmd("s3://bench/zoom", args.frames, args.size), env, sample)
    up = sum(info["size"] for info in fs.find("bench/zoom", detail=True).values())
    lags = [disk - rows for rows, disk in samples if disk]
    print(f"noise-zoom, {args.frames} frames at {args.size}x{args.size}, dream.steps=4")
    print(f"local folder: {local_s:.1f} s ({args.frames / local_s:.2f} frames/s)")
    print(
        f"s3 (moto):    {s3_s:.1f} s ({args.frames / s3_s:.2f} frames/s), "
        f"{s3_s / local_s - 1:+.1%}; {up / 1e6:.1f} MB at the URL"
    )
    if lags:
        print(
            f"frames on the staging disk not yet listed at the URL, sampled every 0.5 s: "
            f"median {sorted(lags)[len(lags) // 2]}, max {max(lags)}"
        )
    server.stop()


if __name__ == "__main__":
    main()
