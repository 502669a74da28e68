"""Video and GIF output: the only places files are encoded.

Video: by default H.264 (libx264, CRF 15: DeepDream's fine detail smears at the usual 23),
yuv420p at even sizes (what browsers and phones play), in an MP4 with +faststart; or any
codec of renderer/media/codecs.py's table (HEVC, AV1, ProRes, DNxHR, FFV1: editors'
intermediates, 10-bit), in the container it goes in (MP4, MOV, MKV). Written with PyAV one
frame at a time (RGB, 8-bit or 16-bit: a 10-bit encode of 16-bit frames keeps their
levels), with a clip's sound (renderer.media.audio) encoded alongside. GIF: with Pillow,
looping, per-frame delays on GIF's 10 ms grid. Both may carry a text ``comment`` (a
render's recipe): the video's ``comment`` tag (MP4/MOV's udta, MKV's tag), the GIF's
comment extension (renderer/media/embedded_text.py reads them back).
Both are written to a temp file and renamed into place only when complete. `Mp4Writer`
(any video codec, despite its name) and `GifWriter` take the frames one by one as a
render makes them; `write_mp4` and `write_gif` feed them from an iterable.

x264 keeps its default rc-lookahead (40 frames at preset medium), although a writer fed
live then encodes the last 41 frames in `close()`, after the render's last frame: on
busy 1280x720 texture (100 frames, 2 cores) rc-lookahead 10 cut close() from 0.8 to
0.2 s, but at CRF 15 lost 1.2 dB luma PSNR (45.9 -> 44.7, below the default's 45.3 at
CRF 16) for an 18 % smaller file: a real loss of detail to save half a second a render.
"""

from __future__ import annotations

import math
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Self, cast

import numpy as np

from ..runtime.atomic_files import atomic_path, user_os_errors, write_error
from ..runtime.errors import DreamreelError
from .audio import AudioSource, AudioTrack, has_sound
from .codecs import AUTO, DEFAULT_CODEC, DEFAULT_CRF, DEFAULT_PRESET, Encoding, pick_codec
from .images import as_rgb, even_size, fit_long_side
from .timeline import tidy_rate

if TYPE_CHECKING:
    from av.container import OutputContainer
    from av.video.stream import VideoStream

_GIF_TICK_MS = 10  # GIF stores frame delays in hundredths of a second
_GIF_MIN_DELAY_MS = 20  # browsers play shorter delays as 100 ms


def check_fps(fps: float | Fraction) -> float | Fraction:
    if isinstance(fps, Fraction):
        valid = fps > 0
    else:
        try:
            fps = float(fps)
        except (TypeError, ValueError):
            raise DreamreelError(f"fps must be a positive number, got {fps!r}") from None
        valid = math.isfinite(fps) and fps > 0
    if not valid:
        raise DreamreelError(f"fps must be a positive number, got {fps}")
    return fps


def as_rate(fps: float | Fraction) -> Fraction:
    """An exact frame rate: Fractions stay, floats snap to whole or NTSC rates
    (29.97002997 -> 30000/1001) within a millionth, else to a denominator below 1001."""
    fps = check_fps(fps)
    if isinstance(fps, Fraction):
        return fps
    return tidy_rate(fps, Fraction(1, 10**6))


class _HeldTemp:
    """`atomic_path` held open across calls, for a file filled frame by frame: write to
    `.path` (the usual ".<name>.<token>.partial"), then `commit()` renames it into place
    or `discard()` deletes it, exactly as leaving `atomic_path` would."""

    def __init__(self, target: Path):
        self._context = atomic_path(target)
        self.path = self._context.__enter__()

    def commit(self) -> None:
        self._context.__exit__(None, None, None)

    def discard(self) -> None:
        error = _Discarded()  # thrown into atomic_path: its failure path deletes the file
        self._context.__exit__(_Discarded, error, None)


class _Discarded(Exception):
    pass


