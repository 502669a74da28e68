"""JAX's compile time for one image size, and what its persistent cache saves.

Each child process dreams one step of noise twice (video-dream's layers, 512-px tiles):
the first call compiles the step, the second runs it, so first - second is the compile.
Two children share a fresh $DREAMREEL_CACHE, where the JAX step keeps its compiled steps
(renderer/engine/steps/jax_step.py): the second child loads them instead of compiling.

    PYTHONPATH=. python benchmarks/jax_compile_cache.py              # 1280x720
    PYTHONPATH=. python benchmarks/jax_compile_cache.py --size 384 384
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def child(height: int, width: int) -> None:
    from renderer.runtime.backend_choice import use

    use("jax")
    import numpy as np

    from renderer.engine.dream import DreamSettings, dream
    from renderer.imaging.noise import make_noise
    from renderer.models.loading import load_dream_model

    model = load_dream_model(
        "mobilenet_v2_dogs", {"block_12_expand_relu": 1.0, "block_13_expand_relu": 1.0}
    )
    image = make_noise(height, width, seed=0).astype(np.float32)
    settings = DreamSettings(steps=1, octaves=1, tile_size=512).validate()
    times = []
    for _ in range(2):
        start = time.perf_counter()
        dream(image, model, settings, measure_octave_ends=False)
        times.append(time.perf_counter() - start)
    print(
        f"first {times[0]:.1f} s, again {times[1]:.1f} s: compile or load "
        f"~{times[0] - times[1]:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, nargs=2, default=[720, 1280], metavar=("HEIGHT", "WIDTH")
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.size)
        return
    from renderer.models.embedded import cache_dir, ensure_embedded_weights

    ensure_embedded_weights()
    with tempfile.TemporaryDirectory() as cache:
        for name in ("mobilenet_v2_dogs.h5", "mobilenet_v2_dogs.classes.json"):
            if (cache_dir() / name).is_file():
                os.symlink(cache_dir() / name, os.path.join(cache, name))
        env = {**os.environ, "DREAMREEL_CACHE": cache, "KERAS_BACKEND": ""}
        env.pop("JAX_COMPILATION_CACHE_DIR", None)
        for label in ("empty cache", "cache from the first run"):
            proc = subprocess.run(
                [sys.executable, __file__, "--child", "--size", *map(str, args.size)],
                env=env,
                capture_output=True,
                text=True,
            )
            said = proc.stdout.strip().splitlines()[-1:] or proc.stderr.strip().splitlines()[-1:]
            print(f"{label:>24}: {said[0] if said else 'no output'}")


if __name__ == "__main__":
    main()
