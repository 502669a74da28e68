"""A render's folder on disk: numbered frames, a loss log, the manifest, the loss plot.

    OUT/frames/000001.png ...   frame index i (0-based) is file i+1
    OUT/losses.csv              one row a finished frame; "frame" is the file number (1-based)
    OUT/checkpoints/000001.npz  state a mode needs to resume after frame i+1 (only the latest)
    OUT/manifest.json           resolved spec, spec_hash, model, versions, progress fields
    OUT/losses.png              final loss per frame, drawn by renderer.loss_plot

A frame is done only when its PNG exists AND its row is in losses.csv. The PNG is written
(atomically) first, then its checkpoint if any (atomically), and the row is appended last
and fsync'ed, so a kill anywhere before that leaves a frame without a row: it is simply
rendered again on resume. losses.csv grows by one appended line a frame and is never
rewritten while rendering, so a frame costs the same at frame 10 and at frame 10,000.

Reading the log: a torn last line (a kill in the middle of an append: no newline, or a
last line that does not parse) is dropped; any other defect (wrong header, a damaged line
before the end) makes the whole file count as empty: a damaged log must never resume into
wrong frames. When a frame has two rows (rendered again in the same run) the later wins.

Opening a store for rendering tidies the log once: the torn line and the rows of frames that
will be rendered again (everything after the leading done frames) are cut off, and a log
with another header (e.g. other extra columns) or rows out of order is rewritten atomically.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..media.images import read_image, write_image_atomic
from ..runtime.atomic_files import (
    remove_partial_files,
    user_os_errors,
    write_bytes_atomic,
    write_error,
    write_json_atomic,
    write_text_atomic,
)
from ..runtime.errors import DreamreelError
from ..runtime.interrupts import signals_held
from .manifest import spec_hash

MANIFEST_NAME = "manifest.json"
LOSSES_CSV = "losses.csv"
LOSSES_PNG = "losses.png"
FRAMES_DIR = "frames"
CHECKPOINTS_DIR = "checkpoints"
CORE_COLUMNS = ("frame", "final_loss", "octave_losses", "seconds")

_FRAME_NAME = re.compile(r"^(\d{6,})\.png$")
_CHECKPOINT_NAME = re.compile(r"^(\d{6,})\.npz$")
_MAX_CHANGES_SHOWN = 5
_MAX_VALUE_CHARS = 40


# ---------------------------------------------------------------- names


def frame_file_name(index: int) -> str:
    """File name of frame `index` (0-based): 0 -> "000001.png"."""
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    return f"{index + 1:06d}.png"


def checkpoint_file_name(index: int) -> str:
    """File name of frame `index`'s checkpoint (0-based): 0 -> "000001.npz"."""
    return frame_file_name(index)[: -len(".png")] + ".npz"


