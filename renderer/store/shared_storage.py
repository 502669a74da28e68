"""Render folders at a URL (``--out s3://bucket/renders/x``): object stores and other
file systems through fsspec, for workers that share no disk.

A render writes into a local staging copy of the folder, exactly as into any folder (the
frame store's atomic frames, its resume), and a mirror thread copies it to the URL as it
goes, so the worker that dreams a frame is the one that stores it:

    at the start   the URL's files are fetched into the staging folder, so a render
                   there resumes (and a chunked render's assembly finds its chunks);
    every second   the manifest, frames and checkpoints that are new or changed go up,
                   then the losses.csv read *before* them: a row at the URL always has its
                   frame there, so the URL's folder is a valid, resumable render at every
                   moment;
    at the end     the same, then the other files (manifest, MP4, GIF, report), and files
                   the render itself removed (noted: removal_log.py) are removed at the
                   URL, none after a render that failed; the staging folder goes.

Each file goes up whole: object stores (S3, GCS, Azure, memory) make an object visible
only once its upload completes; elsewhere (SFTP, SMB...) it goes to a hidden temp name
and is moved into place. Credentials and endpoints are the protocol library's own (for
S3: AWS_* variables, ~/.aws; AWS_ENDPOINT_URL for MinIO and friends). Folders on a shared
file system (NFS, a mounted bucket) need none of this: give their path.

Two machines rendering into one URL at once are not stopped (object stores have no
locks); each folder's own lock still guards its staging copy.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; staging copies there are never swept
    fcntl = None  # type: ignore[assignment]

from ..runtime.errors import DreamreelError
from ..runtime.redaction import redacted, remember_credentials
from .removal_log import MIRRORED_NAME, removed_since

# fsspec's names for this machine's own files: a folder there is a local path.
_LOCAL_SCHEMES = ("file://", "local://")
# Protocols whose uploads appear whole (an object is visible only once complete).
_WHOLE_UPLOADS = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oci", "memory"}
# The project's extras that bring each protocol's library (pyproject.toml).
_EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
}
_SYNC_SECONDS = 1.0
_STAGING_PREFIX = "dreamreel-staging-"  # + pid-random
_STAGING_LOCK = ".lock"  # inside each staging copy, held while a render uses it
_LOCKLESS_GRACE_S = 60.0  # a copy without a lock younger than this may be being made
_LOG = "losses.csv"
_MANIFEST = "manifest.json"  # says whose frames they are: up before them
# Uploaded at every sync, before the log that lists them.
_FIRST = ("frames", "checkpoints")
_LATEST = "latest.jpg"  # the frame just made: up at every sync, for whoever watches the URL


class RemotePath(str):
    """A folder or file at a URL: prints as the URL; ``/`` and ``.name`` as a Path's."""

    def __truediv__(self, part: str | os.PathLike) -> RemotePath:
        return RemotePath(self.rstrip("/") + "/" + os.fspath(part))

    @property
    def name(self) -> str:
        return posixpath.basename(self.rstrip("/"))


def is_url(location: str | os.PathLike) -> bool:
    """Whether ``location`` names a folder through fsspec rather than a local path
    (``file://`` and ``local://`` URLs are local paths: the checks on OUT's managed
    names and inputs inside it must see the real folder, not a staging copy)."""
    text = os.fspath(location)
    return "://" in text and not text.startswith(_LOCAL_SCHEMES)


def location(value: str | os.PathLike) -> Path | RemotePath:
    """What a user gave as --out or a job's out: a URL kept as it is, else a Path."""
    text = os.fspath(value)
    for scheme in _LOCAL_SCHEMES:
        if text.startswith(scheme):
            return Path(text[len(scheme) :])
    return RemotePath(checked_url(text)) if is_url(text) else Path(text)


def checked_url(url: str) -> str:
    """``url`` without a trailing slash, refused (one line) where its path has an empty,
    ``.`` or ``..`` part: the staging copy is named after the last part, and ``..`` would
    make it the staging folder itself, whose neighbours would go up with it."""
    remember_credentials(url)  # hidden from every message from here on
    text = url.rstrip("/")
    path = url.partition("://")[2].strip("/")
    if not path or any(part in ("", ".", "..") for part in path.split("/")):
        raise DreamreelError(
            f"{redacted(url)}: a folder at a URL needs a path without empty, '.' or '..' parts"
        )
    return text


