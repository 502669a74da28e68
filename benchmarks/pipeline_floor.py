"""The pipelined frame loop against its references (issue 8, items 2 and 7).

    PYTHONPATH=. .venv/bin/python benchmarks/pipeline_floor.py [--clip CLIP]
        [--seconds 2.0] [--max-size 1280] [--zoom-frames 96] [--rounds 1] [--json PATH]

For a 720p clip under `video-quick` settings (dream.* and flow.* of the preset, the clip
resized to --max-size) it renders the same frames twice per round, each in a fresh
process (`dreamreel render`, so both pay the model load and the step's trace alike):

* `pipeline = false`: the plain sequential loop, the reference. Its "dream" stage, timed
  with nothing else running, is the **dream-only floor** of these frames.
* `pipeline = true`: decode and flow ahead of the dream, stability, PNG, MP4 and GIF
  behind it, on worker threads.

It prints each run's wall time (the render's own clock, from opening the clip to the
last output file), the dream seconds, what stayed on the critical path, and the ratios
the issue asks for: pipelined wall / floor (<= 1.05), pipelined / sequential wall (<= 1),
and whether the frames are byte-identical. Then `noise-zoom` (pipelined): the share of
its wall time that is not the dream (<= 5 %). Rounds alternate the order (sequential
first, then pipelined first) so neither always runs on a warmer machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, machine_line

ROOT = Path(__file__).resolve().parent.parent
DREAMREEL = [sys.executable, "-m", "renderer.cli.main"]


def render(out: Path, preset: str, settings: list[str], clip: str | None = None) -> dict:
    args = [*DREAMREEL, "render", preset, "--out", str(out), "--restart", "--quiet"]
    if clip:
        args += ["--input", clip]
    for item in settings:
        args += ["--set", item]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"render failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return json.loads((out / "manifest.json").read_text())["profile"]


def frames_digest(out: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((out / "frames").glob("*.png")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def seconds_of(profile: dict, stage: str) -> float:
    return profile["stages"].get(stage, {}).get("seconds", 0.0)


def describe(label: str, profile: dict) -> str:
    wall, dream = profile["wall_seconds"], seconds_of(profile, "dream")
    rest = sorted(
        (
            (row["seconds"], name)
            for name, row in profile["stages"].items()
            if name != "dream" and row["seconds"] >= 0.05
        ),
        reverse=True,
    )
    along = sorted(
        (
            (row["seconds"], name)
            for name, row in profile.get("overlapped", {}).items()
            if row["seconds"] >= 0.05
        ),
        reverse=True,
    )
    line = (
        f"{label:<11} wall {wall:7.2f} s  dream {dream:7.2f} s  "
        f"critical path besides the dream: {wall - dream:5.2f} s "
        f"({', '.join(f'{n} {s:.2f}' for s, n in rest) or '-'})"
    )
    if along:
        line += f"\n{'':<11} alongside: {', '.join(f'{n} {s:.2f}' for s, n in along)}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clip", default="/tmp/clips/bigbuckbunny.mp4", help="a 720p (or larger) clip"
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="of the clip to render")
    parser.add_argument("--max-size", type=int, default=1280)
    parser.add_argument("--zoom-frames", type=int, default=96, help="0 skips noise-zoom")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", help="write all numbers here")
    args = parser.parse_args()
    print(machine_line(machine_info()))
    video = [f"video.max_size={args.max_size}", f"video.end={args.seconds}"]
    print(f"video-quick on {args.clip}, --set {' --set '.join(video)}")
    results = {"video": [], "zoom": None}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            order = (False, True) if round_index % 2 == 0 else (True, False)
            runs = {}
            for pipeline in order:
                out = Path(tmp) / f"video-{pipeline}"
                profile = render(
                    out, "video-quick", [*video, f"pipeline={str(pipeline).lower()}"], args.clip
                )
                runs[pipeline] = (profile, frames_digest(out))
            (seq, seq_digest), (piped, piped_digest) = runs[False], runs[True]
            floor = seconds_of(seq, "dream")
            ratios = {
                "frames": piped["frames"],
                "pipelined_wall_over_floor": piped["wall_seconds"] / floor,
                "pipelined_over_sequential": piped["wall_seconds"] / seq["wall_seconds"],
                "sequential_wall_over_floor": seq["wall_seconds"] / floor,
                "pipelined_dream_over_floor": seconds_of(piped, "dream") / floor,
                "byte_identical": seq_digest == piped_digest,
            }
            results["video"].append({"sequential": seq, "pipelined": piped, **ratios})
            print(
                f"round {round_index + 1} ({piped['frames']} frames, "
                f"{'sequential' if not order[0] else 'pipelined'} first)"
            )
            print(describe("sequential", seq))
            print(describe("pipelined", piped))
            print(
                f"  floor (sequential dream) {floor:.2f} s; pipelined wall / floor "
                f"{ratios['pipelined_wall_over_floor']:.3f}; sequential wall / floor "
                f"{ratios['sequential_wall_over_floor']:.3f}; pipelined / sequential "
                f"{ratios['pipelined_over_sequential']:.3f}; pipelined dream / floor "
                f"{ratios['pipelined_dream_over_floor']:.3f}; frames byte-identical: "
                f"{ratios['byte_identical']}"
            )
        if args.zoom_frames:
            out = Path(tmp) / "zoom"
            profile = render(out, "noise-zoom", [f"frames={args.zoom_frames}"])
            share = 1.0 - seconds_of(profile, "dream") / profile["wall_seconds"]
            results["zoom"] = {"profile": profile, "not_dream_share": share}
            print(f"noise-zoom ({profile['frames']} frames)")
            print(describe("pipelined", profile))
            print(f"  everything but the dream: {share:.1%} of the wall time")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
