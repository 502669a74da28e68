"""Where an AVI's own index says each video chunk lies: to find damage in the middle.

AVI packets carry no timestamps: FFmpeg numbers them as it reads. Over a damaged stretch
its demuxer skips to the next chunk it recognises and numbers on, without an error, so
every picture after the damage would be shown a few frames early. The index the muxer
wrote still knows where chunk k was: the first packet read past (or in place of) an
indexed chunk that is not in the file is where the damage is.

Two indexes exist. OpenDML (AVI 2.0) files carry a super index ('indx', in the stream's
header list) of standard indexes ('ix00'...) with absolute offsets; it covers every RIFF
of the file, so it is read first. The original 'idx1' counts its offsets from the 'movi'
fourcc in most files, from the file's start in some, from the first chunk in others:
like FFmpeg, the file itself says which, by what each reading points at (a chunk header
with the entry's own tag and size). An index the file does not bear out is not used, and
a chunk that another reading of its offsets finds is never counted missing: a valid file
is never called damaged on an index's word alone.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import BinaryIO

_VIDEO_CHUNKS = (b"dc", b"db")  # compressed, uncompressed video
_HEADER = struct.Struct("<4sI")  # every chunk: tag, size of its data
_IDX1_ENTRY = struct.Struct("<4sIII")  # tag, flags, offset, size
_ODML_HEADER = struct.Struct("<HBBI4s")  # longs per entry, subtype, type, entries, chunk tag
_SUPER_ENTRY = struct.Struct("<QII")  # a standard index's position, size, duration
_OF_INDEXES, _OF_CHUNKS = 0, 1  # OpenDML index types: super index, standard index
_NOT_KEYFRAME = 0x80000000  # a standard index entry's size carries this flag
_SAMPLE = 8  # index entries held against the file before its offsets are trusted
_MAX_CHUNKS = 4096  # chunks walked in a header or top-level list (valid files: a few dozen)
_FAR = 1 << 62  # past any file: a position beyond is damage, not a place to seek


@dataclass(frozen=True)
class _Index:
    """The non-empty video chunks of one stream as an index lists them (tag, size,
    offset), in file order, and the bases their offsets may count from: first the one
    the file bears out, then the other readings (used only to confirm a chunk missing)."""

    chunks: list[tuple[bytes, int, int]]
    bases: tuple[int, ...]

    def places(self) -> list[int]:
        """Where each chunk's data starts by this reading (what PyAV's packet.pos says)."""
        start = self.bases[0] + _HEADER.size
        return [start + offset for _tag, _size, offset in self.chunks]

    def found(self, f: BinaryIO, number: int) -> list[bool]:
        """For each reading of the index (its own first): whether the chunk is there."""
        tag, size, offset = self.chunks[number]
        return [_holds(f, base + offset, tag, size) for base in self.bases]


def first_misplaced(path: str | Path, stream_number: int, positions: list[int]) -> int | None:
    """The index of the first packet (in demuxing order, ``positions`` = packet.pos of the
    packets with data) read past, or in place of, a video chunk the file's index lists
    but that is not in the file where the index puts it; None when there is none, or
    when the file has no index it bears out (only packets the index covers are compared)."""
    try:
        with open(path, "rb") as f:
            index = _video_index(f, stream_number)
            return _first_unfounded(f, index, positions) if index else None
    except OSError:
        return None


def _first_unfounded(f: BinaryIO, index: _Index, positions: list[int]) -> int | None:
    """Walk the packets along the index. A chunk passed without a packet puts every later
    packet a frame early: damage, whether the chunk is gone or the demuxer skipped over
    it (a damaged size before it). A packet read before the next indexed chunk is the
    file's own when that chunk is still to come; in place of a chunk that is gone, it is
    where the damage is. Never damage: a chunk only another reading of the index finds."""
    places = index.places()
    count, expected = len(places), 0
    for number, position in enumerate(positions):
        while expected < count and places[expected] < position:
            own, *others = index.found(f, expected)
            if own or not any(others):
                return number
            expected += 1
        if expected == count:
            return None  # past what the index covers
        if places[expected] == position:
            expected += 1
        elif not any(index.found(f, expected)):
            return number
    return None


# ---------------------------------------------------------------- reading the indexes


@dataclass(frozen=True)
class _Layout:
    """Where the parts an index needs lie in the file."""

    size: int
    movi: int | None  # the first 'movi' fourcc: where idx1 offsets usually count from
    idx1: bytes
    stream_lists: tuple[tuple[int, int], ...]  # each stream's header list: (start, end)


def _video_index(f: BinaryIO, stream_number: int) -> _Index | None:
    """The stream's video chunks by the OpenDML index, else by idx1; None when neither
    is there or borne out by the file."""
    layout = _layout(f)
    if layout is None:
        return None
    return _odml_index(f, layout, stream_number) or _idx1_index(f, layout, stream_number)


def _layout(f: BinaryIO) -> _Layout | None:
    size = os.fstat(f.fileno()).st_size
    if _read_at(f, 0, 4) != b"RIFF":
        return None
    movi, idx1 = None, b""
    stream_lists: tuple[tuple[int, int], ...] = ()
    for tag, start, length in _chunks(f, 12, size):
        kind = _read_at(f, start, 4) if tag == b"LIST" else b""
        if kind == b"movi" and movi is None:
            movi = start
        elif kind == b"hdrl":
            stream_lists = _stream_lists(f, start + 4, min(start + length, size))
        elif tag == b"idx1":
            idx1 = _read_at(f, start, min(length, size - start))  # a damaged size: what is there
            break
    return _Layout(size, movi, idx1, stream_lists)


def _stream_lists(f: BinaryIO, start: int, end: int) -> tuple[tuple[int, int], ...]:
    """The 'strl' lists of the header list, in stream order: (start, end) of each."""
    return tuple(
        (begin + 4, min(begin + length, end))
        for tag, begin, length in _chunks(f, start, end)
        if tag == b"LIST" and _read_at(f, begin, 4) == b"strl"
    )


def _odml_index(f: BinaryIO, layout: _Layout, stream_number: int) -> _Index | None:
    """The stream's chunks by its super index: offsets absolute, nothing to decide."""
    if stream_number >= len(layout.stream_lists):
        return None
    start, end = layout.stream_lists[stream_number]
    for tag, begin, length in _chunks(f, start, end):
        if tag == b"indx":
            super_index = _read_at(f, begin, min(length, end - begin))
            tags = _video_tags(stream_number)
            chunks = [
                chunk
                for position in _standard_index_positions(super_index)
                for chunk in _standard_index(f, position, layout.size)
                if chunk[0] in tags
            ]
            bases = _bases_borne_out(f, chunks[:_SAMPLE], [0])
            return _Index(sorted(chunks, key=_offset), bases) if bases else None
    return None


