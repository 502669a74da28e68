"""Video coherence on real clips (issue 22): flicker, dream strength, drift and speed.

Renders each clip with a preset (default video-quick: its first 4 s, every 2nd frame) once
per variant, a variant being a list of --set overrides and optionally another checkout of
the renderer (--variant-code: e.g. today's code from `git archive`), each render in its own
process. Per (clip, variant) it reads report.json (added flicker = E_warp of the output
minus that of the source, dream strength = mean |output - source|, the cuts found),
losses.csv (per-frame dream strength: "thirds" = mean of the last third of frames over
the first third, 1 = no drift; per-frame seconds: s/frame over the frames after the first;
the mean of any column named *temporal*) and the wall time. Prints one markdown table per
clip, with flicker and strength relative to --baseline (default: off) and s/frame relative
to --speed-baseline (default: today). A render already finished in OUT/CLIP/VARIANT by the
same command is reused (--restart renders again).

    PYTHONPATH=. .venv/bin/python benchmarks/video_coherence.py \
        --variant off="flow.enabled=false" --variant today="" --variant-code today=/tmp/base \
        --variant c0.5="video.coherence=0.5" [--clip NAME=PATH ...] [--preset video-quick] \
        [--code DIR] [--out /tmp/coh] [--json PATH] [--restart]

Default clips: the /tmp/clips set (pan, walking, animation_cuts, handheld; held out: bikes,
bunny, carphone) where present. Default variants: off and today.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from statistics import fmean
from typing import Any

from _common import machine_info, machine_line

REPO = Path(__file__).resolve().parent.parent
CLIP_DIR = Path("/tmp/clips")
DEFAULT_CLIPS = {
    "pan": "pan_mpeg2.mpg",
    "walking": "walking_msmpeg4.avi",
    "animation_cuts": "animation_cuts_mpeg4.avi",
    "handheld": "handheld_h264.mp4",
    "bikes": "bikes.mp4",
    "bunny": "bunny.mp4",
    "carphone": "carphone.mp4",
}
DEFAULT_VARIANTS = {"off": "flow.enabled=false", "today": ""}


def pairs(items: list[str] | None, what: str) -> dict[str, str]:
    """NAME=VALUE arguments as a dict (in order; a later NAME wins)."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"{what} wants NAME=VALUE, got {item!r}")
        out[name] = value
    return out


def render_command(preset: str, clip: Path, out: Path, overrides: list[str]) -> list[str]:
    command = [sys.executable, "-m", "renderer.cli.main", "render", preset, "--input"]
    command += [str(clip), "--out", str(out), "--restart", "--progress", "none"]
    for override in ["output.gif=false", *overrides]:
        command += ["--set", override]
    return command


def rendered(command: list[str], code: Path, out: Path, restart: bool) -> dict[str, Any]:
    """Run the render (cwd and PYTHONPATH = code) unless OUT holds the same one finished;
    its wall and CPU seconds, from bench.json when reused."""
    stamp = out / "bench.json"
    if not restart and stamp.exists() and (out / "report.json").exists():
        kept = json.loads(stamp.read_text())
        if kept.get("command") == command and kept.get("code") == str(code):
            return kept | {"reused": True}
    out.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])),
    )
    cpu_before = cpu_children()
    start = time.perf_counter()
    with (out / "render.log").open("w") as log:
        done = subprocess.run(command, cwd=code, env=env, stdout=log, stderr=subprocess.STDOUT)
    run = {
        "command": command,
        "code": str(code),
        "rc": done.returncode,
        "wall_s": time.perf_counter() - start,
        "cpu_s": cpu_children() - cpu_before,
    }
    stamp.write_text(json.dumps(run, indent=1))
    return run | {"reused": False}


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def thirds(values: list[float]) -> float | None:
    """Mean of the last third over the mean of the first third (None under 3 values)."""
    third = len(values) // 3
    if third == 0 or not fmean(values[:third]):
        return None
    return fmean(values[-third:]) / fmean(values[:third])


def numbers(rows: list[dict[str, str]], column: str) -> list[float]:
    return [float(row[column]) for row in rows if row.get(column) not in (None, "")]


