"""How much of a clip its header promises, against what could be read: damage found
while listing the packets (renderer.media.clip_scan scans them once on opening).

A damaged or truncated Matroska or AVI file does not fail: FFmpeg's demuxer logs a line
("File ended prematurely", "invalid as first byte of an EBML number") and the packets
simply end. Only the header's own count (AVI, MP4: the index; Matroska: the track's
DURATION tag) tells that frames are missing, and the demuxer's log line tells why.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

# Slack between the header's promise and the packets read before a clip counts as cut
# short: headers round, and a last packet without a duration ends a frame early.
_SLACK_PACKETS = 1
_SLACK_FRAMES = 2
# Containers whose header counts the video's packets (MP4's sample table), and those whose
# header gives its length in time (Matroska's DURATION; AVI's frame count on its constant
# rate: it counts dropped frames, which its demuxer does not give as packets). Others
# (MPEG-TS, GIF...) only estimate their length: they are judged by demuxing errors alone.
_COUNTED = frozenset({"mov", "mp4"})
_TIMED = frozenset({"matroska", "webm", "avi"})


@dataclass(frozen=True)
class Shortfall:
    """The clip's packets end before its header says the video does."""

    missing_seconds: float  # how much of the video the header promises beyond the
    # packets (0: damage seen, but the header gives no length)
    reason: str  # the demuxer's words, or what the header says


@contextmanager
def demuxer_log():
    """Collect FFmpeg's log lines (warnings and errors) of this thread meanwhile: the
    only place a demuxer says why packets stopped. The level is restored after."""
    import av.logging

    old, old_skip = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.WARNING)
    av.logging.set_skip_repeated(False)  # the same file opened twice says it twice
    try:
        with av.logging.Capture(local=True) as lines:
            yield lines
    finally:
        av.logging.set_level(old)
        av.logging.set_skip_repeated(old_skip)


def find_shortfall(
    container,
    stream,
    *,
    packets_read: int,
    end_seconds: float | None,
    rate: Fraction,
    error: str | None,
    log: list,
) -> Shortfall | None:
    """Compare what was read (``packets_read`` packets ending at ``end_seconds`` on the
    stream's clock) with the header's promise; ``error`` is a demuxing error's text, which
    alone means damage. None: the clip is whole as far as its header can tell."""
    frame = float(1 / rate) if rate else 0.04
    formats = set(container.format.name.split(","))
    if formats & _COUNTED and stream.frames and stream.frames > 0:
        short = packets_read + _SLACK_PACKETS < stream.frames
    elif formats & _TIMED:
        promised = promised_seconds(container, stream, rate)
        short = (
            promised is not None
            and end_seconds is not None
            and promised - end_seconds > _SLACK_FRAMES * frame
        )
    else:
        short = False
    missing_seconds = 0.0
    if short or error is not None:
        promised = promised_seconds(container, stream, rate)
        if promised is not None and end_seconds is not None:
            missing_seconds = max(frame if short else 0.0, promised - end_seconds)
    if missing_seconds <= 0 and error is None:
        return None
    reason = (
        error
        or demuxer_reason(log, container.format.name)
        or ("the packets end before the header says the video does (truncated or damaged)")
    )
    return Shortfall(missing_seconds, reason)


def promised_seconds(container, stream, rate: Fraction) -> float | None:
    """The video's length by its header: AVI's frame count on its constant rate, the
    stream's duration (MP4's track), Matroska's DURATION tag, or the segment's duration
    when the video is its only stream. None where the header does not say."""
    formats = set(container.format.name.split(","))
    if "avi" in formats and stream.frames and rate:
        return float(stream.frames / rate)
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    seconds = _clock_seconds(tag) if tag else None
    if seconds is not None:
        return seconds
    if formats & _TIMED and container.duration and len(container.streams) == 1:
        import av

        return container.duration / av.time_base
    return None


def demuxer_reason(log: list, format_name: str) -> str | None:
    """The demuxer's last complaint (its own lines first, then any error line)."""
    import av.logging

    own = [text for level, name, text in log if name == format_name]
    errors = [text for level, name, text in log if level <= av.logging.ERROR]
    for text in reversed(own or errors):
        text = text.strip()
        if text:
            return text
    return None


def _clock_seconds(text: str) -> float | None:
    """ "00:00:04.000000000" -> 4.0."""
    match = re.fullmatch(r"\s*(\d+):(\d{1,2}):(\d{1,2}(?:\.\d*)?)\s*", str(text))
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
