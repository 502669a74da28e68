"""Writing results: atomic images and logs, MP4/GIF stitching, contact sheets, probing.

Every writer goes through `_atomic_path`: the data lands in a hidden temp file next to
the target and is renamed over it only once complete and fsync'ed, so a crash, a full
disk or Ctrl-C never leaves a half-written file under a finished-looking name.
imageio and imageio-ffmpeg are imported inside the functions that use them, so that
`import renderer.output` stays cheap for code that only writes PNG frames.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import secrets
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from renderer.errors import DreamreelError

_PARTIAL_SUFFIX = ".partial"  # temp files: ".<name>.<token>.partial", never "*.png"
_GIF_TICK_MS = 10  # GIF stores frame delays in hundredths of a second
_GIF_MIN_DELAY_MS = 20  # browsers play shorter delays as 100 ms


# ---------------------------------------------------------------- atomic files


@contextlib.contextmanager
def _user_os_errors(path: Path, verb: str) -> Iterator[None]:
    """Turn OS errors on our own file operations into one clear line for the user."""
    try:
        yield
    except OSError as err:
        reason = err.strerror or str(err)
        raise DreamreelError(f"cannot {verb} '{path}': {reason}") from err


def _reserve_temp(target: Path) -> Path:
    """Create an empty, uniquely named temp file beside `target` (same filesystem).

    Creating it ourselves proves the folder is writable before an encoder starts, and
    O_EXCL with mode 0o666 keeps the user's umask (mkstemp would make it 0600).
    """
    if target.parent.exists() and not target.parent.is_dir():
        raise DreamreelError(f"cannot write '{target}': '{target.parent}' is a file, not a folder")
    with _user_os_errors(target, "write"):
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}{_PARTIAL_SUFFIX}")
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
                return tmp
            except FileExistsError:
                continue


def _fsync_file(path: Path) -> None:
    with open(path, "r+b") as f:  # Windows refuses fsync on read-only handles
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    """Persist the rename itself; POSIX only (directories cannot be opened on Windows)."""
    if os.name == "nt":
        return
    # The file is already in place: a filesystem that cannot fsync folders is no failure.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path to fill; on success it replaces `path`, on any failure it is removed."""
    target = Path(path)
    tmp = _reserve_temp(target)
    try:
        yield tmp
        with _user_os_errors(target, "write"):
            _fsync_file(tmp)
            os.replace(tmp, target)
    except BaseException:  # also Ctrl-C: no temp litter either way
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with _atomic_path(path) as tmp:
        with _user_os_errors(Path(path), "write"):
            tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text atomically (no newline translation: the same bytes on every OS)."""
    _write_bytes_atomic(path, text.encode("utf-8"))


def write_csv_atomic(
    path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """Write a CSV table atomically, with "\\n" line endings."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Write `data` as indented JSON atomically (manifests are read by people too)."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def remove_partial_files(directory: str | os.PathLike) -> int:
    """Delete temp files a killed run left in `directory`; return how many.

    A hard kill (SIGKILL, power loss) skips the cleanup in `_atomic_path`; call this
    before resuming into a folder.
    """
    removed = 0
    for leftover in Path(directory).glob(f".*{_PARTIAL_SUFFIX}"):
        leftover.unlink(missing_ok=True)
        removed += 1
    return removed


