"""Reading the video mode's input: a clip or a folder of numbered frames, one frame at a time.

`open_video` looks at the source once (size, frame rate, audio, and the exact list of
frames in the chosen range); `iter_frames` streams those frames as RGB uint8 arrays and
never holds more than one. For clips ffmpeg does all the picking and resizing (range,
`every`, scale) so Python receives only frames it keeps.

Frames are counted and located from the container's packet timestamps (a demux-only
pass: `-c copy -f framecrc`, nothing decoded), not from duration * fps: that is exact
for variable frame rates, for clips trimmed with edit lists (whose leading packets are
marked "discard" and never decoded) and for NTSC rates that ffmpeg prints rounded.

Resuming at frame k (`iter_frames(source, first=k)`) seeks by time where the container's
seeking is reliable (MP4/MOV, MKV/WebM): a coarse seek to a keyframe a second early, then
`select` keeps frames whose timestamp is at least halfway between frame k-1 and frame k,
so no rounding of the seek target can shift the result by a frame. Other containers
(GIF, MPEG-TS, AVI, ...) decode from the start and let ffmpeg drop frames by count:
MPEG-TS seeks landed on the keyframe *after* the target and AVI timestamps were off by
a frame in our tests.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import math
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from renderer.errors import DreamreelError
from renderer.media.video_out import _ffmpeg_arg, probe_video
from renderer.media.images import even_size, read_image

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})
_SEEKABLE_FORMATS = ("mov", "matroska")  # demuxers "mov,mp4,m4a,..." and "matroska,webm"
_SEEK_MARGIN_S = 1.0  # coarse seek this much early; `select` then picks the exact frame
_SAME_TIME_S = 1e-9  # a frame at 0.5 s is "at or after start=0.5" despite float rounding
_PACKET_DISCARD = 0x4  # AV_PKT_FLAG_DISCARD: before an edit list's start, never shown


@dataclass(frozen=True)
class VideoSource:
    """What `iter_frames` will yield: `frame_count` frames of `width` x `height` at `fps`.

    `start_frame` is the source frame (index among all the clip's or folder's frames) of
    the first yielded frame, `start_seconds` its time: trim audio from there. Yielded
    frame k is source frame `start_frame + k * every`.
    """

    path: Path
    fps: float  # of the yielded frames: source_fps / every
    frame_count: int  # frames iter_frames yields for the chosen range
    width: int  # of the yielded frames (even, after max_size)
    height: int
    source_fps: float
    has_audio: bool
    start_seconds: float
    is_folder: bool
    start_frame: int = 0
    every: int = 1
    files: tuple[Path, ...] = field(default=(), repr=False)  # folder: one per yielded frame
    _times: tuple[float, ...] = field(default=(), repr=False, compare=False)  # clip frames
    _seekable: bool = field(default=False, repr=False)
    _size_filter: str = field(default="", repr=False)  # clip: ffmpeg crop/scale, or ""


# ---------------------------------------------------------------- opening


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
) -> VideoSource:
    """Describe the frames a clip (anything ffmpeg reads) or a numbered-frame folder yields.

    The range is `start`..`end` in seconds or `start_frame`..`end_frame` (end exclusive;
    an end past the last frame means "to the end"); `every=n` keeps every n-th frame of
    it. `max_size` caps the long side, aspect kept, never upscaled; width and height are
    always even (H.264 needs it: an odd last row or column is cropped).
    """
    source = Path(path)
    _check_options(source, start, end, start_frame, end_frame, every, max_size, folder_fps)
    if not source.exists():
        raise DreamreelError(f"cannot read video '{source}': no such file or folder")
    if source.is_dir():
        return _open_folder(source, (start, end, start_frame, end_frame), every, max_size,
                            float(folder_fps))
    return _open_clip(source, (start, end, start_frame, end_frame), every, max_size)


def _check_options(source, start, end, start_frame, end_frame, every, max_size, folder_fps):
    def fail(what: str) -> None:
        raise DreamreelError(f"cannot read video '{source}': {what}")

    in_seconds = start is not None or end is not None
    if in_seconds and (start_frame is not None or end_frame is not None):
        fail("give the range in seconds (start/end) or in frames (start_frame/end_frame), "
             "not both")
    for name, value in (("start", start), ("end", end)):
        if value is not None and not (isinstance(value, int | float) and math.isfinite(value)
                                      and value >= 0 and not isinstance(value, bool)):
            fail(f"{name} must be a number of seconds >= 0, got {value!r}")
    for name, value in (("start_frame", start_frame), ("end_frame", end_frame)):
        if value is not None and not _is_count(value, 0):
            fail(f"{name} must be a whole number >= 0, got {value!r}")
    if not _is_count(every, 1):
        fail(f"every must be a whole number >= 1, got {every!r}")
    if max_size is not None and not _is_count(max_size, 2):
        fail(f"max_size must be a whole number of pixels >= 2, got {max_size!r}")
    if not (isinstance(folder_fps, int | float) and math.isfinite(folder_fps) and folder_fps > 0):
        fail(f"folder_fps must be a positive number, got {folder_fps!r}")


def _is_count(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _pick_range(source: Path, times: list[float], duration: float, bounds) -> tuple[int, int]:
    """[first, stop) source frame indices for start/end seconds or start_frame/end_frame."""
    start, end, start_frame, end_frame = bounds
    total = len(times)
    if start is not None or end is not None:
        first = bisect.bisect_left(times, start - _SAME_TIME_S) if start else 0
        stop = total if end is None else bisect.bisect_left(times, end - _SAME_TIME_S)
        asked = f"from {start or 0:g} s to {'the end' if end is None else f'{end:g} s'}"
    else:
        first = start_frame or 0
        stop = total if end_frame is None else min(end_frame, total)
        asked = f"from frame {first} to {'the end' if end_frame is None else end_frame}"
    if first >= stop:
        raise DreamreelError(
            f"cannot read video '{source}': no frames {asked} "
            f"(it has {total} frames, {duration:.3f} s)"
        )
    return first, stop


def _even_size(source: Path, width: int, height: int, max_size: int | None) -> tuple[int, int]:
    """Even width and height, long side at most max_size, aspect kept, never larger."""
    if width < 2 or height < 2:
        raise DreamreelError(f"cannot read video '{source}': {width}x{height} frames are too "
                             f"small for video (2x2 at least)")
    if max_size is None or max(width, height) <= max_size:
        return width - width % 2, height - height % 2
    scale = max_size / max(width, height)

    def even(side: int) -> int:
        return min(side - side % 2, max(2, 2 * round(side * scale / 2)))

    new_width, new_height = even(width), even(height)
    long_side = 2 * (max_size // 2)  # rounding must not push the long side past max_size
    if width >= height:
        new_width = long_side
    else:
        new_height = long_side
    return new_width, new_height


# ---------------------------------------------------------------- clips


def _open_clip(source: Path, bounds, every: int, max_size: int | None) -> VideoSource:
    info = probe_video(source, count_frames=False)  # one-line errors: missing, not media
    if info["codec"] == "ansi":  # ffmpeg's "tty" demuxer plays long .txt files as ANSI art
        raise DreamreelError(f"cannot read video '{source}': it is a text file, not a video")
    listing = _list_frames(source, info["fps"])
    times = listing.times
    if not times:
        raise DreamreelError(f"cannot read video '{source}': ffmpeg found no video frames in it")
    first, stop = _pick_range(source, times, listing.duration, bounds)
    source_fps = listing.fps

    width, height = info["width"], info["height"]
    if width is None or height is None:
        raise DreamreelError(f"cannot read video '{source}': ffmpeg reports no frame size")
    if listing.rotation % 180 == 90:  # ffmpeg autorotates phone videos: frames come upright
        width, height = height, width
    out_width, out_height = _even_size(source, width, height, max_size)
    if (out_width, out_height) == (width, height):
        size_filter = ""
    elif max_size is None or max(width, height) <= max_size:
        size_filter = f"crop={out_width}:{out_height}:0:0"
    else:
        size_filter = f"scale={out_width}:{out_height}:flags=area"  # area: no aliasing

    return VideoSource(
        path=source,
        fps=source_fps / every,
        frame_count=len(range(first, stop, every)),
        width=out_width,
        height=out_height,
        source_fps=source_fps,
        has_audio=info["audio"] is not None,
        start_seconds=max(0.0, times[first]),
        is_folder=False,
        start_frame=first,
        every=every,
        _times=tuple(times),
        _seekable=listing.seekable,
        _size_filter=size_filter,
    )


@dataclass
class _Listing:
    times: list[float]  # seconds from the file's start, display order, decodable frames only
    duration: float  # to the end of the last frame
    fps: float  # frames / seconds they cover: exact for constant rates, the mean otherwise
    rotation: int  # degrees, from the display matrix
    seekable: bool  # a container whose seeks and timestamps we trust to the frame


def _list_frames(source: Path, nominal_fps: float | None) -> _Listing:
    """The first video stream's frames (cover art skipped), from its packets: no decoding.

    Times are what ffmpeg's filters see as `t` with -copyts -start_at_zero: packet
    timestamps minus the file's start time.
    """
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", _ffmpeg_arg(source)]
    cmd += ["-map", "0:V:0", "-c", "copy", "-f", "framecrc", "-"]
    result = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                            stdin=subprocess.DEVNULL)
    time_base = Fraction(1)
    packets = []  # (pts, duration) in time_base units
    for line in result.stdout.splitlines():
        if line.startswith("#tb 0:"):
            time_base = Fraction(line.split(":", 1)[1].strip())
        elif line and not line.startswith("#"):
            fields = [part.strip() for part in line.split(",")]
            flags = int(fields[6][2:], 16) if len(fields) > 6 and fields[6].startswith("F=") else 1
            if not flags & _PACKET_DISCARD:
                packets.append((int(fields[2]), int(fields[3])))
    packets.sort()

    format_name = re.search(r"Input #0, (.+?), from '", result.stderr)
    rotation = re.search(r"rotation of (-?\d+(?:\.\d+)?) degrees", result.stderr)
    pts = [p for p, _ in packets]
    timestamps_ok = bool(pts) and pts[0] > -(2**62) and all(a < b for a, b in zip(pts, pts[1:]))
    fps = None
    if timestamps_ok:
        times = [float(p * time_base) for p in pts]
        end = max(p + d for p, d in packets)
        if packets[-1][1] > 0 and end > pts[0]:
            fps = len(pts) / ((end - pts[0]) * time_base)
        elif len(pts) > 1:
            fps = (len(pts) - 1) / ((pts[-1] - pts[0]) * time_base)
    fps = _tidy_fps(Fraction(fps or nominal_fps or 25).limit_denominator(1_000_000))
    if not timestamps_ok:  # no usable timestamps (rare raw streams): index / nominal rate
        times = [i / fps for i in range(len(packets))]
    seekable = timestamps_ok and format_name is not None and any(
        name in format_name[1].split(",") for name in _SEEKABLE_FORMATS
    )
    duration = times[-1] + 1 / fps if times else 0.0
    return _Listing(times, duration, fps, round(float(rotation[1])) % 360 if rotation else 0,
                    seekable)


def _tidy_fps(measured: Fraction) -> float:
    """Snap a measured rate to the nearest whole or NTSC (n * 1000/1001) rate within 0.5%.

    Millisecond timestamps (MKV, WebM) measure a 1 s clip at 24 fps as 24.024 fps; a
    variable-rate clip whose mean is no common rate keeps its mean.
    """
    ntsc = Fraction(round(measured * Fraction(1001, 1000)) * 1000, 1001)
    candidates = [Fraction(round(measured)), ntsc]
    nearest = min((c for c in candidates if c > 0), key=lambda c: abs(c - measured), default=None)
    if nearest is not None and abs(nearest - measured) <= measured / 200:
        return float(nearest)
    return float(measured)


def iter_frames(source: VideoSource, first: int = 0) -> Iterator[np.ndarray]:
    """Yield the source's frames from yielded frame `first` on, as HxWx3 RGB uint8 arrays.

    A generator: nothing is read until the first `next()`, one frame is held at a time,
    and closing it early stops ffmpeg. `first` resumes a render without decoding the
    frames before it where the container allows seeking (see the module notes).
    """
    if not _is_count(first, 0) or first > source.frame_count:
        raise ValueError(f"first must be 0..{source.frame_count}, got {first!r}")
    if source.is_folder:
        return _iter_folder(source, first)
    return _iter_clip(source, first)


def _iter_clip(source: VideoSource, first: int) -> Iterator[np.ndarray]:
    import imageio_ffmpeg

    wanted = source.frame_count - first
    if wanted == 0:
        return
    index = source.start_frame + first * source.every  # source frame to begin with
    input_params, filters = [], []
    if index > 0 and source._seekable:
        # Halfway between two frames' timestamps: immune to rounding of either.
        threshold = (source._times[index - 1] + source._times[index]) / 2
        if threshold - _SEEK_MARGIN_S > 0:
            input_params = ["-ss", f"{threshold - _SEEK_MARGIN_S:.6f}", "-noaccurate_seek"]
        filters.append(f"select='gte(t\\,{threshold:.9f})'")
        if source.every > 1:
            filters.append(f"select='not(mod(n\\,{source.every}))'")
    elif index > 0 or source.every > 1:
        filters.append(f"select='gte(n\\,{index})*not(mod(n-{index}\\,{source.every}))'")
    if source._size_filter:
        filters.append(source._size_filter)
    # copyts + start_at_zero: `t` above is the time _list_frames measured, unshifted by -ss.
    output_params = ["-copyts", "-start_at_zero", "-map", "0:V:0", "-fps_mode", "passthrough"]
    if filters:
        output_params += ["-vf", ",".join(filters)]
    output_params += ["-frames:v", str(wanted)]

    reader = imageio_ffmpeg.read_frames(
        _ffmpeg_arg(source.path), input_params=input_params, output_params=output_params
    )
    count = 0
    try:
        try:
            with _quiet_resize_warning():
                meta = next(reader)
        except OSError as err:  # the file changed or vanished since open_video
            raise DreamreelError(f"cannot read video '{source.path}': {_last_line(err)}") from err
        if tuple(meta["size"]) != (source.width, source.height):
            raise RuntimeError(f"ffmpeg gives {meta['size']} frames for '{source.path}', "
                               f"expected {(source.width, source.height)}")
        shape = (source.height, source.width, 3)
        while True:
            try:
                data = next(reader)
            except StopIteration:
                break
            except RuntimeError as err:  # a damaged frame ffmpeg could not decode
                raise DreamreelError(
                    f"cannot read video '{source.path}' at frame {first + count}: "
                    f"{_last_line(err)}"
                ) from err
            count += 1
            yield np.frombuffer(bytearray(data), np.uint8).reshape(shape)  # writable copy
    finally:
        reader.close()  # stops ffmpeg if the caller stopped early
    if count < wanted:
        raise DreamreelError(
            f"cannot read video '{source.path}': ffmpeg decoded {first + count} of the "
            f"{source.frame_count} frames counted; the file may be damaged near its end "
            f"(set an earlier end to skip them)"
        )


def _last_line(err: Exception) -> str:
    """The most telling line of an imageio-ffmpeg error: ffmpeg's last complaint."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("===")]
    return lines[-1] if lines else type(err).__name__


