"""Where a render's time goes: wall seconds per named stage, frames, frames/s.

    clock = StageClock()
    with clock.stage("dream"):
        ...
    clock.frame()
    clock.table()     # {"wall_seconds", "frames", "frames_per_second", "stages", "summary"}
    clock.summary()   # "12 frames in 30.1 s (0.40 frames/s): dream 88%, flow 6%, ..."

Stages nest exclusively: time spent in an inner stage counts for the inner stage only
(the frame loop times ``mode.start`` as "mode" while the video mode times "decode" and
"flow" inside it), so in one thread the stages never add up to more than the wall time.
What no stage covers is reported as "other".

Stages timed on another thread than the clock's own (the frame loop's workers that decode
and compute flow ahead of the dream, or write and encode behind it) ran alongside the
main thread: they are kept apart as "overlapped" and never count towards the wall time's
shares. The main thread's stages then say what remained on the critical path, including
the time it spent waiting for a worker ("wait_ahead", "wait_behind").

``NULL_CLOCK`` has the same ``stage`` and ``frame`` and measures nothing: modes use it
until the frame loop hands them its clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

OTHER = "other"


class StageClock:
    """Accumulates wall seconds per stage from its creation (or ``started``) on."""

    def __init__(
        self, *, started: float | None = None, now: Callable[[], float] = time.perf_counter
    ):
        self._now = now
        self.started = now() if started is None else started
        self.seconds: dict[str, float] = {}  # timed on the clock's own thread
        self.overlapped: dict[str, float] = {}  # timed on other threads, alongside it
        self._thread = threading.get_ident()
        self.frames = 0
        self._stopped: float | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as ``name``; an enclosing stage pauses meanwhile."""
        if not name or name == OTHER:
            raise ValueError(f"a stage needs a name other than {OTHER!r}, got {name!r}")
        stack = self._stack()
        now = self._now()
        if stack:
            self._add(stack[-1][0], now - stack[-1][1])
        stack.append([name, now])
        try:
            yield
        finally:
            now = self._now()
            self._add(name, now - stack.pop()[1])
            if stack:
                stack[-1][1] = now  # the enclosing stage resumes from here

    def frame(self, count: int = 1) -> None:
        """Count ``count`` more frames done."""
        with self._lock:
            self.frames += count

    def stop(self) -> float:
        """Fix the wall time here (the table after it no longer grows); return it."""
        if self._stopped is None:
            self._stopped = self._now()
        return self.wall()

    def wall(self) -> float:
        end = self._now() if self._stopped is None else self._stopped
        return max(0.0, end - self.started)

    def table(self) -> dict[str, Any]:
        """Per stage: seconds, share of the wall time, seconds per frame; plus "other"."""
        wall = self.wall()
        with self._lock:
            seconds = dict(self.seconds)
            overlapped = dict(self.overlapped)
            frames = self.frames
        seconds[OTHER] = max(0.0, wall - sum(seconds.values()))

        def rows(stages: dict[str, float]) -> dict[str, dict]:
            return {
                name: {
                    "seconds": round(s, 4),
                    "share": round(s / wall, 4) if wall > 0 else 0.0,
                    "per_frame": round(s / frames, 4) if frames else None,
                }
                for name, s in stages.items()
            }

        table = {
            "wall_seconds": round(wall, 3),
            "frames": frames,
            "frames_per_second": round(frames / wall, 4) if wall > 0 else None,
            "stages": rows(seconds),
            "summary": summary_line(wall, frames, seconds, overlapped),
        }
        if overlapped:
            table["overlapped"] = rows(overlapped)
        return table

    def summary(self) -> str:
        return self.table()["summary"]

    def _stack(self) -> list[list]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def _add(self, name: str, seconds: float) -> None:
        own = threading.get_ident() == self._thread
        with self._lock:
            target = self.seconds if own else self.overlapped
            target[name] = target.get(name, 0.0) + max(0.0, seconds)


def summary_line(
    wall: float, frames: int, seconds: dict[str, float], overlapped: dict[str, float] | None = None
) -> str:
    """ "12 frames in 30.1 s (0.40 frames/s): dream 88%, flow 6%, other 1%": the stages by
    share, largest first; those under 0.5 % of the wall time are left out. Overlapped
    stages follow in seconds: "; alongside: flow 3.1 s, write 1.2 s"."""
    rate = f"{frames / wall:.2f}" if wall > 0 else "-"
    head = f"{frames} frame{'' if frames == 1 else 's'} in {wall:.1f} s ({rate} frames/s)"
    if wall <= 0:
        return head
    shares = sorted(((s / wall, name) for name, s in seconds.items()), reverse=True)
    parts = [f"{name} {share:.0%}" for share, name in shares if share >= 0.005]
    line = head + (": " + ", ".join(parts) if parts else "")
    alongside = sorted(((s, name) for name, s in (overlapped or {}).items()), reverse=True)
    alongside = [f"{name} {s:.1f} s" for s, name in alongside if s >= 0.05]
    return line + ("; alongside: " + ", ".join(alongside) if alongside else "")


def format_table(table: dict[str, Any]) -> list[str]:
    """The table as aligned text lines (stage, seconds, share, seconds per frame)."""
    lines = [f"{'stage':<12} {'seconds':>9} {'share':>7} {'s/frame':>9}"]
    for name, row in table["stages"].items():
        per = "-" if row["per_frame"] is None else f"{row['per_frame']:.4f}"
        lines.append(f"{name:<12} {row['seconds']:>9.3f} {row['share']:>7.1%} {per:>9}")
    lines.append(
        f"{'wall':<12} {table['wall_seconds']:>9.3f} {'100.0%':>7} "
        f"{'':>9}  {table['frames']} frames, "
        f"{table['frames_per_second'] or 0:.3f} frames/s"
    )
    for name, row in table.get("overlapped", {}).items():  # not part of the wall's 100 %
        per = "-" if row["per_frame"] is None else f"{row['per_frame']:.4f}"
        lines.append(f"{'+' + name:<12} {row['seconds']:>9.3f} {'':>7} {per:>9}  alongside")
    return lines


class NullClock:
    """Measures nothing: what a mode times before the frame loop gives it a clock."""

    def stage(self, name: str):
        return nullcontext()

    def frame(self, count: int = 1) -> None:
        return None


NULL_CLOCK = NullClock()
