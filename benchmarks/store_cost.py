"""The frame store's own cost per frame, early in a render and 10,000 frames in.

    PYTHONPATH=. python benchmarks/store_cost.py [--early 10] [--late 10000] [--window 50]
        [--rounds 5] [--dir DIR] [--old-ref REF] [--json PATH]

Writes tiny (8x8) frames through `FrameStore.write_frame` into a temp folder (under
`--dir`, default the system temp dir: use the disk a real render writes to), so the
store's own work shows, not the PNG encoder's: the atomic PNG write (temp file, fsync,
rename, folder fsync) and the losses.csv row (append + fsync). One store is filled to
frame `--late`; then each of `--rounds` rounds times `--window` more of its frames
("late") and, in a fresh store, frames `--early`.. ("early"), the two alternated so a
shared machine's drift hits both. Reported: the median seconds a frame over all rounds at
each point and their ratio (issue 7: within 2x); "log" is the losses.csv part alone.

`--old-ref` (e.g. 2adbfb1, the last commit that rewrote losses.csv whole after every
frame) also times that version of renderer/store/frame_store.py, loaded from git into a temp
module. Writing 10,000 frames with it would take hours (quadratic), so its store is
given the 10,000 in-memory rows it would hold at that point (what it rewrites each
frame) and then timed over the same windows; its PNG writes are real.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info

from renderer.store.frame_store import FrameStore
from renderer.store.manifest import spec_hash

COLUMNS = ("steps", "zoom", "rotation")


def manifest() -> dict:
    spec = {"mode": "zoom", "fps": 24.0, "seed": 0, "dream": {"steps": 20, "octaves": 3}}
    return {"spec": spec, "spec_hash": spec_hash(spec), "model": {"name": "benchmark"}}


def frame_args(index: int) -> dict:
    return {
        "octave_losses": [0.5 + index * 1e-4, 0.75, 1.0],
        "final_loss": 1.0 + index * 1e-4,
        "seconds": 1.234,
        "steps": 20,
        "zoom": 1.05,
        "rotation": 0.1,
    }


class Timed:
    """Wraps a bound method and keeps the seconds of its last call."""

    def __init__(self, method):
        self.method, self.last = method, 0.0

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.method(*args, **kwargs)
        finally:
            self.last = time.perf_counter() - started


def time_writes(store, indices, image) -> tuple[list[float], list[float]]:
    """Seconds of each write_frame call, and of its losses.csv part (store.timed_log)."""
    timed = store.timed_log
    totals, logs = [], []
    for index in indices:
        started = time.perf_counter()
        store.write_frame(index, image, **frame_args(index))
        totals.append(time.perf_counter() - started)
        logs.append(timed.last)
    return totals, logs


def summary(totals: list[float], logs: list[float]) -> dict:
    return {"median_s": statistics.median(totals), "log_median_s": statistics.median(logs)}


def interleaved(make_store, args, image) -> dict:
    """Early and late windows, alternated round by round (a shared machine drifts).

    One long store is filled up to frame `late` once; each round then times `window`
    more of its frames and, in a fresh store of its own, frames early..early+window.
    """
    long_store = make_store("long", args.late)
    samples = {"early": ([], []), "late": ([], [])}
    rounds = []
    for number in range(args.rounds):
        medians = {}
        order = ("late", "early") if number % 2 else ("early", "late")
        for name in order:
            if name == "late":
                first = args.late + number * args.window
                store = long_store
            else:
                first, store = args.early, make_store(f"early{number}", args.early)
            totals, logs = time_writes(store, range(first, first + args.window), image)
            samples[name][0].extend(totals)
            samples[name][1].extend(logs)
            medians[name] = statistics.median(totals)
        rounds.append(medians)
    out = {name: summary(*samples[name]) for name in samples}
    out["rounds"] = rounds
    return out


def bench_new(root: Path, args, image) -> dict:
    fill = {}

    def make_store(name: str, frames: int) -> FrameStore:
        store = FrameStore(root / name, manifest(), columns=COLUMNS)
        store._append = store.timed_log = Timed(store._append)
        started = time.perf_counter()
        for index in range(frames):
            store.write_frame(index, image, **frame_args(index))
        fill[name] = time.perf_counter() - started
        return store

    out = interleaved(make_store, args, image)
    out["fill_s"] = fill["long"]
    out["losses_csv_bytes"] = (root / "long" / "losses.csv").stat().st_size
    started = time.perf_counter()
    out["resume_done_count"] = FrameStore(root / "long", manifest(), columns=COLUMNS).done_count()
    out["resume_open_s"] = time.perf_counter() - started
    return out


def load_old_store(ref: str):
    source = subprocess.run(
        ["git", "show", f"{ref}:renderer/store/frame_store.py"],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_frame_store.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_frame_store", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FrameStore


def bench_old(root: Path, args, image, ref: str) -> dict:
    old_store = load_old_store(ref)

    def make_store(name: str, frames: int):
        store = old_store(root / f"old_{name}", manifest())
        store._write_csv = store.timed_log = Timed(store._write_csv)  # its log rewrite
        for index in range(frames):  # the rows it holds by then (writing them: hours)
            store._rows[index + 1] = {"frame": index + 1, **frame_args(index)}
        return store

    out = interleaved(make_store, args, image)
    out["ref"] = ref
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--early", type=int, default=10)
    parser.add_argument("--late", type=int, default=10_000)
    parser.add_argument("--dir", default=None, help="parent of the temp render folder")
    parser.add_argument("--old-ref", default=None, help="git ref of the old frame_store.py")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    report = {"machine": machine_info(), "args": vars(args)}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        report["filesystem_dir"] = str(root)
        report["new"] = bench_new(root, args, image)
        if args.old_ref:
            report["old"] = bench_old(root, args, image, args.old_ref)
    report["load_after"] = os.getloadavg()

    for which in ("new", "old"):
        if which not in report:
            continue
        result = report[which]
        early, late = result["early"], result["late"]
        ratio = late["median_s"] / early["median_s"]
        result["ratio_late_over_early"] = ratio
        print(
            f"{which:>3}: frame {args.early}: {early['median_s'] * 1e3:.3f} ms "
            f"(log {early['log_median_s'] * 1e3:.3f} ms); frame {args.late}: "
            f"{late['median_s'] * 1e3:.3f} ms (log {late['log_median_s'] * 1e3:.3f} ms); "
            f"ratio {ratio:.2f}"
        )
    new = report["new"]
    print(
        f"new: filled {args.late} frames in {new['fill_s']:.1f} s; losses.csv "
        f"{new['losses_csv_bytes']} bytes; reopening found {new['resume_done_count']} done "
        f"in {new['resume_open_s']:.2f} s"
    )
    print(f"load average after: {report['load_after']}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