def _drop_resize_warning(record: logging.LogRecord) -> bool:
    return "frame size for reading" not in record.getMessage()


@contextlib.contextmanager
def _quiet_resize_warning() -> Iterator[None]:
    """imageio-ffmpeg warns whenever output size != source size: that is what we asked."""
    logger = logging.getLogger("imageio_ffmpeg")
    logger.addFilter(_drop_resize_warning)
    try:
        yield
    finally:
        logger.removeFilter(_drop_resize_warning)


# ---------------------------------------------------------------- folders of frames


def numbered_frames(folder: str | os.PathLike) -> list[Path]:
    """The image files in `folder`, sorted by the last number in their names.

    frame_2.png comes before frame_10.png and 1000 after 999. Files that are not images
    (by suffix) and hidden files are ignored; an image without a number, or two images
    with the same number (two sequences in one folder), is a DreamreelError.
    """
    directory = Path(folder)
    if not directory.is_dir():
        what = "no such folder" if not directory.exists() else "not a folder"
        raise DreamreelError(f"cannot read frames from '{directory}': {what}")
    numbered: dict[int, Path] = {}
    for entry in directory.iterdir():
        if entry.name.startswith(".") or entry.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if not entry.is_file():
            continue
        digits = re.findall(r"\d+", entry.stem)
        if not digits:
            raise DreamreelError(
                f"cannot read frames from '{directory}': '{entry.name}' has no frame number "
                f"in its name (move it out of the folder)"
            )
        number = int(digits[-1])
        if number in numbered:
            a, b = sorted((numbered[number].name, entry.name))
            raise DreamreelError(
                f"cannot read frames from '{directory}': '{a}' and '{b}' are both frame "
                f"{number} (one sequence per folder)"
            )
        numbered[number] = entry
    return [numbered[number] for number in sorted(numbered)]


