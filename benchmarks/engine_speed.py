"""Steps per second of the dream engine against two plain reference loops.

Run from the checkout root:

    PYTHONPATH=. python benchmarks/engine_speed.py                 # 256, 512, 1024 px
    PYTHONPATH=. python benchmarks/engine_speed.py --sizes 512 --steps 20 --rounds 5
    PYTHONPATH=. python benchmarks/engine_speed.py --json /tmp/engine_speed.json

Variants, all on the same model (default: the embedded mobilenet_v2_dogs with its default
layers) and the same square test image, same algorithm (random roll jitter of up to 32 px,
loss = sum of weight * mean activation, gradient / (std + 1e-8), step 0.02 of half the
input range, clip to the input range):

  engine     renderer.engine.dream.dream(image, model, DreamSettings(steps=N, octaves=1),
             measure_octave_ends=False), as renderer.dream_image calls it: one octave, no
             snapshots, default tile_size=512 (so an image wider than 512 px is cut into
             tiles with 64-px margins); includes preprocessing and clipping back to RGB.
  engine_end the same with the end-of-octave loss measured (one more forward pass, what
             the frame scheduler logs to losses.csv): the cost of that measurement.
  engine_1t  the same call with tile_size = the image side (one tile); only at sizes above
             the default tile size, to show what tiling costs.
  ref_a      one tf.function call per step, image back to numpy between steps (the plain
             keras-io / TF-tutorial loop), untiled.
  ref_b      the whole step loop in one tf.function (`for i in tf.range(steps)`), untiled.

Tracing is excluded: every (variant, size) gets one warm-up call first. Each round then
times every variant once per size, in an order rotated from round to round, so that load
from other processes hits all variants alike; the table shows the median over rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load, machine_info, machine_line, test_image, weighted_mean_loss


def build_references(model, jitter: int):
    """(ref_a, ref_b): callables (rgb 0..255, steps, step_size) -> rgb, untiled."""
    from renderer.runtime.quiet_tensorflow import import_tensorflow_quietly

    tf = import_tensorflow_quietly()
    prep = model.preprocessing
    low = tf.constant(prep.low, tf.float32)
    high = tf.constant(prep.high, tf.float32)
    loss_of = weighted_mean_loss(model)

    def one_step(image, step_size):
        shift = tf.random.uniform([2], -jitter, jitter + 1, dtype=tf.int32)
        rolled = tf.roll(image, shift, axis=[0, 1])
        with tf.GradientTape() as tape:
            tape.watch(rolled)
            loss = loss_of(rolled)
        gradient = tf.roll(tape.gradient(loss, rolled), -shift, axis=[0, 1])
        gradient /= tf.math.reduce_std(gradient) + 1e-8
        return tf.clip_by_value(image + step_size * gradient, low, high), loss

    image_spec = tf.TensorSpec([None, None, 3], tf.float32)
    size_spec = tf.TensorSpec([3], tf.float32)

    @tf.function(input_signature=[image_spec, size_spec])
    def step_a(image, step_size):
        return one_step(image, step_size)

    @tf.function(input_signature=[image_spec, tf.TensorSpec([], tf.int32), size_spec])
    def loop_b(image, steps, step_size):
        loss = tf.constant(0.0)
        for _ in tf.range(steps):
            image, loss = one_step(image, step_size)
        return image, loss

    def ref_a(rgb, steps, step_size):
        x = prep.to_model(rgb)
        losses = []
        for _ in range(steps):
            out, loss = step_a(x, step_size)
            x = out.numpy()  # the numpy round trip of a plain Python loop
            losses.append(float(loss))
        return np.clip(prep.from_model(x), 0.0, 255.0)

    def ref_b(rgb, steps, step_size):
        out, _loss = loop_b(prep.to_model(rgb), np.int32(steps), step_size)
        return np.clip(prep.from_model(out.numpy()), 0.0, 255.0)

    return ref_a, ref_b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[256, 512, 1024],
        help="square image sides in px (default: 256 512 1024)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=[10],
        help="steps per timed call: one value for all sizes or one per size (default: 10)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="timed rounds; the median is reported (default: 3)"
    )
    parser.add_argument("--model", default="mobilenet_v2_dogs")
    parser.add_argument(
        "--layers",
        nargs="+",
        default=None,
        help="layers to dream on (default: the model's defaults)",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["engine", "engine_end", "engine_1t", "ref_a", "ref_b"],
        choices=["engine", "engine_end", "engine_1t", "ref_a", "ref_b"],
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if len(args.steps) not in (1, len(args.sizes)):
        parser.error("--steps takes one value or one per size")
    steps_for = dict(
        zip(args.sizes, args.steps * len(args.sizes) if len(args.steps) == 1 else args.steps)
    )

    from renderer.runtime.quiet_tensorflow import import_tensorflow_quietly

    import_tensorflow_quietly()
    from renderer.engine.dream import DreamSettings, dream
    from renderer.models.loading import load_dream_model

    info = machine_info()
    print(machine_line(info), flush=True)
    model = load_dream_model(args.model, args.layers)
    defaults = DreamSettings()
    prep = model.preprocessing
    step_size = np.asarray(defaults.step_size * (prep.high - prep.low) / 2.0, np.float32)
    ref_a, ref_b = build_references(model, defaults.jitter)

    def engine_call(tile_size, measure_end=False):
        def call(rgb, steps):
            settings = DreamSettings(steps=steps, octaves=1, tile_size=tile_size)
            return dream(rgb, model, settings, measure_octave_ends=measure_end).image

        return call

    def variants_for(size):
        out = {}
        for name in args.variants:
            if name == "engine":
                out[name] = engine_call(defaults.tile_size)
            elif name == "engine_end":
                out[name] = engine_call(defaults.tile_size, measure_end=True)
            elif name == "engine_1t":
                if size > defaults.tile_size:
                    out[name] = engine_call(size)
            elif name == "ref_a":
                out[name] = lambda rgb, steps: ref_a(rgb, steps, step_size)
            else:
                out[name] = lambda rgb, steps: ref_b(rgb, steps, step_size)
        return out

    images = {size: test_image(size, size) for size in args.sizes}
    # Warm-up: trace every variant and let it see every size once.
    for size in args.sizes:
        for name, call in variants_for(size).items():
            t0 = time.perf_counter()
            call(images[size], 2)
            print(f"warm-up {name:9s} {size:5d} px: {time.perf_counter() - t0:6.2f} s", flush=True)

    times: dict[str, dict[int, list[float]]] = {}
    cpu_times: dict[str, dict[int, list[float]]] = {}
    loads = []
    for round_index in range(args.rounds):
        loads.append(load())
        for size in args.sizes:
            variants = list(variants_for(size).items())
            shift = round_index % len(variants)
            for name, call in variants[shift:] + variants[:shift]:
                c0, t0 = time.process_time(), time.perf_counter()
                call(images[size], steps_for[size])
                elapsed = time.perf_counter() - t0
                cpu_s = time.process_time() - c0
                times.setdefault(name, {}).setdefault(size, []).append(elapsed)
                cpu_times.setdefault(name, {}).setdefault(size, []).append(cpu_s)
                print(
                    f"round {round_index + 1}/{args.rounds} {name:9s} {size:5d} px: "
                    f"{steps_for[size] / elapsed:7.2f} steps/s  "
                    f"({cpu_s / steps_for[size] * 1000:6.0f}"
                    f" CPU ms/step)",
                    flush=True,
                )
    loads.append(load())

    rate = {
        name: {size: steps_for[size] / statistics.median(ts) for size, ts in by_size.items()}
        for name, by_size in times.items()
    }
    print()
    print(
        f"Median of {args.rounds} rounds; "
        f"{', '.join(f'{s} px: {steps_for[s]} steps' for s in args.sizes)}"
        f" per call; load average (1/5/15 min) per round: {loads}"
    )
    print()
    header = [
        "size",
        "engine",
        "ref A (per-step)",
        "ref B (in-graph)",
        "engine/A",
        "engine/B",
        "engine + end loss",
        "(engine + end loss)/B",
        "engine 1 tile",
        "tiled/1 tile",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|")

    def cell(name, size, fmt="{:.2f}"):
        value = rate.get(name, {}).get(size)
        return fmt.format(value) if value is not None else "—"

    def paired(a, b, size, table=None):
        """Median over rounds of the speed ratio a/b measured in the same round (the
        variants of one round run back to back, so they saw about the same load)."""
        table = times if table is None else table
        if size not in table.get(a, {}) or size not in table.get(b, {}):
            return None
        return statistics.median(tb / ta for ta, tb in zip(table[a][size], table[b][size]))

    def ratio(a, b, size, table=None):
        value = paired(a, b, size, table)
        return "—" if value is None else f"{value:.2f}"

    for size in args.sizes:
        row = [
            f"{size}x{size}",
            cell("engine", size),
            cell("ref_a", size),
            cell("ref_b", size),
            ratio("engine", "ref_a", size),
            ratio("engine", "ref_b", size),
            cell("engine_end", size),
            ratio("engine_end", "ref_b", size),
            cell("engine_1t", size),
            ratio("engine", "engine_1t", size),
        ]
        print("| " + " | ".join(row) + " |")
    print(
        "\nsteps/s (wall clock), median over rounds; higher is better. Ratios: median over"
        " rounds of the ratio within a round. engine = dream(..., octaves=1), default"
        " tile_size=512; engine 1 tile = tile_size=side (only above 512 px)."
    )

    # CPU seconds of this process (all threads), less disturbed by other processes' load.
    print()
    header = [
        "size",
        "engine",
        "ref A",
        "ref B",
        "engine 1 tile",
        "A/engine",
        "B/engine",
        "1 tile/engine",
    ]
    print(
        "CPU ms per step (this process, all threads; lower is better; ratios >1 mean the"
        " engine used less CPU):\n"
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|")

    def cpu_cell(name, size):
        ts = cpu_times.get(name, {}).get(size)
        return f"{statistics.median(ts) / steps_for[size] * 1000:.0f}" if ts else "—"

    for size in args.sizes:
        row = [
            f"{size}x{size}",
            cpu_cell("engine", size),
            cpu_cell("ref_a", size),
            cpu_cell("ref_b", size),
            cpu_cell("engine_1t", size),
            ratio("engine", "ref_a", size, cpu_times),
            ratio("engine", "ref_b", size, cpu_times),
            ratio("engine", "engine_1t", size, cpu_times),
        ]
        print("| " + " | ".join(row) + " |")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "model": model.name,
                    "layers": list(model.layers),
                    "steps": {str(s): n for s, n in steps_for.items()},
                    "rounds": args.rounds,
                    "loadavg_per_round": loads,
                    "seconds": {n: {str(s): ts for s, ts in by.items()} for n, by in times.items()},
                    "cpu_seconds": {
                        n: {str(s): ts for s, ts in by.items()} for n, by in cpu_times.items()
                    },
                    "steps_per_s_median": {
                        n: {str(s): r for s, r in by.items()} for n, by in rate.items()
                    },
                },
                indent=2,
            )
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
