"""Steps per second of the dream engine on TensorFlow, JAX and PyTorch (renderer/backends).

Run from the checkout root (JAX from pip install -e '.[jax]', PyTorch from '.[torch]'):

    PYTHONPATH=. python benchmarks/backend_speed.py                  # 256 and 512 px
    PYTHONPATH=. python benchmarks/backend_speed.py --sizes 512 --steps 10 --rounds 3
    PYTHONPATH=. python benchmarks/backend_speed.py --backends torch torch-compile

"torch-compile" is the torch step with each tile's model call (forward and backward)
wrapped in torch.compile: the engine does not do it; this measures whether it should.

Keras picks its backend once per process, so each backend runs in a child process of its
own (this script again, with --backend). Each child builds the embedded model with its
default layers, dreams a square noise image through renderer.engine.dream.dream (one octave,
default tiling: one 512-px tile up to 512 px, jitter 32), once to trace/compile, then
``--rounds`` times ``--steps`` steps; the table shows the median steps/s and the one-off
warm-up (trace + compile + first run) per size.

Measured on the 2-core dev box (Xeon, AVX-512; TF 2.21 with oneDNN, jax 0.10.2 CPU, torch
2.15.0), --steps 10 --rounds 3, steps/s at 256 / 512 px: tensorflow 30.1-32.2 / 10.6-12.2;
jax 3.0 / 0.82 (XLA's CPU grouped convolutions: benchmarks/jax_depthwise.py); torch 12.0 /
4.19; torch-compile 7.4 / 2.7 after a 59 s warm-up, so the engine stays eager.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def child(backend: str, sizes: list[int], steps: int, rounds: int) -> dict:
    from renderer.runtime.backend_choice import use

    compiled = backend == "torch-compile"
    use("torch" if compiled else backend)
    import numpy as np

    if compiled:
        import torch

        from renderer.engine.steps.torch_step import TorchAscent

        TorchAscent._window_loss = torch.compile(TorchAscent._window_loss)

    from renderer.engine.dream import DreamSettings, dream
    from renderer.imaging.noise import make_noise
    from renderer.models.loading import load_dream_model

    model = load_dream_model("mobilenet_v2_dogs")
    results = {}
    for size in sizes:
        image = make_noise(size, size, seed=0).astype(np.float32)
        settings = DreamSettings(steps=steps, octaves=1, tile_size=512).validate()
        start = time.perf_counter()
        dream(image, model, settings, measure_octave_ends=False)
        warm_up = time.perf_counter() - start
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            dream(image, model, settings, measure_octave_ends=False)
            times.append(time.perf_counter() - start)
        results[size] = {"steps_per_s": steps / statistics.median(times), "warm_up_s": warm_up}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--backend", help=argparse.SUPPRESS)  # the child's
    args = parser.parse_args()
    if args.backend:
        print(json.dumps(child(args.backend, args.sizes, args.steps, args.rounds)))
        return
    table = {}
    for backend in args.backends:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--backend",
                backend,
                "--sizes",
                *map(str, args.sizes),
                "--steps",
                str(args.steps),
                "--rounds",
                str(args.rounds),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            print(f"{backend}: failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        table[backend] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"{'backend':<12}"
        + "".join(f"{f'{s} px steps/s':>18}{'warm-up s':>11}" for s in args.sizes)
    )
    for backend, results in table.items():
        print(
            f"{backend:<12}"
            + "".join(
                f"{results[str(s)]['steps_per_s']:>18.2f}{results[str(s)]['warm_up_s']:>11.1f}"
                for s in args.sizes
            )
        )


if __name__ == "__main__":
    main()
