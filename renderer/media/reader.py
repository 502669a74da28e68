"""The one video reader: a clip (anything FFmpeg reads, through PyAV) or a folder of
numbered frames, as a stream of RGB frames on a constant rate.

    with open_video("clip.mp4", start=2, end=5, max_size=320) as clip:
        clip.fps, clip.frame_count, clip.width, clip.height, clip.audio
        for frame in clip.frames(first=0): ...

Frame k is the picture a player shows at time `clip.start_seconds + k / clip.fps`
(see renderer.media.timeline for the rule), upright (the display matrix of phone clips
is applied), cropped to even sides and scaled to `max_size`.

Opening reads the video stream's packets once without decoding them (timestamps,
sizes, the edit list's discard flags) and decodes the first picture (its rotation).
Every fact comes from the container's own fields; nothing parses FFmpeg's text output.

`frames(first=k)` resumes at frame k: in containers with a reliable index (MP4/MOV,
MKV/WebM, AVI, NUT) it seeks to the keyframe before the picture it needs, checks the
first decoded timestamp and decodes from the start if the seek overshot; other
containers (GIF, MPEG-TS, ...) decode from the start.
"""

from __future__ import annotations

import bisect
import math
import os
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime.errors import DreamreelError
from .audio import AudioSource
from .avi_index import first_misplaced
from .container import open_container, video_stream
from .damage import Shortfall, demuxer_log, find_shortfall
from .folder import common_size, folder_images, iter_images
from .images import video_frame_size
from .limits import DEFAULT_MAX_INPUT_PIXELS, check_input_pixels
from .timeline import Timeline, build_timeline, tidy_rate
from .transparency import DEFAULT_BACKGROUND
from .truncated_input import InputEnded

_SEEKABLE_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi", "nut"})
_SEEK_MARGIN_S = 1.0


# ---------------------------------------------------------------- opening PyAV inputs


def _error_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[-1] if text else type(err).__name__


# ---------------------------------------------------------------- the clip


@dataclass(frozen=True)
class _Scan:
    """One clip's video stream as its packets describe it."""

    timeline: Timeline
    picture_pts: tuple[int, ...] | None  # sorted, stream time base; None: no timestamps
    time_base: Fraction
    stream_index: int
    width: int  # decoded size, before rotation
    height: int
    rotation: int  # degrees counter-clockwise to turn frames upright: 0, 90, 180, 270
    sar: Fraction  # sample (pixel) aspect ratio: a pixel shows sar times as wide as tall
    seekable: bool
    audio_stream: int | None
    shortfall: Shortfall | None = None  # the packets end before the header says


