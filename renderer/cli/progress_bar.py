"""tqdm progress bars that ``--quiet`` switches off."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

from ..runtime.redaction import redacted


@contextmanager
def step_bar(
    total: int | None, *, quiet: bool = False, desc: str = "", unit: str = "step"
) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(done, total=None, **postfix)``: moves the bar to ``done``.

    ``total`` may be corrected on the way, once the work's real size is known;
    ``postfix`` values (e.g. loss=0.93) are shown after the bar.
    """
    # Drawn at the first advance, not before: lines said while the work gets ready (a
    # drawn seed, a model's download) come out above it, not through it.
    shown_bar: list[tqdm] = []
    try:

        def advance(done: int, new_total: int | None = None, **postfix) -> None:
            if not shown_bar:
                shown_bar.append(
                    tqdm(total=total, desc=desc, unit=unit, disable=quiet, dynamic_ncols=True)
                )
            bar = shown_bar[0]
            if new_total is not None and new_total != bar.total:
                bar.total = new_total
                bar.refresh()
            shown = {k: f"{v:.4f}" for k, v in postfix.items() if v is not None}
            if shown:
                bar.set_postfix(shown, refresh=False)
            if done > bar.n:
                bar.update(done - bar.n)

        yield advance
    finally:
        for bar in shown_bar:
            bar.close()


class JobsBar:
    """One bar for many renders at once (a batch, a chunked clip): their frames added up,
    and how many jobs are done. Jobs report as they start, so the total grows; a job
    not started yet counts for nothing."""

    def __init__(self, jobs: int, bar: tqdm):
        self.jobs, self.bar = jobs, bar
        self.counts: dict[str, tuple[int, int]] = {}
        self.finished = 0

    def frames(self, name: str, done: int, total: int) -> None:
        self.counts[name] = (done, total)
        self._show()

    def say(self, line: str) -> None:
        """A line above the bar (the bar redrawn below it)."""
        self.bar.write(redacted(line), file=sys.stderr)  # a URL's password stays hidden

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
def jobs_bar(jobs: int, *, quiet: bool = False, desc: str = "") -> Iterator[JobsBar]:
    with tqdm(total=0, desc=desc, unit="frame", disable=quiet, dynamic_ncols=True) as bar:
        yield JobsBar(jobs, bar)
