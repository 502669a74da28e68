"""A render's folder as a resumable store: its frames, loss log, checkpoints and manifest.

A frame is done only when its PNG exists AND its row is in losses.csv (with
output.frames_format png16 or tiff16, AND its 16-bit file in frames16/: a frame without
one, e.g. rendered before the setting was, is rendered again). The PNGs are written
(atomically) first, then its checkpoint if any (atomically), and the row is appended last
and fsync'ed, so a kill anywhere before that leaves a frame without a row: it is simply
rendered again on resume. losses.csv grows by one appended line a frame and is never
rewritten while rendering, so a frame costs the same at frame 10 and at frame 10,000.

Opening a store for rendering tidies the log once: the torn line and the rows of frames that
will be rendered again (everything after the leading done frames) are cut off, and a log
with another header (e.g. other extra columns) or rows out of order is rewritten atomically.
File names: renderer/store/frame_names.py; the losses.csv codec: renderer/store/loss_log.py.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..media.embedded_text import encode_png, png_text_chunk, with_png_chunk
from ..media.images import (
    SIXTEEN_BIT_SUFFIXES,
    encode_image16,
    read_image,
    to_uint16,
    write_image_atomic,
)
from ..media.input_identity import input_changes, input_identity
from ..runtime.atomic_files import (
    remove_partial_files,
    user_os_errors,
    write_bytes_atomic,
    write_error,
    write_json_atomic,
    write_text_atomic,
)
from ..runtime.errors import DreamreelError, Refused
from ..runtime.interrupts import signals_held
from .frame_names import (
    CHECKPOINT_NAME,
    CHECKPOINTS_DIR,
    FRAMES16_DIR,
    FRAMES_DIR,
    LOSSES_CSV,
    LOSSES_PNG,
    MANIFEST_NAME,
    checkpoint_file_name,
    frame16_file_name,
    frame_file_name,
    numbered_files,
    numbered_frame_files,
)
from .loss_log import CORE_COLUMNS, check_columns, csv_line, read_log, read_loss_rows, row_line
from .manifest import read_manifest, spec_hash
from .out_folder import (
    check_manifest_is_dreamreels,
    check_no_managed_links,
    restart_deletes,
    restart_doomed,
)
from .removal_log import remove_noted
from .spec_diff import describe_changes, one_line

RECIPE_KEYWORD = "dreamreel"  # the frame PNGs' text chunk that holds the render's recipe

# ---------------------------------------------------------------- done frames


def _done_count(out_dir: Path, rows: Mapping[int, Any], suffix16: str | None = None) -> int:
    """Frames 1.. with a row and a whole PNG (with ``suffix16``: and a 16-bit file)."""
    count = 0
    while (count + 1) in rows:
        paths = [out_dir / FRAMES_DIR / frame_file_name(count)]
        if suffix16:
            paths.append(out_dir / FRAMES16_DIR / frame16_file_name(count, suffix16))
        if not all(_whole(path) for path in paths):
            break
        count += 1
    return count


def _whole(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def what_a_render_finds(out_dir: str | Path, restart: bool = False) -> str:
    """In words, what a render into ``out_dir`` starts from: "a new render", "holds 12
    frames: resumed if they are this render's", or (restart) "--restart: its 12 frames go"."""
    done = done_frame_count(out_dir) if Path(out_dir).is_dir() else 0
    if not done:
        return "a new render"
    frames = f"{done} frame{'s' * (done != 1)}"
    if restart:
        return f"--restart: its {frames} go"
    return f"holds {frames}: resumed if they are this render's"


def done_frame_count(out_dir: str | Path, frames_format: str = "png") -> int:
    """Leading consecutive done frames of a render folder, read only (no manifest check);
    with a 16-bit ``frames_format``, only those with their 16-bit file too."""
    out_dir = Path(out_dir)
    rows = read_loss_rows(out_dir / LOSSES_CSV)
    return _done_count(out_dir, rows, SIXTEEN_BIT_SUFFIXES.get(frames_format))