def _numbered_files(folder: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    """(file number, path) of the files in `folder` whose names match, in number order."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match and path.is_file():
            found.append((int(match[1]), path))
    return sorted(found)


def numbered_frame_files(frames_dir: Path) -> list[Path]:
    """Our frame PNGs in `frames_dir` (names like 000001.png), in frame order."""
    return [path for _, path in _numbered_files(frames_dir, _FRAME_NAME)]


# ---------------------------------------------------------------- losses.csv


def _format_float(value: float, decimals: int) -> str:
    return f"{float(value):.{decimals}f}"


def _format_extra(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (np.floating, np.integer)):
        return _format_extra(value.item())
    return str(value)


def _parse_extra(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _csv_line(fields: Sequence[str]) -> str:
    """One CSV record ending in "\n"; a field holding a line break would split the record."""
    for text in fields:
        if "\n" in text or "\r" in text:
            raise ValueError(f"losses.csv values may not contain line breaks: {text!r}")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def _row_line(row: Mapping[str, Any], extras: Sequence[str]) -> str:
    fields = [
        str(row["frame"]),
        _format_float(row["final_loss"], 6),
        " ".join(_format_float(v, 6) for v in row["octave_losses"]),
        _format_float(row["seconds"], 3),
    ]
    fields += [_format_extra(row.get(name)) for name in extras]
    return _csv_line(fields)


def _parse_fields(line: bytes) -> list[str]:
    """The fields of one complete line (without its newline); ValueError if it is not one."""
    text = line.decode("utf-8")  # UnicodeDecodeError is a ValueError
    records = list(csv.reader([text]))
    if len(records) != 1:
        raise ValueError("not one CSV record")
    return records[0]


def _parse_row(fields: list[str], header: list[str]) -> dict[str, Any]:
    if len(fields) != len(header):
        raise ValueError(f"{len(fields)} fields, the header has {len(header)}")
    frame = int(fields[0])
    if frame < 1:
        raise ValueError(f"frame {frame} < 1")
    row: dict[str, Any] = {
        "frame": frame,
        "final_loss": float(fields[1]),
        "octave_losses": [float(v) for v in fields[2].split()],
        "seconds": float(fields[3]),
    }
    for name, value in zip(header[len(CORE_COLUMNS) :], fields[len(CORE_COLUMNS) :]):
        if value != "":
            row[name] = _parse_extra(value)
    return row


@dataclass
class _Log:
    """What a losses.csv holds. Empty (header None) when missing or damaged."""

    header: list[str] | None = None
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)  # by frame; later rows win
    lines: list[tuple[int, int]] = field(default_factory=list)  # (frame, end offset), file order
    size: int = 0  # bytes in the file, torn line included


def _parse_log(data: bytes) -> _Log:
    """Parse losses.csv bytes: a torn last line is dropped, any other defect empties it."""
    empty = _Log(size=len(data))
    complete = data.rfind(b"\n") + 1  # bytes after this are a torn last line
    lines, start = [], 0
    while start < complete:
        end = data.index(b"\n", start) + 1
        lines.append((data[start : end - 1], end))
        start = end
    if not lines:
        return empty
    try:
        header = _parse_fields(lines[0][0])
    except (ValueError, csv.Error):
        return empty
    if tuple(header[: len(CORE_COLUMNS)]) != CORE_COLUMNS or len(set(header)) != len(header):
        return empty
    log = _Log(header=header, size=len(data))
    last = len(lines) - 1
    for number, (line, end) in enumerate(lines[1:], start=1):
        if not line.strip():
            continue
        try:
            row = _parse_row(_parse_fields(line), header)
        except (ValueError, csv.Error):
            # A kill mid-append tears only the last line, and only when nothing follows it.
            if number == last and complete == len(data):
                break
            return empty
        log.rows[row["frame"]] = row
        log.lines.append((row["frame"], end))
    return log


def _read_log(csv_path: Path) -> _Log | None:
    """The parsed log; None when there is no file; empty when it cannot be read."""
    try:
        data = csv_path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return _Log()
    return _parse_log(data)


def read_loss_rows(csv_path: Path) -> dict[int, dict[str, Any]]:
    """Rows of a losses.csv by frame number (1-based); {} when missing or unparseable.

    A torn last line is left out; any other defect (wrong header, a short row or a number
    that is not one before the last line, frame < 1) makes the whole file count as empty.
    Read only: the file is not changed.
    """
    log = _read_log(Path(csv_path))
    return log.rows if log else {}


def loss_log_columns(csv_path: Path) -> tuple[str, ...]:
    """The extra columns (after the core ones) of a losses.csv; () when missing or
    unparseable."""
    log = _read_log(Path(csv_path))
    return tuple(log.header[len(CORE_COLUMNS) :]) if log and log.header else ()


def write_loss_log(
    csv_path: Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]
) -> None:
    """A whole losses.csv at once, atomically: a log made of other logs' rows (a chunked
    render's, renderer/distributed/chunk_assemble.py)."""
    columns = _check_columns(columns)
    write_text_atomic(
        Path(csv_path),
        _csv_line([*CORE_COLUMNS, *columns]) + "".join(_row_line(row, columns) for row in rows),
    )


def _done_count(frames_dir: Path, rows: Mapping[int, Any]) -> int:
    count = 0
    while (count + 1) in rows:
        png = frames_dir / frame_file_name(count)
        try:
            if not png.is_file() or png.stat().st_size == 0:
                break
        except OSError:
            break
        count += 1
    return count


def done_frame_count(out_dir: str | Path) -> int:
    """Leading consecutive done frames of a render folder, read only (no manifest check)."""
    out_dir = Path(out_dir)
    return _done_count(out_dir / FRAMES_DIR, read_loss_rows(out_dir / LOSSES_CSV))


# ---------------------------------------------------------------- checkpoints


def _npz_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """A checkpoint as .npz bytes (uncompressed: dream state is float noise, and big)."""
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"checkpoint must be a dict of arrays, not {type(checkpoint).__name__}")
    arrays = {}
    for name, value in checkpoint.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"checkpoint names must be non-empty strings, got {name!r}")
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise ValueError(f"checkpoint '{name}' holds Python objects, not numbers")
        arrays[name] = array
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _remove_quietly(path: Path) -> None:
    """Cleanup of files nothing reads any more: a failure costs disk space, not frames."""
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


