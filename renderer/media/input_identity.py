"""What a render's input is by content, so a resume can tell that another clip (or photo,
or frame folder) now sits at the same path: its stored frames would ghost over the new one.

A file is known by its size and a SHA-256: of all of it up to FULL_HASH_LIMIT, else of its
first and last PART bytes (bounded time on a 10 GB clip). A frame folder by its numbered
frames' names and sizes plus the hashes of the first and last. The mtime is kept as a
cheap shortcut: same path, size and mtime is taken as the same file without reading it,
while a touched file with the same bytes still compares equal by its hash.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

FULL_HASH_LIMIT = 64 * 2**20
PART = 2**20
_CHUNK = 2**20


def input_identity(
    path: str | os.PathLike, known: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The identity of the file or frame folder at ``path`` (None when there is none).
    ``known``: an identity recorded before, reused as it is when path, size and mtime
    still match."""
    source = Path(path)
    try:
        stat = source.stat()
        if source.is_dir():
            return _folder_identity(source, stat)
        if (
            known
            and known.get("path") == str(source)
            and known.get("kind") == "file"
            and known.get("size") == stat.st_size
            and known.get("mtime_ns") == stat.st_mtime_ns
        ):
            return known
        return {
            "kind": "file",
            "path": str(source),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            **_file_hash(source, stat.st_size),
        }
    except OSError:
        return None  # missing or unreadable: opening the input says so, in its own words


def _file_hash(path: Path, size: int) -> dict[str, str]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= FULL_HASH_LIMIT:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                digest.update(chunk)
            return {"sha256": digest.hexdigest(), "hashed": "all"}
        digest.update(f.read(PART))
        f.seek(size - PART)
        digest.update(f.read(PART))
    return {"sha256": digest.hexdigest(), "hashed": f"first and last {PART} bytes"}


def _folder_identity(folder: Path, stat: os.stat_result) -> dict[str, Any]:
    from .folder import numbered_frames  # lazy: loads OpenCV, numpy

    files = numbered_frames(folder)
    listing = hashlib.sha256()
    for file in files:
        listing.update(f"{file.name}\0{file.stat().st_size}\n".encode())
    identity: dict[str, Any] = {
        "kind": "folder",
        "path": str(folder),
        "frames": len(files),
        "listing_sha256": listing.hexdigest(),
    }
    if files:
        for key, file in (("first", files[0]), ("last", files[-1])):
            identity[f"{key}_sha256"] = _file_hash(file, file.stat().st_size)["sha256"]
    return identity


def input_changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    """What differs between two identities, for one line ([] when the same input, or when
    either is unknown: manifests older than this record resume as before)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return []
    if old.get("kind") != new.get("kind"):
        return [f"it was a {old.get('kind')}, now a {new.get('kind')}"]
    changes = []  # the path is not compared: the spec's input says where, this says what
    if new.get("kind") == "folder":
        if old.get("frames") != new.get("frames"):
            changes.append(f"{old.get('frames')} -> {new.get('frames')} frames")
        elif old.get("listing_sha256") != new.get("listing_sha256"):
            changes.append("frame names or sizes differ")
        for key in ("first", "last"):
            if old.get(f"{key}_sha256") != new.get(f"{key}_sha256"):
                changes.append(f"the {key} frame's content differs")
    else:
        if old.get("size") != new.get("size"):
            changes.append(f"size {old.get('size')} -> {new.get('size')} bytes")
        elif old.get("sha256") != new.get("sha256"):
            changes.append(
                f"same size, other content (sha256 {str(old.get('sha256'))[:12]} "
                f"-> {str(new.get('sha256'))[:12]})"
            )
    return changes
