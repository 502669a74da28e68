"""Video and GIF output and probing (to be moved onto PyAV: issue 7)."""

from __future__ import annotations

import math
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from renderer.errors import DreamreelError
from renderer.files import atomic_path
from renderer.media.images import as_rgb, even_size, fit_long_side

_GIF_TICK_MS = 10  # GIF stores frame delays in hundredths of a second
_GIF_MIN_DELAY_MS = 20  # browsers play shorter delays as 100 ms


def check_fps(fps: float | Fraction) -> float | Fraction:
    if isinstance(fps, Fraction):
        valid = fps > 0
    else:
        fps = float(fps)
        valid = math.isfinite(fps) and fps > 0
    if not valid:
        raise DreamreelError(f"fps must be a positive number, got {fps}")
    return fps


def _first_frame(frames: Iterator[np.ndarray], path: str | os.PathLike) -> np.ndarray:
    first = next(frames, None)
    if first is None:
        raise DreamreelError(f"no frames to write to '{path}'")
    return first


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


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def write_mp4(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float | Fraction,
    *,
    quality: float = 7,
    audio_from: str | os.PathLike | None = None,
    audio_start: float = 0.0,
) -> int:
    """Stream RGB frames into an H.264/yuv420p MP4 that browsers and phones play.

    Frames are sent to the bundled ffmpeg one at a time (a generator is never held in
    memory), cropped to even size, and the file is renamed into place only when ffmpeg
    has finished it. `quality` is imageio-ffmpeg's 1..10 scale (7 = CRF 15: DeepDream's
    fine detail smears at the usual CRF 23). `audio_from` muxes that file's sound from
    `audio_start` seconds on (a file without sound adds none). Returns frames written.
    """
    fps = check_fps(fps)
    frames = iter(frames)
    first = even_size(as_rgb(_first_frame(frames, path)))
    has_sound = audio_from is not None and _ffmpeg_header(audio_from, "read audio").audio
    with atomic_path(path) as tmp:
        count = _encode_h264(tmp, _video_frames(first, frames), first.shape, fps, quality)
        if has_sound:
            _mux_audio(tmp, audio_from, audio_start, seconds=float(count / fps))
        _check_encoded(tmp, path)
    return count


def _ffmpeg_arg(path: str | os.PathLike) -> str:
    """Absolute path for ffmpeg: a relative name like "take:2.mp4" reads as a protocol."""
    return os.path.abspath(path)


def _encode_h264(tmp: Path, frames: Iterator[np.ndarray], shape, fps, quality) -> int:
    import imageio_ffmpeg

    height, width = shape[:2]
    writer = imageio_ffmpeg.write_frames(
        _ffmpeg_arg(tmp),
        (width, height),
        fps=fps,
        quality=quality,
        codec="libx264",
        pix_fmt_out="yuv420p",
        macro_block_size=2,  # sizes are even already: never let it rescale
        ffmpeg_log_level="error",  # keep the terminal for progress bars
        output_params=["-movflags", "+faststart", "-f", "mp4"],  # tmp has no .mp4 suffix
    )
    writer.send(None)  # start ffmpeg
    count = 0
    try:
        for frame in frames:
            writer.send(frame)
            count += 1
    finally:
        writer.close()  # waits for ffmpeg to finish the file
    return count


def _mux_audio(video: Path, audio_from, audio_start: float, seconds: float) -> None:
    """Replace `video` by a copy with `audio_from`'s sound, exactly `seconds` long.

    A second pass (video copied, not re-encoded) because the video's length is only
    known at the end: `-shortest` while streaming overshoots by a fraction of a second.
    apad + -t: longer audio is cut, shorter audio ends in silence; every frame stays.
    """
    import imageio_ffmpeg

    trim = f"atrim=start={float(audio_start)},asetpts=PTS-STARTPTS,apad"
    with atomic_path(video) as muxed:
        cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", _ffmpeg_arg(video)]
        cmd += ["-i", _ffmpeg_arg(audio_from), "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy"]
        cmd += ["-c:a", "aac", "-af", trim, "-t", f"{seconds:.6f}"]
        cmd += ["-movflags", "+faststart", "-f", "mp4", _ffmpeg_arg(muxed)]
        result = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            message = f"ffmpeg could not add the audio of '{audio_from}':\n{result.stderr}"
            raise RuntimeError(message)


