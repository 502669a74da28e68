"""Opening a media file with PyAV: the errors a user can cause as one line each.

The reader (clips), the audio track reader and the probes all open files here.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..runtime.atomic_files import user_os_errors
from ..runtime.errors import DreamreelError, InputDamaged


def open_container(path: str | os.PathLike, verb: str = "read video"):
    """av.open for reading, with the errors a user can cause as one DreamreelError line."""
    import av

    source = Path(path)
    with user_os_errors(source, verb):  # e.g. a name too long for the file system
        found, is_dir = source.exists(), source.is_dir()
    if not found:
        raise DreamreelError(f"cannot {verb} '{source}': no such file")
    if is_dir:
        raise DreamreelError(f"cannot {verb} '{source}': it is a folder, not a file")
    try:
        # Absolute: FFmpeg reads a relative "take:2.mp4" as the protocol "take".
        container = av.open(str(source.absolute()), mode="r", metadata_errors="replace")
    except PermissionError as err:
        raise DreamreelError(f"cannot {verb} '{source}': permission denied") from err
    except (av.FFmpegError, OSError, ValueError) as err:
        raise InputDamaged(
            f"cannot {verb} '{source}': not a media file ffmpeg can read (or a damaged one)"
        ) from err
    if container.format.name == "tty":  # FFmpeg plays longer text files as ANSI art
        container.close()
        raise InputDamaged(f"cannot {verb} '{source}': it is a text file, not a video")
    return container


def video_stream(container, source: Path, verb: str = "read video"):
    """The first video stream that is not cover art."""
    from av.stream import Disposition

    for stream in container.streams.video:
        if Disposition.attached_pic not in stream.disposition:
            return stream
    container.close()
    raise InputDamaged(f"cannot {verb} '{source}': it has no video stream")


def error_reason(err: Exception) -> str:
    """FFmpeg's words for an error, without the errno and the function name."""
    return getattr(err, "strerror", None) or _error_line(err)


def _error_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[-1] if text else type(err).__name__
