"""A render that fails before its first frame leaves no folder it created behind.

A typo found late (a layer name after the model loaded, an input the decoder refuses)
used to leave an empty ``renders/NAME`` behind. The guard notes the first missing folder
on the way to ``--out`` before the render creates anything; if the render then fails
(any exception, Ctrl-C included) with no frame stored, that folder goes again. A folder
that existed before is never touched, and one holding a frame is kept (it resumes).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..runtime.errors import DreamreelError
from .frame_names import FRAMES_DIR, numbered_frame_files
from .render_lock import render_lock
from .shared_storage import RemotePath, is_url, open_url


def first_missing(path: Path) -> Path | None:
    """The outermost folder of ``path`` that does not exist yet (None: it all exists)."""
    path = Path(path).absolute()
    missing = None
    for folder in (path, *path.parents):
        if folder.exists() or folder.is_symlink():
            break
        missing = folder
    return missing


@contextlib.contextmanager
def removed_if_nothing_rendered(out_dir: Path) -> Iterator[None]:
    created = first_missing(out_dir)
    try:
        yield
    except BaseException:
        if created is not None and created.exists():
            _remove_unless_in_use(created, Path(out_dir))
        raise


def _remove_unless_in_use(created: Path, out_dir: Path) -> None:
    """Two renders started at once into a new folder both saw it missing: the one that
    failed (refused by the lock, say) must not remove what the other is rendering into.
    So the folder goes only under its render lock, and only while it holds no frame."""
    try:
        with render_lock(out_dir):
            if not numbered_frame_files(out_dir / FRAMES_DIR):
                shutil.rmtree(created, ignore_errors=True)
    except DreamreelError:
        pass  # FolderBusy: another render's folder now; or it cannot be locked: leave it


def check_writable(out_dir: Path | RemotePath) -> None:
    """Refuse an --out that cannot be written, creating nothing (the render creates it,
    and removes it again if it fails before its first frame). A URL: its protocol must
    be installed (the render writes a probe there before its first frame)."""
    if is_url(out_dir):
        open_url(os.fspath(out_dir))
        return
    existing = Path(out_dir).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise DreamreelError(f"cannot create output folder {out_dir}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DreamreelError(f"cannot write output folder {out_dir}: {existing} is not writable")
