"""Progress on stderr, in one of three styles (``--progress``):

- ``bar``: tqdm's bar (tqdm.auto: a widget in a notebook), the default in a terminal;
- ``lines``: a plain line now and then, for a log file or CI, the default when stderr is
  not a terminal: ``noise-zoom: frame 12/96 (12%), 1.3 frame/s, loss 0.9312, about 1:04
  left`` at every tenth of the work or every 10 s, whichever comes first, and the last;
  no carriage returns, no colours;
- ``none``: nothing (``--quiet`` too).

Messages said while progress shows go through ``say``, which writes them above a bar
(tqdm.write) rather than into it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tqdm import autonotebook
from tqdm.auto import tqdm
from tqdm.std import tqdm as terminal_tqdm

from ..runtime.redaction import redacted

STYLES = ("bar", "lines", "none")
LINE_EVERY_SECONDS = 10.0  # `lines`: at most this long between two lines
LINE_EVERY_SHARE = 10  # `lines`: a line at each tenth of the work


def default_style() -> str:
    """A bar where someone watches it (a terminal, a notebook), lines in a log."""
    in_notebook = autonotebook.tqdm is not terminal_tqdm  # tqdm.auto's widget, then
    return "bar" if in_notebook or sys.stderr.isatty() else "lines"


def say(line: str) -> None:
    """A line on stderr, above any progress bar showing (the bar redrawn below it); a
    URL's password stays hidden."""
    tqdm.write(redacted(line), file=sys.stderr)


class LineProgress:
    """The part of tqdm's face the bars here use (total, n, update, set_postfix,
    set_postfix_str, refresh, close), printing a plain line now and then instead of
    redrawing a bar: for logs, where ``\\r`` and colours are noise."""

    def __init__(self, total: int | None, *, desc: str = "", unit: str = "step", initial: int = 0):
        self.total, self.desc, self.unit = total, desc, unit
        self.n = initial  # work done before (a resumed render's frames): not in the rate
        self.postfix = ""
        self._start = self._shown = (initial, time.monotonic())  # (n, time): rate; last line
        self._shown_postfix = ""

    def update(self, count: int = 1) -> None:
        self.n += count
        self.refresh()

    def set_postfix(self, values: dict[str, Any], refresh: bool = True) -> None:
        self.set_postfix_str(", ".join(f"{k} {v}" for k, v in values.items()), refresh)

    def set_postfix_str(self, text: str, refresh: bool = True) -> None:
        self.postfix = text
        if refresh:
            self.refresh()

    def refresh(self) -> None:
        now = time.monotonic()
        if self._due(now):
            self._print(now)

    def close(self) -> None:
        """The last line, unless it was said already (a batch's last job done, say)."""
        if (self._shown[0], self._shown_postfix) != (self.n, self.postfix):
            self._print(time.monotonic())

    def _due(self, now: float) -> bool:
        shown_n, shown_at = self._shown
        if self.n == shown_n:
            return False
        if self.total and self.n >= self.total:
            return True  # the last
        if self.total and self.n * LINE_EVERY_SHARE // self.total > (
            shown_n * LINE_EVERY_SHARE // self.total
        ):
            return True  # another tenth
        return now - shown_at >= LINE_EVERY_SECONDS

    def _print(self, now: float) -> None:
        self._shown, self._shown_postfix = (self.n, now), self.postfix
        print(self.line(now), file=sys.stderr, flush=True)

    def line(self, now: float) -> str:
        """``noise-zoom: frame 12/96 (12%), 1.3 frame/s, loss 0.9312, about 1:04 left``."""
        done = f"{self.unit} {self.n}"
        if self.total:
            done += f"/{self.total} ({100 * self.n // self.total}%)"
        parts = [f"{self.desc}: {done}" if self.desc else done]
        rate = self._rate(now)
        if rate:
            parts.append(f"{rate:.2f} {self.unit}/s" if rate < 100 else f"{rate:.0f} {self.unit}/s")
        if self.postfix:
            parts.append(self.postfix)
        if rate and self.total and self.n < self.total:
            parts.append(f"about {_duration((self.total - self.n) / rate)} left")
        return ", ".join(parts)

    def _rate(self, now: float) -> float | None:
        first_n, started = self._start
        if self.n <= first_n or now <= started:
            return None
        return (self.n - first_n) / (now - started)