def measured(out: Path) -> dict[str, Any]:
    """What report.json and losses.csv of a finished render say."""
    report = json.loads((out / "report.json").read_text())
    with (out / "losses.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    seconds = numbers(rows[1:], "seconds")
    result = {
        key: report.get(key)
        for key in ("added_flicker", "dream_strength", "e_warp_output", "e_warp_input", "frames")
    }
    result["cuts"] = len(report.get("cuts") or [])
    result["thirds"] = thirds(numbers(rows, "dream_strength"))
    result["s_per_frame"] = fmean(seconds) if seconds else None
    for column in rows[0] if rows else {}:
        if "temporal" in column and numbers(rows, column):
            result[column] = fmean(numbers(rows, column))
    return result


def ratio(value: float | None, base: float | None) -> float | None:
    return None if value is None or not base else value / base


def shown(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def table(clip: str, rows: list[dict[str, Any]], baseline: str, speed: str) -> str:
    by_name = {row["variant"]: row for row in rows}
    base, fast = by_name.get(baseline, {}), by_name.get(speed, {})
    extra = sorted({key for row in rows for key in row if "temporal" in key})
    head = ["variant", "added flicker", "dream strength", f"flicker / {baseline}"]
    head += [f"strength / {baseline}", "thirds", "s/frame", f"s/frame / {speed}"]
    head += ["wall s", "cuts", *extra]
    lines = [f"### {clip}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['variant']} | {row['error']} |" + " |" * (len(head) - 2))
            continue
        cells = [row["variant"], shown(row["added_flicker"]), shown(row["dream_strength"])]
        cells += [shown(ratio(row["added_flicker"], base.get("added_flicker")))]
        cells += [shown(ratio(row["dream_strength"], base.get("dream_strength")))]
        cells += [shown(row["thirds"]), shown(row["s_per_frame"])]
        cells += [shown(ratio(row["s_per_frame"], fast.get("s_per_frame")))]
        cells += [f"{row['wall_s']:.0f}", str(row["cuts"]), *(shown(row.get(k)) for k in extra)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", action="append", help="NAME=PATH (repeatable)")
    parser.add_argument("--preset", default="video-quick")
    parser.add_argument("--variant", action="append", help='NAME="KEY=VALUE KEY=VALUE"')
    parser.add_argument("--code", type=Path, default=REPO, help="renderer checkout to run")
    parser.add_argument("--variant-code", action="append", help="NAME=DIR: its own checkout")
    parser.add_argument("--baseline", default="off", help="variant for flicker, strength ratios")
    parser.add_argument("--speed-baseline", default="today", help="variant for s/frame ratio")
    parser.add_argument("--out", type=Path, default=Path("/tmp/coh"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--restart", action="store_true", help="render again, reuse nothing")
    args = parser.parse_args()
    clips = pairs(args.clip, "--clip") or {
        name: str(CLIP_DIR / file)
        for name, file in DEFAULT_CLIPS.items()
        if (CLIP_DIR / file).exists()
    }
    variants = {
        k: shlex.split(v) for k, v in (pairs(args.variant, "--variant") or DEFAULT_VARIANTS).items()
    }
    codes = {name: args.code.resolve() for name in variants}
    codes |= {k: Path(v).resolve() for k, v in pairs(args.variant_code, "--variant-code").items()}
    info = machine_info()
    print(machine_line(info))
    results: list[dict[str, Any]] = []
    for turn, (clip, path) in enumerate(clips.items()):
        names = list(variants)
        names = names[turn % len(names) :] + names[: turn % len(names)]  # rotate the order
        for name in names:
            out = args.out / clip / name
            command = render_command(args.preset, Path(path).resolve(), out, variants[name])
            run = rendered(command, codes[name], out, args.restart)
            row: dict[str, Any] = {"clip": clip, "variant": name, "out": str(out)}
            row |= {k: run.get(k) for k in ("rc", "wall_s", "cpu_s", "reused")}
            if run["rc"] != 0:
                tail = (out / "render.log").read_text().strip().splitlines()[-1:]
                row["error"] = f"render failed ({run['rc']}): {' '.join(tail)[:200]}"
                print(f"{clip}/{name}: {row['error']}", file=sys.stderr)
            else:
                row |= measured(out)
            results.append(row)
            print(
                f"{clip}/{name}: {'reused' if run['reused'] else 'rendered'} {out}", file=sys.stderr
            )
    for clip in clips:
        rows = sorted(
            (r for r in results if r["clip"] == clip),
            key=lambda r: list(variants).index(r["variant"]),
        )
        print("\n" + table(clip, rows, args.baseline, args.speed_baseline))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "machine": info,
            "preset": args.preset,
            "clips": clips,
            "variants": {k: {"overrides": v, "code": str(codes[k])} for k, v in variants.items()},
            "results": results,
        }
        args.json.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
