"""A clip's decoded pictures in display order, from the one a frame needs on.

In containers with a reliable index (see ClipScan.seekable) the decoder seeks to the
keyframe before that picture, checks the first decoded timestamp and decodes from the
start if the seek overshot; other containers are decoded from the start.

An AVI stamps chunks, not pictures: the demuxer guesses each picture's stamp from its
chunk's number, and the guess is wrong where a chunk holds two pictures (DivX packed
B-frames) or the decoder holds pictures longer than guessed (H.264 B-frames): the
pictures come out in display order with stamps out of order. Such a clip's pictures are
numbered as a player shows them, one a chunk as the decoder gives them out, and are
decoded from the start (a decoder started at a later keyframe may not know the B-frames
are packed, and the picture it starts with has no trustworthy number).

Pictures with an alpha channel (ProRes 4444, PNG or QuickTime Animation in MOV, GIF,
VP8/VP9 with alpha in WebM) keep it: ``flattened_picture`` puts them on the input
background, as still images are (renderer.media.transparency).
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Generator, Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from .clip_scan import ClipScan
from .container import error_reason, open_container
from .transparency import flatten

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.stream import Stream
    from av.video.codeccontext import VideoCodecContext
    from av.video.frame import VideoFrame

_SEEK_MARGIN_S = 1.0
_PROBED_PICTURES = 24  # AVI: the first pictures out, whose stamps must rise to be trusted
# Whether an AVI's decoded stamps rise, by its ClipScan (id; dropped with the scan).
_STAMPS_RISE: dict[int, bool] = {}
# WebM keeps a VP8/VP9 alpha channel beside the picture (Matroska BlockAdditional, flagged
# by the track's AlphaMode); FFmpeg's own vp8/vp9 decoders ignore it, libvpx's read it.
_ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}


class _Restart(Exception):
    """A seek landed somewhere unusable: decode from the start instead."""


class Pictures:
    """The clip's decoded pictures in order, as (picture index, av.VideoFrame)."""

    def __init__(self, path: Path, scan: ClipScan, first_needed: int):
        self.path = path
        self.scan = scan
        self.ended = False
        self.error: str | None = None  # the decoder's first complaint, if any
        self._pending: tuple[int, VideoFrame] | None = None
        self._container: InputContainer | None = None
        self._decoded = self._start(first_needed)

    def _start(self, first_needed: int) -> Iterator[tuple[int, VideoFrame]]:
        scan = self.scan
        pts = scan.picture_pts
        container = self._open_container()
        if pts is not None and "avi" in container.format.name.split(","):
            in_order = _STAMPS_RISE.get(id(scan))
            if in_order is None:  # once per scanned clip, not at each opening
                in_order = self._stamps_rise(container)
                _STAMPS_RISE[id(scan)] = in_order
                weakref.finalize(scan, _STAMPS_RISE.pop, id(scan), None)
                container = self._open_container()  # the probe's decoding does not count
            if not in_order:
                return _in_output_order(self._frames(container), pts)
        if first_needed > 0 and scan.seekable and pts is not None:
            # A second early: a keyframe shown after the picture (B-frames) is no use.
            target = pts[first_needed] - int(_SEEK_MARGIN_S / scan.time_base)
            try:
                if target <= pts[0]:
                    raise _Restart
                container.seek(target, backward=True, stream=self._stream)
                decoded = self._decode(container, from_start=False)
                head = next(decoded, None)
                if head is None or head[0] > first_needed:
                    raise _Restart
                return _chain_one(head, decoded)
            except (_Restart, self._av.FFmpegError):
                container = self._open_container()  # reopen: a failed seek may leave any state
        return self._decode(container, from_start=True)

    def _open_container(self) -> InputContainer:
        import av

        self._av = av
        if self._container is not None:
            self._container.close()
        container = self._container = open_container(self.path)
        self._stream = container.streams[self.scan.stream_index]
        self._stream.thread_type = "AUTO"
        self._decoder = _decoder_for(self._stream)  # fresh with each opening: nothing held
        self.ended, self.error = False, None  # a failed seek's complaints do not count
        return container

    def _stamps_rise(self, container: InputContainer) -> bool:
        """Whether the first pictures the decoder gives out carry rising stamps."""
        frames = self._frames(container)
        last = None
        try:
            for frame in islice(frames, _PROBED_PICTURES):
                if frame.pts is not None:
                    if last is not None and frame.pts <= last:
                        return False
                    last = frame.pts
        finally:
            frames.close()
        return True

    def _decode(
        self, container: InputContainer, from_start: bool
    ) -> Iterator[tuple[int, VideoFrame]]:
        """(index, picture) in display order, each placed by its stamp."""
        pts = self.scan.picture_pts
        index_of = {value: i for i, value in enumerate(pts)} if pts is not None else None
        index = -1
        for count, frame in enumerate(self._frames(container)):
            if index_of is None or frame.pts is None:
                if not from_start and count == 0:
                    raise _Restart
                index = count if from_start else index + 1
            else:
                assert pts is not None  # index_of lists them
                index = _listed(index_of, pts, frame.pts)
            yield index, frame

    def _frames(self, container: InputContainer) -> Generator[VideoFrame, None, None]:
        """The pictures in the decoder's output order until the packets end or the
        decoder fails (then ``error`` says why: the pictures after are missing)."""
        try:
            for packet in container.demux(self._stream):
                if packet.size == 0 and (packet.pts is not None or packet.dts is not None):
                    continue  # a dropped frame: an empty packet is no picture (nor a flush)
                try:
                    frames = self._decoder.decode(packet)
                except self._av.error.InvalidDataError as err:
                    # A damaged packet: its picture is missing (the decoder may recover at
                    # the next keyframe, but the frames between are lost).
                    self.error = self.error or error_reason(err)
                    continue
                yield from frames
        except self._av.FFmpegError as err:  # the decoder cannot go on: no more pictures
            self.error = self.error or error_reason(err)
        self.ended = True

    def up_to(self, wanted: int, show_later: bool = True):
        """The last picture with index <= wanted. If none is: the next picture with
        ``show_later``, else None (the next picture stays for a later call)."""
        found = None
        while True:
            item = self._pending if self._pending is not None else next(self._decoded, None)
            self._pending = None
            if item is None:
                return found
            if item[0] > wanted:
                if found is None and show_later:  # the wanted picture is missing
                    return item
                self._pending = item
                return found
            found = item
            if item[0] == wanted:
                return found

    def close(self) -> None:
        # The decoding generator holds self (a cycle): close it here, or the decoder's
        # threads and buffers live on until the garbage collector runs.
        decoded, self._decoded, self._pending = self._decoded, iter(()), None
        getattr(decoded, "close", lambda: None)()
        if self._container is not None:
            self._container.close()
            self._container = None