def _open_folder(folder: Path, bounds, every: int, max_size: int | None,
                 fps: float) -> VideoSource:
    files = numbered_frames(folder)
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        raise DreamreelError(
            f"cannot read video '{folder}': the folder holds no images ({suffixes})"
        )
    times = [i / fps for i in range(len(files))]
    first, stop = _pick_range(folder, times, len(files) / fps, bounds)
    chosen = tuple(files[first:stop:every])
    width, height = _image_size(chosen[0])
    for path in chosen[1:]:
        size = _image_size(path)
        if size != (width, height):
            raise DreamreelError(
                f"cannot read video '{folder}': '{path.name}' is {size[0]}x{size[1]}, but "
                f"'{chosen[0].name}' is {width}x{height}; all frames must share one size"
            )
    out_width, out_height = _even_size(folder, width, height, max_size)
    return VideoSource(
        path=folder,
        fps=fps / every,
        frame_count=len(chosen),
        width=out_width,
        height=out_height,
        source_fps=fps,
        has_audio=False,
        start_seconds=times[first],
        is_folder=True,
        start_frame=first,
        every=every,
        files=chosen,
    )


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) as read_image will return it, from the header alone where possible."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(0x0112, 1)  # EXIF 5..8: stored sideways
    except Exception:  # Pillow cannot parse it: let OpenCV decide (or raise its one line)
        height, width = read_image(path).shape[:2]
        return width, height
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _iter_folder(source: VideoSource, first: int) -> Iterator[np.ndarray]:
    for path in source.files[first:]:
        image = read_image(path)
        height, width = image.shape[:2]
        if (width - width % 2, height - height % 2) == (source.width, source.height):
            image = np.ascontiguousarray(even_size(image))
        else:  # max_size (INTER_AREA: no aliasing), or a file replaced since open_video
            image = cv2.resize(image, (source.width, source.height), interpolation=cv2.INTER_AREA)
        yield image
