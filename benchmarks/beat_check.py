"""Does a zoom driven by ``beat`` jump on a song's beats? Issue 21's check (item 3).

Three songs whose beat times are known because they are made here (or by
samples/make_beat.py): ``kicks``, the tests' kind (a kick on each beat of 120 BPM, every
4th louder); ``samples/beat.m4a`` (120 BPM: kicks, snares on 2 and 4, eighth hats, a bass
drone); and a held-out kind the beat code was not tuned on, ``swing``: 100 BPM, a kick on
1 and 3, a clap on 2 and 4, swung hi-hats (the off-beat at 2/3 of the beat), a bass note
per bar and a soft pad, starting 0.37 s in. For each: the renderer's ``beat`` feature
against the true beats (frame ``floor(t * fps)``), its tempo and downbeats; then a tiny
zoom (48x48, no dream steps, ``zoom.scale = "audio: 1.0 + 0.2*beat"``) is rendered and
the frames where its picture starts to jump (the mean absolute difference of consecutive
stored frames more than doubles and peaks) are matched to the beats: the errors are frames from
each true beat to the nearest jump.

    PYTHONPATH=. .venv/bin/python benchmarks/beat_check.py [--fps 12] [--out /tmp/beat-check]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _common import SAMPLES, machine_info
from helpers import beat_zoom_settings, frame_jumps, nearest_errors

RATE = 44100


def _decay(u: np.ndarray, seconds: float) -> np.ndarray:
    return np.exp(-u / seconds)


def kicks(seconds: float = 8.0, bpm: float = 120, start: float = 0.13):
    t = np.arange(round(seconds * RATE)) / RATE
    track, beats = np.zeros(t.shape), []
    for k in range(int((seconds - start - 0.1) * bpm / 60) + 1):
        at = start + k * 60 / bpm
        beats.append(at)
        part = (t >= at) & (t < at + 0.2)
        u = t[part] - at
        kick = np.sin(2 * np.pi * (50 * u + 100 * (1 - np.exp(-30 * u)) / 30)) * _decay(u, 0.05)
        track[part] += (0.9 if k % 4 == 0 else 0.6) * kick
    return track, beats, beats[0::4]


def swing(seconds: float = 12.0, bpm: float = 100, start: float = 0.37, seed: int = 3):
    """Kick on 1 and 3, clap on 2 and 4, swung hats, a bass note a bar, a pad."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    beat = 60 / bpm
    track = 0.05 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.2 * t))
    beats = []

    def add(at, length, sound, gain):
        part = (t >= at) & (t < at + length)
        track[part] += gain * sound(t[part] - at)

    notes = [55.0, 73.4, 61.7, 82.4]
    for k in range(int((seconds - start - 0.2) / beat) + 1):
        at = start + k * beat
        beats.append(at)
        if k % 2 == 0:  # kick
            add(
                at,
                0.25,
                lambda u: (
                    np.sin(2 * np.pi * (45 * u + 110 * (1 - np.exp(-25 * u)) / 25))
                    * _decay(u, 0.07)
                ),
                0.8,
            )
        else:  # clap: noise bursts
            add(at, 0.15, lambda u: rng.uniform(-1, 1, u.shape) * _decay(u, 0.03), 0.45)
        if k % 4 == 0:  # a bass note for the bar
            f = notes[(k // 4) % 4]
            add(at, 4 * beat * 0.9, lambda u, f=f: np.sin(2 * np.pi * f * u) * _decay(u, 1.0), 0.25)
        for off, gain in ((0.0, 0.12), (2 / 3, 0.08)):  # swung hats
            add(
                at + off * beat,
                0.05,
                lambda u: (
                    rng.uniform(-1, 1, u.shape) * np.sin(2 * np.pi * 8000 * u) * _decay(u, 0.01)
                ),
                gain,
            )
    return np.clip(track, -1, 1), beats, beats[0::4]


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=RATE, layout="mono")
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        for start in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + 1024], "s16", "mono")
            frame.sample_rate, frame.pts, frame.time_base = RATE, start, Fraction(1, RATE)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def check(name: str, track: Path, beats, downbeats, fps: int, out: Path) -> dict:
    import renderer
    from renderer.rendering.spec import load_spec
    from renderer.schedules.audio_features import load_features

    features = load_features(track, fps).features
    truth = np.floor(np.asarray(beats) * fps).astype(int)
    truth = truth[truth < len(features["beat"])]
    found = np.flatnonzero(features["beat"] == 1.0)
    downs = np.flatnonzero(features["downbeat"] == 1.0)
    true_downs = np.floor(np.asarray(downbeats) * fps).astype(int)
    spec = load_spec("noise-zoom", beat_zoom_settings(fps), audio=str(track))
    renderer.render(spec, out=out / name, restart=True)
    jumped = frame_jumps(out / name / "frames")
    feature_error, jump_error = nearest_errors(found, truth), nearest_errors(jumped, truth)
    down_hits = (nearest_errors(downs, true_downs) <= 1).sum()
    return {
        "song": name,
        "beats": len(truth),
        "found": len(found),
        "beat median/max err (frames)": f"{np.median(feature_error):g}/{feature_error.max():g}",
        "tempo (median BPM)": f"{np.median(features['tempo']):.1f}",
        "downbeats within 1 frame": f"{int(down_hits)}/{len(true_downs)}",
        "jumps": len(jumped),
        "jump median/max err (frames)": f"{np.median(jump_error):g}/{jump_error.max():g}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fps", type=int, default=12)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="beat-check-"))
    out.mkdir(parents=True, exist_ok=True)
    beat_loop = [k * 0.5 for k in range(16)]  # samples/make_beat.py: 120 BPM from 0 s
    songs = [
        ("kicks", write_wav(out / "kicks.wav", kicks()[0]), *kicks()[1:]),
        ("beat.m4a", SAMPLES / "beat.m4a", beat_loop, beat_loop[0::4]),
        ("swing (held out)", write_wav(out / "swing.wav", swing()[0]), *swing()[1:]),
    ]
    rows = [check(name.split()[0], track, b, d, args.fps, out) for name, track, b, d in songs]
    for row, (name, *_) in zip(rows, songs):
        row["song"] = name
    print(f"fps {args.fps}; {machine_info()}")
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
