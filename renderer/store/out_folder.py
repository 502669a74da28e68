"""What OUT may be: its managed names stay its own, and a failed render leaves no folder.

OUT's managed names (frames/, checkpoints/, manifest.json, losses.csv, .lock...:
renderer/store/frame_names.py) are written, rewritten and deleted by a render, so none may
be a symbolic link (--restart and checkpoint rotation would delete wherever it points),
and no input may be one of them or lie inside one (--restart would delete it).

A render that fails before its first frame leaves no folder it created behind.

A typo found late (a layer name after the model loaded, an input the decoder refuses)
used to leave an empty ``renders/NAME`` behind. The guard notes the first missing folder
on the way to ``--out`` before the render creates anything; if the render then fails
(any exception, Ctrl-C included) with no frame stored, that folder goes again. A folder
that existed before is never touched, and one holding a frame is kept (it resumes).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..runtime.atomic_files import user_os_errors
from ..runtime.errors import DreamreelError, Refused
from .frame_names import (
    CHECKPOINT_NAME,
    CHECKPOINTS_DIR,
    FRAMES16_DIR,
    FRAMES_DIR,
    LATEST_JPG,
    LOSSES_CSV,
    LOSSES_PNG,
    MANAGED_FILES,
    MANAGED_FOLDERS,
    MANIFEST_NAME,
    PREVIEW_MP4,
    numbered_files,
    numbered_frame16_files,
    numbered_frame_files,
    output_names,
)
from .manifest import not_dreamreels
from .render_lock import render_lock
from .shared_storage import RemotePath, is_url, open_url
from .spec_diff import one_line


def managed_paths(out_dir: Path, mode: str | None = None) -> list[Path]:
    """OUT's managed folders and files; with ``mode``, its stitched outputs too."""
    names = [*MANAGED_FOLDERS, *MANAGED_FILES, *(output_names(mode) if mode else ())]
    return [Path(out_dir) / name for name in names]


def check_no_managed_links(out_dir: Path, also: Iterable[Path] = ()) -> None:
    """Refuse an OUT where a managed name (or one of ``also``: a chunked render's own) is
    a symbolic link, before anything in it is written or deleted. (The stitched outputs
    are renamed into place: a link there is replaced, never followed.)"""
    for path in [*managed_paths(out_dir), *also]:
        with user_os_errors(Path(out_dir), "create output folder"):  # a name too long...
            linked = path.is_symlink()
        if linked:
            raise Refused(
                f"'{path}' is a symbolic link: dreamreel writes and deletes only inside "
                f"--out and follows no link out of it; remove the link or choose another --out"
            )


def check_input_outside(
    out_dir: Path, path: str | os.PathLike, *, what: str = "input", mode: str | None = None
) -> None:
    """Refuse an input (``what``: "input", "mask"...) that is OUT itself, one of its
    managed files, or inside a managed folder: the render would overwrite it, and
    --restart delete it. Links are resolved on both sides."""
    out = Path(out_dir).expanduser().resolve()
    source = Path(path).expanduser().resolve()
    if source == out:
        raise Refused(
            f"the {what} '{path}' is the output folder itself, where the render writes its "
            f"own files ({FRAMES_DIR}/, manifest.json, losses.png...); choose another --out"
        )
    for managed in managed_paths(out, mode):
        if source == managed or managed in source.parents:
            where = "is" if source == managed else "is inside"
            raise Refused(
                f"the {what} '{path}' {where} '{managed}', which the render into "
                f"'{out_dir}' overwrites and --restart deletes; move it out of there "
                f"or choose another --out"
            )


def check_manifest_is_dreamreels(out_dir: str | Path) -> None:
    """Refuse a manifest.json in ``out_dir`` that dreamreel did not write (another tool's,
    or unreadable): a render would replace it. The refusal says what --restart deletes."""
    out_dir = Path(out_dir)
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        return
    try:
        reason = not_dreamreels(json.loads(path.read_text(encoding="utf-8")))
        described = f"a {MANIFEST_NAME} that is not dreamreel's ({reason})"
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        reason = one_line(str(err)) or type(err).__name__
        described = f"an unreadable {MANIFEST_NAME} ({reason})"
    if reason is None:
        return
    raise Refused(
        f"{out_dir} holds {described}; add --restart to replace it and delete "
        f"{restart_deletes(out_dir)} there, or choose another --out"
    )


def restart_doomed(out_dir: Path) -> tuple[list[Path], list[Path], list[Path], list[Path]]:
    """What --restart deletes: our frames, our 16-bit frames, our checkpoints, the loss
    log and its plot, the latest frame and the partial MP4 (these whether present or not:
    a URL's copy may hold them; the last two show the old frames)."""
    frames = numbered_frame_files(out_dir / FRAMES_DIR)
    frames16 = numbered_frame16_files(out_dir / FRAMES16_DIR)
    checkpoints = [path for _, path in numbered_files(out_dir / CHECKPOINTS_DIR, CHECKPOINT_NAME)]
    logs = [LOSSES_CSV, LOSSES_PNG, LATEST_JPG, PREVIEW_MP4]
    return frames, frames16, checkpoints, [out_dir / name for name in logs]


def restart_deletes(out_dir: str | Path) -> str:
    """What --restart would delete in ``out_dir``, in words (paths relative to it)."""
    out_dir = Path(out_dir)
    frames, frames16, checkpoints, logs = restart_doomed(out_dir)
    parts = [
        _numbered_in_words(out_dir, frames, "frame"),
        _numbered_in_words(out_dir, frames16, "16-bit frame"),
        _numbered_in_words(out_dir, checkpoints, "checkpoint"),
        *(path.name for path in logs if path.exists()),
    ]
    parts = [part for part in parts if part]
    if not parts:
        return "nothing else (no frames, checkpoints, losses.csv or losses.png yet)"
    return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


def _numbered_in_words(out_dir: Path, paths: list[Path], noun: str) -> str:
    """ "3 frames (frames/000001.png to frames/000003.png)"; "" for none."""
    if not paths:
        return ""
    first, last = (path.relative_to(out_dir).as_posix() for path in (paths[0], paths[-1]))
    if len(paths) == 1:
        return f"1 {noun} ({first})"
    return f"{len(paths)} {noun}s ({first} to {last})"


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
    # A name too long for the file system, a NUL, a loop of links: one line.
    with user_os_errors(Path(out_dir), "create output folder"):
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
    if not existing.is_dir():
        raise Refused(f"cannot create output folder {out_dir}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise Refused(f"cannot write output folder {out_dir}: {existing} is not writable")
