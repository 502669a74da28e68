"""Text carried inside a picture or video file: a PNG text chunk, a GIF comment, an MP4's
``comment`` tag. Written beside the pixels, never changing them; read back without
decoding a single picture.

Writing: ``png_text_chunk`` makes a compressed iTXt chunk (UTF-8, as ComfyUI and A1111
keep their settings in tEXt chunks, and Pillow reads it as ``Image.open(p).text``) and
``with_png_chunk`` puts it right after IHDR of an encoded PNG; ``encode_png`` encodes a
frame exactly as ``images.write_image_atomic`` does, so the pixels' bytes are the same. The
GIF's comment extension and the MP4's tag are set where those files are written
(renderer/media/writer.py).

Reading: ``read_embedded_text`` tells the three apart by their first bytes and walks the
file's own structure (PNG chunks, GIF blocks, MP4 boxes) with every length checked
against the file: the files come from anyone. No text over ``MAX_TEXT_BYTES`` is read or
unpacked (a zip bomb in a zTXt chunk unpacks no further than that), no more than
``MAX_PARTS`` chunks, blocks or boxes are walked, and a damaged one ends in one line.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..runtime.atomic_files import user_os_errors
from ..runtime.errors import DreamreelError

MAX_TEXT_BYTES = 1 << 20  # 1 MB: far above any recipe, far below trouble
MAX_PARTS = 100_000  # chunks, blocks or boxes walked in one file
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = (b"iTXt", b"zTXt", b"tEXt")
_PNG_KEYWORD_BYTES = 80  # a keyword is 1-79 Latin-1 characters, then a NUL
_GIF_SIGNATURES = (b"GIF87a", b"GIF89a")
_MP4_TOP_BOXES = (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot")
_MATROSKA_SIGNATURE = b"\x1a\x45\xdf\xa3"  # EBML: MKV (FFV1's container), WebM
_MP4_COMMENT = b"\xa9cmt"  # FFmpeg's "comment" tag, in MP4's ilst and in MOV's udta


def encode_png(rgb: np.ndarray) -> bytes:
    """An RGB uint8 image as PNG bytes, encoded as every frame has been
    (renderer/media/images.py), so a text chunk changes no pixel byte."""
    from .images import encode_image  # lazy: reading text needs no OpenCV

    return encode_image(rgb, ".png")


def png_text_chunk(keyword: str, text: str) -> bytes:
    """An iTXt chunk holding ``text`` (UTF-8, deflated) under ``keyword``."""
    name = keyword.encode("latin-1")
    if not 1 <= len(name) < _PNG_KEYWORD_BYTES or b"\0" in name:
        raise ValueError(f"a PNG keyword is 1-79 characters without NUL, got {keyword!r}")
    # keyword, NUL, compressed, deflate, no language tag, no translated keyword
    data = name + b"\0\x01\x00\0\0" + zlib.compress(text.encode("utf-8"), 9)
    return _png_chunk(b"iTXt", data)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def with_png_chunk(png: bytes, chunk: bytes) -> bytes:
    """``png`` with ``chunk`` right after its IHDR chunk (the rest untouched)."""
    end_of_header = len(_PNG_SIGNATURE) + 8 + 13 + 4  # IHDR: length, type, 13 bytes, CRC
    if png[:8] != _PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError("not a PNG that starts with its IHDR chunk")
    return png[:end_of_header] + chunk + png[end_of_header:]


# ---------------------------------------------------------------- reading


def file_kind(head: bytes) -> str | None:
    """ "PNG", "GIF", "MP4" (MOV too) or "MKV" from a file's first 12 bytes; None for others."""
    if head.startswith(_PNG_SIGNATURE):
        return "PNG"
    if head[:6] in _GIF_SIGNATURES:
        return "GIF"
    if head[4:8] in _MP4_TOP_BOXES:
        return "MP4"
    if head.startswith(_MATROSKA_SIGNATURE):
        return "MKV"
    return None


