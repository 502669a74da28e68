"""One render per folder: an OS lock on OUT/.lock for as long as a render (or a stitch) runs.

The lock is ``flock`` on an open file, so the kernel drops it when the process ends,
however it ends: a render killed with SIGKILL or by a power cut never leaves a stale lock
behind. The file holds the holder's pid and start time, for the refusal to name.

The file is removed when the lock is released, still locked: whoever opened the old file
meanwhile sees (after locking it) that it is no longer the one at the path and opens the
new one, so two processes can never both believe they hold the folder.

The file is opened without following a link, and must be a regular file with no other
name: a link (or hard link) planted at OUT/.lock would otherwise have its target
truncated and overwritten with the holder's record.

Locks are re-entrant within a process: code that holds a folder may render into it.
Where ``fcntl`` is missing (Windows), or the file system has no locks (some network
mounts), nothing is locked.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ..runtime.atomic_files import write_error
from ..runtime.errors import DreamreelError, Refused
from .frame_names import LOCK_NAME

try:
    import fcntl
except ImportError:  # Windows: no flock; renders there are not guarded
    fcntl = None  # type: ignore[assignment]

_READ_TRIES = 20  # the holder writes its pid right after locking: wait a moment for it
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}

_held: dict[str, list] = {}  # resolved folder -> [fd, depth], locks this process holds
_held_guard = threading.Lock()


class FolderBusy(Refused):
    """Another process renders into (or stitches) the folder."""

    def __init__(self, message: str, pid: int | None):
        super().__init__(message)
        self.pid = pid


@contextlib.contextmanager
def render_lock(out_dir: str | os.PathLike, *, purpose: str = "render") -> Iterator[None]:
    """Hold ``out_dir``'s lock while inside (the folder is created if need be).

    Raises FolderBusy, naming the holder's pid, when another process holds it. ``purpose``
    words the refusal: "render" (another render into the same --out) or "stitch".
    """
    folder = Path(out_dir)
    if fcntl is None:
        yield
        return
    key = _key(folder)
    with _held_guard:
        held = _held.get(key)
        if held is not None:
            held[1] += 1
    if held is None:
        fd = _acquire(folder, purpose)
        with _held_guard:
            _held[key] = held = [fd, 1]
    try:
        yield
    finally:
        with _held_guard:
            held[1] -= 1
            last = held[1] == 0
            if last:
                del _held[key]
        if last:
            _release(folder, held[0])


def _key(folder: Path) -> str:
    with contextlib.suppress(OSError):
        return str(folder.resolve())
    return str(folder.absolute())


def _acquire(folder: Path, purpose: str) -> int:
    path = folder / LOCK_NAME
    if folder.exists() and not folder.is_dir():
        raise DreamreelError(f"cannot write to '{folder}': it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise write_error(folder, err, verb="create") from err
    while True:
        fd = _open_lock_file(folder, path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise _busy(folder, purpose, holder) from None
        except OSError as err:
            if err.errno not in _NO_LOCKS:
                os.close(fd)
                raise write_error(path, err, verb="lock") from err
            return fd  # a file system without locks (some network mounts): render unguarded
        if _is_current(fd, path):
            break
        os.close(fd)  # its holder released and removed it meanwhile: lock the new one
    # Who holds it, for the refusal to name. A full disk may refuse even these bytes:
    # the lock holds all the same (a refusal then names no pid), and the render that
    # follows reports the full disk on the file it needs.
    with contextlib.suppress(OSError):
        record = json.dumps({"pid": os.getpid(), "started": time.time(), "purpose": purpose}) + "\n"
        os.ftruncate(fd, 0)
        os.write(fd, record.encode())
    return fd


# No link followed, and not inherited by the encoders' subprocesses (Python's default,
# said here all the same). POSIX flags: Windows has neither, and locks nothing anyway.
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_lock_file(folder: Path, path: Path) -> int:
    """The lock file opened for reading and writing, refused unless it is a plain file of
    OUT's own: its content is truncated and rewritten once it is locked."""
    try:
        fd = os.open(path, _OPEN_FLAGS, 0o666)
    except OSError as err:
        if path.is_symlink():
            raise _not_ours(path, "it is a symbolic link") from None
        raise write_error(folder, err, verb="write into") from err  # read-only, full...
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "it is not a regular file"
    elif info.st_nlink > 1:  # 0 is fine: its holder just removed it (_is_current retries)
        problem = f"it has {info.st_nlink} names (a hard link, maybe to a file outside it)"
    if problem is not None:
        os.close(fd)
        raise _not_ours(path, problem)
    return fd


def _not_ours(path: Path, problem: str) -> DreamreelError:
    return Refused(
        f"refusing the lock file '{path}': {problem}, and dreamreel writes nothing outside "
        f"--out; delete it and run again"
    )


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` itself (not a link to it)."""
    try:
        on_disk = os.lstat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _release(folder: Path, fd: int) -> None:
    # Removed while still locked (see the module's docstring), then unlocked by closing.
    path = folder / LOCK_NAME
    with contextlib.suppress(OSError):
        if _is_current(fd, path):  # never another's file put there meanwhile
            path.unlink()
    os.close(fd)


def _read_holder(fd: int) -> dict:
    for _ in range(_READ_TRIES):
        try:
            data = json.loads(os.pread(fd, 4096, 0) or b"null")
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("pid"), int):
            return data
        time.sleep(0.01)
    return {}


def _busy(folder: Path, purpose: str, holder: dict) -> FolderBusy:
    pid = holder.get("pid")
    started = holder.get("started")
    who = f"pid {pid}" if pid else "another process"
    if isinstance(started, (int, float)):
        who += time.strftime(", started %Y-%m-%d %H:%M:%S", time.localtime(started))
    doing = "stitch" if holder.get("purpose") == "stitch" else "render"
    if purpose == "stitch":
        return FolderBusy(
            f"cannot stitch '{folder}': a {doing} is still running there "
            f"({who}); wait for it to finish",
            pid,
        )
    return FolderBusy(
        f"'{folder}' is being {doing}ed by another dreamreel ({who}); wait "
        f"for it to finish or choose another --out",
        pid,
    )