class FrameWriter(ABC):
    """What every file fed one frame at a time shares: as a context manager, leaving it
    normally closes the file (renamed into place), leaving on an error abandons it (no
    file); a frame after the end is refused."""

    path: Path
    _ended: bool

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abandon()

    def _check_open(self) -> None:
        if self._ended:
            raise ValueError(f"'{self.path}' is already closed")

    @abstractmethod
    def add(self, frame: np.ndarray) -> None: ...

    @abstractmethod
    def close(self) -> int:
        """Finish the file and rename it into place; return the frames written."""

    @abstractmethod
    def abandon(self) -> None:
        """End without a file. Safe to repeat."""


class Mp4Writer(FrameWriter):
    """A video file fed one RGB frame at a time (uint8, or uint16 for 16-bit levels):
    by default an H.264/yuv420p MP4 that browsers and phones play; `codec`,
    `pixel_format`, `crf` and `preset` pick another encoding (renderer/media/codecs.py;
    the path's suffix is the caller's: `Encoding.codec.suffix`).

    The first frame fixes the size (cropped to even). `audio` (what `open_video(...).audio`
    gives) adds the source's sound from its `start` on, exactly as long as the video; a
    source without sound adds none. `comment` goes into the file's ``comment`` tag.
    `close()` finishes the file and renames it into place;
    `abandon()`, or any error in `add` or `close`, deletes it. As a context manager: abandon
    on an exception, close otherwise.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | Fraction,
        *,
        audio: AudioSource | None = None,
        crf: int = DEFAULT_CRF,
        comment: str | None = None,
        codec: str = DEFAULT_CODEC,
        pixel_format: str = AUTO,
        preset: str = DEFAULT_PRESET,
    ):
        if audio is not None and not isinstance(audio, AudioSource):
            raise TypeError(f"audio must be an AudioSource or None, got {type(audio).__name__}")
        self.path = Path(path)
        self.rate = as_rate(fps)
        self.count = 0  # frames written
        self._audio, self._comment = audio, comment
        self.encoding: Encoding = pick_codec(codec, pixel_format, crf=crf, preset=preset)
        self._temp: _HeldTemp | None = None
        self._output: OutputContainer | None = None
        self._video: VideoStream | None = None
        self._track: AudioTrack | None = None
        self._shape: tuple[int, ...] | None = None
        self._ended = False

    def add(self, frame: np.ndarray) -> None:
        self._check_open()
        try:
            self._encode(np.ascontiguousarray(even_size(_rgb(frame))))
        except OSError as err:  # FFmpeg's muxer writing the file: a full disk, EIO...
            self.abandon()
            raise write_error(self.path, err) from err
        except BaseException:
            self.abandon()
            raise

    def _encode(self, frame: np.ndarray) -> None:
        import av

        if self._shape is None:
            self._open(frame.shape)
        elif frame.shape != self._shape:
            raise DreamreelError(
                f"frame {self.count} is {frame.shape[1]}x{frame.shape[0]}, expected "
                f"{self._shape[1]}x{self._shape[0]}: all frames of a video must share one size"
            )
        assert self._video is not None and self._output is not None  # _open set them
        layout = "rgb48le" if frame.dtype == np.uint16 else "rgb24"
        picture = av.VideoFrame.from_ndarray(frame, format=layout)
        picture.pts = self.count
        for packet in self._video.encode(picture):
            self._output.mux(packet)
        self.count += 1
        if self._track is not None:
            self._track.advance_to(float(self.count / self.rate))  # keeps streams interleaved

    def _open(self, shape: tuple[int, ...]) -> None:
        import av

        self._shape = shape
        audio = self._audio if self._audio is not None and has_sound(self._audio) else None
        encoding = self.encoding
        encoding.check_size(shape[1], shape[0], self.path)
        if encoding.encoder == "libsvtav1":  # SVT-AV1 prints its whole setup unless told
            os.environ.setdefault("SVT_LOG", "1")  # errors only
        self._temp = _HeldTemp(self.path)
        # faststart: the index moved to the front, so players start before the end arrives
        faststart = {"movflags": "+faststart"} if encoding.codec.container in ("mp4", "mov") else {}
        with user_os_errors(self.path, "write"):
            self._output = av.open(
                str(self._temp.path.absolute()),
                mode="w",
                format=encoding.codec.container,
                options=faststart,
            )
        if self._comment:
            self._output.metadata["comment"] = self._comment
        video = self._video = cast(
            "VideoStream",  # a video encoder's name: a video stream
            self._output.add_stream(
                encoding.encoder, rate=self.rate, options=dict(encoding.options)
            ),
        )
        video.width, video.height, video.pix_fmt = shape[1], shape[0], encoding.pixel_format
        if encoding.codec.tag:
            video.codec_context.codec_tag = encoding.codec.tag
        video.codec_context.time_base = 1 / self.rate
        if audio is not None:
            self._track = AudioTrack(self._output, audio)

    def close(self) -> int:
        """Flush the encoders (the frames x264 still holds are encoded now), write the
        index and rename the file into place; return the frames written."""
        if self._ended:
            return self.count
        if self._output is None:
            self._ended = True
            raise DreamreelError(f"no frames to write to '{self.path}'")
        assert self._video is not None and self._temp is not None  # _open set them
        try:
            for packet in self._video.encode(None):
                self._output.mux(packet)
            if self._track is not None:
                self._track.finish(float(self.count / self.rate))
                track, self._track = self._track, None
                track.close()
            output, self._output = self._output, None
            output.close()  # writes the index (moved to the front: faststart)
            self._ended = True
            temp, self._temp = self._temp, None
            temp.commit()
        except OSError as err:  # the encoder's tail and the moved index are written here
            self.abandon()
            raise write_error(self.path, err) from err
        except BaseException:
            self.abandon()
            raise
        return self.count

    def abandon(self) -> None:
        """End without a file: close quietly and delete the temp file. Safe to repeat."""
        self._ended = True
        for closable in (self._track, self._output):
            if closable is not None:
                try:  # a half-written output's errors must not hide the first one
                    closable.close()
                except Exception:
                    pass
        self._track = self._output = None
        if self._temp is not None:
            temp, self._temp = self._temp, None
            temp.discard()


def write_mp4(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float | Fraction,
    *,
    audio: AudioSource | None = None,
    crf: int = DEFAULT_CRF,
    comment: str | None = None,
    codec: str = DEFAULT_CODEC,
    pixel_format: str = AUTO,
    preset: str = DEFAULT_PRESET,
) -> int:
    """Stream RGB frames into an MP4 (see Mp4Writer); return the frames written.

    Frames are encoded one at a time (a generator is never held in memory); the file is
    renamed into place only once complete.
    """
    with Mp4Writer(
        path,
        fps,
        audio=audio,
        crf=crf,
        comment=comment,
        codec=codec,
        pixel_format=pixel_format,
        preset=preset,
    ) as writer:
        for frame in frames:
            writer.add(frame)
    return writer.count


def _rgb(frame: np.ndarray) -> np.ndarray:
    """HxWx3, uint8 or uint16 (16-bit frames: renderer/store/frame_store.py's frames16)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint16:
        return as_rgb(frame)
    if frame.ndim == 2:
        frame = frame[:, :, None]
    if frame.ndim != 3 or frame.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 image, got {frame.shape}")
    return np.repeat(frame, 3, axis=2) if frame.shape[2] == 1 else frame[:, :, :3]


def _gif_durations(count: int, fps: float | Fraction) -> list[int]:
    """Per-frame delays in ms, on GIF's 10 ms grid, whose running sum tracks count/fps.

    Rounding every frame alike would drift (24 fps -> 40 ms -> plays at 25 fps); rounding
    the running time keeps the loop as long as the MP4 (24 fps -> 40, 40, 50, 40, 40, 50...).
    """
    frame_ms = 1000 / fps
    ticks = [math.floor(i * frame_ms / _GIF_TICK_MS + 0.5) * _GIF_TICK_MS for i in range(count + 1)]
    return [max(_GIF_MIN_DELAY_MS, end - start) for start, end in zip(ticks, ticks[1:])]


class GifWriter(FrameWriter):
    """An animated GIF (looping forever unless `loop=False`), fed one frame at a time.

    Each frame is downscaled so the long side is at most `max_side` (GIFs grow fast) and
    reduced to 256 colours with Pillow's fast octree as it arrives, so only the small
    palette images wait for `close()`, which writes the file. Pillow's default quantizer
    took ~0.4 s a frame on 320 px dreams (40 s for a 96-frame zoom), fast octree ~10 ms,
    and the two look the same on DeepDream's busy textures; the GIF encoder then finds
    each frame's palette already made. Identical consecutive frames are merged into one
    longer frame (timing is kept). Faster than 50 fps is played at 50 fps: browsers slow
    shorter delays to 100 ms. `comment` is written once, as the file's comment extension.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | Fraction,
        *,
        loop: bool = True,
        max_side: int | None = None,
        comment: str | None = None,
    ):
        self.path = Path(path)
        self.fps = check_fps(fps)
        self._loop, self._max_side, self._comment = loop, max_side, comment
        self._reduced: list = []
        self._ended = False

    @property
    def count(self) -> int:
        return len(self._reduced)

    def add(self, frame: np.ndarray) -> None:
        self._check_open()
        self._reduced.append(_gif_frame(frame, self._max_side))

    def repeat(self, position: int) -> None:
        """Add the frame added at `position` (0 = the first) again, already reduced."""
        self._check_open()
        self._reduced.append(self._reduced[position])

    def close(self) -> int:
        """Write the file and rename it into place; return the frames written.

        Pillow saves the palette images as they are. Through imageio's Pillow plugin they
        went back to RGB and Pillow made each palette again: 1.5 s for a 96-frame zoom's
        GIF, all after the render's last frame; 0.2 s this way, the same colours.
        """
        if self._ended:
            return self.count
        self._ended = True
        reduced, count = self._reduced, len(self._reduced)
        if not count:
            raise DreamreelError(f"no frames to write to '{self.path}'")
        options: dict = {"loop": 0} if self._loop else {}  # NETSCAPE loop 0: forever; none: once
        if self._comment:
            options["comment"] = self._comment.encode("utf-8")
        durations = _gif_durations(count, self.fps)
        with atomic_path(self.path) as tmp:
            with user_os_errors(self.path, "write"):
                reduced[0].save(
                    tmp,
                    format="GIF",
                    save_all=True,
                    append_images=reduced[1:],
                    duration=durations,
                    **options,
                )
        return count

    def abandon(self) -> None:
        """End without a file (none exists before `close`). Safe to repeat."""
        self._ended = True
        self._reduced = []


def write_gif(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float | Fraction,
    *,
    loop: bool = True,
    max_side: int | None = None,
    comment: str | None = None,
) -> int:
    """Write an animated GIF (see GifWriter); return the frames given."""
    with GifWriter(path, fps, loop=loop, max_side=max_side, comment=comment) as writer:
        for frame in frames:
            writer.add(frame)
    return writer.count


def _gif_frame(frame: np.ndarray, max_side: int | None):
    """A 256-colour palette image (fast octree), long side at most max_side: 1 byte a
    pixel while the other frames arrive."""
    from PIL import Image

    rgb = np.ascontiguousarray(fit_long_side(as_rgb(frame), max_side))
    return Image.fromarray(rgb).quantize(256, method=Image.Quantize.FASTOCTREE)
