"""A clip's sound carried into the rendered MP4: trimmed to the range, in sync.

`AudioSource` says where the sound is (a file, and the time in it where the render's
frame 0 is); `AudioTrack` decodes it alongside the video being written and encodes it
as AAC, sample-exact: the output's sound at time u is the source's at time
`origin + start + u`. Sound that starts later than the video keeps its offset (silence
before it), a gap stays a gap, and the track lasts exactly as long as the video (cut,
or padded with silence). It is always re-encoded: a copied AAC stream could only be cut
at its packets (21 ms apart, plus the encoder's priming), not at the range's first
sample.

Sound FFmpeg cannot decode (no decoder for its codec, or one that refuses the stream) is
not carried: `has_sound` says False, and the reader gives such a clip no `AudioSource`
(renderer.media.clip_scan.sound_stream, with the reason). A damaged packet's samples are
missing from the track: silence there.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..runtime.errors import InputDamaged
from .clip_scan import decoder_problem, sound_stream
from .container import open_container

_AAC_RATES = frozenset(
    {96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350}
)
_AAC_BIT_RATE = 192_000
_JITTER_S = 0.002  # timestamps this close to where the last frame ended are contiguous
_ENCODER_FRAME = 1024  # samples in each AAC frame


@dataclass(frozen=True)
class AudioSource:
    """The sound of `path` to put under a render's frames.

    `start`: seconds on the clip's timeline (0 = its first video picture) of the render's
    frame 0; `origin`: the container time of that first picture (audio and video share
    the container's clock); `stream`: the audio stream's index in the container (None:
    the first audio stream).
    """

    path: str
    start: float = 0.0
    origin: float = 0.0
    stream: int | None = None

    @property
    def container_start(self) -> float:
        """Container time (seconds) of the output's first sample."""
        return self.origin + self.start

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioSource:
        """The inverse of to_dict (also reads manifests that stored only path and start)."""
        if not isinstance(data, dict) or not data.get("path"):
            raise ValueError(f"an audio source needs a path, got {data!r}")
        stream = data.get("stream")
        return cls(
            path=str(data["path"]),
            start=float(data.get("start", 0.0)),
            origin=float(data.get("origin", 0.0)),
            stream=None if stream is None else int(stream),
        )


def has_sound(audio: AudioSource | str | os.PathLike) -> bool:
    """Whether the source exists and holds an audio stream FFmpeg can decode: the
    source's `stream`, or the first such one (errors: one clear line)."""
    path = audio.path if isinstance(audio, AudioSource) else audio
    index = audio.stream if isinstance(audio, AudioSource) else None
    with open_container(Path(path), "read audio") as container:
        streams = container.streams
        if index is not None and 0 <= index < len(streams) and streams[index].type == "audio":
            return decoder_problem(container, streams[index]) is None
        if index is not None:  # no such audio stream: AudioTrack says so
            return bool(streams.audio)
        return sound_stream(container)[0] is not None


class AudioTrack:
    """AAC audio for an MP4 being written: call `advance_to(t)` after each video frame
    (keeps the streams interleaved) and `finish(duration)` once at the end."""

    def __init__(self, output, source: AudioSource):
        import av

        self._av = av
        self.source = source
        self._input = open_container(Path(source.path), "read audio")
        streams = self._input.streams
        try:
            self._in = streams[source.stream] if source.stream is not None else streams.audio[0]
        except IndexError:
            self._input.close()
            raise InputDamaged(
                f"cannot read audio '{source.path}': it has no audio stream"
            ) from None
        if self._in.type != "audio":
            self._input.close()
            raise InputDamaged(
                f"cannot read audio '{source.path}': stream {source.stream} is not audio"
            )
        problem = decoder_problem(self._input, self._in)  # opens the decoder
        if problem is not None:
            self._input.close()
            raise InputDamaged(f"cannot read audio '{source.path}': {problem}")
        channels = self._in.codec_context.channels or 2
        self.layout = "mono" if channels == 1 else "stereo"
        in_rate = self._in.codec_context.sample_rate or 48000
        self.rate = in_rate if in_rate in _AAC_RATES else 48000
        self._out = output.add_stream("aac", rate=self.rate)
        self._out.layout = self.layout
        self._out.bit_rate = _AAC_BIT_RATE
        self._out.codec_context.time_base = Fraction(1, self.rate)
        self._output = output
        self._resampler = av.AudioResampler(format="fltp", layout=self.layout, rate=self.rate)
        # The one buffer: the encoder frame being laid, from output sample _encoded on.
        # Sound is laid into it at its timestamp and never past the video's end so far,
        # so memory stays one frame however far ahead a timestamp jumps.
        channels = 1 if self.layout == "mono" else 2
        self._frame = np.zeros((channels, _ENCODER_FRAME), np.float32)
        self._filled = 0  # samples of _frame laid
        self._encoded = 0  # samples handed to the encoder so far
        self._pending: tuple[int, np.ndarray] | None = None  # decoded, not reached yet
        self._chunks = self._decode()

    # the output timeline: sample s plays at output time s / rate

    def _decode(self):
        """Source audio as (first output sample, (channels, n) float32 samples)."""
        av = self._av
        start = self.source.container_start
        if start > 1.0:  # seek a second early; samples before `start` are cut below
            try:
                self._input.seek(int((start - 1.0) / self._in.time_base), stream=self._in)
            except av.FFmpegError:
                self._input.seek(0)
        position = None  # output sample where the next decoded sample goes
        for packet in self._input.demux(self._in):
            try:
                frames = packet.decode()
            except av.FFmpegError:  # any error FFmpeg's decoder returns for the packet
                continue  # a damaged packet: its samples are missing (silence)
            for frame in frames:
                if frame.pts is not None and frame.time_base is not None:
                    stamped = round((float(frame.pts * frame.time_base) - start) * self.rate)
                    if position is None or abs(stamped - position) > _JITTER_S * self.rate:
                        position = stamped
                for converted in self._resampler.resample(frame):
                    samples = converted.to_ndarray().astype(np.float32, copy=False)
                    if position is None:
                        position = -round(start * self.rate)
                    yield position, samples
                    position += samples.shape[1]
        for converted in self._resampler.resample(None):
            if position is not None:
                samples = converted.to_ndarray().astype(np.float32, copy=False)
                yield position, samples
                position += samples.shape[1]

    @property
    def _laid(self) -> int:
        """Output samples laid so far: encoded, or in the frame being filled."""
        return self._encoded + self._filled

    def _lay_until(self, total: int) -> None:
        """Lay the sound on the output timeline up to sample `total`, and no further:
        silence where there is none, and sound stamped later waits for a later call."""
        while self._laid < total:
            chunk, self._pending = self._pending or next(self._chunks, None), None
            if chunk is None:  # the source has ended: silence to `total`
                self._lay(total - self._laid)
                return
            position, samples = chunk
            if position > self._laid:  # starts late, or a gap: silence up to it
                self._lay(min(position, total) - self._laid)
            if position >= total:  # beyond the video so far: kept until it gets there
                self._pending = chunk
                return
            skip = self._laid - position  # before the range, or overlapping
            if skip >= samples.shape[1]:
                continue
            taken = min(samples.shape[1] - skip, total - self._laid)
            self._lay(taken, samples[:, skip : skip + taken])
            if skip + taken < samples.shape[1]:
                self._pending = (self._laid, samples[:, skip + taken :])

    def _lay(self, count: int, samples: np.ndarray | None = None) -> None:
        """Lay `count` samples (None: silence) at the end of what is laid, encoding each
        frame as it fills."""
        done = 0
        while done < count:
            n = min(_ENCODER_FRAME - self._filled, count - done)
            laid = slice(self._filled, self._filled + n)
            self._frame[:, laid] = 0.0 if samples is None else samples[:, done : done + n]
            self._filled += n
            done += n
            if self._filled == _ENCODER_FRAME:
                self._encode_frame()

    def _encode_frame(self) -> None:
        """Hand the laid samples of the frame to the encoder."""
        frame = self._av.AudioFrame.from_ndarray(
            np.ascontiguousarray(self._frame[:, : self._filled]), format="fltp", layout=self.layout
        )
        frame.sample_rate = self.rate
        frame.pts = self._encoded
        frame.time_base = Fraction(1, self.rate)
        for packet in self._out.encode(frame):
            self._output.mux(packet)
        self._encoded += self._filled
        self._filled = 0

    def advance_to(self, seconds: float) -> None:
        """Encode the sound up to output time `seconds` (whole encoder frames)."""
        self._lay_until(round(seconds * self.rate))

    def finish(self, seconds: float) -> None:
        """End the track at exactly `seconds` (the video's duration) and close the source."""
        total = round(seconds * self.rate)
        try:
            self._lay_until(total)
            self._filled = max(0, min(self._filled, total - self._encoded))
            if self._filled:  # the last, shorter frame
                self._encode_frame()
            for packet in self._out.encode(None):
                self._output.mux(packet)
        finally:
            self.close()

    def close(self) -> None:
        self._chunks.close()
        self._input.close()