def _decoder_for(stream: Stream) -> VideoCodecContext:
    """The stream's own decoder, or libvpx's for VP8/VP9 that carries an alpha channel."""
    import av

    own = cast("VideoCodecContext", stream.codec_context)
    name = _ALPHA_DECODERS.get(own.name)
    if name is None or stream.metadata.get("alpha_mode") != "1":
        return own
    try:
        decoder = cast("VideoCodecContext", av.CodecContext.create(name, "r"))
    except (ValueError, av.FFmpegError):  # an FFmpeg without libvpx: the picture alone
        return own
    decoder.thread_type = "AUTO"
    return decoder


def flattened_picture(frame: VideoFrame, background: tuple[int, int, int]) -> VideoFrame:
    """A picture with alpha (or a palette, which may hold some) on the background, as an
    rgb24 frame of the same size; an opaque one as it is."""
    fmt = frame.format
    if not (fmt.has_palette or any(part.is_alpha for part in fmt.components)):
        return frame
    rgba = frame.to_ndarray(format="rgba")
    if rgba[..., 3].min() == 255:  # opaque (every GIF decodes as bgra): nothing to blend
        return frame
    import av

    return av.VideoFrame.from_ndarray(np.ascontiguousarray(flatten(rgba, background)), "rgb24")


def _chain_one(head, rest: Iterator) -> Iterator:
    yield head
    yield from rest


def _in_output_order(
    frames: Iterator[VideoFrame], pts: tuple[int, ...]
) -> Iterator[tuple[int, VideoFrame]]:
    """An AVI's pictures numbered as a player shows them: in the order they come out,
    each due at the chunk it comes out with (its dts), counted from the first picture
    out, whose own stamp holds (a keyframe's), and each after the one before. A chunk
    that gives no picture (damaged, a repeat) leaves its frame to the picture before."""
    index_of = {value: i for i, value in enumerate(pts)}
    index, shift = -1, None
    for frame in frames:
        index += 1
        if shift is None and frame.pts is not None and frame.dts is not None:
            shift = frame.pts - frame.dts
        if shift is not None and frame.dts is not None:
            index = max(index, _listed(index_of, pts, frame.dts + shift))
        yield index, frame


def _listed(index_of: dict[int, int], pts: tuple[int, ...], stamp: int) -> int:
    """The picture a stamp labels: the listed one, else the nearest listed one."""
    listed = index_of.get(stamp)
    return _nearest(pts, stamp) if listed is None else listed


def _nearest(values: tuple[int, ...], value: int) -> int:
    i = bisect.bisect_left(values, value)
    if i == len(values) or (i > 0 and value - values[i - 1] <= values[i] - value):
        return max(0, i - 1)
    return i