class Clip:
    """What `open_video` returns: facts about the range and `frames()` to stream it."""

    def __init__(
        self,
        path: Path,
        *,
        is_folder: bool,
        rate: Fraction,
        every: int,
        start_frame: int,
        stop_frame: int,
        width: int,
        height: int,
        audio: AudioSource | None,
        scan: _Scan | None = None,
        files: tuple[Path, ...] = (),
        background: str = DEFAULT_BACKGROUND,
        promised_stop: int | None = None,
        promise_known: bool = True,
    ):
        self.path = path
        self.is_folder = is_folder
        self.source_rate = rate  # of the source's own frames (before `every`)
        self.rate = rate / every  # of the yielded frames
        self.fps = float(self.rate)
        self.source_fps = float(rate)
        self.every = every
        self.start_frame = start_frame  # source frame (on source_rate) of yielded frame 0
        self.frame_count = len(range(start_frame, stop_frame, every))
        # What the header promises for the range: more than frame_count when the packets
        # end early (damage, truncation): frames() then raises InputEnded after the last.
        self.promised_count = len(range(start_frame, max(stop_frame, promised_stop or 0), every))
        self.promise_known = promise_known  # False: damage seen, but no count in the header
        self.shortfall_reason = scan.shortfall.reason if scan and scan.shortfall else None
        self.start_seconds = float(start_frame / rate)
        self.width, self.height = width, height
        self.audio = audio
        self.files = files  # folder: one per yielded frame
        self.background = background  # folder: what transparent frames are flattened on
        self._scan = scan
        self._open: weakref.WeakSet = weakref.WeakSet()

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def rotation(self) -> int:
        return self._scan.rotation if self._scan else 0

    def __repr__(self) -> str:
        return (
            f"Clip({str(self.path)!r}, {self.frame_count} frames, {self.width}x"
            f"{self.height} at {self.rate} fps from {self.start_seconds:g} s)"
        )

    def __enter__(self) -> Clip:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop every frame stream still open (each closes its own decoder)."""
        for frames in list(self._open):
            frames.close()

    def frames(self, first: int = 0) -> Iterator[np.ndarray]:
        """Yield frames `first`.. of the range as HxWx3 RGB uint8 arrays (writable).

        A generator: nothing is decoded until the first `next()`, one picture is held
        at a time, and closing it early (or the clip) closes the decoder.
        """
        if not _is_count(first, 0) or first > self.frame_count:
            raise ValueError(f"first must be 0..{self.frame_count}, got {first!r}")
        if self.is_folder:
            frames = iter_images(self.files[first:], self.width, self.height, self.background)
        else:
            frames = self._clip_frames(first)
        self._open.add(frames)
        return frames

    # -------------------------------------------------------- decoding

    def _slots(self, first: int) -> range:
        start = self.start_frame + first * self.every
        return range(start, self.start_frame + self.frame_count * self.every, self.every)

    def _clip_frames(self, first: int) -> Iterator[np.ndarray]:
        slots = self._slots(first)
        if slots:
            yield from self._decoded_frames(first, slots)
        if self.promised_count > self.frame_count:  # the packets ended before the header
            raise self._ended(self.frame_count, self.shortfall_reason)

    def _decoded_frames(self, first: int, slots: range) -> Iterator[np.ndarray]:
        """The range's frames from `first`; InputEnded at the first frame whose picture
        the decoder could not give (an error, or no pictures left)."""
        timeline = self._scan.timeline
        pictures = _Pictures(self, timeline.picture_at(slots[0]))
        held = None  # (picture index, av frame) shown last
        try:
            for k, slot in enumerate(slots, start=first):
                wanted = timeline.picture_at(slot)
                if held is not None and held[0] == wanted:  # a dropped frame: hold
                    yield self._to_rgb(held[1])
                    continue
                # Nothing shown yet: the first picture may come after the one wanted.
                found = pictures.up_to(wanted, show_later=held is None)
                if (
                    found is None
                    and held is not None
                    and pictures.error is None
                    and not pictures.ended
                ):
                    yield self._to_rgb(held[1])  # skipped without a word: hold the last
                    continue
                if found is None:
                    raise self._ended(
                        k,
                        pictures.error
                        or (
                            "no picture could be decoded for it"
                            if held is None
                            else "the decoder gave no more pictures (damaged near its end?)"
                        ),
                    )
                held = found
                yield self._to_rgb(found[1])
        finally:
            pictures.close()

    def _ended(self, frame: int, reason: str | None) -> InputEnded:
        count = self.promised_count if self.promise_known else None
        return InputEnded(str(self.path), frame, count, reason or "damaged")

    def _to_rgb(self, frame) -> np.ndarray:
        scan = self._scan
        turned = scan.rotation in (90, 270)
        width, height = (self.height, self.width) if turned else (self.width, self.height)
        if (frame.width, frame.height) == (scan.width, scan.height) and (width, height) == (
            scan.width - scan.width % 2,
            scan.height - scan.height % 2,
        ):
            rgb = frame.to_ndarray(format="rgb24")[:height, :width]  # crop odd sides only
        else:  # max_size; area averaging: no aliasing
            rgb = frame.to_ndarray(format="rgb24", width=width, height=height, interpolation="AREA")
        if scan.rotation:
            rgb = np.rot90(rgb, scan.rotation // 90)  # counter-clockwise, as the matrix says
        rgb = np.ascontiguousarray(rgb)
        return rgb if rgb.flags.writeable else rgb.copy()


class _Restart(Exception):
    """A seek landed somewhere unusable: decode from the start instead."""


class _Pictures:
    """The clip's decoded pictures in order, as (picture index, av.VideoFrame)."""

    def __init__(self, clip: Clip, first_needed: int):
        self.clip = clip
        self.scan = clip._scan
        self.ended = False
        self.error: str | None = None  # the decoder's first complaint, if any
        self._pending = None
        self._container = None
        self._decoded = self._start(first_needed)

    def _start(self, first_needed: int) -> Iterator:
        scan = self.scan
        seek = first_needed > 0 and scan.seekable and scan.picture_pts is not None
        self._open_container()
        if seek:
            # A second early: a keyframe shown after the picture (B-frames) is no use.
            target = scan.picture_pts[first_needed] - int(_SEEK_MARGIN_S / scan.time_base)
            try:
                if target <= scan.picture_pts[0]:
                    raise _Restart
                self._container.seek(target, backward=True, stream=self._stream)
                decoded = self._decode(from_start=False)
                head = next(decoded, None)
                if head is None or head[0] > first_needed:
                    raise _Restart
                return _chain_one(head, decoded)
            except (_Restart, self._av.FFmpegError):
                self._open_container()  # reopen: a failed seek may leave any state
        return self._decode(from_start=True)

    def _open_container(self) -> None:
        import av

        self._av = av
        if self._container is not None:
            self._container.close()
        self._container = open_container(self.clip.path)
        self._stream = self._container.streams[self.scan.stream_index]
        self._stream.thread_type = "AUTO"
        self.ended, self.error = False, None  # a failed seek's complaints do not count

    def _decode(self, from_start: bool) -> Iterator:
        """(index, picture) in display order until the packets end or the decoder fails
        (then ``error`` says why: the pictures after are missing)."""
        scan = self.scan
        pts = scan.picture_pts
        index_of = {value: i for i, value in enumerate(pts)} if pts is not None else None
        count, index = 0, -1
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0 and (packet.pts is not None or packet.dts is not None):
                    continue  # a dropped frame: an empty packet is no picture (nor a flush)
                try:
                    frames = packet.decode()
                except self._av.error.InvalidDataError as err:
                    # A damaged packet: its picture is missing (the decoder may recover at
                    # the next keyframe, but the frames between are lost).
                    self.error = self.error or _error_reason(err)
                    continue
                for frame in frames:
                    if index_of is None or frame.pts is None:
                        if not from_start and count == 0:
                            raise _Restart
                        index = count if from_start else index + 1
                    else:
                        index = index_of.get(frame.pts)
                        if index is None:  # not a listed picture: nearest listed one
                            index = _nearest(pts, frame.pts)
                    count += 1
                    yield index, frame
        except self._av.FFmpegError as err:  # the decoder cannot go on: no more pictures
            self.error = self.error or _error_reason(err)
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
        if self._container is not None:
            self._container.close()
            self._container = None


