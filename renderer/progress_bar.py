"""tqdm progress bars that ``--quiet`` switches off."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from tqdm import tqdm


@contextmanager
def step_bar(total: int, *, quiet: bool = False, desc: str = "",
             unit: str = "step") -> Iterator[Callable[[int], None]]:
    """Yields ``advance(done, total=None)``: moves the bar to ``done`` (never backwards).

    ``total`` may be corrected on the way, once the work's real size is known.
    """
    with tqdm(total=total, desc=desc, unit=unit, disable=quiet, dynamic_ncols=True) as bar:
        def advance(done: int, new_total: int | None = None) -> None:
            if new_total is not None and new_total != bar.total:
                bar.total = new_total
                bar.refresh()
            if done > bar.n:
                bar.update(done - bar.n)

        yield advance
