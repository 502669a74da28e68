"""Progress for ``renderer.render``: a bar where someone watches, the caller's own
callback, or nothing.

Where someone watches: a Jupyter or IPython kernel (a notebook, Colab; the bar is a
widget there through ``tqdm.auto``) or a terminal on stderr. A script whose output goes
to a log file gets no bar unless it asks for one (``progress=True``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..runtime.errors import DreamreelError

# (frames done, frames total, the last loss or None): what the frame loop reports.
FrameCallback = Callable[[int, int, float | None], None]


def someone_watches() -> bool:
    """True in a notebook's kernel (Jupyter, Colab) or when stderr is a terminal."""
    ipython = sys.modules.get("IPython")  # only if loaded already: a kernel has it
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return True
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return False


@contextmanager
def frame_progress(progress: object, desc: str) -> Iterator[FrameCallback | None]:
    """The frame loop's callback for ``progress``: None (a bar if someone watches), True
    (a bar), False (none) or a callable (the caller's own)."""
    if progress is not None and not isinstance(progress, bool):
        if not callable(progress):
            raise DreamreelError(
                "progress must be None (a bar in a notebook or terminal), True, False or "
                f"a function called as (frames done, frames total, loss), got {progress!r}"
            )
        yield progress
        return
    if progress is False or (progress is None and not someone_watches()):
        yield None
        return
    from .progress_bar import step_bar  # lazy: loads tqdm

    with step_bar(None, desc=desc, unit="frame") as advance:
        yield lambda done, total, loss: advance(done, total, loss=loss)


def preset_label(preset: object) -> str:
    """The bar's label: a preset's name ("noise-zoom", "my.toml" -> "my", a spec's name)."""
    if isinstance(preset, str):
        return Path(preset).stem if preset.endswith(".toml") else preset
    return str(getattr(preset, "name", "render"))
