"""tqdm progress bars that ``--quiet`` switches off."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from tqdm import tqdm


@contextmanager
def step_bar(total: int | None, *, quiet: bool = False, desc: str = "",
             unit: str = "step") -> Iterator[Callable[[int], None]]:
    """Yields ``advance(done, total=None, **postfix)``: moves the bar to ``done``.

    ``total`` may be corrected on the way, once the work's real size is known;
    ``postfix`` values (e.g. loss=0.93) are shown after the bar.
    """
    with tqdm(total=total, desc=desc, unit=unit, disable=quiet, dynamic_ncols=True) as bar:
        def advance(done: int, new_total: int | None = None, **postfix) -> None:
            if new_total is not None and new_total != bar.total:
                bar.total = new_total
                bar.refresh()
            shown = {k: f"{v:.4f}" for k, v in postfix.items() if v is not None}
            if shown:
                bar.set_postfix(shown, refresh=False)
            if done > bar.n:
                bar.update(done - bar.n)

        yield advance