def _check_encoded(tmp: Path, path: str | os.PathLike) -> None:
    """imageio-ffmpeg ignores ffmpeg's exit status; make sure a readable video came out."""
    try:
        header = _ffmpeg_header(tmp, "read video")
    except DreamreelError:
        header = None
    if header is None or header.video is None:
        raise RuntimeError(f"ffmpeg did not produce a readable video for '{path}'")


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
    kept as 8-bit palette images until the file is written (1 byte a pixel). Pillow
    merges identical consecutive frames into one longer frame (timing is kept).
    Faster than 50 fps is played at 50 fps: browsers slow shorter delays to 100 ms.
    """
    from PIL import Image

    fps = check_fps(fps)
    frames = iter(frames)
    first = _first_frame(frames, path)
    palette_frames = [_gif_frame(frame, max_side, Image) for frame in _chain(first, frames)]
    options = {"loop": 0} if loop else {}  # NETSCAPE loop 0 = forever; absent = once
    with atomic_path(path) as tmp:
        palette_frames[0].save(tmp, format="GIF", save_all=True,
                               append_images=palette_frames[1:],
                               duration=_gif_durations(len(palette_frames), fps), **options)
    return len(palette_frames)


def _gif_frame(frame: np.ndarray, max_side: int | None, image_module):
    """RGB -> 256-colour palette image. Fast octree: Pillow's default quantizer took
    ~0.4 s a frame on 320 px dreams (40 s for a 96-frame zoom), this ~10 ms, and the
    two look the same on DeepDream's busy textures."""
    rgb = fit_long_side(as_rgb(frame), max_side)
    return image_module.fromarray(rgb).quantize(256, method=image_module.Quantize.FASTOCTREE)


# ---------------------------------------------------------------- probing


class _Header:
    """The parts of `ffmpeg -i` output we use: first video and audio stream lines."""

    def __init__(self, text: str):
        lines = [line.strip() for line in text.splitlines()]
        streams = [line for line in lines if line.startswith("Stream #")]
        self.video = next((s.split(" Video: ", 1)[1] for s in streams if " Video: " in s), None)
        self.audio = next((s.split(" Audio: ", 1)[1] for s in streams if " Audio: " in s), None)
        match = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
        self.duration = (
            int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3]) if match else None
        )


def _ffmpeg_header(path: str | os.PathLike, verb: str) -> _Header:
    """Run the bundled `ffmpeg -i` (no ffprobe is bundled) and parse what it prints."""
    import imageio_ffmpeg

    source = Path(path)
    if not source.is_file():
        raise DreamreelError(f"cannot {verb} '{source}': no such file")
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", _ffmpeg_arg(source)],
        capture_output=True,
        text=True,
        errors="replace",
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    # ffmpeg exits 1 here ("no output file"); a header without streams is the failure.
    header = _Header(result.stderr)
    if header.video is None and header.audio is None:
        raise DreamreelError(f"cannot {verb} '{source}': not a media file ffmpeg can read")
    return header


def _codec_name(stream: str) -> str:
    return stream.split(None, 1)[0].rstrip(",")


def probe_video(path: str | os.PathLike, *, count_frames: bool = True) -> dict[str, Any]:
    """Describe a video: codec, pix_fmt, width, height, fps, duration, audio, frames.

    `fps` is as ffmpeg prints it (e.g. 29.97); `audio` is the audio codec or None;
    `frames` decodes the whole file to count exactly (None with count_frames=False).
    """
    import imageio_ffmpeg

    header = _ffmpeg_header(path, "read video")
    if header.video is None:
        raise DreamreelError(f"cannot read video '{path}': it has no video stream")
    frames = imageio_ffmpeg.count_frames_and_secs(_ffmpeg_arg(path))[0] if count_frames else None
    # Split on commas outside parentheses: "yuv420p(tv, progressive)" is one field.
    fields = re.split(r",\s*(?![^()]*\))", header.video)
    size = re.search(r"(?:^|,\s*)(\d+)x(\d+)", header.video)
    fps = re.search(r"(\d+(?:\.\d+)?) fps", header.video)
    return {
        "codec": _codec_name(header.video),
        "pix_fmt": fields[1].split("(")[0].strip() if len(fields) > 1 else None,
        "width": int(size[1]) if size else None,
        "height": int(size[2]) if size else None,
        "fps": float(fps[1]) if fps else None,
        "duration": header.duration,
        "audio": _codec_name(header.audio) if header.audio else None,
        "frames": frames,
    }