def _chain_one(head, rest: Iterator) -> Iterator:
    yield head
    yield from rest


def _nearest(values: tuple[int, ...], value: int) -> int:
    i = bisect.bisect_left(values, value)
    if i == len(values) or (i > 0 and value - values[i - 1] <= values[i] - value):
        return max(0, i - 1)
    return i


# ---------------------------------------------------------------- open_video


def open_video(
    path: str | os.PathLike,
    *,
    start: float | None = None,
    end: float | None = None,
    start_frame: int | None = None,
    end_frame: int | None = None,
    every: int = 1,
    max_size: int | None = None,
    folder_fps: float = 24.0,
    max_pixels: int | None = DEFAULT_MAX_INPUT_PIXELS,
    background: str = DEFAULT_BACKGROUND,
) -> Clip:
    """Open a clip (anything FFmpeg reads) or a numbered-frame folder for reading.

    The range is `start`..`end` in seconds or `start_frame`..`end_frame` in frames of the
    clip's constant rate (end exclusive; an end past the last frame means "to the end");
    `every=n` keeps every n-th frame of it (fps / n). `max_size` caps the long side,
    aspect kept, never upscaled; width and height are always even (H.264 needs it).
    Non-square pixels (a sample aspect ratio other than 1:1) are stretched to the
    display aspect first. `max_pixels` refuses larger pictures from the header, before
    decoding; a folder's transparent frames are flattened onto `background`.
    """
    source = Path(path)
    _check_options(source, start, end, start_frame, end_frame, every, max_size, folder_fps)
    if not source.exists():
        raise DreamreelError(f"cannot read video '{source}': no such file or folder")
    bounds = (start, end, start_frame, end_frame)
    if source.is_dir():
        return _open_folder(source, bounds, every, max_size, folder_fps, max_pixels, background)
    return _open_clip(source, bounds, every, max_size, max_pixels)


