"""The engine's achieved FLOP rate against the machine's peak (issue 8, item 7).

Run from the checkout root:

    PYTHONPATH=. python benchmarks/flop_rate.py                  # 512, 1024, 2048 px
    PYTHONPATH=. python benchmarks/flop_rate.py --rounds 5 --json /tmp/flop_rate.json

The embedded model (mobilenet_v2_dogs, default layers), square fractal-noise images:
steps/s from `renderer.cli.bench.engine_speed` (what `dreamreel bench` measures: one octave,
the default tiling, a warm-up step first), median over rounds. FLOPs per step from
`renderer.engine.flops.image_step_flops`: forward + input gradient of every conv layer, summed
over the tile windows the engine runs (margins included; "x untiled" is that over one
window the size of the image). The peaks from `renderer.engine.flops.machine_peak`: a float32
matmul measured after each round's engine runs, and cores x clock x FLOPs/cycle.
"% of matmul peak" is the median over rounds of that round's GFLOP/s over that round's
matmul rate: this machine's speed drifts with the load of its host (1.7x between runs
minutes apart), and the ratio drifts far less than either number.
The last line compares our count with TensorFlow's profiler at 512 x 512.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load, machine_info, machine_line


def main() -> None:
    from renderer.cli.bench import FULL

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(FULL["sizes"]))
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=list(FULL["steps"]),
        help="timed steps per size (one value, or one per size)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--matmul-size", type=int, default=4096)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    steps = args.steps * len(args.sizes) if len(args.steps) == 1 else args.steps

    from renderer.runtime.quiet_tensorflow import import_tensorflow_quietly

    import_tensorflow_quietly()
    from renderer.cli.bench import engine_speed
    from renderer.engine.dream import DreamSettings
    from renderer.engine.flops import machine_peak, profiled_step_flops, step_flops, tile_windows
    from renderer.models.loading import cached_dream_model

    info = machine_info()
    print(machine_line(info))
    model = cached_dream_model("mobilenet_v2_dogs")
    settings = DreamSettings()
    tile, margin = settings.resolved_tile_size(), settings.tile_margin

    speeds: dict[int, list] = {size: [] for size in args.sizes}
    peaks = []
    for round_index in range(args.rounds):
        # Rotate the order so that load from other processes hits every size alike.
        order = (
            args.sizes[round_index % len(args.sizes) :]
            + args.sizes[: round_index % len(args.sizes)]
        )
        for size in order:
            speeds[size].append(engine_speed(model, size, steps[args.sizes.index(size)]))
        peaks.append(machine_peak(matmul_size=args.matmul_size, repeats=5, budget_s=10))
    peak = max(peaks, key=lambda p: p["measured_gflops"])
    matmuls = [p["measured_gflops"] for p in peaks]
    theoretical = peak["theoretical_gflops"]

    print(
        f"# matmul peak {statistics.median(matmuls):.1f} GFLOP/s median, "
        f"{max(matmuls):.1f} best ({', '.join(f'{m:.0f}' for m in matmuls)} by round): "
        f"{peak['measured_how']}"
    )
    theory = f"{theoretical:.1f} GFLOP/s: " if theoretical else ""
    print(f"# theoretical peak {theory}{peak['theoretical_how']}")
    if peak["implied_clock_ghz"]:
        print(
            f"# the best matmul rate implies {peak['implied_clock_ghz']:.2f} GHz at that many "
            f"FLOPs/cycle"
        )
    print(
        f"# tiles: dream.tile_size {tile} (auto), margin {margin}; steps/s: median of "
        f"{args.rounds} rounds"
    )
    print()
    print(
        "| size | windows | GFLOP/step | x untiled | steps/s | GFLOP/s | % of matmul peak "
        "| % of theoretical peak |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = []
    for size in args.sizes:
        runs = speeds[size]
        flops = runs[0].flops_per_step
        steps_per_s = statistics.median(r.steps_per_s for r in runs)
        gflops = flops * steps_per_s / 1e9
        share = statistics.median(r.gflops_per_s / m for r, m in zip(runs, matmuls))
        untiled = flops / step_flops(model, size, size)
        rows.append(
            {
                "size": size,
                "windows": len(tile_windows(size, size, tile, margin)),
                "gflop_per_step": flops / 1e9,
                "x_untiled": untiled,
                "steps_per_s": steps_per_s,
                "gflops_per_s": gflops,
                "share_of_matmul_peak": share,
                "share_of_theoretical_peak": gflops / theoretical if theoretical else None,
                "steps_per_s_rounds": [r.steps_per_s for r in runs],
            }
        )
        of_theory = f"{gflops / theoretical:.0%}" if theoretical else "—"
        print(
            f"| {size}x{size} | {rows[-1]['windows']} | {flops / 1e9:.1f} | {untiled:.2f} "
            f"| {steps_per_s:.2f} | {gflops:.1f} | {share:.0%} | {of_theory} |"
        )

    ours = step_flops(model, 512, 512)
    profiled = profiled_step_flops(model, 512, 512)
    comparable = sum(
        profiled.get(op, 0.0) for op in ("Conv2D", "DepthwiseConv2dNative", "Conv2DBackpropInput")
    )
    depthwise = profiled.get("DepthwiseConv2dNative", 0.0)  # its input gradient: no stat
    print()
    print(
        f"# cross-check at 512x512: ours {ours / 1e9:.3f} GFLOP/step; TF profiler "
        f"Conv2D + DepthwiseConv2dNative + Conv2DBackpropInput {comparable / 1e9:.3f} "
        f"+ depthwise input gradient (no profiler stat, = its forward) "
        f"{depthwise / 1e9:.3f} = {(comparable + depthwise) / 1e9:.3f}"
    )
    print(f"# load at end {load()}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "peak": peak,
                    "peaks": peaks,
                    "tile_size": tile,
                    "tile_margin": margin,
                    "rows": rows,
                    "profiled_512": profiled,
                    "ours_512": ours,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