# ---------------------------------------------------------------- checkpoints


def _npz_bytes(checkpoint: Mapping[str, Any]) -> bytes:
    """A checkpoint as .npz bytes (uncompressed: dream state is float noise, and big)."""
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"checkpoint must be a dict of arrays, not {type(checkpoint).__name__}")
    arrays: dict[str, Any] = {}  # Any: numpy's stubs match **arrays to allow_pickle: bool
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


def _remove_quietly(folder: Path, path: Path) -> None:
    """Cleanup of files nothing reads any more: a failure costs disk space, not frames."""
    with contextlib.suppress(OSError):
        remove_noted(folder, path)


# ---------------------------------------------------------------- the store


class FrameStore:
    """The frames, loss log, checkpoints and manifest of one render folder, resumable.

    `columns` names the extra losses.csv columns (after frame, final_loss, octave_losses,
    seconds) that write_frame may fill, in order: appended rows cannot add columns later.
    `recipe`: the text every frame PNG carries (a text chunk under RECIPE_KEYWORD).
    `frames_format` (output.frames_format): "png16" or "tiff16" add frames16/NNNNNN.png
    or .tif, each frame's 16 bits (write_frame's `exact`), needed for a frame to be done.
    """

    def __init__(
        self,
        out_dir: str | Path,
        manifest: dict[str, Any],
        *,
        restart: bool = False,
        columns: Sequence[str] = (),
        recipe: str | None = None,
        frames_format: str = "png",
    ):
        self.columns = check_columns(columns)
        self._suffix16 = SIXTEEN_BIT_SUFFIXES.get(frames_format)
        if self._suffix16 is None and frames_format != "png":
            raise ValueError(f"unknown frames_format {frames_format!r}")
        # The render's recipe (renderer/rendering/recipe.py), made a PNG text chunk once:
        # every frame carries it beside its pixels.
        self._recipe_chunk = None if recipe is None else png_text_chunk(RECIPE_KEYWORD, recipe)
        self.out_dir = Path(out_dir)
        self.frames_dir = self.out_dir / FRAMES_DIR
        self.frames16_dir = self.out_dir / FRAMES16_DIR
        self.checkpoints_dir = self.out_dir / CHECKPOINTS_DIR
        self.csv_path = self.out_dir / LOSSES_CSV
        self.plot_path = self.out_dir / LOSSES_PNG
        self.manifest_path = self.out_dir / MANIFEST_NAME
        self.manifest = dict(manifest)
        # The manifest found on resume (same spec), e.g. for earlier seconds; else None.
        self.previous_manifest: dict[str, Any] | None = None
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise DreamreelError(f"cannot write to '{self.out_dir}': it is a file, not a folder")

        check_no_managed_links(self.out_dir)  # before anything is read, written or deleted
        if restart:
            self._clear()
        else:
            check_manifest_is_dreamreels(self.out_dir)
            self._check_same_render()
        self._identify_input()
        self._sweep()
        for folder in [self.frames_dir, *([self.frames16_dir] if self._suffix16 else [])]:
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise write_error(folder, err, verb="create") from err
        self._rows: dict[int, dict[str, Any]] = {}
        self._log_exists = False
        self._open_log()
        self._checkpoints: set[int] = set()  # indices of the checkpoint files on disk
        self._open_checkpoints()
        write_json_atomic(self.manifest_path, self.manifest)

    # ------------------------------------------------------------ opening

    def _check_same_render(self) -> None:
        """Refuse to mix frames of two renders; a folder without frames is free to reuse."""
        old = read_manifest(self.out_dir)  # dreamreel's, if any (checked before)
        new_spec = self.manifest.get("spec", {})
        if old is not None and (old.get("spec_hash") or spec_hash(old["spec"])) == (
            self.manifest.get("spec_hash") or spec_hash(new_spec)
        ):  # the same render
            self.previous_manifest = old
            self._check_same_input(old)
            return
        if not self._has_render_files():
            return  # e.g. killed before the first frame: the manifest is simply replaced
        # The user decides on --restart knowing what it deletes.
        hint = (
            f"add --restart to start over (it deletes {restart_deletes(self.out_dir)}) "
            f"or choose another --out"
        )
        if old is None:
            raise Refused(
                f"{self.out_dir} holds frames but no {MANIFEST_NAME} (not known to be this "
                f"render); {hint}"
            )
        changed = describe_changes(
            {**old["spec"], **old.get("identity_beyond_spec", {})},
            {**new_spec, **self.manifest.get("identity_beyond_spec", {})},
        )
        raise Refused(
            f"{self.out_dir} holds frames of a different render (changed: {changed}); {hint}"
        )

    def _identify_input(self, known: dict[str, Any] | None = None) -> None:
        """Record what the input is by content (manifest "input_identity"), once."""
        path = self.manifest.get("spec", {}).get("input")
        if "input_identity" in self.manifest or not isinstance(path, str) or not path:
            return

        self.manifest["input_identity"] = input_identity(path, known=known)

    def _check_same_input(self, old: dict[str, Any]) -> None:
        """Same settings but another file at the input's path: its frames must not mix
        with the stored ones. Manifests from before this record resume as they did."""
        recorded = old.get("input_identity")
        self._identify_input(known=recorded)
        changes = input_changes(recorded, self.manifest.get("input_identity"))
        if changes and self._has_render_files():
            raise Refused(
                f"the input changed since frames were rendered in {self.out_dir}: "
                f"{one_line(', '.join(changes))}; use --restart to render the new input "
                f"afresh (it deletes {restart_deletes(self.out_dir)}), or give the original "
                f"input back"
            )

    def _has_render_files(self) -> bool:
        return self.csv_path.exists() or bool(numbered_frame_files(self.frames_dir))

    def _clear(self) -> None:
        """Delete our frames, loss log, checkpoints and plot (nothing else the user put there):
        what restart_deletes says."""
        frames, frames16, checkpoints, logs = restart_doomed(self.out_dir)
        for path in [*frames, *frames16, *checkpoints, *logs]:
            try:
                remove_noted(self.out_dir, path)
            except OSError as err:
                reason = err.strerror or str(err)
                raise DreamreelError(f"cannot delete '{path}' for --restart: {reason}") from err
        with contextlib.suppress(OSError):
            self.checkpoints_dir.rmdir()  # only when empty: it may hold the user's files

    def _sweep(self) -> None:
        for folder in (self.frames_dir, self.frames16_dir, self.checkpoints_dir, self.out_dir):
            if folder.is_dir():
                remove_partial_files(folder)

    def _open_log(self) -> None:
        """Read losses.csv and keep exactly the rows of the leading done frames, once.

        Rows after them belong to frames that will be rendered again, and a torn last line
        to none: both are cut off, so appends start on a clean line. A log with another
        header or its rows out of order is rewritten (atomically) instead.
        """
        log = read_log(self.csv_path)
        if log is None:
            return
        done = self._done(log.rows)
        header = [*CORE_COLUMNS, *self.columns]
        with user_os_errors(self.csv_path, "update"):
            if done == 0:  # nothing to keep: the header comes with the first row
                remove_noted(self.out_dir, self.csv_path)
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
        text = csv_line([*CORE_COLUMNS, *self.columns]) + "".join(
            row_line(self._rows[frame], self.columns) for frame in sorted(self._rows)
        )
        write_text_atomic(self.csv_path, text)

    def rewind(self, count: int) -> None:
        """Forget every frame from `count` on (rows and checkpoints; the PNGs are simply
        overwritten): for a mode that must render again from an earlier frame."""
        if count >= self.done_count():
            return
        self._rows = {frame: row for frame, row in self._rows.items() if frame <= count}
        for index in self._checkpoints:
            _remove_quietly(self.out_dir, self.checkpoint_path(index))
        self._checkpoints = set()
        self._rewrite_log()

    def _open_checkpoints(self) -> None:
        """Keep only the checkpoint of the last done frame: a resume starts right after it."""
        keep = self._done(self._rows) - 1
        for number, path in numbered_files(self.checkpoints_dir, CHECKPOINT_NAME):
            if number - 1 == keep:
                self._checkpoints.add(keep)
            else:
                _remove_quietly(self.out_dir, path)

    # ------------------------------------------------------------ frames

    def frame_path(self, index: int) -> Path:
        """Path of frame `index` (0-based): index 0 is frames/000001.png."""
        return self.frames_dir / frame_file_name(index)

    def frame16_path(self, index: int) -> Path:
        """Path of frame `index`'s 16-bit file (0-based): frames16/000001.png or .tif."""
        return self.frames16_dir / frame16_file_name(index, self._suffix16 or ".png")

    def checkpoint_path(self, index: int) -> Path:
        """Path of frame `index`'s checkpoint (0-based): index 0 is checkpoints/000001.npz."""
        return self.checkpoints_dir / checkpoint_file_name(index)

    def done_count(self) -> int:
        """Leading consecutive frames with a PNG (and 16-bit file) and a row: where a resume
        starts."""
        return self._done(self._rows)

    def _done(self, rows: Mapping[int, Any]) -> int:
        return _done_count(self.out_dir, rows, self._suffix16)

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
        exact: np.ndarray | None = None,
        **extra: Any,
    ) -> None:
        """Write frame `index`: its PNG, its checkpoint, then append its losses.csv row.

        `exact`: the frame's float values (0..255) before their rounding to `image`, for
        its 16-bit file (frames_format png16, tiff16; none: the bytes * 257).

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
        line = row_line(row, self.columns)  # bad values fail here, before any file changes
        state = None if checkpoint is None else _npz_bytes(checkpoint)
        wide = None if self._suffix16 is None else self._encode16(index, image, exact)

        with signals_held():  # Ctrl-C here would leave a whole PNG that is not done
            if wide is not None:
                write_bytes_atomic(self.frame16_path(index), wide)
            self._write_png(index, image)
            if state is not None:
                write_bytes_atomic(self.checkpoint_path(index), state)
                self._checkpoints.add(index)
            self._append(line)
            self._rows[index + 1] = row
        if state is not None:
            for older in self._checkpoints - {index}:
                _remove_quietly(self.out_dir, self.checkpoint_path(older))
            self._checkpoints = {index}

    def _write_png(self, index: int, image: np.ndarray) -> None:
        if self._recipe_chunk is None:
            write_image_atomic(self.frame_path(index), image)
        else:  # the same pixel bytes, the recipe's chunk after the header
            png = with_png_chunk(encode_png(image), self._recipe_chunk)
            write_bytes_atomic(self.frame_path(index), png)

    def _encode16(self, index: int, image: np.ndarray, exact: np.ndarray | None) -> bytes:
        suffix, path = self._suffix16 or ".png", self.frame16_path(index)
        data = encode_image16(to_uint16(exact, image), suffix, path)
        if suffix != ".png" or self._recipe_chunk is None:
            return data
        return with_png_chunk(data, self._recipe_chunk)  # the 8-bit PNG's recipe too

    def _append(self, line: str) -> None:
        """Add one line to losses.csv durably; on failure the file is as it was."""
        data = line.encode("utf-8")
        if not self._log_exists:
            write_text_atomic(self.csv_path, csv_line([*CORE_COLUMNS, *self.columns]) + line)
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
        from ..imaging.loss_plot import loss_plot  # lazy: loads Pillow

        rows = self.rows()
        if not rows:
            return None
        write_image_atomic(self.plot_path, loss_plot(rows, width=width, height=height))
        return self.plot_path
