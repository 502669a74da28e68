"""The losses.csv codec: one row a finished frame, read and written.

Reading the log: a torn last line (a kill in the middle of an append: no newline, or a
last line that does not parse) is dropped; any other defect (wrong header, a damaged line
before the end) makes the whole file count as empty: a damaged log must never resume into
wrong frames. When a frame has two rows (rendered again in the same run) the later wins.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime.atomic_files import write_text_atomic

CORE_COLUMNS = ("frame", "final_loss", "octave_losses", "seconds")


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


def csv_line(fields: Sequence[str]) -> str:
    """One CSV record ending in "\n"; a field holding a line break would split the record."""
    for text in fields:
        if "\n" in text or "\r" in text:
            raise ValueError(f"losses.csv values may not contain line breaks: {text!r}")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def row_line(row: Mapping[str, Any], extras: Sequence[str]) -> str:
    fields = [
        str(row["frame"]),
        _format_float(row["final_loss"], 6),
        " ".join(_format_float(v, 6) for v in row["octave_losses"]),
        _format_float(row["seconds"], 3),
    ]
    fields += [_format_extra(row.get(name)) for name in extras]
    return csv_line(fields)


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
class LossLog:
    """What a losses.csv holds. Empty (header None) when missing or damaged."""

    header: list[str] | None = None
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)  # by frame; later rows win
    lines: list[tuple[int, int]] = field(default_factory=list)  # (frame, end offset), file order
    size: int = 0  # bytes in the file, torn line included


def _parse_log(data: bytes) -> LossLog:
    """Parse losses.csv bytes: a torn last line is dropped, any other defect empties it."""
    empty = LossLog(size=len(data))
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
    log = LossLog(header=header, size=len(data))
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


def read_log(csv_path: Path) -> LossLog | None:
    """The parsed log; None when there is no file; empty when it cannot be read."""
    try:
        data = csv_path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return LossLog()
    return _parse_log(data)


def read_loss_rows(csv_path: Path) -> dict[int, dict[str, Any]]:
    """Rows of a losses.csv by frame number (1-based); {} when missing or unparseable.

    A torn last line is left out; any other defect (wrong header, a short row or a number
    that is not one before the last line, frame < 1) makes the whole file count as empty.
    Read only: the file is not changed.
    """
    log = read_log(Path(csv_path))
    return log.rows if log else {}


def loss_log_columns(csv_path: Path) -> tuple[str, ...]:
    """The extra columns (after the core ones) of a losses.csv; () when missing or
    unparseable."""
    log = read_log(Path(csv_path))
    return tuple(log.header[len(CORE_COLUMNS) :]) if log and log.header else ()


def write_loss_log(
    csv_path: Path, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]
) -> None:
    """A whole losses.csv at once, atomically: a log made of other logs' rows (a chunked
    render's, renderer/distributed/chunk_assemble.py)."""
    columns = check_columns(columns)
    write_text_atomic(
        Path(csv_path),
        csv_line([*CORE_COLUMNS, *columns]) + "".join(row_line(row, columns) for row in rows),
    )


def check_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The extra column names as a tuple; ValueError for a bad or repeated name."""
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
    csv_line(names)  # no line breaks
    return names
