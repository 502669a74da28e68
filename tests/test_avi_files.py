"""AVIs as other muxers and rippers write them: the reader takes every valid one whole and
still stops, in one line, where a chunk is really missing.

The files are made here: FFmpeg writes the sound first (`-audio_preload`, as XviD/DivX rips
do: the first video chunk sits some KB into the `movi` list) and the rest is rewritten
by hand from its chunks: idx1 offsets counted from the file's start or from the first
chunk, an OpenDML (AVI 2.0) index over two RIFFs, DivX-style packed B-frames.
"""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from helpers import read_until_stopped

from renderer.media import open_video

FRAMES = 48  # 2 s at 24 fps
SOURCE = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=24:duration=2"]
SOUND = ["-f", "lavfi", "-i", "sine=duration=2", "-c:a", "pcm_s16le"]
HEADER = struct.Struct("<4sI")
KEYFRAME = 0x10  # idx1 flag
NOT_KEYFRAME = 0x80000000  # OpenDML standard index: in an entry's size
VOP = b"\x00\x00\x01\xb6"  # MPEG-4 picture start code; two bits after it: I, P, B
PACKED = b"\x00\x00\x01\xb2DivX503b1393p"  # user data: 'p' tells decoders B-frames are packed


def ffmpeg(*args) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *map(str, args)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


# ---------------------------------------------------------------- AVI files by hand


@dataclass(frozen=True)
class Chunk:
    tag: bytes
    flags: int
    data: bytes

    @property
    def stream(self) -> int:
        return int(self.tag[:2])

    @property
    def is_video(self) -> bool:
        return self.tag[2:] in (b"dc", b"db")


@dataclass(frozen=True)
class Avi:
    head: bytes  # the RIFF header and everything before the 'movi' list
    chunks: tuple[Chunk, ...]  # the 'movi' list, in file order


def read_avi(path: Path) -> Avi:
    """A one-RIFF AVI as FFmpeg writes it: header, 'movi' chunks, idx1 (for the flags)."""
    data = path.read_bytes()
    position, movi, index = 12, None, b""
    while position + 8 <= len(data):
        tag, size = HEADER.unpack_from(data, position)
        if tag == b"LIST" and data[position + 8 : position + 12] == b"movi":
            movi = (position, position + 8 + size)
        elif tag == b"idx1":
            index = data[position + 8 : position + 8 + size]
        position += 8 + size + (size & 1)
    assert movi is not None and index
    flags = [entry[1] for entry in struct.iter_unpack("<4sIII", index)]
    chunks, position = [], movi[0] + 12
    while position < movi[1]:
        tag, size = HEADER.unpack_from(data, position)
        chunks.append(Chunk(tag, flags[len(chunks)], data[position + 8 : position + 8 + size]))
        position += 8 + size + (size & 1)
    return Avi(data[: movi[0]], tuple(chunks))


def chunk_bytes(tag: bytes, data: bytes) -> bytes:
    return HEADER.pack(tag, len(data)) + data + b"\0" * (len(data) & 1)