def _check_options(source, start, end, start_frame, end_frame, every, max_size, folder_fps):
    def fail(what: str) -> None:
        raise DreamreelError(f"cannot read video '{source}': {what}")

    in_seconds = start is not None or end is not None
    if in_seconds and (start_frame is not None or end_frame is not None):
        fail("give the range in seconds (start/end) or in frames (start_frame/end_frame), not both")
    for name, value in (("start", start), ("end", end)):
        if value is not None and not (
            isinstance(value, int | float)
            and math.isfinite(value)
            and value >= 0
            and not isinstance(value, bool)
        ):
            fail(f"{name} must be a number of seconds >= 0, got {value!r}")
    for name, value in (("start_frame", start_frame), ("end_frame", end_frame)):
        if value is not None and not _is_count(value, 0):
            fail(f"{name} must be a whole number >= 0, got {value!r}")
    if not _is_count(every, 1):
        fail(f"every must be a whole number >= 1, got {every!r}")
    if max_size is not None and not _is_count(max_size, 2):
        fail(f"max_size must be a whole number of pixels >= 2, got {max_size!r}")
    if isinstance(folder_fps, bool) or not (
        isinstance(folder_fps, int | float | Fraction)
        and math.isfinite(folder_fps)
        and folder_fps > 0
    ):
        fail(f"folder_fps must be a positive number, got {folder_fps!r}")