# ---------------------------------------------------------------- manifest


def read_manifest(out_dir: str | Path) -> dict[str, Any] | None:
    """manifest.json of `out_dir` as a dict; None if absent; DreamreelError if unreadable."""
    path = Path(out_dir) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DreamreelError(f"cannot read '{path}': {_one_line(str(err))}") from err
    if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
        raise DreamreelError(f"cannot read '{path}': not a dreamreel manifest (no spec table)")
    return data


# ---------------------------------------------------------------- spec diff


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _flatten(spec: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(spec, dict) and (spec or not prefix):
        flat: dict[str, Any] = {}
        for key, value in spec.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix[:-1]: spec}


_ABSENT = object()


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 3] + "..."


def spec_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """ "dream.steps 20 -> 30" for every dotted key whose value differs, sorted by key.

    Values compare as JSON text (what spec_hash hashes), so 20 vs 20.0 shows up too.
    """
    flat_old, flat_new = _flatten(old), _flatten(new)
    changes = []
    for key in sorted(set(flat_old) | set(flat_new)):
        before, after = flat_old.get(key, _ABSENT), flat_new.get(key, _ABSENT)
        if before is _ABSENT or after is _ABSENT or _canon(before) != _canon(after):
            changes.append(f"{key} {_show(before)} -> {_show(after)}")
    return changes


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _describe_changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    changes = spec_changes(old, new) or ["spec_hash"]
    shown = changes[:_MAX_CHANGES_SHOWN]
    if len(changes) > _MAX_CHANGES_SHOWN:
        shown.append("...")
    return _one_line(", ".join(shown))


# ---------------------------------------------------------------- the store