# ---------------------------------------------------------------- images


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Return an HxWx3 uint8 view or copy: grayscale is repeated, alpha dropped."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        # Refuse rather than guess whether floats mean 0..1 or 0..255.
        raise ValueError(f"expected a uint8 image, got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 image, got {image.shape}")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image[:, :, :3]


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float RGB in 0..255 (any range) -> uint8: rounded, clipped."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def write_image_atomic(path: str | os.PathLike, rgb_uint8: np.ndarray) -> None:
    """Encode an RGB image (format from the suffix, PNG for frames) and write it atomically."""
    target = Path(path)
    bgr = cv2.cvtColor(np.ascontiguousarray(_as_rgb(rgb_uint8)), cv2.COLOR_RGB2BGR)
    try:
        ok, encoded = cv2.imencode(target.suffix or ".png", bgr)
    except cv2.error:
        ok = False
    if not ok:
        reason = f"OpenCV cannot encode '{target.suffix}' images"
        raise DreamreelError(f"cannot write '{target}': {reason}")
    _write_bytes_atomic(target, encoded.tobytes())


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read any image OpenCV decodes (jpg, png, webp, ...) as HxWx3 RGB uint8.

    Grayscale becomes RGB, alpha is dropped, 16-bit is scaled to 8-bit, and EXIF
    orientation is applied (phone photos come out upright).
    """
    source = Path(path)
    if not source.exists():
        raise DreamreelError(f"cannot read image '{source}': no such file")
    if source.is_dir():
        raise DreamreelError(f"cannot read image '{source}': it is a folder, not a file")
    with _user_os_errors(source, "read image"):
        data = np.fromfile(source, dtype=np.uint8)  # unlike imread, fine with non-ASCII paths
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise DreamreelError(f"cannot read image '{source}': not an image file OpenCV can decode")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def even_size(rgb: np.ndarray) -> np.ndarray:
    """Crop the last row/column if needed so width and height are even (yuv420p needs it)."""
    height, width = rgb.shape[:2]
    if height < 2 or width < 2:
        raise ValueError(f"image of {width}x{height} is too small for a video frame")
    return rgb[: height - height % 2, : width - width % 2]


def _fit_long_side(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    height, width = rgb.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return rgb
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)  # INTER_AREA: no aliasing


def contact_sheet(
    images: Iterable[np.ndarray],
    *,
    columns: int | None = None,
    gap: int = 4,
    background: tuple[int, int, int] = (16, 16, 16),
) -> np.ndarray:
    """Lay equally sized images out in a grid, row by row, `gap` pixels apart and around.

    `columns` defaults to ceil(sqrt(n)), the most nearly square grid.
    """
    tiles = [_as_rgb(image) for image in images]
    if not tiles:
        raise ValueError("contact_sheet needs at least one image")
    tile_h, tile_w = tiles[0].shape[:2]
    if any(tile.shape[:2] != (tile_h, tile_w) for tile in tiles):
        raise ValueError("contact_sheet needs images of one size")
    columns = columns or math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    sheet = np.empty(
        (rows * tile_h + (rows + 1) * gap, columns * tile_w + (columns + 1) * gap, 3), np.uint8
    )
    sheet[:] = background
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        top, left = gap + row * (tile_h + gap), gap + column * (tile_w + gap)
        sheet[top : top + tile_h, left : left + tile_w] = tile
    return sheet


# ---------------------------------------------------------------- video and GIF


def _check_fps(fps: float | Fraction) -> float | Fraction:
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
        frame = np.ascontiguousarray(even_size(_as_rgb(frame)))
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
    fps = _check_fps(fps)
    frames = iter(frames)
    first = even_size(_as_rgb(_first_frame(frames, path)))
    has_sound = audio_from is not None and _ffmpeg_header(audio_from, "read audio").audio
    with _atomic_path(path) as tmp:
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
    with _atomic_path(video) as muxed:
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

    fps = _check_fps(fps)
    frames = iter(frames)
    first = _first_frame(frames, path)
    palette_frames = [_gif_frame(frame, max_side, Image) for frame in _chain(first, frames)]
    options = {"loop": 0} if loop else {}  # NETSCAPE loop 0 = forever; absent = once
    with _atomic_path(path) as tmp:
        palette_frames[0].save(tmp, format="GIF", save_all=True,
                               append_images=palette_frames[1:],
                               duration=_gif_durations(len(palette_frames), fps), **options)
    return len(palette_frames)


def _gif_frame(frame: np.ndarray, max_side: int | None, image_module):
    """RGB -> 256-colour palette image. Fast octree: Pillow's default quantizer took
    ~0.4 s a frame on 320 px dreams (40 s for a 96-frame zoom), this ~10 ms, and the
    two look the same on DeepDream's busy textures."""
    rgb = _fit_long_side(_as_rgb(frame), max_side)
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
