"""Where an AVI's own index (idx1) says each video chunk lies: to find damage in the middle.

AVI packets carry no timestamps: FFmpeg numbers them as it reads. Over a damaged stretch
its demuxer skips to the next chunk it recognises and numbers on, without an error, so
every picture after the damage would be shown a few frames early. The index the muxer
wrote at the end of the file still knows where chunk k was: the first packet read from
anywhere else is where the damage is.
"""

from __future__ import annotations

import struct
from pathlib import Path

_VIDEO_CHUNKS = (b"dc", b"db")  # compressed, uncompressed video


def first_misplaced(path: str | Path, stream_number: int, positions: list[int]) -> int | None:
    """The index of the first packet (in demuxing order, ``positions`` = packet.pos of the
    packets with data) that is not where the file's idx1 puts that video chunk; None when
    all match, or when the file has no idx1 to compare with (only packets the index
    covers are compared)."""
    expected = _video_chunk_positions(Path(path), stream_number)
    if not expected:
        return None
    for number, (pos, wanted) in enumerate(zip(positions, expected)):
        if pos != wanted:
            return number
    return None


def _video_chunk_positions(path: Path, stream_number: int) -> list[int]:
    """Each video chunk's data position by idx1 (what PyAV's packet.pos reports)."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"RIFF":
                return []
            f.seek(12)
            movi, index = None, None
            while True:
                header = f.read(8)
                if len(header) < 8:
                    break
                chunk, size = header[:4], struct.unpack("<I", header[4:])[0]
                start = f.tell()
                if chunk == b"LIST" and f.read(4) == b"movi":
                    movi = start  # offsets in idx1 count from the 'movi' fourcc
                elif chunk == b"idx1":
                    index = f.read(size)
                    break
                f.seek(start + size + (size & 1))
    except OSError:
        return []
    if movi is None or not index:
        return []
    wanted = f"{stream_number:02d}".encode()
    entries = [struct.unpack_from("<4sIII", index, i) for i in range(0, len(index) - 15, 16)]
    # Empty chunks (dropped frames) are listed, but the demuxer gives no packet for them.
    video = [
        (offset, size)
        for chunk, _flags, offset, size in entries
        if chunk[:2] == wanted and chunk[2:] in _VIDEO_CHUNKS and size
    ]
    if not video:
        return []
    base = 0 if video[0][0] >= movi else movi  # some muxers write absolute offsets
    return [base + offset + 8 for offset, _size in video]  # + the chunk's own header
