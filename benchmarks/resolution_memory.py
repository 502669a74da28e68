"""Peak memory (and time) of one dream step at real frame sizes, per tile size.

Run from the checkout root:

    PYTHONPATH=. python benchmarks/resolution_memory.py
    PYTHONPATH=. python benchmarks/resolution_memory.py --sizes 1280x720 3840x2160 \
        --tiles 512 256 auto --steps 1 --json /tmp/resolution_memory.json

Each measurement is one fresh child process (a peak never carries over): it imports
TensorFlow, loads the model (``load_dream_model``, default layers), records its peak RSS
(the baseline: TF + model, no dream), then runs
``dream(frame, model, DreamSettings(steps=S, octaves=O, tile_size=T))`` on a natural test
image of the frame size: every octave, S steps each (S=1: one step per octave, the
largest octave being the frame itself). The parent takes the child's peak RSS from
os.wait4 (ru_maxrss), the same number VmHWM gives. ``s/step`` is the dream's wall time
divided by the steps of its last (full-size) octave plus the smaller octaves' steps --
i.e. wall time / (O * S); the first call includes tracing, so with steps=1 it is an
upper bound. ``--tiles auto`` uses the tile size DreamSettings picks from this
machine's memory (tile_size=None).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load, machine_info, machine_line, test_image


def child(args) -> int:
    from renderer.runtime.quiet_tensorflow import import_tensorflow_quietly

    import_tensorflow_quietly()
    from renderer.engine.dream import DreamSettings, dream, octave_shapes
    from renderer.models.loading import load_dream_model

    model = load_dream_model(args.model)
    image = test_image(args.height, args.width)
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tile = None if args.tile == "auto" else int(args.tile)
    settings = DreamSettings(steps=args.steps, octaves=args.octaves, tile_size=tile)
    resolved = settings.resolved_tile_size() if hasattr(settings, "resolved_tile_size") else tile
    t0 = time.perf_counter()
    dream(image, model, settings, measure_octave_ends=False)
    elapsed = time.perf_counter() - t0
    shapes = octave_shapes(args.height, args.width, args.octaves, settings.octave_scale)
    print(
        json.dumps(
            {
                "baseline_kib": baseline_kib,
                "tile": resolved,
                "self_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "seconds": elapsed,
                "octave_shapes": shapes,
                "steps_total": args.steps * len(shapes),
            }
        ),
        flush=True,
    )
    return 0


def run_child(width, height, tile, steps, octaves, model) -> dict:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--width",
        str(width),
        "--height",
        str(height),
        "--tile",
        str(tile),
        "--steps",
        str(steps),
        "--octaves",
        str(octaves),
        "--model",
        model,
    ]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(process.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read()
        if code != 0:
            raise RuntimeError(f"child {cmd} failed ({code}):\n{err.read()[-3000:]}")
    report = json.loads(text.strip().splitlines()[-1])
    report["peak_kib"] = usage.ru_maxrss  # Linux: KiB
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080", "3840x2160"])
    parser.add_argument("--tiles", nargs="+", default=["512", "256", "auto"])
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--octaves", type=int, default=3)
    parser.add_argument("--model", default="mobilenet_v2_dogs")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--height", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tile", default="512", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    info = machine_info()
    print(machine_line(info), flush=True)
    print(f"# steps={args.steps} per octave, octaves={args.octaves}, model {args.model}\n")
    header = [
        "frame",
        "tile_size",
        "tile used",
        "baseline MiB",
        "peak MiB",
        "dream MiB",
        "s/step",
        "load",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|", flush=True)
    rows = []
    for size in args.sizes:
        width, height = (int(v) for v in size.lower().split("x"))
        for tile in args.tiles:
            r = run_child(width, height, tile, args.steps, args.octaves, args.model)
            r.update(frame=size, tile_size=tile, load=load())
            rows.append(r)
            print(
                f"| {size} | {tile} | {r['tile']} | {r['baseline_kib'] / 1024:.0f} | "
                f"{r['peak_kib'] / 1024:.0f} | {(r['peak_kib'] - r['baseline_kib']) / 1024:.0f} | "
                f"{r['seconds'] / r['steps_total']:.1f} | {r['load']} |",
                flush=True,
            )
    print(
        "\npeak = child's ru_maxrss (whole process); baseline = peak after TF + model load; "
        "dream MiB = peak - baseline."
    )
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
