"""Files a render removes from its own folder (``--restart``, checkpoint rotation, a
shorter clip's stale frames), noted in the folder while it is a staging copy of a URL: the
mirror deletes at the URL exactly these, never what merely went missing from the copy (a
temp cleaner, another host, a copy removed mid-render)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

# Both hidden (".name"): the folder's own, never mirrored.
MIRRORED_NAME = ".mirrored"  # present while the folder is a URL's staging copy
REMOVED_NAME = ".removed"  # one relative path a line


def remove_noted(folder: Path, path: Path) -> None:
    """Delete ``path`` (a file inside ``folder``, the render's folder) and, when the folder
    is mirrored to a URL, note it so the URL's copy goes too. Raises OSError as unlink."""
    path.unlink(missing_ok=True)
    if (folder / MIRRORED_NAME).exists():
        relative = Path(os.path.relpath(path, folder)).as_posix()
        with open(folder / REMOVED_NAME, "a", encoding="utf-8") as log:
            log.write(relative + "\n")


def removed_since(folder: Path, offset: int) -> tuple[list[str], int]:
    """What the render noted as removed from ``folder`` after byte ``offset`` of the note
    (it only grows), and the offset to read on from: whole lines only, a line still being
    written waits. Nothing when it noted nothing, or the folder itself is gone."""
    with contextlib.suppress(OSError), open(folder / REMOVED_NAME, "rb") as log:
        log.seek(offset)
        data = log.read()
        whole = data[: data.rfind(b"\n") + 1]
        return whole.decode("utf-8").splitlines(), offset + len(whole)
    return [], offset