def _is_count(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _pick_range(source: Path, rate: Fraction, total: int, bounds) -> tuple[int, int]:
    """[first, stop) frame indices on the clip's rate for seconds or frame bounds."""
    start, end, start_frame, end_frame = bounds

    def frame_at_or_after(seconds: float) -> int:
        return max(0, math.ceil(seconds * rate - 1e-9 * rate))

    if start is not None or end is not None:
        first = frame_at_or_after(start) if start else 0
        # The range ends at the frame boundary nearest its end: an end between two frames
        # neither adds nor drops more than half a frame of output.
        stop = total if end is None else min(total, max(0, round(end * rate)))
        asked = f"from {start or 0:g} s to {'the end' if end is None else f'{end:g} s'}"
    else:
        first = start_frame or 0
        stop = total if end_frame is None else min(end_frame, total)
        asked = f"from frame {first} to {'the end' if end_frame is None else end_frame}"
    if first >= stop:
        raise DreamreelError(
            f"cannot read video '{source}': no frames {asked} "
            f"(it has {total} frames, {float(total / rate):.3f} s)"
        )
    return first, stop


def _sized(source: Path, width: int, height: int, max_size: int | None) -> tuple[int, int]:
    try:
        return video_frame_size(width, height, max_size)
    except ValueError as err:
        raise DreamreelError(f"cannot read video '{source}': {err}") from None


def _open_folder(
    folder: Path,
    bounds,
    every: int,
    max_size: int | None,
    fps: float,
    max_pixels: int | None,
    background: str,
) -> Clip:
    files = folder_images(folder)
    rate = tidy_rate(fps, Fraction(1, 10**6)) if not isinstance(fps, Fraction) else fps
    first, stop = _pick_range(folder, rate, len(files), bounds)
    chosen = tuple(files[first:stop:every])
    width, height = _sized(folder, *common_size(folder, chosen, max_pixels), max_size)
    return Clip(
        folder,
        is_folder=True,
        rate=rate,
        every=every,
        start_frame=first,
        stop_frame=stop,
        width=width,
        height=height,
        audio=None,
        files=chosen,
        background=background,
    )


def _open_clip(
    source: Path, bounds, every: int, max_size: int | None, max_pixels: int | None
) -> Clip:
    scan = _scan_clip(source, max_pixels)
    timeline = scan.timeline
    promised_total, known = _promised_total(scan)
    # The range as the header promises it (an empty one is refused here), then as far as
    # the packets go: a range that starts past the damage has nothing to render.
    _, promised_stop = _pick_range(source, timeline.rate, promised_total, bounds)
    if promised_total > timeline.frame_count:
        _check_range_reaches(source, scan, bounds, every, promised_stop, known)
    first, stop = _pick_range(source, timeline.rate, timeline.frame_count, bounds)
    width, height = display_size(scan.width, scan.height, scan.sar)
    if scan.rotation in (90, 270):
        width, height = height, width
    width, height = _sized(source, width, height, max_size)
    audio = None
    if scan.audio_stream is not None:
        audio = AudioSource(
            str(source),
            start=float(first / timeline.rate),
            origin=timeline.origin,
            stream=scan.audio_stream,
        )
    return Clip(
        source,
        is_folder=False,
        rate=timeline.rate,
        every=every,
        start_frame=first,
        stop_frame=stop,
        width=width,
        height=height,
        audio=audio,
        scan=scan,
        promised_stop=promised_stop,
        promise_known=known,
    )


def _promised_total(scan: _Scan) -> tuple[int, bool]:
    """(frames the header promises on the clip's rate, whether it says how many): the
    frames read, plus what a shortfall misses (at least one: a demuxing error alone)."""
    read = scan.timeline.frame_count
    if scan.shortfall is None:
        return read, True
    missing = round(scan.shortfall.missing_seconds * scan.timeline.rate)
    return read + max(1, missing), missing > 0


def _check_range_reaches(
    source: Path, scan: _Scan, bounds, every: int, promised_stop: int, known: bool
) -> None:
    """A range that starts where the packets have already ended: InputEnded at frame 0."""
    first = _pick_range(source, scan.timeline.rate, promised_stop, bounds)[0]
    if first >= scan.timeline.frame_count:
        count = len(range(first, promised_stop, every)) if known else None
        raise InputEnded(str(source), 0, count, scan.shortfall.reason)


def _scan_clip(source: Path, max_pixels: int | None = DEFAULT_MAX_INPUT_PIXELS) -> _Scan:
    """List the video packets (no decoding but the first picture, for its rotation)."""
    import av

    container = open_container(source)
    try:
        stream = video_stream(container, source)
        sar = stream_sar(stream)
        check_clip_pixels(
            source, stream.codec_context.width, stream.codec_context.height, sar, max_pixels
        )  # before any picture is decoded
        time_base = stream.time_base or Fraction(1, 90000)
        pictures, dropped, untimed = [], [], 0
        end = None
        first_frame = None
        packets_read, error = 0, None  # to hold against the header's promise
        placed = [] if "avi" in container.format.name.split(",") else None  # (stamp, pos)
        with demuxer_log() as log:  # why packets stop, where a demuxer says so
            try:
                for packet in container.demux(stream):
                    stamp = packet.pts if packet.pts is not None else packet.dts
                    packets_read += bool(packet.size or stamp is not None)  # not the flush
                    if stamp is None:
                        if packet.size:
                            untimed += 1
                        elif first_frame is None:  # the flush at the end: drain the decoder
                            first_frame = _first_decoded(stream, None)
                        continue
                    if packet.is_discard:  # before an edit list's start: decoded, never shown
                        if first_frame is None and packet.size:
                            # The decoder needs them (the keyframe a cut clip starts after)
                            # to decode the first shown picture; it drops their own pictures.
                            first_frame = _first_decoded(stream, packet)
                        continue
                    (pictures if packet.size else dropped).append(stamp)
                    if placed is not None and packet.size:
                        placed.append((stamp, packet.pos))
                    if packet.duration:
                        end = (
                            stamp + packet.duration
                            if end is None
                            else max(end, stamp + packet.duration)
                        )
                    if first_frame is None and packet.size:
                        first_frame = _first_decoded(stream, packet)
            except av.FFmpegError as err:  # a damaged tail: the packets before it are the
                error = _error_reason(err)  # clip, and a render of more says it is short
        if placed:  # AVI: packets after skipped damage are numbered as if none was lost
            misplaced = first_misplaced(source, stream.index, [pos for _, pos in placed])
            if misplaced is not None:
                cut = placed[misplaced][0]
                pictures = [stamp for stamp in pictures if stamp < cut]
                dropped = [stamp for stamp in dropped if stamp < cut]
                end, packets_read = cut, misplaced
                error = error or (
                    "a video chunk is not where the file's index puts it "
                    "(the demuxer skipped damaged data)"
                )
        if first_frame is None:
            raise DreamreelError(
                f"cannot read video '{source}': ffmpeg found no video frames it can decode"
            )
        # A header without a size (raw streams) is checked on the first picture instead.
        check_clip_pixels(source, first_frame.width, first_frame.height, sar, max_pixels)
        nominal = [_fraction(stream.guessed_rate), _fraction(stream.average_rate)]
        if untimed or not pictures:  # no timestamps (raw streams): one picture a frame
            rate = tidy_rate(next((r for r in nominal if r), Fraction(25)))
            count = untimed + len(pictures)
            timeline = Timeline(tuple(i / rate for i in range(count)), rate, count, 0.0)
            picture_pts = None
        else:
            seconds = [float(p * time_base) for p in pictures]
            timeline = build_timeline(
                seconds,
                [float(p * time_base) for p in dropped],
                None if end is None else float(end * time_base),
                nominal,
                resolution=float(time_base),
            )
            picture_pts = tuple(sorted(set(pictures)))
        audio = next((s.index for s in container.streams.audio), None)
        rotation = round(first_frame.rotation / 90) * 90 % 360
        start = stream.start_time or 0
        shortfall = find_shortfall(
            container,
            stream,
            packets_read=packets_read,
            rate=timeline.rate,
            error=error,
            end_seconds=None if end is None else float((end - start) * time_base),
            log=log,
        )
        return _Scan(
            timeline=timeline,
            picture_pts=picture_pts,
            time_base=time_base,
            stream_index=stream.index,
            width=first_frame.width,
            height=first_frame.height,
            rotation=rotation,
            sar=sar,
            seekable=bool(set(container.format.name.split(",")) & _SEEKABLE_FORMATS),
            audio_stream=audio,
            shortfall=shortfall,
        )
    finally:
        container.close()


def _error_reason(err: Exception) -> str:
    """FFmpeg's words for an error, without the errno and the function name."""
    return getattr(err, "strerror", None) or _error_line(err)


def stream_sar(stream) -> Fraction:
    """The stream's sample aspect ratio (1 when unset: 0/1 means unknown to FFmpeg)."""
    for value in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        sar = _fraction(value)
        if sar is not None:
            return sar
    return Fraction(1)


def display_size(width: int, height: int, sar: Fraction) -> tuple[int, int]:
    """The size a player shows coded pictures of width x height with non-square pixels:
    the width stretched (or narrowed) by the sample aspect ratio, the height kept."""
    if sar == 1:
        return width, height
    return max(1, round(width * sar)), height


def check_clip_pixels(
    source: Path, width: int, height: int, sar: Fraction, max_pixels: int | None
) -> None:
    """The pixel limit on the larger of the coded and the display size (0: unknown)."""
    if not (width and height):
        return
    shown = display_size(width, height, sar)
    check_input_pixels(source, *max((width, height), shown, key=lambda s: s[0] * s[1]), max_pixels)


def _first_decoded(stream, packet):
    """Feed one packet (None: flush) and return the first picture out, if any."""
    import av

    try:
        frames = stream.decode(packet)
    except av.FFmpegError:
        return None
    return frames[0] if frames else None


def _fraction(rate) -> Fraction | None:
    if rate is None:
        return None
    try:
        rate = Fraction(rate)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None