def read_embedded_text(path: str | os.PathLike, *, keyword: str, prefix: str) -> str | None:
    """The text a PNG carries under ``keyword``, or the first GIF comment or MP4/MOV
    ``comment`` tag that starts with ``prefix``; None when the file carries none (or is
    none of the three). One line (DreamreelError) for a damaged or oversized one."""
    source = Path(path)
    with user_os_errors(source, "read"):
        with open(source, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            kind = file_kind(f.read(12))
            f.seek(0)
            reader = _Reader(f, size, source)
            if kind == "PNG":
                return reader.png_text(keyword.encode("latin-1"))
            if kind == "GIF":
                return _starting_with(reader.gif_comments(), prefix)
            if kind == "MP4":
                return _starting_with(reader.mp4_comments(), prefix)
    if kind == "MKV":
        return _matroska_comment(source, prefix)
    return None


def _matroska_comment(path: Path, prefix: str) -> str | None:
    """An MKV's COMMENT tag, read by FFmpeg's own demuxer (as every clip is: EBML's tags
    sit anywhere in the file), held to the same size bound as the others."""
    import av  # lazy: PNG, GIF and MP4 text is read without FFmpeg

    try:
        with av.open(str(path)) as container:
            text = container.metadata.get("comment") or container.metadata.get("COMMENT")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise DreamreelError(f"cannot read the text in '{path}': damaged ({exc})") from None
    if text is None or not text.startswith(prefix):
        return None
    if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
        raise DreamreelError(
            f"cannot read the text in '{path}': its comment is over "
            f"{MAX_TEXT_BYTES // (1 << 20)} MB (no recipe is that long)"
        )
    return text


def _starting_with(texts: Iterator[str], prefix: str) -> str | None:
    return next((text for text in texts if text.startswith(prefix)), None)


class _Reader:
    """One file's structure, walked with every length checked against the file's size."""

    def __init__(self, f: BinaryIO, size: int, path: Path):
        self.f, self.size, self.path = f, size, path

    def damaged(self, why: str) -> DreamreelError:
        return DreamreelError(f"cannot read the text in '{self.path}': damaged ({why})")

    def too_big(self, what: str) -> DreamreelError:
        return DreamreelError(
            f"cannot read the text in '{self.path}': its {what} is over "
            f"{MAX_TEXT_BYTES // (1 << 20)} MB (no recipe is that long)"
        )

    def read(self, count: int, what: str) -> bytes:
        data = self.f.read(count)
        if len(data) != count:
            raise self.damaged(f"{what} is cut off at the end of the file")
        return data

    def skip(self, count: int, what: str) -> None:
        target = self.f.tell() + count
        if target > self.size:
            raise self.damaged(f"{what} runs past the end of the file")
        self.f.seek(target)

    # ------------------------------------------------------------ PNG

    def png_text(self, keyword: bytes) -> str | None:
        self.f.seek(len(_PNG_SIGNATURE))
        for _ in range(MAX_PARTS):
            head = self.f.read(8)
            if len(head) < 8:  # no IEND: a file cut short after its last whole chunk
                if head:
                    raise self.damaged("a chunk's header is cut off")
                return None
            length, kind = struct.unpack(">I4s", head)
            if length > 0x7FFFFFFF:  # the PNG standard's own limit
                raise self.damaged(f"a {kind!r} chunk claims {length} bytes")
            if kind == b"IEND":
                return None
            if kind in _PNG_TEXT_CHUNKS:
                text = self._png_text_chunk(kind, length, keyword)
                if text is not None:
                    return text
            else:
                self.skip(length + 4, f"a {kind.decode('latin-1')!r} chunk")
        return None  # a keyword further in than any writer puts it

    def _png_text_chunk(self, kind: bytes, length: int, keyword: bytes) -> str | None:
        start = self.f.read(min(length, _PNG_KEYWORD_BYTES))  # a short read: checked below
        name, sep, _ = start.partition(b"\0")
        if not sep or name != keyword:
            self.skip(length - len(start) + 4, "a text chunk")
            return None
        if length > MAX_TEXT_BYTES:
            raise self.too_big(f"{kind.decode()} chunk {keyword.decode('latin-1')!r}")
        data = start + self.read(length - len(start), f"the {kind.decode()} chunk")
        (crc,) = struct.unpack(">I", self.read(4, f"the {kind.decode()} chunk's CRC"))
        if zlib.crc32(kind + data) & 0xFFFFFFFF != crc:
            raise self.damaged(f"its {kind.decode()} chunk fails its CRC check")
        body = data[len(name) + 1 :]
        if kind == b"tEXt":
            return body.decode("latin-1")
        if kind == b"zTXt":
            return self._inflated(body[1:], kind).decode("latin-1")
        compressed, method = body[:1], body[1:2]
        if len(body) < 2 or compressed not in (b"\0", b"\1") or method != b"\0":
            raise self.damaged("its iTXt chunk has no valid compression flags")
        language_end = body.find(b"\0", 2)
        translated_end = body.find(b"\0", language_end + 1) if language_end >= 0 else -1
        if translated_end < 0:
            raise self.damaged("its iTXt chunk lacks its language tag or translated keyword")
        text = body[translated_end + 1 :]
        if compressed == b"\1":
            text = self._inflated(text, kind)
        return self._utf8(text)

    def _inflated(self, data: bytes, kind: bytes) -> bytes:
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(data, MAX_TEXT_BYTES + 1)  # a bomb stops here
        except zlib.error as err:
            raise self.damaged(f"its {kind.decode()} chunk does not unpack: {err}") from None
        if len(text) > MAX_TEXT_BYTES:
            raise self.too_big(f"{kind.decode()} chunk, unpacked,")
        if not inflater.eof:
            raise self.damaged(f"its {kind.decode()} chunk's packed text is cut off")
        return text

    def _utf8(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.damaged("its text is not UTF-8") from None

    # ------------------------------------------------------------ GIF

    def gif_comments(self) -> Iterator[str]:
        """Every comment extension's text, in file order."""
        self.f.seek(6)
        screen = self.read(7, "the GIF's screen descriptor")
        self._skip_colour_table(screen[4], "the global colour table")
        for _ in range(MAX_PARTS):
            introducer = self.f.read(1)
            if introducer in (b"", b"\x3b"):  # trailer (or a file cut after a whole block)
                return
            if introducer == b"\x21":  # an extension: its label, then data sub-blocks
                label = self.read(1, "an extension's label")
                if label == b"\xfe":
                    yield self._utf8(self._sub_blocks(keep=True))
                else:
                    self._sub_blocks(keep=False)
            elif introducer == b"\x2c":  # an image: descriptor, colours, LZW data
                descriptor = self.read(9, "an image descriptor")
                self._skip_colour_table(descriptor[8], "a local colour table")
                self.read(1, "an image's LZW code size")
                self._sub_blocks(keep=False)
            else:
                raise self.damaged(f"an unknown GIF block {introducer!r}")

    def _skip_colour_table(self, flags: int, what: str) -> None:
        if flags & 0x80:
            self.skip(3 << ((flags & 0x07) + 1), what)

    def _sub_blocks(self, *, keep: bool) -> bytes:
        kept: list[bytes] = []
        total = 0
        for _ in range(self.size + 1):  # each sub-block is at least its size byte
            count = self.read(1, "a data sub-block")[0]
            if count == 0:
                return b"".join(kept)
            if keep:
                total += count
                if total > MAX_TEXT_BYTES:
                    raise self.too_big("comment")
                kept.append(self.read(count, "a comment"))
            else:
                self.skip(count, "a data sub-block")
        raise self.damaged("data sub-blocks without their end")

    # ------------------------------------------------------------ MP4 / MOV

    def mp4_comments(self) -> Iterator[str]:
        """The ``comment`` tag: moov/udta/meta/ilst/©cmt/data (MP4, what FFmpeg writes
        for an .mp4) and moov/udta/©cmt (QuickTime's own, in a .mov)."""
        for kind, start, end in self._boxes(0, self.size):
            if kind == b"moov":
                for child, first, last in self._boxes(start, end):
                    if child == b"udta":
                        yield from self._udta_comments(first, last)

    def _udta_comments(self, start: int, end: int) -> Iterator[str]:
        for kind, at, stop in self._boxes(start, end):
            if kind == _MP4_COMMENT:
                yield self._quicktime_text(at, stop)
            elif kind == b"meta":
                self.f.seek(at)
                if self.read(4, "a meta box") == b"\0\0\0\0":  # MP4's: a full box
                    at += 4
                for kind, first, last in self._boxes(at, stop):
                    if kind == b"ilst":
                        yield from self._ilst_comments(first, last)

    def _ilst_comments(self, start: int, end: int) -> Iterator[str]:
        for kind, at, stop in self._boxes(start, end):
            if kind != _MP4_COMMENT:
                continue
            for inner, first, last in self._boxes(at, stop):
                if inner == b"data" and last - first >= 8:  # type and locale, then the text
                    yield self._utf8(self._box_payload(first + 8, last))

    def _quicktime_text(self, start: int, end: int) -> str:
        """A QuickTime text atom: 16-bit length, 16-bit language, the text."""
        self.f.seek(start)
        length = struct.unpack(">H", self.read(2, "a comment"))[0]
        if start + 4 + length > end:
            raise self.damaged("a comment is longer than its box")
        return self._utf8(self._box_payload(start + 4, start + 4 + length))

    def _box_payload(self, start: int, end: int) -> bytes:
        if end - start > MAX_TEXT_BYTES:
            raise self.too_big("comment")
        self.f.seek(start)
        return self.read(end - start, "a comment")

    def _boxes(self, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        """(type, payload start, box end) of the boxes laid end to end from start to end."""
        at = start
        for _ in range(MAX_PARTS):
            if at + 8 > end:
                return
            self.f.seek(at)
            size, kind = struct.unpack(">I4s", self.read(8, "a box header"))
            header = 8
            if size == 1:  # a 64-bit size follows
                (size,) = struct.unpack(">Q", self.read(8, "a box header"))
                header = 16
            elif size == 0:  # to the end of its parent
                size = end - at
            if size < header or at + size > end:
                raise self.damaged(f"a {kind!r} box of {size} bytes does not fit its place")
            yield kind, at + header, at + size
            at += size
