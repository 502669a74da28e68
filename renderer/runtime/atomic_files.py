"""Atomic files: a crash, a full disk or Ctrl-C never leaves a half-written file.

Every writer goes through `atomic_path`: the data lands in a hidden temp file next to
the target and is renamed over it only once complete and fsync'ed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import DreamreelError

_PARTIAL_SUFFIX = ".partial"  # temp files: ".<name>.<token>.partial", never "*.png"


@contextlib.contextmanager
def user_os_errors(path: Path, verb: str) -> Iterator[None]:
    """Turn OS errors on our own file operations into one clear line for the user; a
    failed write also says how much space is left there (a full disk is the usual cause)."""
    try:
        yield
    except OSError as err:
        if verb.startswith("read"):
            raise DreamreelError(f"cannot {verb} '{path}': {_reason(err)}") from err
        raise write_error(path, err, verb=verb) from err


def resolved_user_path(text: str | os.PathLike, what: str, *, verb: str = "read") -> str:
    """A path the user gave, absolute with its links followed (``Path.resolve``), or one
    line naming it where no file system can take it: a loop of symbolic links, a name too
    long, a NUL character. ``~nosuchuser/x`` stays as written, as a shell leaves it."""
    path = Path(text)
    with contextlib.suppress(RuntimeError):  # "~name" of no such user: no home to expand
        path = path.expanduser()
    try:
        with user_os_errors(path, f"{verb} {what}"):
            return str(path.resolve())
    except RuntimeError:  # Python before 3.13 raises this for a loop of symbolic links
        raise DreamreelError(
            f"cannot {verb} {what} '{text}': a loop of symbolic links (one points back at itself)"
        ) from None
    except ValueError:
        raise DreamreelError(f"{what} {str(text)!r}: a path cannot hold a NUL character") from None


def write_error(path: str | os.PathLike, err: OSError, *, verb: str = "write") -> DreamreelError:
    """One line for a write that failed (no space, read-only, quota, permission, I/O):
    the path, the OS's reason and the free space on that file system, e.g.
    "cannot write 'renders/x/frames/000012.png': No space left on device (212 KB free)"."""
    free = free_space(path)
    where = f" ({format_bytes(free)} free)" if free is not None else ""
    return DreamreelError(f"cannot {verb} '{path}': {_reason(err)}{where}")


def _reason(err: OSError) -> str:
    return err.strerror or str(err)


def free_space(path: str | os.PathLike) -> int | None:
    """Bytes free to us on the file system of `path` (or of its nearest existing folder);
    None when even that cannot be asked."""
    folder = Path(os.path.abspath(path))
    while folder != folder.parent:
        try:  # a name too long for the file system: its parent may still answer
            if folder.exists():
                break
        except OSError:
            pass
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def format_bytes(count: int) -> str:
    """212 -> "212 bytes", 217088 -> "212 KB", 5.5e9 -> "5.1 GB" (powers of 1024)."""
    if count < 1024:
        return f"{count} bytes"
    value = float(count)
    for unit in ("KB", "MB", "GB", "TB", "PB"):
        value /= 1024
        if value < 1024 or unit == "PB":
            break
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


def _reserve_temp(target: Path) -> Path:
    """Create an empty, uniquely named temp file beside `target` (same filesystem).

    Creating it ourselves proves the folder is writable before an encoder starts, and
    O_EXCL with mode 0o666 keeps the user's umask (mkstemp would make it 0600).
    """
    if target.parent.exists() and not target.parent.is_dir():
        raise DreamreelError(f"cannot write '{target}': '{target.parent}' is a file, not a folder")
    with user_os_errors(target, "write"):
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{_PARTIAL_SUFFIX}")
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                return tmp
            except FileExistsError:
                continue


def _fsync_file(path: Path) -> None:
    with open(path, "r+b") as f:  # Windows refuses fsync on read-only handles
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    """Persist the rename itself; POSIX only (directories cannot be opened on Windows)."""
    if os.name == "nt":
        return
    # The file is already in place: a filesystem that cannot fsync folders is no failure.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path to fill; on success it replaces `path`, on any failure it is removed."""
    target = Path(path)
    tmp = _reserve_temp(target)
    try:
        yield tmp
        with user_os_errors(target, "write"):
            _fsync_file(tmp)
            os.replace(tmp, target)
    except BaseException:  # also Ctrl-C: no temp litter either way
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with user_os_errors(Path(path), "write"):
            tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text atomically (no newline translation: the same bytes on every OS)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(
    path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Write a CSV table atomically, with "\\n" line endings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write `data` as indented JSON atomically (manifests are read by people too)."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def remove_partial_files(directory: str | os.PathLike) -> int:
    """Delete temp files a killed run left in `directory`; return how many.

    A hard kill (SIGKILL, power loss) skips the cleanup in `atomic_path`; call this
    before resuming into a folder.
    """
    removed = 0
    for leftover in Path(directory).glob(f".*{_PARTIAL_SUFFIX}"):
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed
