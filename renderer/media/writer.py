"""MP4 and GIF output: the only places files are encoded.

MP4: H.264 (libx264, CRF 15: DeepDream's fine detail smears at the usual 23), yuv420p
at even sizes (what browsers and phones play), +faststart, written with PyAV one frame
at a time, with a clip's sound (renderer.media.audio) encoded alongside. GIF: through
imageio's Pillow plugin, looping, per-frame delays on GIF's 10 ms grid.
Both are written to a temp file and renamed into place only when complete.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from renderer.errors import DreamreelError
from renderer.files import atomic_path, user_os_errors
from renderer.media.audio import AudioSource, AudioTrack, has_sound
from renderer.media.images import as_rgb, even_size, fit_long_side
from renderer.media.timeline import tidy_rate

_GIF_TICK_MS = 10  # GIF stores frame delays in hundredths of a second
_GIF_MIN_DELAY_MS = 20  # browsers play shorter delays as 100 ms
DEFAULT_CRF = 15


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


def _first_frame(frames: Iterator[np.ndarray], path: str | os.PathLike) -> np.ndarray:
    first = next(frames, None)
    if first is None:
        raise DreamreelError(f"no frames to write to '{path}'")
    return first


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _video_frames(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Yield even-sized, contiguous RGB frames, all the size of the first."""
    expected = None
    for index, frame in enumerate(_chain(first, rest)):
        frame = np.ascontiguousarray(even_size(as_rgb(frame)))
        expected = expected or frame.shape
        if frame.shape != expected:
            raise DreamreelError(
                f"frame {index} is {frame.shape[1]}x{frame.shape[0]}, expected "
                f"{expected[1]}x{expected[0]}: all frames of a video must share one size"
            )
        yield frame


def write_mp4(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float | Fraction,
    *,
    audio: AudioSource | None = None,
    crf: int = DEFAULT_CRF,
) -> int:
    """Stream RGB frames into an H.264/yuv420p MP4 that browsers and phones play.

    Frames are encoded one at a time (a generator is never held in memory) and cropped
    to even size. `audio` (what `open_video(...).audio` gives) adds the source's sound
    from its `start` on, exactly as long as the video; a source without sound adds none.
    The file is renamed into place only once complete. Returns the frames written.
    """
    import av

    rate = as_rate(fps)
    frames = iter(frames)
    first = even_size(as_rgb(_first_frame(frames, path)))
    if audio is not None and not isinstance(audio, AudioSource):
        raise TypeError(f"audio must be an AudioSource or None, got {type(audio).__name__}")
    with_sound = audio is not None and has_sound(audio)
    height, width = first.shape[:2]
    count = 0
    with atomic_path(path) as tmp:
        with user_os_errors(Path(path), "write"):
            output = av.open(str(tmp.absolute()), mode="w", format="mp4",
                             options={"movflags": "+faststart"})
        try:
            video = output.add_stream("libx264", rate=rate,
                                      options={"crf": str(crf), "preset": "medium"})
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            video.codec_context.time_base = 1 / rate
            track = AudioTrack(output, audio) if with_sound else None
            try:
                for frame in _video_frames(first, frames):
                    picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
                    picture.pts = count
                    for packet in video.encode(picture):
                        output.mux(packet)
                    count += 1
                    if track is not None:
                        track.advance_to(float(count / rate))
                for packet in video.encode(None):
                    output.mux(packet)
                if track is not None:
                    track.finish(float(count / rate))
            finally:
                if track is not None:
                    track.close()
        except BaseException:
            _abandon(output)
            raise
        output.close()  # writes the index (moved to the front: faststart)
    return count


def _abandon(output) -> None:
    """Close a half-written output without letting its errors hide the first one."""
    try:
        output.close()
    except Exception:
        pass


def _gif_durations(count: int, fps: float | Fraction) -> list[int]:
    """Per-frame delays in ms, on GIF's 10 ms grid, whose running sum tracks count/fps.

    Rounding every frame alike would drift (24 fps -> 40 ms -> plays at 25 fps); rounding
    the running time keeps the loop as long as the MP4 (24 fps -> 40, 40, 50, 40, 40, 50...).
    """
    frame_ms = 1000 / fps
    ticks = [math.floor(i * frame_ms / _GIF_TICK_MS + 0.5) * _GIF_TICK_MS for i in range(count + 1)]
    return [max(_GIF_MIN_DELAY_MS, end - start) for start, end in zip(ticks, ticks[1:])]


def write_gif(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float | Fraction,
    *,
    loop: bool = True,
    max_side: int | None = None,
) -> int:
    """Write an animated GIF (looping forever unless `loop=False`); return frames given.

    Frames are downscaled so the long side is at most `max_side` (GIFs grow fast) and
    reduced to 256 colours each with Pillow's fast octree as they arrive: Pillow's
    default quantizer took ~0.4 s a frame on 320 px dreams (40 s for a 96-frame zoom),
    fast octree ~10 ms, and the two look the same on DeepDream's busy textures; the GIF
    encoder then finds each frame's palette already made. Identical consecutive frames
    are merged into one longer frame (timing is kept). Faster than 50 fps is played at
    50 fps: browsers slow shorter delays to 100 ms.
    """
    import imageio.v3 as iio

    fps = check_fps(fps)
    frames = iter(frames)
    first = _first_frame(frames, path)
    reduced = [_gif_frame(frame, max_side) for frame in _chain(first, frames)]
    options = {"loop": 0} if loop else {}  # NETSCAPE loop 0 = forever; absent = once
    durations = _gif_durations(len(reduced), fps)
    with atomic_path(path) as tmp:
        with user_os_errors(Path(path), "write"), \
                iio.imopen(tmp, "w", extension=".gif", plugin="pillow") as gif:
            for index, image in enumerate(reduced):
                last = index == len(reduced) - 1  # the options apply when the file closes
                gif.write(np.asarray(image.convert("RGB")), is_batch=False,
                          **({"duration": durations, **options} if last else {}))
                reduced[index] = None  # imageio holds its own copy until it closes
    return len(reduced)


def _gif_frame(frame: np.ndarray, max_side: int | None):
    """A 256-colour palette image (fast octree), long side at most max_side: 1 byte a
    pixel while the other frames arrive."""
    from PIL import Image

    rgb = np.ascontiguousarray(fit_long_side(as_rgb(frame), max_side))
    return Image.fromarray(rgb).quantize(256, method=Image.Quantize.FASTOCTREE)