def write_avi(
    avi: Avi, path: Path, *, offsets: str = "movi", riffs: int = 1, odml: bool = False
) -> Path:
    """The chunks in ``riffs`` RIFFs (idx1 in the first, covering it only, as in FFmpeg's
    AVI 2.0 files), idx1 offsets counted from ``offsets`` ('movi', 'file' or 'first
    chunk'), and with ``odml`` a super index per stream over standard indexes."""
    out = bytearray(avi.head)
    step = -(-len(avi.chunks) // riffs)
    standard: dict[int, list[tuple[int, int, int]]] = {}  # stream: (position, size, count)
    for part in range(riffs):
        riff = 0 if part == 0 else len(out)
        if part:
            out += b"RIFF\0\0\0\0AVIX"
        movi = len(out) + 8
        out += b"LIST\0\0\0\0movi"
        placed = []  # (chunk, header position)
        for chunk in avi.chunks[part * step : (part + 1) * step]:
            placed.append((chunk, len(out)))
            out += chunk_bytes(chunk.tag, chunk.data)
        if odml:
            for stream in sorted({chunk.stream for chunk, _ in placed}):
                mine = [(chunk, at) for chunk, at in placed if chunk.stream == stream]
                body = standard_index_body(mine, movi)
                standard.setdefault(stream, []).append((len(out), 8 + len(body), len(mine)))
                out += chunk_bytes(b"ix%02d" % stream, body)
        struct.pack_into("<I", out, movi - 4, len(out) - movi)
        if part == 0:
            out += chunk_bytes(b"idx1", idx1_body(placed, offsets, movi))
        struct.pack_into("<I", out, riff + 4, len(out) - riff - 8)
    if odml:
        put_super_indexes(out, avi, standard)
    path.write_bytes(bytes(out))
    return path


def idx1_body(placed, offsets: str, movi: int) -> bytes:
    base = {"movi": movi, "file": 0, "first chunk": placed[0][1]}[offsets]
    return b"".join(
        struct.pack("<4sIII", chunk.tag, chunk.flags, at - base, len(chunk.data))
        for chunk, at in placed
    )


def standard_index_body(mine, base: int) -> bytes:
    entries = b"".join(
        struct.pack(
            "<II",
            at + 8 - base,  # offsets point at the data, from the index's base
            len(chunk.data) | (0 if chunk.flags & KEYFRAME else NOT_KEYFRAME),
        )
        for chunk, at in mine
    )
    tag = mine[0][0].tag
    return struct.pack("<HBBI4sQI", 2, 0, 1, len(mine), tag, base, 0) + entries


def put_super_indexes(out: bytearray, avi: Avi, standard) -> None:
    """Each stream's 'indx' into the JUNK FFmpeg reserves for it in its 'strl' list."""
    tags = {chunk.stream: chunk.tag for chunk in avi.chunks}
    reserved = [out.index(b"JUNK", strl) for strl in find_all(out[: len(avi.head)], b"strl")]
    for stream, junk in enumerate(reserved):
        room = HEADER.unpack_from(out, junk)[1]
        entries = b"".join(struct.pack("<QII", *entry) for entry in standard[stream])
        body = struct.pack("<HBBI4s12x", 4, 0, 0, len(standard[stream]), tags[stream]) + entries
        filler = room - 8 - len(body)
        assert filler >= 0
        out[junk : junk + 8 + room] = chunk_bytes(b"indx", body) + chunk_bytes(
            b"JUNK", bytes(filler)
        )


def find_all(data: bytes | bytearray, word: bytes) -> list[int]:
    found, at = [], data.find(word)
    while at >= 0:
        found.append(at)
        at = data.find(word, at + 1)
    return found


def pack_b_frames(avi: Avi) -> Avi:
    """DivX-style packed bitstream: each B-frame rides in the chunk of the picture decoded
    before it, and its own chunk holds a not-coded picture (an N-VOP, 'drop' chunk)."""
    chunks = list(avi.chunks)
    video = [number for number, chunk in enumerate(chunks) if chunk.is_video]
    first = chunks[video[0]]
    chunks[video[0]] = replace(first, data=first.data.replace(VOP, PACKED + VOP, 1))
    for before, number in zip(video, video[1:]):
        if picture_type(chunks[number].data) == "B":
            host = chunks[before]
            chunks[before] = replace(host, data=host.data + chunks[number].data)
            chunks[number] = Chunk(chunks[number].tag, 0, not_coded(video.index(number)))
    return Avi(avi.head, tuple(chunks))


def picture_type(data: bytes) -> str:
    return "IPBS"[data[data.index(VOP) + 4] >> 6]


def not_coded(frame: int) -> bytes:
    """An N-VOP: a P picture, vop_coded 0. FFmpeg's encoder counts time in frames of
    1/24 s: a 5-bit time increment."""
    bits = "01" + "0" + "1" + format(frame % 24, "05b") + "1" + "0"  # type, time, not coded
    bits += "0" + "1" * (-(len(bits) + 1) % 8)  # stuffing to the byte
    return VOP + int(bits, 2).to_bytes(len(bits) // 8, "big")


def movi_chunks(data: bytes) -> list[tuple[bytes, int]]:
    """(tag, header position) of each chunk in the 'movi' list of each RIFF, in order."""
    found, riff = [], 0
    while riff + 12 <= len(data):
        riff_end = riff + 8 + HEADER.unpack_from(data, riff)[1]
        position = riff + 12
        while position + 8 <= riff_end:
            tag, size = HEADER.unpack_from(data, position)
            if tag == b"LIST" and data[position + 8 : position + 12] == b"movi":
                found += list_chunks(data, position + 12, position + 8 + size)
            position += 8 + size + (size & 1)
        riff = riff_end
    return found


def list_chunks(data: bytes, start: int, end: int) -> list[tuple[bytes, int]]:
    found, position = [], start
    while position < end:
        tag, size = HEADER.unpack_from(data, position)
        found.append((tag, position))
        position += 8 + size + (size & 1)
    return found


def damage_video_chunk(source: Path, target: Path, frame: int) -> Path:
    """Zeros over video chunk ``frame``, header and data: the demuxer skips to the next."""
    data = bytearray(source.read_bytes())
    start = video_chunks(data)[frame]
    size = HEADER.unpack_from(data, start)[1]
    data[start : start + 8 + size] = bytes(8 + size)
    target.write_bytes(bytes(data))
    return target


def video_chunks(data: bytes) -> list[int]:
    return [at for tag, at in movi_chunks(data) if tag == b"00dc"]


def movi_tags(path: Path) -> list[bytes]:
    """The tags of the chunks in the 'movi' lists, parsed here (not by the reader)."""
    return [tag for tag, _ in movi_chunks(path.read_bytes())]


# ---------------------------------------------------------------- the clips


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("avi")
    made = {
        "plain": folder / "plain.avi",
        "audio first": folder / "audio_first.avi",
        "b-frames": folder / "b_frames.avi",
    }
    mpeg4 = ["-c:v", "mpeg4", "-g", 12]
    ffmpeg(*SOURCE, *mpeg4, made["plain"])
    ffmpeg(*SOURCE, *SOUND, *mpeg4, "-audio_preload", 500_000, made["audio first"])
    ffmpeg(*SOURCE, *SOUND, *mpeg4, "-bf", 1, "-audio_preload", 500_000, made["b-frames"])
    audio_first = read_avi(made["audio first"])
    made["file offsets"] = write_avi(audio_first, folder / "file.avi", offsets="file")
    made["first chunk offsets"] = write_avi(
        audio_first, folder / "first_chunk.avi", offsets="first chunk"
    )
    made["odml"] = write_avi(audio_first, folder / "odml.avi", riffs=2, odml=True)
    made["packed"] = write_avi(pack_b_frames(read_avi(made["b-frames"])), folder / "packed.avi")
    return made


@pytest.fixture(scope="module")
def intact(clips) -> list[np.ndarray]:
    with open_video(clips["plain"]) as clip:
        return list(clip.frames())


def read_whole(path: Path) -> list[np.ndarray]:
    with open_video(path) as clip:
        assert clip.promised_count == clip.frame_count == FRAMES
        frames = list(clip.frames())
    assert len(frames) == FRAMES
    return frames


def assert_same_frames(frames: list[np.ndarray], intact: list[np.ndarray]) -> None:
    for number, (frame, own) in enumerate(zip(frames, intact, strict=True)):
        assert np.array_equal(frame, own), f"frame {number} is not the clip's own"


@pytest.mark.parametrize("name", ["audio first", "file offsets", "first chunk offsets", "odml"])
def test_a_valid_avi_whose_movi_list_begins_with_sound_reads_whole(clips, intact, name):
    assert movi_tags(clips[name])[:2] == [b"01wb", b"01wb"]  # the sound really comes first

    assert_same_frames(read_whole(clips[name]), intact)


def test_the_packed_b_frame_avi_is_packed_and_sound_first(clips):
    """The file the packed B-frame tests read (their order: further down) is what it
    claims: sound first, and its B-frames in the chunk before, with N-VOP drop chunks."""
    tags = movi_tags(clips["packed"])
    assert tags[:2] == [b"01wb", b"01wb"]
    chunks = read_avi(clips["packed"]).chunks
    assert sum(chunk.is_video and len(chunk.data) <= 7 for chunk in chunks) >= 20  # drops


def test_any_range_of_an_audio_first_avi_reads(clips, intact):
    with open_video(clips["audio first"], start_frame=20, end_frame=30) as clip:
        assert clip.promised_count == clip.frame_count == 10
        assert_same_frames(list(clip.frames()), intact[20:30])


def test_the_odml_file_is_laid_out_as_avi_2_0(clips):
    """Two RIFFs, a standard index per stream in each, a super index per stream."""
    data = clips["odml"].read_bytes()
    tags = [tag for tag, _ in movi_chunks(data)]
    assert data.count(b"AVIX") == 1 and data.count(b"indx") == 2
    assert tags.count(b"ix00") == tags.count(b"ix01") == 2
    assert tags.count(b"00dc") == FRAMES


@pytest.mark.parametrize("name", ["audio first", "file offsets", "first chunk offsets"])
def test_a_missing_video_chunk_stops_the_avi_in_one_line(clips, intact, tmp_path, name):
    damaged = damage_video_chunk(clips[name], tmp_path / "damaged.avi", 20)

    frames, stopped = read_until_stopped(damaged)

    assert (stopped.frame, stopped.count) == (20, FRAMES)
    assert "a video chunk is not where the file's index puts it" in stopped.reason
    assert len(str(stopped).splitlines()) == 1
    assert_same_frames(frames, intact[:20])


def test_a_chunk_the_demuxer_skips_over_stops_the_avi(clips, intact, tmp_path):
    """Chunk 19's size, damaged, spans chunk 20: the demuxer reads past chunk 20, which
    is intact where the index puts it, and would number every later picture a frame
    early."""
    data = bytearray(clips["audio first"].read_bytes())
    chunks = movi_chunks(data)
    video = [number for number, (tag, _) in enumerate(chunks) if tag == b"00dc"]
    start, end = chunks[video[19]][1], chunks[video[20] + 1][1]
    struct.pack_into("<I", data, start + 4, end - start - 8)
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(data))

    frames, stopped = read_until_stopped(damaged)

    assert (stopped.frame, stopped.count) == (20, FRAMES)
    assert_same_frames(frames[:19], intact[:19])  # 19 holds chunk 20 too: concealed


def test_an_odml_index_pointing_past_any_file_is_not_used(clips, intact, tmp_path):
    """Damaged 64-bit offsets in the video's super index: idx1 serves, nothing breaks."""
    data = bytearray(clips["odml"].read_bytes())
    entries = data.index(b"indx") + 8 + 24  # past its header: (offset, size, duration)
    for entry in range(2):  # one standard index per RIFF
        struct.pack_into("<Q", data, entries + 16 * entry, 2**64 - 1)
    path = tmp_path / "far.avi"
    path.write_bytes(bytes(data))

    assert_same_frames(read_whole(path), intact)


def test_a_missing_chunk_past_the_first_riff_of_an_odml_avi_is_found(clips, intact, tmp_path):
    """idx1 covers the first RIFF only: the OpenDML index is what finds damage later."""
    damaged = damage_video_chunk(clips["odml"], tmp_path / "damaged.avi", 36)
    data = damaged.read_bytes()
    assert data.index(b"AVIX") < video_chunks(data)[36]  # in the second RIFF

    frames, stopped = read_until_stopped(damaged)

    assert (stopped.frame, stopped.count) == (36, FRAMES)
    assert_same_frames(frames, intact[:36])


def test_a_chunk_the_index_leaves_out_is_no_damage(clips, intact, tmp_path):
    """A valid file whose idx1 misses an entry: players read the chunk where it is."""

    def leave_out(entries: list[bytes]) -> list[bytes]:
        return [entry for entry in entries if entry != video_entries(entries)[20]]

    path = rewrite_idx1(clips["audio first"], tmp_path / "unlisted.avi", leave_out)

    assert_same_frames(read_whole(path), intact)


def test_a_chunk_only_another_reading_of_the_index_finds_is_no_damage(clips, intact, tmp_path):
    """One idx1 entry counted from the file's start among entries counted from 'movi':
    the index is wrong about it, not the file."""
    movi = clips["audio first"].read_bytes().index(b"movi")

    def count_one_from_the_start(entries: list[bytes]) -> list[bytes]:
        odd = video_entries(entries)[20]
        tag, flags, offset, size = struct.unpack("<4sIII", odd)
        moved = struct.pack("<4sIII", tag, flags, offset + movi, size)
        return [moved if entry == odd else entry for entry in entries]

    path = rewrite_idx1(clips["audio first"], tmp_path / "mixed.avi", count_one_from_the_start)

    assert_same_frames(read_whole(path), intact)


def video_entries(entries: list[bytes]) -> list[bytes]:
    return [entry for entry in entries if entry[:4] == b"00dc"]


def rewrite_idx1(source: Path, target: Path, edit) -> Path:
    """The file with its idx1 entries (16 bytes each, in order) rewritten by ``edit``."""
    data = bytearray(source.read_bytes())
    at = data.index(b"idx1")
    size = HEADER.unpack_from(data, at)[1]
    entries = [bytes(data[at + 8 + i : at + 24 + i]) for i in range(0, size, 16)]
    data[at:] = chunk_bytes(b"idx1", b"".join(edit(entries)))
    struct.pack_into("<I", data, 4, len(data) - 8)  # the RIFF's size
    target.write_bytes(bytes(data))
    return target


# ---------------------------------------------------------------- B-frames, as players show them


def test_an_avi_with_packed_b_frames_plays_in_order_from_any_frame(clips):
    """DivX packed B-frames: each B-picture comes out with the chunk after its own, so
    its demuxed stamp is a frame late. Frame k is still picture k (a player shows one
    picture a chunk, as the decoder gives them out), read from the start or mid-clip."""
    own = read_whole(clips["b-frames"])

    assert_same_frames(read_whole(clips["packed"]), own)
    with open_video(clips["packed"]) as clip:
        for first in (13, 30, 40):  # mid-GOP, after a keyframe, near the end
            assert_same_frames(list(clip.frames(first)), own[first:])
    with open_video(clips["packed"], start_frame=20, end_frame=30) as clip:
        assert_same_frames(list(clip.frames()), own[20:30])


def test_an_avi_of_h264_with_b_frames_plays_in_order(tmp_path):
    """H.264 B-frames in AVI: the decoder holds pictures longer than the demuxer guesses
    from the chunk numbers, so the stamps come out of order: the pictures are not."""
    encode = [*SOURCE, "-c:v", "libx264", "-bf", 3, "-g", 12]
    ffmpeg(*encode, tmp_path / "h264.avi")
    ffmpeg(*encode, tmp_path / "h264.mkv")  # real stamps: the same pictures, placed right
    own = read_whole(tmp_path / "h264.mkv")

    assert_same_frames(read_whole(tmp_path / "h264.avi"), own)
    with open_video(tmp_path / "h264.avi") as clip:
        assert_same_frames(list(clip.frames(30)), own[30:])


def test_an_avis_stamps_are_probed_once_not_at_every_reading(clips, monkeypatch):
    """Whether an AVI's decoded stamps rise is found once per opened clip: a resume, a
    mask or a chunk reading it again opens the file once, not twice."""
    from renderer.media import clip_pictures

    openings = []
    original = clip_pictures.open_container
    monkeypatch.setattr(
        clip_pictures, "open_container", lambda *a, **k: openings.append(1) or original(*a, **k)
    )
    with open_video(clips["audio first"]) as clip:
        opened = len(openings)
        first = next(iter(clip.frames()))
        probed = len(openings) - opened
        again = next(iter(clip.frames()))
    assert probed == 2 and len(openings) - opened == 3  # the probe and the reading, then one
    assert np.array_equal(first, again)