def _standard_index_positions(super_index: bytes) -> list[int]:
    if len(super_index) < _ODML_HEADER.size:
        return []
    longs, _subtype, kind, count, _tag = _ODML_HEADER.unpack_from(super_index)
    if kind != _OF_INDEXES or longs != _SUPER_ENTRY.size // 4:
        return []
    body = super_index[24:]  # past its header and 12 reserved bytes
    count = min(count, len(body) // _SUPER_ENTRY.size)
    return [entry[0] for entry in _SUPER_ENTRY.iter_unpack(body[: count * _SUPER_ENTRY.size])]


def _standard_index(f: BinaryIO, position: int, file_size: int) -> list[tuple[bytes, int, int]]:
    """One standard index's non-empty entries as (tag, size, header position)."""
    header = _read_at(f, position, _HEADER.size + 24)
    if len(header) < _HEADER.size + 24:
        return []
    _ix, length = _HEADER.unpack_from(header)
    longs, _subtype, kind, count, tag = _ODML_HEADER.unpack_from(header, _HEADER.size)
    (base,) = struct.unpack_from("<Q", header, _HEADER.size + _ODML_HEADER.size)
    if kind != _OF_CHUNKS or longs < 2:
        return []
    stride = longs * 4  # offset, size (and a second field's offset in field indexes)
    count = min(count, max(0, length - 24) // stride)
    body = _read_at(f, position + len(header), min(count * stride, file_size))
    entries = []
    for at in range(0, len(body) - stride + 1, stride):
        offset, size = struct.unpack_from("<II", body, at)
        size &= ~_NOT_KEYFRAME
        if size:  # empty chunks (dropped frames) give no packet
            entries.append((tag, size, base + offset - _HEADER.size))  # offsets point at data
    return entries


def _idx1_index(f: BinaryIO, layout: _Layout, stream_number: int) -> _Index | None:
    """The stream's chunks by idx1, read the way the file bears out."""
    if layout.movi is None:
        return None
    sample = list(  # the first entries of any stream ('rec ' lists and others aside)
        islice((entry for entry in _idx1_entries(layout.idx1) if entry[0][:2].isdigit()), _SAMPLE)
    )
    if not sample:
        return None
    bases = [layout.movi, 0]  # offsets from the 'movi' fourcc, or from the file's start
    first = _first_chunk(f, layout.movi, layout.size)
    if first is not None:  # FFmpeg's rule: the first entry is the list's first chunk
        bases.append(first - sample[0][2])
    borne_out = _bases_borne_out(f, sample, bases)
    tags = _video_tags(stream_number)
    video = [entry for entry in _idx1_entries(layout.idx1) if entry[0] in tags and entry[1]]
    return _Index(sorted(video, key=_offset), borne_out) if borne_out and video else None


def _idx1_entries(idx1: bytes) -> Iterator[tuple[bytes, int, int]]:
    """(tag, size, offset) of each entry."""
    whole = len(idx1) - len(idx1) % _IDX1_ENTRY.size
    for tag, _flags, offset, size in _IDX1_ENTRY.iter_unpack(idx1[:whole]):
        yield tag, size, offset


def _bases_borne_out(
    f: BinaryIO, sample: list[tuple[bytes, int, int]], bases: list[int]
) -> tuple[int, ...] | None:
    """The bases ranked by how many of the sample's chunks each finds where the index
    says, best first; None when none finds a single one."""
    found = {
        base: sum(_holds(f, base + offset, tag, size) for tag, size, offset in sample)
        for base in dict.fromkeys(bases)  # each base once, in order
    }
    ranked = sorted(found, key=lambda base: -found[base])  # stable: ties keep the order
    return tuple(ranked) if found[ranked[0]] else None


def _offset(chunk: tuple[bytes, int, int]) -> int:
    return chunk[2]


def _first_chunk(f: BinaryIO, movi: int, file_size: int) -> int | None:
    """The header position of the first stream chunk in the 'movi' list (inside a
    'rec ' list, past JUNK), as FFmpeg finds it."""
    position = movi + 4
    for _ in range(_MAX_CHUNKS):
        header = _read_at(f, position, _HEADER.size)
        if len(header) < _HEADER.size:
            return None
        tag, size = _HEADER.unpack(header)
        if tag[:2].isdigit():
            return position
        position += 12 if tag == b"LIST" else _HEADER.size + size + (size & 1)
        if position >= file_size:
            return None
    return None


# ---------------------------------------------------------------- bytes


def _chunks(f: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(tag, data position, size) of the chunks from ``start`` to ``end`` (bounded: a
    damaged size cannot make this walk the file 8 bytes at a time)."""
    position = start
    for _ in range(_MAX_CHUNKS):
        header = _read_at(f, position, _HEADER.size) if position < end else b""
        if len(header) < _HEADER.size:
            return
        tag, size = _HEADER.unpack(header)
        yield tag, position + _HEADER.size, size
        position += _HEADER.size + size + (size & 1)


def _holds(f: BinaryIO, position: int, tag: bytes, size: int) -> bool:
    """Whether a chunk with this tag and size starts at ``position``."""
    return _read_at(f, position, _HEADER.size) == _HEADER.pack(tag, size)


def _video_tags(stream_number: int) -> set[bytes]:
    return {b"%02d%s" % (stream_number, kind) for kind in _VIDEO_CHUNKS}


def _read_at(f: BinaryIO, position: int, size: int) -> bytes:
    """The bytes there; none where no file reaches (a damaged 64-bit offset)."""
    if not 0 <= position < _FAR or size <= 0:
        return b""
    f.seek(position)
    return f.read(size)
