"""Beats, bars and tempo of a music track, for the audio features ``beat``, ``beat_phase``,
``bar_phase``, ``downbeat`` and ``tempo`` (renderer/schedules/audio_features.py).

The beats are tracked by librosa (``librosa.beat.beat_track``: a tempo estimate from the
onset envelope's autocorrelation, then dynamic programming for beats that fall on strong
onsets and keep that tempo) on the onset envelope audio_features.py computes (the spectral
flux, one value every 11.6 ms). librosa is an extra (``pip install 'dreamreel[beats]'``,
with numba and llvmlite): it loads only when a schedule reads one of these features, and
it is fed decoded samples' features, never files (``trim=False``: its trimming drops
real first beats of short tracks). Each beat is then moved to the strongest onset within a
sixteenth note (a quarter of the median beat interval) of it: the tracker keeps a steady
grid and misplaces the first and last beats, a drummer does not; and leading or trailing
beats weaker than a tenth of the median beat (the grid going on into silence) are dropped.

Downbeats: librosa finds none. Here a bar is 4 beats and starts on the beat whose bar
position (1st, 2nd, 3rd or 4th beat of 4) has, averaged over the track, the most bass
(below 200 Hz) over treble (above 2 kHz) in the 0.1 s after it: a kick starts a bar, a
snare or a clap (2 and 4) does not; in a track where every beat is alike it is the first.

On the render's frames (frame f covers [f/fps, (f+1)/fps)): a beat at time t lands on
frame ``floor(t * fps)``, the frame it sounds in (the frame where ``onset`` peaks for it).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from ..runtime.errors import DreamreelError

BEATS_PER_BAR = 4
QUIET = 0.1  # first and last beats weaker than this share of the median beat: dropped
ACCENT_S = 0.1  # bass and treble are read over this long after each beat
INSTALL = "pip install 'dreamreel[beats]'"


@dataclass(frozen=True)
class BeatGrid:
    """The beats of a track: their times (s), which one is the first downbeat and the
    tempo librosa estimated for the whole track (BPM; 0 when it found no beat)."""

    times: np.ndarray
    first_downbeat: int  # index into times: 0..BEATS_PER_BAR-1 (0 without beats)
    tempo: float


def beats_available() -> bool:
    """Whether librosa is installed (without importing it)."""
    try:
        return importlib.util.find_spec("librosa") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["librosa"] is None
        return False


def librosa_for(name: str):
    """librosa, or one line naming the feature that needs it and the extra to install."""
    try:
        import librosa  # lazy: librosa brings numba and llvmlite, for beat features only
    except ImportError:
        raise DreamreelError(
            f'a schedule reads "{name}", and beat tracking needs librosa: {INSTALL}'
        ) from None
    return librosa


def track_beats(
    onset: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    *,
    rate: int,
    hop: int,
    name: str = "beat",
) -> BeatGrid:
    """The beats of a track from its per-window onset strength and low and high band
    amplitudes (windows ``hop`` samples apart at ``rate``, window i centred on i*hop)."""
    librosa = librosa_for(name)
    envelope = np.asarray(onset, np.float64)
    if len(envelope) < 2 or not envelope.any():
        return BeatGrid(np.zeros(0), 0, 0.0)
    tempo, windows = librosa.beat.beat_track(
        onset_envelope=envelope, sr=rate, hop_length=hop, units="frames", trim=False
    )
    windows = np.asarray(windows, int)
    if not len(windows):
        return BeatGrid(np.zeros(0), 0, float(np.atleast_1d(tempo)[0]))
    period = np.median(np.diff(windows)) if len(windows) > 1 else 60 / tempo * rate / hop
    reach = max(1, int(period / 4))  # a sixteenth note either side
    snapped = []
    for window in windows:
        start = max(0, window - reach)
        snapped.append(start + int(np.argmax(envelope[start : window + reach + 1])))
    windows = np.unique(np.asarray(snapped, int))
    # Beats the tracker kept going into silence before or after the music: dropped.
    strong = np.flatnonzero(envelope[windows] >= QUIET * np.median(envelope[windows]))
    windows = windows[strong[0] : strong[-1] + 1]
    # The flux peaks on the window whose centre is 2 to 14 ms before the attack (as it
    # takes in most of it): half a hop later is the beat, 8 ms early to 4 ms late.
    times = (windows + 0.5) * (hop / rate)
    return BeatGrid(
        times, _first_downbeat(windows, low, high, rate, hop), float(np.atleast_1d(tempo)[0])
    )


def _first_downbeat(windows: np.ndarray, low: np.ndarray, high: np.ndarray, rate, hop) -> int:
    """The bar position (0..3) whose beats have the most bass over treble, on average."""
    if not len(windows):
        return 0
    span = max(1, round(ACCENT_S * rate / hop))
    accent = np.array([low[w : w + span].max() - high[w : w + span].max() for w in windows])
    means = [accent[p::BEATS_PER_BAR].mean() for p in range(min(BEATS_PER_BAR, len(accent)))]
    return int(np.argmax(means))


def beat_frames(times: np.ndarray, fps: float) -> np.ndarray:
    """The frame each beat sounds in: floor(t * fps)."""
    # A hair of slack: a beat at exactly 1.5 s is on frame 12 at 8 fps, not 11.
    return np.floor(np.asarray(times, np.float64) * fps + 1e-9).astype(int)


def beat_features(grid: BeatGrid, fps: float, frames: int) -> dict[str, np.ndarray]:
    """One value a frame: ``beat`` and ``downbeat`` as impulses (1 on the beat's frame, 0
    elsewhere: audio_features.py lets them decay), ``beat_phase`` and ``bar_phase`` rising
    0..1 from one beat (bar) to the next, ``tempo`` in BPM."""
    beat, downbeat = np.zeros(frames), np.zeros(frames)
    beat_phase, bar_phase, tempo = np.zeros(frames), np.zeros(frames), np.zeros(frames)
    out = {
        "beat": beat,
        "downbeat": downbeat,
        "beat_phase": beat_phase,
        "bar_phase": bar_phase,
        "tempo": tempo,
    }
    on = beat_frames(grid.times, fps)
    keep = np.flatnonzero(np.diff(on, prepend=-1) > 0)  # two beats in one frame: the first
    on, index = on[keep], keep - grid.first_downbeat  # index: beats since the first downbeat
    if not len(on) or frames <= 0:
        tempo[:] = grid.tempo
        return out
    inside = (on >= 0) & (on < frames)
    beat[on[inside]] = 1.0
    downs = inside & (index % BEATS_PER_BAR == 0)
    downbeat[on[downs]] = 1.0
    # The beat period around each beat, in frames and BPM: the median of the intervals of a
    # bar around it (a tempo that drifts is followed, one late beat is not).
    alone = 60.0 / grid.tempo if grid.tempo > 0 else 0.5  # one beat: librosa's tempo
    seconds = np.diff(grid.times[keep]) if len(on) > 1 else np.array([alone])
    local = np.array(
        [np.median(seconds[max(0, i - 2) : i + 2]) for i in range(len(on))], np.float64
    )
    frame = np.arange(frames)
    k = np.clip(np.searchsorted(on, frame, side="right") - 1, 0, len(on) - 1)  # last beat
    # Between two beats: how far from one to the next; before the first and after the
    # last, the beats continue at the local period.
    nxt = np.minimum(k + 1, len(on) - 1)
    period = np.where(nxt > k, on[nxt] - on[k], local[k] * fps).astype(np.float64)
    position = (frame - on[k]) / np.maximum(period, 1e-9)
    counted = index[k] + np.floor(position)  # beats since the first downbeat
    beat_phase[:] = position - np.floor(position)
    bar_phase[:] = (np.mod(counted, BEATS_PER_BAR) + beat_phase) / BEATS_PER_BAR
    tempo[:] = 60.0 / local[k]
    return out