class FrameStore:
    """The frames, loss log, checkpoints and manifest of one render folder, resumable.

    `columns` names the extra losses.csv columns (after frame, final_loss, octave_losses,
    seconds) that write_frame may fill, in order: appended rows cannot add columns later.
    """

    def __init__(
        self,
        out_dir: str | Path,
        manifest: dict[str, Any],
        *,
        restart: bool = False,
        columns: Sequence[str] = (),
    ):
        self.columns = _check_columns(columns)
        self.out_dir = Path(out_dir)
        self.frames_dir = self.out_dir / FRAMES_DIR
        self.checkpoints_dir = self.out_dir / CHECKPOINTS_DIR
        self.csv_path = self.out_dir / LOSSES_CSV
        self.plot_path = self.out_dir / LOSSES_PNG
        self.manifest_path = self.out_dir / MANIFEST_NAME
        self.manifest = dict(manifest)
        # The manifest found on resume (same spec), e.g. for earlier seconds; else None.
        self.previous_manifest: dict[str, Any] | None = None
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise DreamreelError(f"cannot write to '{self.out_dir}': it is a file, not a folder")

        if restart:
            self._clear()
        else:
            self._check_same_render()
        self._identify_input()
        self._sweep()
        try:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise write_error(self.frames_dir, err, verb="create") from err
        self._rows: dict[int, dict[str, Any]] = {}
        self._log_exists = False
        self._open_log()
        self._checkpoints: set[int] = set()  # indices of the checkpoint files on disk
        self._open_checkpoints()
        write_json_atomic(self.manifest_path, self.manifest)

    # ------------------------------------------------------------ opening

    def _check_same_render(self) -> None:
        """Refuse to mix frames of two renders; a folder without frames is free to reuse."""
        hint = "add --restart to start over or choose another --out"
        try:
            old = read_manifest(self.out_dir)
        except DreamreelError:
            old, unreadable = None, True
        else:
            unreadable = False
        new_spec = self.manifest.get("spec", {})
        same = old is not None and (old.get("spec_hash") or spec_hash(old["spec"])) == (
            self.manifest.get("spec_hash") or spec_hash(new_spec)
        )
        if same:
            self.previous_manifest = old
            self._check_same_input(old)
            return
        if not self._has_render_files():
            return  # e.g. killed before the first frame: the manifest is simply replaced
        if unreadable:
            raise DreamreelError(
                f"{self.out_dir} holds frames with an unreadable {MANIFEST_NAME}; {hint}"
            )
        if old is None:
            raise DreamreelError(
                f"{self.out_dir} holds frames but no {MANIFEST_NAME} (not known to be this "
                f"render); {hint}"
            )
        changed = _describe_changes(
            {**old["spec"], **old.get("identity_beyond_spec", {})},
            {**new_spec, **self.manifest.get("identity_beyond_spec", {})},
        )
        raise DreamreelError(
            f"{self.out_dir} holds frames of a different render (changed: {changed}); {hint}"
        )

    def _identify_input(self, known: dict[str, Any] | None = None) -> None:
        """Record what the input is by content (manifest "input_identity"), once."""
        path = self.manifest.get("spec", {}).get("input")
        if "input_identity" in self.manifest or not isinstance(path, str) or not path:
            return
        from ..media.input_identity import input_identity

        self.manifest["input_identity"] = input_identity(path, known=known)

    def _check_same_input(self, old: dict[str, Any]) -> None:
        """Same settings but another file at the input's path: its frames must not mix
        with the stored ones. Manifests from before this record resume as they did."""
        from ..media.input_identity import input_changes

        recorded = old.get("input_identity")
        self._identify_input(known=recorded)
        changes = input_changes(recorded, self.manifest.get("input_identity"))
        if changes and self._has_render_files():
            raise DreamreelError(
                f"the input changed since frames were rendered in {self.out_dir}: "
                f"{_one_line(', '.join(changes))}; use --restart to render the new input "
                f"afresh (or give the original input back)"
            )

    def _has_render_files(self) -> bool:
        return self.csv_path.exists() or bool(numbered_frame_files(self.frames_dir))

    def _clear(self) -> None:
        """Delete our frames, loss log, checkpoints and plot (nothing else the user put there)."""
        checkpoints = [path for _, path in _numbered_files(self.checkpoints_dir, _CHECKPOINT_NAME)]
        doomed = numbered_frame_files(self.frames_dir) + checkpoints
        for path in [*doomed, self.csv_path, self.plot_path]:
            try:
                path.unlink(missing_ok=True)
            except OSError as err:
                reason = err.strerror or str(err)
                raise DreamreelError(f"cannot delete '{path}' for --restart: {reason}") from err
        with contextlib.suppress(OSError):
            self.checkpoints_dir.rmdir()  # only when empty: it may hold the user's files

    def _sweep(self) -> None:
        for folder in (self.frames_dir, self.checkpoints_dir, self.out_dir):
            if folder.is_dir():
                remove_partial_files(folder)

    def _open_log(self) -> None:
        """Read losses.csv and keep exactly the rows of the leading done frames, once.

        Rows after them belong to frames that will be rendered again, and a torn last line
        to none: both are cut off, so appends start on a clean line. A log with another
        header or its rows out of order is rewritten (atomically) instead.
        """
        log = _read_log(self.csv_path)
        if log is None:
            return
        done = _done_count(self.frames_dir, log.rows)
        header = [*CORE_COLUMNS, *self.columns]
        with user_os_errors(self.csv_path, "update"):
            if done == 0:  # nothing to keep: the header comes with the first row
                self.csv_path.unlink()
                return
            in_order = [frame for frame, _ in log.lines[:done]] == list(range(1, done + 1))
            redone_later = any(frame <= done for frame, _ in log.lines[done:])
            if log.header == header and in_order and not redone_later:
                end = log.lines[done - 1][1]
                if end < log.size:
                    with open(self.csv_path, "r+b") as f:
                        f.truncate(end)
                        f.flush()
                        os.fsync(f.fileno())
                self._rows = {frame: log.rows[frame] for frame in range(1, done + 1)}
            else:
                keep = set(header)
                self._rows = {
                    frame: {k: v for k, v in log.rows[frame].items() if k in keep}
                    for frame in range(1, done + 1)
                }
                self._rewrite_log()
        self._log_exists = True

    def _rewrite_log(self) -> None:
        """losses.csv anew (atomically) from the rows kept: the rare, whole-file path."""
        text = _csv_line([*CORE_COLUMNS, *self.columns]) + "".join(
            _row_line(self._rows[frame], self.columns) for frame in sorted(self._rows)
        )
        write_text_atomic(self.csv_path, text)

    def rewind(self, count: int) -> None:
        """Forget every frame from `count` on (rows and checkpoints; the PNGs are simply
        overwritten): for a mode that must render again from an earlier frame."""
        if count >= self.done_count():
            return
        self._rows = {frame: row for frame, row in self._rows.items() if frame <= count}
        for index in self._checkpoints:
            _remove_quietly(self.checkpoint_path(index))
        self._checkpoints = set()
        self._rewrite_log()

    def _open_checkpoints(self) -> None:
        """Keep only the checkpoint of the last done frame: a resume starts right after it."""
        keep = _done_count(self.frames_dir, self._rows) - 1
        for number, path in _numbered_files(self.checkpoints_dir, _CHECKPOINT_NAME):
            if number - 1 == keep:
                self._checkpoints.add(keep)
            else:
                _remove_quietly(path)

    # ------------------------------------------------------------ frames

    def frame_path(self, index: int) -> Path:
        """Path of frame `index` (0-based): index 0 is frames/000001.png."""
        return self.frames_dir / frame_file_name(index)

    def checkpoint_path(self, index: int) -> Path:
        """Path of frame `index`'s checkpoint (0-based): index 0 is checkpoints/000001.npz."""
        return self.checkpoints_dir / checkpoint_file_name(index)

    def done_count(self) -> int:
        """Leading consecutive frames with both a PNG and a row: where a resume starts."""
        return _done_count(self.frames_dir, self._rows)

    def read_frame(self, index: int) -> np.ndarray:
        return read_image(self.frame_path(index))

    def read_checkpoint(self, index: int) -> dict[str, np.ndarray] | None:
        """The arrays saved with frame `index`; None if there are none or they are unreadable.

        Only the latest written frame keeps its checkpoint (on resume: the last done one).
        """
        path = self.checkpoint_path(index)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except Exception:  # absent, truncated, not a zip, not an npz: all mean "none"
            return None

    def write_frame(
        self,
        index: int,
        image: np.ndarray,
        *,
        octave_losses: Iterable[float],
        final_loss: float,
        seconds: float,
        checkpoint: Mapping[str, np.ndarray] | None = None,
        **extra: Any,
    ) -> None:
        """Write frame `index`: its PNG, its checkpoint, then append its losses.csv row.

        `extra` fills the store's `columns` (a missing one is left empty). The row is
        fsync'ed before the call returns; only then are older checkpoints deleted. A frame
        written again gets a second row, which wins over the first.
        """
        unknown = set(extra) - set(self.columns)
        if unknown:
            raise ValueError(
                f"no losses.csv column for {sorted(unknown)}: FrameStore(columns=...) has "
                f"{list(self.columns)}"
            )
        row: dict[str, Any] = {
            "frame": index + 1,
            "final_loss": float(final_loss),
            "octave_losses": [float(v) for v in octave_losses],
            "seconds": float(seconds),
            **{name: value for name, value in extra.items() if value is not None},
        }
        line = _row_line(row, self.columns)  # bad values fail here, before any file changes
        state = None if checkpoint is None else _npz_bytes(checkpoint)

        with signals_held():  # Ctrl-C here would leave a whole PNG that is not done
            write_image_atomic(self.frame_path(index), image)
            if state is not None:
                write_bytes_atomic(self.checkpoint_path(index), state)
                self._checkpoints.add(index)
            self._append(line)
            self._rows[index + 1] = row
        if state is not None:
            for older in self._checkpoints - {index}:
                _remove_quietly(self.checkpoint_path(older))
            self._checkpoints = {index}

    def _append(self, line: str) -> None:
        """Add one line to losses.csv durably; on failure the file is as it was."""
        data = line.encode("utf-8")
        if not self._log_exists:
            write_text_atomic(self.csv_path, _csv_line([*CORE_COLUMNS, *self.columns]) + line)
            self._log_exists = True
            return
        flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0)
        with user_os_errors(self.csv_path, "append to"):
            fd = os.open(self.csv_path, flags)
            try:
                size = os.fstat(fd).st_size
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                except BaseException:  # disk full, Ctrl-C: no half line for the next append
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, size)
                    raise
            finally:
                os.close(fd)

    def rows(self) -> list[dict[str, Any]]:
        """Logged rows sorted by frame; "frame" is the file number (index + 1)."""
        return [
            {**row, "octave_losses": list(row["octave_losses"])}
            for _, row in sorted(self._rows.items())
        ]

    def frame_paths(self, count: int | None = None) -> list[Path]:
        """Paths of the first `count` frames (default: the done ones)."""
        count = self.done_count() if count is None else count
        return [self.frame_path(i) for i in range(count)]

    # ------------------------------------------------------------ manifest and plot

    def update_manifest(self, **fields: Any) -> None:
        self.manifest.update(fields)
        write_json_atomic(self.manifest_path, self.manifest)

    def write_loss_plot(self, *, width: int = 640, height: int = 320) -> Path | None:
        """Draw final_loss per frame into losses.png; None (and no file) without rows."""
        from ..imaging.loss_plot import loss_plot

        rows = self.rows()
        if not rows:
            return None
        write_image_atomic(self.plot_path, loss_plot(rows, width=width, height=height))
        return self.plot_path


def _check_columns(columns: Sequence[str]) -> tuple[str, ...]:
    if isinstance(columns, str):
        raise ValueError(f"columns must be a sequence of names, not the string {columns!r}")
    names = tuple(columns)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"column names must be non-empty strings, got {name!r}")
        if name in CORE_COLUMNS:
            raise ValueError(f"extra columns may not be named {name!r}: it is a core column")
    if len(set(names)) != len(names):
        raise ValueError(f"column names repeat: {list(names)}")
    _csv_line(names)  # no line breaks
    return names
