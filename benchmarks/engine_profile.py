"""Where does the engine's time go, compared with the in-graph reference loop (ref B)?

Run from the checkout root:

    PYTHONPATH=. python benchmarks/engine_profile.py                    # 512 px
    PYTHONPATH=. python benchmarks/engine_profile.py --size 512 --steps 10 --rounds 7

Times, side by side and interleaved (order rotated each round, median reported):

  dream        renderer.engine.dream.dream(..., DreamSettings(steps=N, octaves=1)),
               as a user calls it
  run          Ascent.run(image, N, ...) alone: the compiled step loop, without dream()'s
               numpy pre/post-processing and without its final per-octave ascent.loss
  loss         Ascent.loss(image) alone: the one extra tiled forward pass dream() makes at
               the end of every octave (reported per call, not per step)
  dream0       dream(..., steps=0): what one dream() call costs besides its steps (numpy
               pre/post-processing and the final ascent.loss), per call
  fwd          a forward-only loss (no GradientTape) over the same tiles, in one tf.function:
               what the final per-octave loss measurement could cost, per call
  B            the untiled in-graph reference loop of engine_speed.py
  B+ta         B plus a TensorArray of per-step losses (as the engine keeps)
  B+stateless  B with the engine's stateless per-step random roll (seed, step)
  B+tileloop   B with the engine's tile loop around the gradient (nested tf.range over
               rows and columns, dynamic window slice, window/core scaling, tf.pad + add of
               the core into a full-size gradient), here with one tile
  clone        B with all three of the above: should time like `run`
  clone_serial clone with the tile loops at parallel_iterations=1 (tiles strictly one after
               another; TF's default, which the engine uses, is 10). Same as clone when the
               image is one tile (<= 512 px); try --size 1024 to see what it costs

and the same as CPU seconds of this process per step (user + system, all threads), which
other processes' load disturbs less than wall time.
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
from _common import load, machine_info, test_image, weighted_mean_loss

PER_CALL = ("loss", "dream0", "fwd")


def build_loop(
    model,
    jitter: int,
    tile: int,
    margin: int,
    *,
    tensor_array: bool,
    stateless: bool,
    tile_loop: bool,
    tile_parallel_iterations: int | None = None,
):
    """The reference in-graph loop with some of the engine's features switched on.

    With all three on it is a copy of renderer/engine/ascent.py's step loop, except that the layer
    weights are Python constants here (a graph input there) and smoothing is left out (off
    by default there).

    ``tile_parallel_iterations``: None keeps TensorFlow's default for the tile loops, 10
    (as the engine does: a While op may then run up to 10 iterations, i.e. tiles, at
    once); 1 runs the tiles strictly one after another."""
    parallel = 10 if tile_parallel_iterations is None else int(tile_parallel_iterations)
    import tensorflow as tf

    prep = model.preprocessing
    low = tf.constant(prep.low, tf.float32)
    high = tf.constant(prep.high, tf.float32)
    loss_of = weighted_mean_loss(model)

    def plain(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            loss = loss_of(image)
        return loss, tape.gradient(loss, image)

    def tile_grid(size):
        count = (size + tile - 1) // tile
        step = (size + count - 1) // count
        return count, step

    def tiled(image):  # as renderer/engine/ascent.py
        shape = tf.shape(image)
        height, width = shape[0], shape[1]
        area = tf.cast(height * width, tf.float32)
        rows, row_step = tile_grid(height)
        cols, col_step = tile_grid(width)
        gradient = tf.zeros_like(image)
        loss = tf.constant(0.0)
        for r in tf.range(rows):
            tf.autograph.experimental.set_loop_options(parallel_iterations=parallel)
            for c in tf.range(cols):
                tf.autograph.experimental.set_loop_options(parallel_iterations=parallel)
                y0 = r * row_step
                y1 = tf.minimum(y0 + row_step, height)
                x0 = c * col_step
                x1 = tf.minimum(x0 + col_step, width)
                wy0, wy1 = tf.maximum(y0 - margin, 0), tf.minimum(y1 + margin, height)
                wx0, wx1 = tf.maximum(x0 - margin, 0), tf.minimum(x1 + margin, width)
                with tf.GradientTape() as tape:
                    window = image[wy0:wy1, wx0:wx1]
                    tape.watch(window)
                    value = loss_of(window)
                window_share = tf.cast((wy1 - wy0) * (wx1 - wx0), tf.float32) / area
                core_share = tf.cast((y1 - y0) * (x1 - x0), tf.float32) / area
                window_gradient = tape.gradient(value, window) * window_share
                core = window_gradient[y0 - wy0 : y1 - wy0, x0 - wx0 : x1 - wx0]
                gradient += tf.pad(core, [[y0, height - y1], [x0, width - x1], [0, 0]])
                loss += core_share * value
        return loss, gradient

    loss_and_gradient = tiled if tile_loop else plain

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    def forward_loss(image):
        """The tiled loss with no gradient: the same windows and core shares."""
        shape = tf.shape(image)
        height, width = shape[0], shape[1]
        area = tf.cast(height * width, tf.float32)
        rows, row_step = tile_grid(height)
        cols, col_step = tile_grid(width)
        loss = tf.constant(0.0)
        for r in tf.range(rows):
            for c in tf.range(cols):
                y0 = r * row_step
                y1 = tf.minimum(y0 + row_step, height)
                x0 = c * col_step
                x1 = tf.minimum(x0 + col_step, width)
                wy0, wy1 = tf.maximum(y0 - margin, 0), tf.minimum(y1 + margin, height)
                wx0, wx1 = tf.maximum(x0 - margin, 0), tf.minimum(x1 + margin, width)
                core_share = tf.cast((y1 - y0) * (x1 - x0), tf.float32) / area
                loss += core_share * loss_of(image[wy0:wy1, wx0:wx1])
        return loss

    def shift_for(seed, step):
        if stateless:
            return tf.random.stateless_uniform(
                [2], seed=tf.stack([seed, step]), minval=-jitter, maxval=jitter + 1, dtype=tf.int32
            )
        return tf.random.uniform([2], -jitter, jitter + 1, dtype=tf.int32)

    spec = tf.TensorSpec

    @tf.function(
        input_signature=[
            spec([None, None, 3], tf.float32),
            spec([], tf.int32),
            spec([3], tf.float32),
        ]
    )
    def loop(image, steps, step_size):
        # (autograph needs a loop variable that is not None when the TensorArray is off)
        losses = tf.TensorArray(tf.float32, size=steps) if tensor_array else tf.constant(0.0)
        last = tf.constant(0.0)
        for i in tf.range(steps):
            shift = shift_for(tf.constant(0), i)
            rolled = tf.roll(image, shift, axis=[0, 1])
            loss, gradient = loss_and_gradient(rolled)
            gradient = tf.roll(gradient, -shift, axis=[0, 1])
            gradient /= tf.math.reduce_std(gradient) + 1e-8
            image = tf.clip_by_value(image + step_size * gradient, low, high)
            if tensor_array:
                losses = losses.write(i, loss)
            else:
                last = loss
        return image, (losses.stack() if tensor_array else last)

    loop.forward_loss = forward_loss
    return loop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--model", default="mobilenet_v2_dogs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from renderer.runtime.quiet_tensorflow import import_tensorflow_quietly

    import_tensorflow_quietly()
    from renderer.engine.dream import DreamSettings, ascent_for, dream
    from renderer.models.loading import load_dream_model

    info = machine_info()
    print(
        f"# {info['date']}  nproc={info['nproc']}  cpu={info['cpu']}  TF {info.get('tensorflow')}"
        f"  load at start {info['loadavg']}",
        flush=True,
    )
    model = load_dream_model(args.model)
    settings = DreamSettings(steps=args.steps, octaves=1)
    prep = model.preprocessing
    step_size = np.asarray(settings.step_size * (prep.high - prep.low) / 2.0, np.float32)
    ascent = ascent_for(model, settings)
    rgb = test_image(args.size, args.size)
    x = prep.to_model(rgb)

    def build(**flags):
        return build_loop(model, settings.jitter, settings.tile_size, settings.tile_margin, **flags)

    def loop_variant(**flags):
        loop = build(**flags)
        return lambda: [t.numpy() for t in loop(x, np.int32(args.steps), step_size)]

    forward_loss = build(tensor_array=False, stateless=False, tile_loop=True).forward_loss
    settings0 = DreamSettings(steps=0, octaves=1)

    off = dict(tensor_array=False, stateless=False, tile_loop=False)
    variants = {
        "dream": lambda: dream(rgb, model, settings),
        "run": lambda: ascent.run(x, args.steps, step_size, 0, 0),
        "loss": lambda: ascent.loss(x),
        "dream0": lambda: dream(rgb, model, settings0),
        "fwd": lambda: float(forward_loss(x)),
        "B": loop_variant(**off),
        "B+ta": loop_variant(**{**off, "tensor_array": True}),
        "B+stateless": loop_variant(**{**off, "stateless": True}),
        "B+tileloop": loop_variant(**{**off, "tile_loop": True}),
        "clone": loop_variant(tensor_array=True, stateless=True, tile_loop=True),
        "clone_serial": loop_variant(
            tensor_array=True, stateless=True, tile_loop=True, tile_parallel_iterations=1
        ),
    }
    for call in variants.values():  # warm-up: tracing excluded
        call()
        call()
    print(
        f"ascent.loss = {ascent.loss(x):.6f}, "
        f"forward-only tiled loss = {float(forward_loss(x)):.6f}"
        f" (should agree)",
        flush=True,
    )
    wall: dict[str, list[float]] = {n: [] for n in variants}
    cpu: dict[str, list[float]] = {n: [] for n in variants}
    loads = []
    names = list(variants)
    for round_index in range(args.rounds):
        loads.append(load())
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            c0, t0 = time.process_time(), time.perf_counter()
            variants[name]()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
        print(f"round {round_index + 1}/{args.rounds} done, load {loads[-1]}", flush=True)
    loads.append(load())

    print(
        f"\n{args.size}x{args.size}, {args.steps} steps per call, median of {args.rounds} rounds; "
        f"load average per round: {loads}\n"
    )
    print("| variant | wall ms/step | CPU ms/step | wall vs B step | CPU vs B step |")
    print("|---|---:|---:|---:|---:|")
    per = {}
    for name in names:
        n = 1 if name in PER_CALL else args.steps
        w = statistics.median(wall[name]) / n * 1000
        c = statistics.median(cpu[name]) / n * 1000
        per[name] = (w, c)
    for name in names:
        w, c = per[name]
        unit = " (per call)" if name in PER_CALL else ""
        print(
            f"| {name}{unit} | {w:.1f} | {c:.1f} | {w / per['B'][0]:.2f} | {c / per['B'][1]:.2f} |"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "size": args.size,
                    "steps": args.steps,
                    "rounds": args.rounds,
                    "loads": loads,
                    "wall_s": wall,
                    "cpu_s": cpu,
                },
                indent=2,
            )
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