def joined(base: Path, text: str) -> Path | RemotePath:
    """``text`` (a path or URL from a file) read from ``base``: a URL as it is, a path
    under base (absolute)."""
    given = location(text)
    return given if is_url(given) else (base / given).absolute()


def open_url(url: str):
    """(fsspec file system, path on it) for ``url``; one line when it cannot be opened."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise DreamreelError(
            f"--out {redacted(url)}: folders at a URL need fsspec: pip install fsspec"
        ) from None
    try:
        return url_to_fs(url)
    except ImportError as err:  # e.g. "Install s3fs to access S3"
        extra = _EXTRAS.get(url.split("://", 1)[0])
        hint = f" (pip install 'dreamreel[{extra}]')" if extra else ""
        raise DreamreelError(f"cannot use {redacted(url)}: {_one_line(err)}{hint}") from None
    except (ValueError, OSError) as err:
        raise DreamreelError(f"cannot use {redacted(url)}: {_one_line(err)}") from None


@contextlib.contextmanager
def staged(
    out: str | os.PathLike, *, only: Iterable[str] | None = None, write: bool = True
) -> Iterator[Path]:
    """A local folder standing for ``out``: ``out`` itself when it is a path; for a URL a
    staging copy, fetched first and mirrored back while the block runs (module notes).
    ``only``: fetch just these files (names in the folder); ``write=False``: a read-only
    copy, nothing goes back."""
    if not is_url(out):
        yield Path(location(out))
        return
    url = checked_url(os.fspath(out))
    fs, root = open_url(url)
    staging_root = _staging_root()
    _sweep_stale(staging_root)
    staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{os.getpid()}-", dir=staging_root))
    held = _hold(staging)  # while held, no sweep (here, in another container) removes it
    local = staging / (posixpath.basename(root.rstrip("/")) or "out")
    try:
        mirror = Mirror(fs, root, local, url)
        mirror.fetch(only)
        local.mkdir(parents=True, exist_ok=True)
        (local / MIRRORED_NAME).touch()  # the store notes its removals for the mirror
        if not write:
            yield local
            return
        mirror.check_writable()
        with mirror.running():
            yield local
    except DreamreelError as err:  # the user knows the URL, not the staging copy
        err.args = (str(err).replace(str(local), redacted(url)), *err.args[1:])
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if held is not None:
            os.close(held)


def _hold(staging: Path) -> int | None:
    """Lock ``staging``'s own lock file for as long as the copy is in use: the kernel
    drops the lock when the process ends, however it ends. None where there are no locks."""
    if fcntl is None:
        return None
    fd = os.open(staging / _STAGING_LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _sweep_stale(root: str | None) -> None:
    """Remove staging copies no render holds any more (killed: no ``finally`` ran), so a
    worker killed again and again does not fill its disk with frames. A copy is stale only
    when its lock can be taken: a process id says nothing about a render in another
    container sharing the staging folder. A copy without a lock (being made this instant,
    or left by an older dreamreel) is left alone unless its process is gone and it is old."""
    folder = Path(root or tempfile.gettempdir())
    for stale in folder.glob(f"{_STAGING_PREFIX}*-*"):
        if (stale / _STAGING_LOCK).exists():
            if _unheld(stale / _STAGING_LOCK):
                shutil.rmtree(stale, ignore_errors=True)
            continue
        pid = stale.name[len(_STAGING_PREFIX) :].split("-", 1)[0]
        with contextlib.suppress(OSError):
            old = time.time() - stale.stat().st_mtime > _LOCKLESS_GRACE_S
            if pid.isdigit() and not _alive(int(pid)) and old:
                shutil.rmtree(stale, ignore_errors=True)


def _unheld(lock: Path) -> bool:
    """Whether no process holds ``lock`` (taken and let go at once here)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(lock, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # held: a render is using this copy
    finally:
        os.close(fd)
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's: alive
    return True


def at_url(result, local: Path, url: RemotePath):
    """A RenderResult of a render staged in ``local``, its folder and outputs at ``url``."""
    import dataclasses

    return dataclasses.replace(result, out_dir=url, outputs=seen_from(url, local, result.outputs))


def seen_from(out: Path | RemotePath, local: Path, paths: list) -> list:
    """Files written in ``local``, the staging copy of ``out``, as ``out``'s (a URL's
    files; the paths themselves when ``out`` is a local folder)."""
    if not is_url(out):
        return list(paths)
    return [out / Path(path).relative_to(local).as_posix() for path in paths]


def _staging_root() -> str | None:
    root = os.environ.get("DREAMREEL_STAGING")
    if root:
        os.makedirs(root, exist_ok=True)
    return root or None  # None: the system's temp folder


class Mirror:
    """Copies a local folder to ``root`` on ``fs`` (see the module's notes)."""

    def __init__(self, fs, root: str, local: Path, url: str):
        self.fs, self.root, self.local = fs, root.rstrip("/"), local
        self.url = redacted(url)  # only ever shown, in messages: fs and root do the work
        self.whole_uploads = bool(_protocols(fs) & _WHOLE_UPLOADS)
        self.sent: dict[str, tuple[int, int]] = {}  # relative path -> (size, mtime_ns)
        self.remote: set[str] = set()  # relative paths known at the URL
        self.noted: set[str] = set()  # what the render noted it removed (removal_log.py)
        self._noted_to = 0  # how far the note was read
        self.error: DreamreelError | None = None
        self._stop = threading.Event()

    # ---------------------------------------------------------------- down

    def fetch(self, only: Iterable[str] | None = None) -> None:
        """The URL's files into the (new) local folder."""
        self.fs.invalidate_cache()  # listings cached earlier miss other workers' files
        try:
            if only is None:
                found = self.fs.find(self.root) if self.fs.isdir(self.root) else []
            else:
                found = [
                    f"{self.root}/{name}" for name in only if self.fs.isfile(f"{self.root}/{name}")
                ]
        except Exception as err:  # OSError, or a library's own (botocore's validation)
            raise DreamreelError(f"cannot read {self.url}: {_one_line(err)}") from None
        pairs = []
        for remote in found:
            relative = remote[len(self.root) :].lstrip("/")
            if relative and not _hidden(relative):
                pairs.append((remote, self.local / relative))
                self.remote.add(relative)
        if not pairs:
            return
        for _, target in pairs:
            target.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.fs.get([r for r, _ in pairs], [str(t) for _, t in pairs])
        except Exception as err:
            raise DreamreelError(f"cannot read {self.url}: {_one_line(err)}") from None
        for relative in self.remote:  # what came down need not go up again
            stat = (self.local / relative).stat()
            self.sent[relative] = (stat.st_size, stat.st_mtime_ns)

    # ---------------------------------------------------------------- up

    def check_writable(self) -> None:
        """Write and remove a probe: a missing bucket or no permission is one line now,
        not an error after the first frame."""
        probe = f"{self.root}/.dreamreel-probe-{os.getpid()}"
        try:
            if not self.whole_uploads:  # a file system (local://, sftp...): folders are made
                self.fs.makedirs(self.root, exist_ok=True)
            self.fs.pipe_file(probe, b"")
            self.fs.rm_file(probe)
        except Exception as err:
            raise DreamreelError(f"cannot write {self.url}: {_one_line(err)}") from None

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Mirror every second on a thread while the block runs; the final sync at its
        end (however it ends) and one line if anything failed to go up."""
        thread = threading.Thread(target=self._loop, name="dreamreel-mirror", daemon=True)
        thread.start()
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            self._stop.set()
            thread.join()
            try:
                # A render that raised removes nothing at the URL: what is missing from
                # its copy may be missing because the copy itself went.
                self.sync(final=True, remove=not failed)
            except DreamreelError as err:
                self.error = self.error or err
            if self.error is not None and not failed:
                raise self.error

    def _loop(self) -> None:
        while not self._stop.wait(_SYNC_SECONDS):
            try:
                self.sync()
            except DreamreelError as err:
                self.error = err
                return
            except Exception as err:
                self.error = DreamreelError(f"cannot write {self.url}: {_one_line(err)}")
                return

    def sync(self, *, final: bool = False, remove: bool = True) -> None:
        """Frames and checkpoints, then the log read before them, then latest.jpg; at the
        end also the rest, and removals. Only what the render noted as removed is removed at the URL
        (renderer/store/removal_log.py), and only once it is gone from the copy."""
        # Before the log: what the log read next no longer lists.
        new, self._noted_to = removed_since(self.local, self._noted_to)
        self.noted.update(new)
        log = self.local / _LOG
        try:
            listed = log.read_bytes()  # before the frames: its rows' frames exist now
        except FileNotFoundError:
            listed = None
        files = self._local_files()
        first = [f for f in files if f.split("/", 1)[0] in _FIRST]
        self._send([_MANIFEST] if _MANIFEST in files else [])
        self._send(first)
        if listed is not None:
            self._send_bytes(_LOG, listed)
        self._send([_LATEST] if _LATEST in files else [])  # only when it changed
        gone = [f for f in self.remote if f in self.noted and f not in files]
        if final:
            self._send([f for f in files if f not in first and f not in (_LOG, _MANIFEST)])
            if remove:
                self._remove(gone)
        elif remove:  # older checkpoints the store replaced: the new one is up
            self._remove([f for f in gone if f.startswith("checkpoints/")])

    def _local_files(self) -> set[str]:
        if not self.local.is_dir():
            return set()
        found = set()
        for folder, _, names in os.walk(self.local):
            for name in names:
                relative = os.path.relpath(os.path.join(folder, name), self.local)
                relative = relative.replace(os.sep, "/")
                if not _hidden(relative):
                    found.add(relative)
        return found

    def _send(self, relatives: Iterable[str]) -> None:
        for relative in sorted(relatives):
            path = self.local / relative
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # replaced or removed since the listing: the next sync sees it
            key = (stat.st_size, stat.st_mtime_ns)
            if self.sent.get(relative) == key:
                continue
            # _put calls it at once, inside this iteration: path is this one's.
            self._put(relative, lambda target: self.fs.put_file(str(path), target))  # noqa: B023
            self.sent[relative] = key

    def _send_bytes(self, relative: str, data: bytes) -> None:
        key = (len(data), hash(data))
        if self.sent.get(relative) == key:
            return
        self._put(relative, lambda target: self.fs.pipe_file(target, data))
        self.sent[relative] = key

    def _put(self, relative: str, upload) -> None:
        target = f"{self.root}/{relative}"
        try:
            if self.whole_uploads:
                upload(target)
            else:  # a partial file must never be seen under the real name
                folder, name = posixpath.split(target)
                temp = f"{folder}/.{name}.{os.getpid()}.partial"
                self.fs.makedirs(folder, exist_ok=True)
                upload(temp)
                self.fs.mv(temp, target)
        except Exception as err:
            raise DreamreelError(f"cannot write {self.url}/{relative}: {_one_line(err)}") from None
        self.remote.add(relative)

    def _remove(self, relatives: list[str]) -> None:
        for relative in relatives:
            try:
                self.fs.rm_file(f"{self.root}/{relative}")
            except FileNotFoundError:
                pass  # gone already: what was wanted
            except Exception as err:
                raise DreamreelError(
                    f"cannot remove {self.url}/{relative}: {_one_line(err)}"
                ) from None
            self.remote.discard(relative)
            self.sent.pop(relative, None)


def _hidden(relative: str) -> bool:
    """Locks, temp files and probes (".name"): the folder's own, never mirrored."""
    return any(part.startswith(".") for part in relative.split("/"))


def _protocols(fs) -> set[str]:
    protocol = fs.protocol
    return set(protocol) if isinstance(protocol, (tuple, list)) else {protocol}


def _one_line(err: BaseException | str) -> str:
    # A library's message may quote the URL, credentials and all.
    return redacted(" ".join(str(err).split())) or type(err).__name__
