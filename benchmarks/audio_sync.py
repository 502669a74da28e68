"""Does an audio-reactive render follow its track? Issue 10's check, measured independently.

Reads a finished render's per-frame schedule column from losses.csv (default: `zoom`, the
zoom factor an `audio:` schedule gave each frame) and correlates it with an onset envelope
computed here from the track alone, by another route than renderer/schedules/audio_features.py:
the track decoded to PCM by the ffmpeg binary of imageio-ffmpeg (not PyAV), the envelope
the half-wave rectified rise of RMS amplitude in 10 ms hops (no FFT), summed per frame.
The correlation is shown at lags -1, 0, +1 frames too: it should peak at 0.
Also checks the frame count against the track's duration and that the MP4 carries sound.

    PYTHONPATH=. .venv/bin/python benchmarks/audio_sync.py RENDER_DIR TRACK [--column zoom]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
from pathlib import Path

import numpy as np

RATE = 22050


def decode(track: str) -> np.ndarray:
    import imageio_ffmpeg

    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v",
        "error",
        "-i",
        track,
        "-ac",
        "1",
        "-ar",
        str(RATE),
        "-f",
        "f32le",
        "-",
    ]
    return np.frombuffer(
        subprocess.run(command, capture_output=True, check=True).stdout, np.float32
    )


def onset_envelope(samples: np.ndarray, fps: float, frames: int) -> np.ndarray:
    hop = RATE // 100
    energy = np.array([np.sum(samples[i : i + hop] ** 2) for i in range(0, len(samples), hop)])
    rise = np.maximum(np.diff(np.sqrt(energy), prepend=0.0), 0.0)
    per_frame = np.zeros(frames)
    for k, value in enumerate(rise):
        frame = int(k * hop / RATE * fps)
        if frame < frames:
            per_frame[frame] += value
    return per_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("render")
    parser.add_argument("track")
    parser.add_argument("--column", default="zoom")
    args = parser.parse_args()
    out = Path(args.render)
    manifest = json.loads((out / "manifest.json").read_text())
    fps = float(manifest["fps"])
    with open(out / "losses.csv") as f:
        values = np.array([float(row[args.column]) for row in csv.DictReader(f)])
    samples = decode(args.track)
    seconds = len(samples) / RATE
    envelope = onset_envelope(samples, fps, len(values))
    # Frame 0 is the seed frame (no move from a previous frame): compare frames 1..n-1.
    r = {
        lag: float(np.corrcoef(values[1:], np.roll(envelope, lag)[1:])[0, 1]) for lag in (-1, 0, 1)
    }
    import av

    with av.open(str(next(out.glob("*.mp4")))) as container:
        sound = [s for s in container.streams if s.type == "audio"]
        sound_seconds = float(sound[0].duration * sound[0].time_base) if sound else 0.0
    print(
        f"{out}: {len(values)} frames at {fps:g} fps for a {seconds:.3f} s track "
        f"(expected {round(seconds * fps)}); corr({args.column}, independent onset "
        f"envelope) = {r[0]:.3f} (lag -1: {r[-1]:.3f}, +1: {r[1]:.3f}); MP4 sound "
        f"{sound_seconds:.3f} s"
    )


if __name__ == "__main__":
    main()
