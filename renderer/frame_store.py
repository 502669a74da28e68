"""A render's folder on disk: numbered frames, a loss log, the manifest, the loss plot.

    OUT/frames/000001.png ...   frame index i (0-based) is file i+1
    OUT/losses.csv              one row a finished frame; "frame" is the file number (1-based)
    OUT/manifest.json           resolved spec, spec_hash, model, versions, progress fields
    OUT/losses.png              final loss per frame, drawn by renderer.loss_plot

A frame is done only when its PNG exists AND its row is in losses.csv. The PNG is written
(atomically) first and the CSV rewritten (atomically) after, so a kill between the two
leaves a PNG without a row: that frame is simply rendered again on resume. A losses.csv
that cannot be parsed counts as no rows at all (everything re-renders, nothing crashes).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from renderer.errors import DreamreelError
from renderer.manifest import spec_hash
from renderer.media.images import read_image, write_image_atomic
from renderer.files import remove_partial_files, write_csv_atomic, write_json_atomic

MANIFEST_NAME = "manifest.json"
LOSSES_CSV = "losses.csv"
LOSSES_PNG = "losses.png"
FRAMES_DIR = "frames"
CORE_COLUMNS = ("frame", "final_loss", "octave_losses", "seconds")

_FRAME_NAME = re.compile(r"^(\d{6,})\.png$")
_MAX_CHANGES_SHOWN = 5
_MAX_VALUE_CHARS = 40


# ---------------------------------------------------------------- names


def frame_file_name(index: int) -> str:
    """File name of frame `index` (0-based): 0 -> "000001.png"."""
    if index < 0:
        raise ValueError(f"frame index must be >= 0, got {index}")
    return f"{index + 1:06d}.png"


def numbered_frame_files(frames_dir: Path) -> list[Path]:
    """Our frame PNGs in `frames_dir` (names like 000001.png), in frame order."""
    if not frames_dir.is_dir():
        return []
    found = []
    for path in frames_dir.iterdir():
        match = _FRAME_NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match[1]), path))
    return [path for _, path in sorted(found)]


# ---------------------------------------------------------------- losses.csv


def _format_float(value: float, decimals: int) -> str:
    return f"{float(value):.{decimals}f}"


def _parse_extra(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def read_loss_rows(csv_path: Path) -> dict[int, dict[str, Any]]:
    """Rows of a losses.csv by frame number (1-based); {} when missing or unparseable.

    Any defect (wrong header, short row, a number that is not one, frame < 1) makes the
    whole file count as empty: a damaged log must never resume into wrong frames.
    """
    try:
        text = csv_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    try:
        reader = csv.reader(text.splitlines())
        header = next(reader, None)
        if header is None or tuple(header[: len(CORE_COLUMNS)]) != CORE_COLUMNS:
            return {}
        if len(set(header)) != len(header):
            return {}
        extras = header[len(CORE_COLUMNS) :]
        rows: dict[int, dict[str, Any]] = {}
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                return {}
            frame = int(fields[0])
            if frame < 1:
                return {}
            row: dict[str, Any] = {
                "frame": frame,
                "final_loss": float(fields[1]),
                "octave_losses": [float(v) for v in fields[2].split()],
                "seconds": float(fields[3]),
            }
            for name, value in zip(extras, fields[len(CORE_COLUMNS) :]):
                if value != "":
                    row[name] = _parse_extra(value)
            rows[frame] = row
        return rows
    except (ValueError, csv.Error):
        return {}


def _done_count(frames_dir: Path, rows: dict[int, dict[str, Any]]) -> int:
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
    """"dream.steps 20 -> 30" for every dotted key whose value differs, sorted by key.

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
    """The frames, loss log and manifest of one render folder, resumable after a kill."""

    def __init__(self, out_dir: str | Path, manifest: dict[str, Any], *, restart: bool = False):
        self.out_dir = Path(out_dir)
        self.frames_dir = self.out_dir / FRAMES_DIR
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
        self._sweep()
        try:
            self.frames_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            reason = err.strerror or str(err)
            raise DreamreelError(f"cannot create '{self.frames_dir}': {reason}") from err
        self._rows = read_loss_rows(self.csv_path)
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
        changed = _describe_changes(old["spec"], new_spec)
        raise DreamreelError(
            f"{self.out_dir} holds frames of a different render (changed: {changed}); {hint}"
        )

    def _has_render_files(self) -> bool:
        return self.csv_path.exists() or bool(numbered_frame_files(self.frames_dir))

    def _clear(self) -> None:
        """Delete our frames, loss log and plot (and nothing else the user put there)."""
        doomed = numbered_frame_files(self.frames_dir) + [self.csv_path, self.plot_path]
        for path in doomed:
            try:
                path.unlink(missing_ok=True)
            except OSError as err:
                reason = err.strerror or str(err)
                raise DreamreelError(f"cannot delete '{path}' for --restart: {reason}") from err

    def _sweep(self) -> None:
        for folder in (self.frames_dir, self.out_dir):
            if folder.is_dir():
                remove_partial_files(folder)

    # ------------------------------------------------------------ frames

    def frame_path(self, index: int) -> Path:
        """Path of frame `index` (0-based): index 0 is frames/000001.png."""
        return self.frames_dir / frame_file_name(index)

    def done_count(self) -> int:
        """Leading consecutive frames with both a PNG and a row: where a resume starts."""
        return _done_count(self.frames_dir, self._rows)

    def read_frame(self, index: int) -> np.ndarray:
        return read_image(self.frame_path(index))

    def write_frame(
        self,
        index: int,
        image: np.ndarray,
        *,
        octave_losses: Iterable[float],
        final_loss: float,
        seconds: float,
        **extra: Any,
    ) -> None:
        """Write frame `index`'s PNG, then its losses.csv row (replacing an older one)."""
        clash = set(extra) & set(CORE_COLUMNS)
        if clash:
            raise ValueError(f"extra columns may not be named {sorted(clash)}")
        write_image_atomic(self.frame_path(index), image)
        row: dict[str, Any] = {
            "frame": index + 1,
            "final_loss": float(final_loss),
            "octave_losses": [float(v) for v in octave_losses],
            "seconds": float(seconds),
            **extra,
        }
        self._rows[index + 1] = row
        self._write_csv()

    def _write_csv(self) -> None:
        extras = sorted({key for row in self._rows.values() for key in row} - set(CORE_COLUMNS))
        lines = []
        for frame in sorted(self._rows):
            row = self._rows[frame]
            line = [
                str(frame),
                _format_float(row["final_loss"], 6),
                " ".join(_format_float(v, 6) for v in row["octave_losses"]),
                _format_float(row["seconds"], 3),
            ]
            line += [_format_extra(row.get(name)) for name in extras]
            lines.append(line)
        write_csv_atomic(self.csv_path, [*CORE_COLUMNS, *extras], lines)

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
        from renderer.loss_plot import loss_plot

        rows = self.rows()
        if not rows:
            return None
        write_image_atomic(self.plot_path, loss_plot(rows, width=width, height=height))
        return self.plot_path


def _format_extra(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, (np.floating, np.integer)):
        return _format_extra(value.item())
    return str(value)
