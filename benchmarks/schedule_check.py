"""What checking every schedule at every frame costs before a render's first frame.

A render computes each schedule it uses (keyframes, expressions, objective weights) at
every one of its frames before frame 0, so an expression that overflows at frame 8 is
one line at once instead of a crash after 8 frames (issue 19). This times that check.

    PYTHONPATH=. .venv/bin/python benchmarks/schedule_check.py [--frames 10000] [--schedules 20]
"""

from __future__ import annotations

import argparse
import time

from renderer.rendering.schedule_binding import check_every_frame
from renderer.schedules.keyframe_parser import parse_schedule

TEXTS = ("1.02 + 0.01*sin(2*pi*t/48)", "0:(1), 60:(1.04), 120:(1 + 0.01*sin(s))")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--schedules", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    schedules = [
        parse_schedule(TEXTS[k % len(TEXTS)], key=f"k{k}", fps=24) for k in range(args.schedules)
    ]
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        check_every_frame(schedules, args.frames)
        times.append(time.perf_counter() - start)
    per = min(times) / (args.frames * args.schedules) * 1e6
    print(
        f"{args.schedules} schedules x {args.frames} frames: best {min(times):.3f} s "
        f"of {args.rounds} ({per:.2f} us a value)"
    )


if __name__ == "__main__":
    main()
