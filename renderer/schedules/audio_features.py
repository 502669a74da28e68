"""Audio-reactive schedules: a music track's loudness, onsets and bands, one value a frame.

Any schedule may follow the track given as the spec's ``audio`` (``--audio PATH``):
``zoom.scale = "audio: 1.01 + 0.04*onset"``, ``dream.step_size = "audio: 0.01 + 0.02*rms"``
(renderer/schedules/keyframes.py, renderer/schedules/expressions.py). The features, all in 0..1:

- ``rms``: loudness, the root mean square of the samples;
- ``onset``: onset strength, the spectral flux half-wave rectified: summed over the
  frequency bins, how much the log-compressed magnitude ``log(1 + 100|X|)`` rose since
  the previous window (a drum hit or a new note rises, a fading one counts nothing);
- ``low``, ``mid``, ``high``: the spectrum's RMS amplitude below 200 Hz, from 200 to
  2000 Hz and above 2000 Hz;

and the beats (renderer/schedules/beats.py: librosa, an extra, loaded only when a
schedule reads one of these; without it that schedule is refused in one line):

- ``beat``: 1 on the frame of each beat, decaying as ``onset`` does (below);
- ``downbeat``: the same on the first beat of each bar of 4;
- ``beat_phase``: 0 on a beat's frame, rising linearly to 1 at the next beat's;
- ``bar_phase``: the same over a bar, 0 on a downbeat (``beat_phase`` of each beat adds 1/4);
- ``tempo``: beats a minute (not 0..1), the median of the beat intervals of a bar around.

How they are computed, numpy only: the first audio stream is decoded with PyAV (anything
FFmpeg reads: mp3, wav, m4a/aac, ogg/opus, flac...), mixed to mono at 22050 Hz and scaled
to a peak of 1 (so the log compression treats quiet and loud masters alike). Hann windows
of 1024 samples (46 ms), one every 256 samples (11.6 ms), centred on their time, give one
value of each feature per window. Frame t of the render covers [t/fps, (t+1)/fps): its
value is the mean over the windows centred in it (rms and bands) or their maximum (onset:
a beat inside a frame is not averaged away); at rates above 86 fps a frame without a
window takes the nearest one. Each feature is then smoothed lightly, the same at any fps:
it rises at once (a beat shows on its own frame) and falls with a 0.1 s time constant
(``y = max(x, x + r (y_prev - x))``, ``r = exp(-1 / (0.1 fps))``), so motion decays over
a beat instead of flickering; and divided by its maximum over the track: 1 is the track's
peak, 0 silence (a silent track reads 0 everywhere). Frames past the track's end read 0.
A beat at time t is on frame ``floor(t * fps)``; ``beat`` and ``downbeat`` are smoothed the
same way (not normalised: each beat reads 1), the phases and tempo are not.

A track sets a render's length: a mode whose length is ``frames`` (zoom) renders
``round(duration * fps)`` frames, a 30 s track at 12 fps 360, whatever ``frames`` says;
``max_frames`` (``--frames N`` on the command line) keeps only the first N, a preview that
the same command without ``--frames`` extends. Modes whose length comes from their
material keep it (video: the clip; progress: its snapshots; morph: its photos), and the
track is cut or padded to them. The MP4 carries the track (a video's own sound first).

Features are computed once per track and fps and kept in memory for the process (so are
the decoded samples of the last tracks); the track's size and SHA-256 are part of the
render's identity (renderer/rendering/schedule_binding.py), so a resume over another track is
refused like any other change.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..media.audio import AudioSource
from ..media.container import open_container
from ..media.input_identity import input_identity
from ..runtime.errors import DreamreelError, InputDamaged
from .beats import beat_features, track_beats
from .expressions import AUDIO_NAMES, BEAT_NAMES

if TYPE_CHECKING:
    from ..media.audio import AudioSource

SAMPLE_RATE = 22050
WINDOW = 1024  # samples: 46 ms
HOP = 256  # samples: 11.6 ms between windows
RELEASE_S = 0.1  # the smoothing's fall time constant
BANDS = {"low": (0.0, 200.0), "mid": (200.0, 2000.0), "high": (2000.0, math.inf)}
_FLUX_GAIN = 100.0  # log(1 + 100 |X|): -40 dB of the peak is where it bends
_CHUNK = 2048  # windows transformed at once: memory stays flat
_VERB = "read audio track"


@dataclass(frozen=True, eq=False)
class AudioFeatures:
    """A track's features at one fps: arrays of one value a frame, each in 0..1."""

    path: str
    fps: float
    duration: float  # seconds of sound decoded
    # name (AUDIO_NAMES) -> float64 array, frames long; the beats computed when first read
    features: Mapping[str, np.ndarray]

    @property
    def frames(self) -> int:
        return len(self.features["rms"])

    def at(self, frame: float, names: Iterable[str] = AUDIO_NAMES) -> dict[str, float]:
        """The features ``names`` (every one by default; other names are left out) at
        ``frame`` (fractional frames: the frame they fall in; before the track or after
        it: 0)."""
        index = math.floor(frame)
        wanted = [name for name in names if name in AUDIO_NAMES]
        if 0 <= index < self.frames:
            return {name: float(self.features[name][index]) for name in wanted}
        return dict.fromkeys(wanted, 0.0)


class FeatureTable(Mapping[str, np.ndarray]):
    """Every feature by name: the beats' computed on first reading one (librosa loads
    then, or the schedule reading it is refused in one line)."""

    def __init__(self, plain: dict[str, np.ndarray], beats: Callable[[str], dict]) -> None:
        self._plain, self._beats = plain, beats
        self._computed: dict[str, np.ndarray] | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self._plain:
            return self._plain[name]
        if name not in BEAT_NAMES:
            raise KeyError(name)
        if self._computed is None:
            self._computed = self._beats(name)
        return self._computed[name]

    def __iter__(self) -> Iterator[str]:
        return iter(AUDIO_NAMES)

    def __len__(self) -> int:
        return len(AUDIO_NAMES)


@dataclass(frozen=True, eq=False)
class DecodedTrack:
    samples: np.ndarray  # mono float32 at SAMPLE_RATE
    origin: float  # container time (s) of the first sample: where the MP4's sound starts
    stream: int  # the audio stream's index in the container

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def check_track(path: str | os.PathLike) -> None:
    """Before TensorFlow loads: the track opens, has an audio stream and its first
    packets decode to sound (cheap: the whole track is decoded later, once)."""
    import av

    with open_container(Path(path), _VERB) as container:
        stream = _audio_stream(container, path)
        for packet in container.demux(stream):
            try:
                if packet.decode():
                    return
            except av.FFmpegError:
                continue
    raise InputDamaged(f"cannot {_VERB} '{path}': it holds no sound")


def track_source(path: str | os.PathLike) -> AudioSource:
    """What the MP4 writer muxes: the whole track from its first sample."""
    track = decode_track(path)
    return AudioSource(str(path), start=0.0, origin=track.origin, stream=track.stream)


def track_identity(path: str | os.PathLike) -> dict[str, Any]:
    """The track by content (size and SHA-256), not by path or time: for the spec hash."""
    identity = input_identity(path) or {}
    return {key: identity.get(key) for key in ("size", "sha256", "hashed")}


# ---------------------------------------------------------------- features


def load_features(path: str | os.PathLike, fps: float) -> AudioFeatures:
    """The features of the track at ``path`` at ``fps`` (cached for the process)."""
    stat = _stat(path)
    return _features(str(path), stat.st_size, stat.st_mtime_ns, float(fps))


@functools.lru_cache(maxsize=8)
def _features(path: str, size: int, mtime_ns: int, fps: float) -> AudioFeatures:
    track = decode_track(path)
    per_window = window_features(track.samples)
    frames = round(track.duration * fps)
    plain = {
        name: normalise(smooth(per_frame(values, fps, frames, name), fps))
        for name, values in per_window.items()
    }

    def beats(name: str) -> dict[str, np.ndarray]:
        grid = track_beats(
            per_window["onset"],
            per_window["low"],
            per_window["high"],
            rate=SAMPLE_RATE,
            hop=HOP,
            name=name,
        )
        out = beat_features(grid, fps, frames)
        for pulse in ("beat", "downbeat"):
            out[pulse] = smooth(out[pulse], fps)
        return out

    return AudioFeatures(path, fps, track.duration, FeatureTable(plain, beats))


def window_features(samples: np.ndarray) -> dict[str, np.ndarray]:
    """One value of each feature per window (centred every HOP samples), not smoothed."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    x = samples.astype(np.float64) / peak if peak > 0 else samples.astype(np.float64)
    padded = np.pad(x, (WINDOW // 2, WINDOW // 2))
    count = len(x) // HOP + 1
    windows = np.lib.stride_tricks.sliding_window_view(padded, WINDOW)[::HOP][:count]
    hann = np.hanning(WINDOW)
    frequencies = np.fft.rfftfreq(WINDOW, 1.0 / SAMPLE_RATE)
    masks = {
        name: (frequencies > 0) & (frequencies >= low) & (frequencies < high)
        for name, (low, high) in BANDS.items()
    }
    out = {name: np.empty(count) for name in ("rms", "onset", *BANDS)}
    previous = None  # the last window's log magnitudes, across chunks
    for begin in range(0, count, _CHUNK):
        chunk = windows[begin : begin + _CHUNK]
        out["rms"][begin : begin + len(chunk)] = np.sqrt(np.mean(chunk**2, axis=1))
        # |X| of a full-scale sine with a Hann window is WINDOW / 4: scaled to amplitude.
        magnitude = np.abs(np.fft.rfft(chunk * hann, axis=1)) / (WINDOW / 4)
        power = magnitude**2
        for name, mask in masks.items():
            out[name][begin : begin + len(chunk)] = np.sqrt(np.mean(power[:, mask], axis=1))
        compressed = np.log1p(_FLUX_GAIN * magnitude)
        before = np.vstack([compressed[:1] if previous is None else previous, compressed[:-1]])
        out["onset"][begin : begin + len(chunk)] = np.maximum(compressed - before, 0).sum(axis=1)
        previous = compressed[-1:]
    return out


def per_frame(values: np.ndarray, fps: float, frames: int, name: str) -> np.ndarray:
    """Window values -> one a frame: the mean of the windows centred in frame t's
    [t/fps, (t+1)/fps), their maximum for onset; a frame with none: the nearest window."""
    centres = np.arange(len(values)) * (HOP / SAMPLE_RATE)
    edges = np.searchsorted(centres, np.arange(frames + 1) / fps, side="left")
    starts, ends = edges[:-1].copy(), edges[1:].copy()
    empty = ends <= starts
    nearest = np.clip(
        np.rint((np.arange(frames) + 0.5) / fps * SAMPLE_RATE / HOP), 0, len(values) - 1
    ).astype(int)
    starts[empty], ends[empty] = nearest[empty], nearest[empty] + 1
    if name == "onset":
        return np.array([values[a:b].max() for a, b in zip(starts, ends)])
    sums = np.concatenate([[0.0], np.cumsum(values)])
    return (sums[ends] - sums[starts]) / (ends - starts)


def smooth(values: np.ndarray, fps: float) -> np.ndarray:
    """Instant rise, a fall with a RELEASE_S time constant (the same at any fps)."""
    r = math.exp(-1.0 / (RELEASE_S * fps))
    out = np.array(values, dtype=np.float64)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i] + r * (out[i - 1] - out[i]))
    return out


def normalise(values: np.ndarray) -> np.ndarray:
    """Divided by the maximum: 0..1 over the track (all 0 when silent)."""
    peak = float(values.max()) if len(values) else 0.0
    return values / peak if peak > 0 else np.zeros_like(values)


# ---------------------------------------------------------------- decoding


def decode_track(path: str | os.PathLike) -> DecodedTrack:
    """The first audio stream, mono float32 at SAMPLE_RATE (cached for the process)."""
    stat = _stat(path)
    return _decode(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=2)
def _decode(path: str, size: int, mtime_ns: int) -> DecodedTrack:
    import av

    chunks: list[np.ndarray] = []
    origin = None
    with open_container(Path(path), _VERB) as container:
        stream = _audio_stream(container, path)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        for packet in container.demux(stream):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue  # a damaged packet: its samples are missing
            for frame in frames:
                if origin is None and frame.pts is not None and frame.time_base is not None:
                    origin = float(frame.pts * frame.time_base)
                chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
        index = stream.index
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if not len(samples):
        raise InputDamaged(f"cannot {_VERB} '{path}': it holds no sound")
    return DecodedTrack(samples, origin or 0.0, index)


def _audio_stream(container, path):
    if not container.streams.audio:
        raise InputDamaged(f"cannot {_VERB} '{path}': it has no audio stream")
    return container.streams.audio[0]


def _stat(path: str | os.PathLike) -> os.stat_result:
    source = Path(path)
    try:
        if source.is_dir():
            raise DreamreelError(f"cannot {_VERB} '{source}': it is a folder, not a file")
        return source.stat()
    except FileNotFoundError:
        raise DreamreelError(f"cannot {_VERB} '{source}': no such file") from None
    except OSError as error:
        raise DreamreelError(f"cannot {_VERB} '{source}': {error.strerror or error}") from None
