"""Write samples/beat.m4a: 8 s of a synthetic drum loop (no third-party audio) for the
README's audio-reactive zoom.

120 BPM: a kick on every beat, a snare on beats 2 and 4, closed hi-hats on the eighths and
a quiet bass drone that swells in the second half, so `onset`, `rms`, `low` and `high`
all have something to follow. Run: python samples/make_beat.py [OUT]
"""

from __future__ import annotations

import sys
from fractions import Fraction

import av
import numpy as np

RATE = 44100
SECONDS = 8.0
BPM = 120


def drum_loop(seconds: float = SECONDS, rate: int = RATE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    track = 0.08 * np.sin(2 * np.pi * 55 * t) * np.clip((t - seconds / 2) / 2, 0.2, 1.0)
    beat = 60.0 / BPM

    def hit(start: float, length: float, sound) -> None:
        i0, i1 = int(start * rate), min(len(t), int((start + length) * rate))
        local = t[i0:i1] - start
        track[i0:i1] += sound(local) * np.exp(-local / (length / 5))

    for k in range(int(seconds / beat)):
        at = k * beat
        hit(at, 0.25, lambda u: 0.9 * np.sin(2 * np.pi * (50 + 100 * np.exp(-u * 30)) * u))
        if k % 2 == 1:
            hit(at, 0.18, lambda u: 0.4 * rng.uniform(-1, 1, u.shape))
        for half in (0.0, 0.5):
            hit(at + half * beat, 0.05, lambda u: 0.15 * rng.uniform(-1, 1, u.shape)
                * np.sin(2 * np.pi * 9000 * u))
    return np.clip(track, -1, 1).astype(np.float32)


def write_m4a(path: str, samples: np.ndarray, rate: int = RATE) -> None:
    with av.open(path, "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        pcm = (samples * 32767).astype(np.int16)
        for start in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1024], format="s16",
                                               layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


if __name__ == "__main__":
    write_m4a(sys.argv[1] if len(sys.argv) > 1 else "samples/beat.m4a", drum_loop())