def _duration(seconds: float) -> str:
    """1:04, 12:30, 2:05:00."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _progress(style: str, total: int | None, desc: str, unit: str, initial: int = 0):
    """A tqdm bar or a LineProgress; ``initial``: work done before, left out of the rate."""
    if style == "lines":
        return LineProgress(total, desc=desc, unit=unit, initial=initial)
    disable = style == "none"
    return tqdm(
        total=total, initial=initial, desc=desc, unit=unit, disable=disable, dynamic_ncols=True
    )


class StepProgress:
    """What ``step_bar`` yields: call it as ``advance(done, total=None, **postfix)`` to
    move to ``done``; ``say(line)`` writes a line above it."""

    def __init__(self, total: int | None, *, style: str, desc: str, unit: str):
        self.total, self.style, self.desc, self.unit = total, style, desc, unit
        # Drawn at the first advance, not before: nothing shows while the work gets ready.
        self.shown: Any = None

    def __call__(self, done: int, new_total: int | None = None, **postfix) -> None:
        if self.shown is None:  # with the total if known now: no "0frame [00:00, ?frame/s]"
            total = self.total if new_total is None else new_total
            self.shown = _progress(self.style, total, self.desc, self.unit, initial=done)
        bar = self.shown
        if new_total is not None and new_total != bar.total:
            bar.total = new_total
            bar.refresh()
        shown = {k: f"{v:.4f}" for k, v in postfix.items() if v is not None}
        if shown:
            bar.set_postfix(shown, refresh=False)
        if done > bar.n:
            bar.update(done - bar.n)

    say = staticmethod(say)

    def close(self) -> None:
        if self.shown is not None:
            self.shown.close()


@contextmanager
def step_bar(
    total: int | None,
    *,
    quiet: bool = False,
    desc: str = "",
    unit: str = "step",
    style: str | None = None,
) -> Iterator[StepProgress]:
    """Yields ``advance(done, total=None, **postfix)``: moves the progress to ``done``.

    ``total`` may be corrected on the way, once the work's real size is known;
    ``postfix`` values (e.g. loss=0.93) are shown after the count. ``style``: bar, lines
    or none (default: default_style()); ``quiet`` is none.
    """
    progress = StepProgress(
        total, style="none" if quiet else style or default_style(), desc=desc, unit=unit
    )
    try:
        yield progress
    finally:
        progress.close()


class JobsBar:
    """One bar for many renders at once (a batch, a chunked clip): their frames added up,
    and how many jobs are done. Jobs report as they start, so the total grows; a job
    not started yet counts for nothing."""

    def __init__(self, jobs: int, bar: Any):
        self.jobs, self.bar = jobs, bar
        self.counts: dict[str, tuple[int, int]] = {}
        self.finished = 0

    def frames(self, name: str, done: int, total: int) -> None:
        self.counts[name] = (done, total)
        self._show()

    say = staticmethod(say)

    def job_done(self) -> None:
        self.finished += 1
        self._show()

    def _show(self) -> None:
        done = sum(d for d, _ in self.counts.values())
        total = sum(t for _, t in self.counts.values())
        if total != self.bar.total:
            self.bar.total = total
        self.bar.set_postfix_str(f"jobs {self.finished}/{self.jobs}", refresh=False)
        self.bar.n = done  # counts may also go back: a retried job starts over
        self.bar.refresh()


@contextmanager
def jobs_bar(
    jobs: int, *, quiet: bool = False, desc: str = "", style: str | None = None
) -> Iterator[JobsBar]:
    bar = _progress("none" if quiet else style or default_style(), 0, desc, "frame")
    try:
        yield JobsBar(jobs, bar)
    finally:
        bar.close()
