"""The one video reader: a clip (anything FFmpeg reads, through PyAV) or a folder of
numbered frames, as a stream of RGB frames on a constant rate.

    with open_video("clip.mp4", start=2, end=5, max_size=320) as clip:
        clip.fps, clip.frame_count, clip.width, clip.height, clip.audio
        for frame in clip.frames(first=0): ...

Frame k is the picture a player shows at time `clip.start_seconds + k / clip.fps`
(see renderer.media.timeline for the rule), upright (the display matrix of phone clips
is applied), on `background` where it is transparent (as still images are), cropped to
even sides and scaled to `max_size`.

Opening reads the video stream's packets once without decoding them (timestamps,
sizes, the edit list's discard flags) and decodes the first picture (its rotation):
renderer.media.clip_scan. Every fact comes from the container's own fields; nothing
parses FFmpeg's text output.

`frames(first=k)` resumes at frame k: in containers with a reliable index (MP4/MOV,
MKV/WebM, AVI, NUT) it seeks to the keyframe before the picture it needs, checks the
first decoded timestamp and decodes from the start if the seek overshot; other
containers (GIF, MPEG-TS, ...) decode from the start (renderer.media.clip_pictures).
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime.atomic_files import user_os_errors
from ..runtime.errors import DreamreelError
from .audio import AudioSource
from .clip_pictures import Pictures, flattened_picture
from .clip_scan import ClipScan, display_size, promised_frames, scan_clip
from .folder import common_size, folder_images, iter_images
from .images import video_frame_size
from .limits import DEFAULT_MAX_INPUT_PIXELS
from .timeline import tidy_rate
from .transparency import DEFAULT_BACKGROUND, parse_background
from .truncated_input import InputEnded

# ---------------------------------------------------------------- the clip


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
        scan: ClipScan | None = None,
        files: tuple[Path, ...] = (),
        background: str = DEFAULT_BACKGROUND,
        max_pixels: int | None = DEFAULT_MAX_INPUT_PIXELS,
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
        self.background = background  # what transparent frames are flattened on
        self._background_rgb = parse_background(background)
        self.max_pixels = max_pixels  # folder: a frame file replaced by a bigger one
        self._scan = scan
        self._open: weakref.WeakSet = weakref.WeakSet()

    @property
    def has_audio(self) -> bool:
        return self.audio is not None

    @property
    def audio_note(self) -> str | None:
        """Why the clip's sound is not carried (a codec this FFmpeg cannot decode), or None."""
        return self._scan.audio_note if self._scan else None

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
            frames = iter_images(
                self.files[first:], self.width, self.height, self.background, self.max_pixels
            )
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
        scan = self._scan
        assert scan is not None  # a clip's frames, not a folder's
        timeline = scan.timeline
        pictures = Pictures(self.path, scan, timeline.picture_at(slots[0]))
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
        assert scan is not None  # a clip's frames, not a folder's
        turned = scan.rotation in (90, 270)
        width, height = (self.height, self.width) if turned else (self.width, self.height)
        frame = flattened_picture(frame, self._background_rgb)
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
    decoding; transparent frames (clip or folder) are flattened onto `background`.
    """
    source = Path(path)
    _check_options(source, start, end, start_frame, end_frame, every, max_size, folder_fps)
    with user_os_errors(source, "read video"):  # e.g. a name too long for the file system
        found, is_dir = source.exists(), source.is_dir()
    if not found:
        raise DreamreelError(f"cannot read video '{source}': no such file or folder")
    bounds = (start, end, start_frame, end_frame)
    if is_dir:
        return _open_folder(source, bounds, every, max_size, folder_fps, max_pixels, background)
    return _open_clip(source, bounds, every, max_size, max_pixels, background)


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
        max_pixels=max_pixels,
    )


def _open_clip(
    source: Path,
    bounds,
    every: int,
    max_size: int | None,
    max_pixels: int | None,
    background: str,
) -> Clip:
    scan = scan_clip(source, max_pixels)
    timeline = scan.timeline
    promised_total, known = promised_frames(scan)
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
        background=background,
        promised_stop=promised_stop,
        promise_known=known,
    )


def _check_range_reaches(
    source: Path, scan: ClipScan, bounds, every: int, promised_stop: int, known: bool
) -> None:
    """A range that starts where the packets have already ended: InputEnded at frame 0."""
    first = _pick_range(source, scan.timeline.rate, promised_stop, bounds)[0]
    if first >= scan.timeline.frame_count:
        count = len(range(first, promised_stop, every)) if known else None
        assert scan.shortfall is not None  # called when more is promised than was read
        raise InputEnded(str(source), 0, count, scan.shortfall.reason)
