"""Peak memory (and time) of a dream as the image gets wider, with and without tiling.

Run from the checkout root:

    PYTHONPATH=. python benchmarks/tiled_memory.py
    PYTHONPATH=. python benchmarks/tiled_memory.py --widths 512 1024 2048 2560 --rounds 2 \
        --png-dir /tmp/dreamreel-bench --json /tmp/tiled_memory.json

Each measurement is one fresh child process (so a peak never carries over from an earlier
dream): it imports TensorFlow, loads the model, records its peak RSS so far (the
baseline), then dreams a 256-px-high image of the given width with
`dream(image, model, DreamSettings(steps=N, octaves=1, tile_size=T))`: first a 1-step
call to trace (same size, so it cannot raise the peak above the timed call's), then the
timed N-step call. The parent takes the child's peak RSS from os.wait4 (ru_maxrss).

  tiled     T = 512 (the default): the image is cut into ceil(width / 512) tiles, each
            differentiated over the tile plus a 64-px margin, so activations and their
            gradients exist for one window at a time.
  untiled   T = width: one window, the whole image at once (tiling effectively off).

At width 512 both are the same single-tile configuration. The claim to check: tiled peak
RSS stays nearly flat as the width grows (only image-sized buffers grow), untiled peak
grows with the width. With --png-dir the widest tiled and untiled dreams are saved as
PNGs, and a column-seam statistic is printed for them: the mean absolute difference
between neighbouring pixel columns at the tile borders (x = 512k) divided by the median
over all columns, of the image and of the dream's detail (dreamed minus source); about 1
means no seam stands out. (The test image's photo borders fall at 128 + 256k px, never
on a tile border.)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load, machine_info, machine_line, test_image


def child(args) -> int:
    """One dream in this process; prints one JSON line."""
    from renderer.runtime.quiet_tensorflow import import_tensorflow_quietly

    import_tensorflow_quietly()
    from renderer.engine.dream import DreamSettings, dream
    from renderer.models.loading import load_dream_model

    model = load_dream_model(args.model)
    image = test_image(args.height, args.width, half_offset=True)
    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    settings = DreamSettings(
        steps=args.steps,
        octaves=1,
        tile_size=args.tile,
        tile_margin=args.margin,
        jitter=args.jitter,
    )
    if args.copy:
        # A copy of the engine's compiled step loop (benchmarks/engine_profile.py), tile
        # loops with TF's default parallel_iterations (10) or with 1. No dream() around it.
        from engine_profile import build_loop

        loop = build_loop(
            model,
            settings.jitter,
            args.tile,
            settings.tile_margin,
            tensor_array=True,
            stateless=True,
            tile_loop=True,
            tile_parallel_iterations=1 if args.copy == "serial" else None,
        )
        prep = model.preprocessing
        x = prep.to_model(image)
        step_size = np.asarray(settings.step_size * (prep.high - prep.low) / 2.0, np.float32)
        t0 = time.perf_counter()
        loop(x, np.int32(1), step_size)
        warm = time.perf_counter() - t0
        t0 = time.perf_counter()
        loop(x, np.int32(args.steps), step_size)[0].numpy()
        elapsed = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "baseline_kib": baseline_kib,
                    "self_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                    "warmup_s": warm,
                    "seconds": elapsed,
                }
            ),
            flush=True,
        )
        return 0
    t0 = time.perf_counter()
    dream(image, model, dataclasses.replace(settings, steps=1))
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = dream(image, model, settings)
    elapsed = time.perf_counter() - t0
    if args.save:
        import cv2

        rgb = np.clip(np.rint(result.image), 0, 255).astype(np.uint8)
        cv2.imwrite(args.save, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    print(
        json.dumps(
            {
                "baseline_kib": baseline_kib,
                "self_peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "warmup_s": warm,
                "seconds": elapsed,
            }
        ),
        flush=True,
    )
    return 0


def run_child(
    script: Path,
    width: int,
    height: int,
    tile: int,
    steps: int,
    model: str,
    save: str | None,
    copy: str | None = None,
    margin: int = 64,
    jitter: int = 32,
) -> dict:
    cmd = [
        sys.executable,
        str(script),
        "--child",
        "--width",
        str(width),
        "--height",
        str(height),
        "--tile",
        str(tile),
        "--steps",
        str(steps),
        "--model",
        model,
        "--margin",
        str(margin),
        "--jitter",
        str(jitter),
    ]
    if save:
        cmd += ["--save", save]
    if copy:
        cmd += ["--copy", copy]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read()
        if process.returncode != 0:
            raise RuntimeError(f"child {cmd} failed ({process.returncode}):\n{err.read()[-3000:]}")
    report = json.loads(text.strip().splitlines()[-1])
    report["peak_kib"] = usage.ru_maxrss  # Linux: KiB
    return report


def seam_ratio(png: str, tile: int, source: np.ndarray | None = None) -> dict:
    """Column-step energy at tile borders vs everywhere (1.0: no visible seam); with
    ``source`` (RGB), of the dream's detail (dreamed - source) instead of the image."""
    import cv2

    img = cv2.cvtColor(cv2.imread(png), cv2.COLOR_BGR2RGB).astype(np.float32)
    if source is not None:
        img = img - source
    steps = np.abs(np.diff(img, axis=1)).mean(axis=(0, 2))  # steps[x] = |col x+1 - col x|
    width = img.shape[1]
    borders = [x - 1 for x in range(tile, width, tile)]
    typical = float(np.median(steps))
    return {
        "border_mean": float(np.mean(steps[borders])) if borders else float("nan"),
        "median_all": typical,
        "ratio": float(np.mean(steps[borders]) / typical) if borders else float("nan"),
        "per_border": [round(float(steps[b] / typical), 2) for b in borders],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[512, 1024, 2048, 2560])
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8, help="timed steps per dream (default 8)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="repeat everything; medians are reported (default 2)"
    )
    parser.add_argument("--tile", type=int, default=512, help="tile size of the tiled runs")
    parser.add_argument("--model", default="mobilenet_v2_dogs")
    parser.add_argument(
        "--png-dir",
        default="/tmp/dreamreel-bench",
        help="save the widest tiled/untiled dreams here ('' to skip)",
    )
    parser.add_argument(
        "--copies",
        action="store_true",
        help="also run a copy of the engine's step loop with the tile loops at "
        "TF's default parallel_iterations (copy) and at 1 (serial)",
    )
    parser.add_argument(
        "--seam-controls",
        action="store_true",
        help="also dream the widest image tiled with jitter 0 (margin 64, then "
        "margin 0) and measure its seams: shows the seam statistic can see "
        "a seam when there is one",
    )
    parser.add_argument("--json", type=Path, default=None)
    # child mode
    parser.add_argument("--margin", type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument("--jitter", type=int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--copy", choices=["parallel", "serial"], help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--save", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    info = machine_info()
    print(machine_line(info), flush=True)
    script = Path(__file__).resolve()
    widest = max(args.widths)
    if args.png_dir:
        Path(args.png_dir).mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, int], list[dict]] = {}
    loads = []
    for round_index in range(args.rounds):
        loads.append(load())
        for width in args.widths:
            modes = [("tiled", args.tile, None), ("untiled", width, None)]
            if args.copies:
                modes += [("copy", args.tile, "parallel"), ("serial", args.tile, "serial")]
            if round_index % 2:
                modes.reverse()
            for mode, tile, copy in modes:
                save = None
                if args.png_dir and width == widest and round_index == 0 and not copy:
                    save = str(Path(args.png_dir) / f"dream_{args.height}x{width}_{mode}.png")
                report = run_child(
                    script, width, args.height, tile, args.steps, args.model, save, copy
                )
                report["load"] = load()
                results.setdefault((mode, width), []).append(report)
                print(
                    f"round {round_index + 1}/{args.rounds} {mode:8s} {args.height}x{width:<5d} "
                    f"tile {tile:5d}: peak {report['peak_kib'] / 1024:7.0f} MiB "
                    f"(baseline {report['baseline_kib'] / 1024:5.0f} MiB), "
                    f"{report['seconds']:6.2f} s for {args.steps} steps, load {report['load']}",
                    flush=True,
                )
    loads.append(load())

    def med(mode, width, key):
        return statistics.median(r[key] for r in results[(mode, width)])

    print()
    print(
        f"{args.height}-px-high images, {args.steps} steps, octaves=1; medians of {args.rounds} "
        f"fresh-process runs; load average per round: {loads}"
    )
    print()
    header = [
        "width",
        "tiles (512)",
        "tiled peak MiB",
        "tiled dream MiB",
        "tiled steps/s",
        "untiled peak MiB",
        "untiled dream MiB",
        "untiled steps/s",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|")
    rows = []
    all_modes = ("tiled", "untiled") + (("copy", "serial") if args.copies else ())
    for width in args.widths:
        tiles = -(-width // args.tile) * -(-args.height // args.tile)
        row = {"width": width, "tiles": tiles}
        for mode in all_modes:
            peak = med(mode, width, "peak_kib") / 1024
            base = med(mode, width, "baseline_kib") / 1024
            row[mode] = {
                "peak_mib": peak,
                "baseline_mib": base,
                "dream_mib": statistics.median(
                    (r["peak_kib"] - r["baseline_kib"]) / 1024 for r in results[(mode, width)]
                ),
                "steps_per_s": args.steps / med(mode, width, "seconds"),
            }
        rows.append(row)
        print(
            f"| {args.height}x{width} | {tiles} | {row['tiled']['peak_mib']:.0f} | "
            f"{row['tiled']['dream_mib']:.0f} | {row['tiled']['steps_per_s']:.2f} | "
            f"{row['untiled']['peak_mib']:.0f} | {row['untiled']['dream_mib']:.0f} | "
            f"{row['untiled']['steps_per_s']:.2f} |"
        )
    print(
        "\npeak = child's ru_maxrss; dream MiB = peak minus the peak before the first dream "
        "call (TF + model loaded)."
    )
    if args.copies:
        print(
            "\nCopies of the engine's step loop (benchmarks/engine_profile.py build_loop, tile "
            f"size {args.tile}, no dream() around it): copy = tile loops at TF's default "
            "parallel_iterations (10), as in renderer/engine/ascent.py; "
            "serial = parallel_iterations=1."
            "\n"
        )
        header = [
            "width",
            "copy peak MiB",
            "copy dream MiB",
            "copy steps/s",
            "serial peak MiB",
            "serial dream MiB",
            "serial steps/s",
        ]
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---:" for _ in header) + "|")
        for row in rows:
            c, r = row["copy"], row["serial"]
            print(
                f"| {args.height}x{row['width']} | {c['peak_mib']:.0f} | {c['dream_mib']:.0f} | "
                f"{c['steps_per_s']:.2f} | {r['peak_mib']:.0f} | {r['dream_mib']:.0f} | "
                f"{r['steps_per_s']:.2f} |"
            )

    seam_modes = ["tiled", "untiled"]
    if args.png_dir and args.seam_controls:
        for margin in (64, 0):
            mode = f"tiled_jitter0_margin{margin}"
            png = str(Path(args.png_dir) / f"dream_{args.height}x{widest}_{mode}.png")
            run_child(
                script,
                widest,
                args.height,
                args.tile,
                args.steps,
                args.model,
                png,
                margin=margin,
                jitter=0,
            )
            seam_modes.append(mode)
    seams = {}
    if args.png_dir:
        print()
        for mode in seam_modes:
            png = str(Path(args.png_dir) / f"dream_{args.height}x{widest}_{mode}.png")
            if Path(png).is_file():
                source = test_image(args.height, widest, half_offset=True)
                seams[mode] = {
                    "png": png,
                    "image": seam_ratio(png, args.tile),
                    "detail": seam_ratio(png, args.tile, source),
                }
                for what in ("image", "detail"):
                    s = seams[mode][what]
                    print(
                        f"{mode:24s} {what:6s}: column step at x=512k / median column step = "
                        f"{s['ratio']:.2f} (per border {s['per_border']})"
                    )
                print(f"{'':24s} {png}")

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "height": args.height,
                    "steps": args.steps,
                    "rounds": args.rounds,
                    "loadavg_per_round": loads,
                    "rows": rows,
                    "seams": seams,
                    "raw": {f"{m}_{w}": rs for (m, w), rs in results.items()},
                },
                indent=2,
            )
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
