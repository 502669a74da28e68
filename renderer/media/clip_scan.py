"""One clip's video stream as its packets describe it: the scan made once on opening.

`scan_clip` lists the video packets without decoding them (timestamps, sizes, the edit
list's discard flags; only the first picture is decoded, for its rotation) and notes
where they end short of the header's promise. The stream facts it reads (sample aspect
ratio, display size, the pixel limit on both) are here too, and whether FFmpeg can
decode a stream: a video in a codec it cannot decode is refused when the clip is opened,
and sound it cannot decode is not carried (`sound_stream`, with the reason).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..runtime.errors import InputDamaged
from .avi_index import first_misplaced
from .container import error_reason, open_container, video_stream
from .damage import Shortfall, demuxer_log, find_shortfall
from .limits import DEFAULT_MAX_INPUT_PIXELS, check_input_pixels
from .timeline import Timeline, believable_count, build_timeline, tidy_rate

_SEEKABLE_FORMATS = frozenset({"mov", "mp4", "matroska", "webm", "avi", "nut"})


@dataclass(frozen=True)
class ClipScan:
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
    packets: int  # video packets read (pictures, dropped frames, untimed)
    shortfall: Shortfall | None = None  # the packets end before the header says
    audio_note: str | None = None  # why the clip's sound is not carried (None: it is, or none)


def promised_frames(scan: ClipScan) -> tuple[int, bool]:
    """(frames the header promises on the clip's rate, whether it says how many): the
    frames read, plus what a shortfall misses (at least one: a demuxing error alone).

    A header that promises far more than the packets could hold (20 million frames from
    12 packets) is not believed: the count is unknown and the clip ends where its
    packets do, as a player's would, with the shortfall's reason.
    """
    read = scan.timeline.frame_count
    if scan.shortfall is None:
        return read, True
    missing = round(scan.shortfall.missing_seconds * scan.timeline.rate)
    if not believable_count(read + missing, scan.packets):
        return read + 1, False
    return read + max(1, missing), missing > 0


def scan_clip(source: Path, max_pixels: int | None = DEFAULT_MAX_INPUT_PIXELS) -> ClipScan:
    """List the video packets (no decoding but the first picture, for its rotation)."""
    import av

    container = open_container(source)
    try:
        stream = video_stream(container, source)
        check_decodable(container, stream, source)
        sar = stream_sar(stream)
        check_clip_pixels(
            source, stream.codec_context.width, stream.codec_context.height, sar, max_pixels
        )  # before any picture is decoded
        time_base = stream.time_base or Fraction(1, 90000)
        pictures: list[int] = []  # stamps (stream time base) of pictures, of dropped frames
        dropped: list[int] = []
        untimed = 0
        end = None
        first_frame = None
        packets_read, error = 0, None  # to hold against the header's promise
        placed: list[tuple[int, int]] | None  # (stamp, pos)
        placed = [] if "avi" in container.format.name.split(",") else None
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
                error = error_reason(err)  # clip, and a render of more says it is short
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
            raise InputDamaged(
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
            check_frame_count(source, timeline, len(pictures) + len(dropped))
            picture_pts = tuple(sorted(set(pictures)))
        sound, audio_note = sound_stream(container)
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
        return ClipScan(
            timeline=timeline,
            picture_pts=picture_pts,
            time_base=time_base,
            stream_index=stream.index,
            width=first_frame.width,
            height=first_frame.height,
            rotation=rotation,
            sar=sar,
            seekable=bool(set(container.format.name.split(",")) & _SEEKABLE_FORMATS),
            audio_stream=None if sound is None else sound.index,
            packets=packets_read,
            shortfall=shortfall,
            audio_note=audio_note,
        )
    finally:
        container.close()


def check_frame_count(source: Path, timeline: Timeline, packets: int) -> None:
    """Refuse a clip whose timestamps claim far more frames than its packets could hold
    (one stamped a month ahead): nothing downstream is sized to such a count."""
    if believable_count(timeline.frame_count, packets):
        return
    raise InputDamaged(
        f"cannot read video '{source}': its timestamps span {_span_words(timeline.duration)} "
        f"({timeline.frame_count} frames at {float(timeline.rate):g} fps) but it holds only "
        f"{packets} video packets (over 1000 frames each): a damaged timestamp, or "
        f"pictures held for very long; re-stamp it (ffmpeg -i IN -vf setpts=N/FRAME_RATE/TB "
        f"OUT), make it constant-rate (ffmpeg -i IN -fps_mode cfr OUT) or use another copy"
    )


def _span_words(seconds: Fraction | float) -> str:
    """A duration as people say it: "30 days", "2.5 hours", "14 s"."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{float(seconds) / size:.3g} {unit}"
    return f"{float(seconds):.3g} s"


def check_decodable(container, stream, source: Path, verb: str = "read video") -> None:
    """Refuse a video stream FFmpeg demuxes but has no decoder for (PyAV gives it no
    codec context), as a player says it cannot decode it: before any picture is read."""
    if stream.codec_context is None:
        raise InputDamaged(f"cannot {verb} '{source}': {decoder_problem(container, stream)}")


def sound_stream(container):
    """(the first audio stream FFmpeg can decode, None), or (None, why no sound is carried:
    None where the clip has no audio stream)."""
    problem = None
    for stream in container.streams.audio:
        found = decoder_problem(container, stream)
        if found is None:
            return stream, None
        problem = problem or found
    return None, problem and f"sound not carried: {problem}"


def decoder_problem(container, stream) -> str | None:
    """Why FFmpeg cannot decode a stream: no decoder for its codec, or (audio) one that
    refuses to open on the stream's parameters (a damaged header); None: it can."""
    import av

    codec = stream.codec_context
    if codec is None:
        named = codec_words(container, stream)
        return f"its {stream.type} is in a codec this FFmpeg cannot decode" + (
            f" ({named})" if named else ""
        )
    if stream.type != "audio":  # opened by the first decode, where its errors are caught
        return None
    try:
        codec.open(strict=False)
    except av.FFmpegError as err:
        return f"FFmpeg's {codec.name} decoder refuses it ({error_reason(err)})"
    return None


def codec_words(container, stream) -> str | None:
    """The codec FFmpeg names for a stream ("hevc"), else the tag in the file ("QQQQ"),
    as `ffprobe` shows them; None where it says neither (an unknown Matroska codec ID)."""
    import av.logging

    old, old_skip = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.INFO)  # the level av_dump_format writes at
    av.logging.set_skip_repeated(False)
    try:
        text = container.dumps_format()
    except (av.FFmpegError, ValueError):
        return None
    finally:
        av.logging.set_level(old)
        av.logging.set_skip_repeated(old_skip)
    line = re.search(
        rf"Stream #\d+:{stream.index}(?:\[\w+\])?(?:\([^)\n]*\))?: \w+: ([^,\n]*)", text
    )
    if line is None:
        return None
    described = line.group(1).strip()
    name = described.split(" ", 1)[0]
    if name and name != "none":
        return name
    tag = re.search(r"\((.+?) / 0x[0-9a-fA-F]+\)", described)
    return tag.group(1).strip() if tag and tag.group(1).strip() else None


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
