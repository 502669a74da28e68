"""Beat features (renderer/schedules/beats.py): a kick drum synthesized here at a known
tempo, its beats' frames computed from the times the kicks were placed at (frame
floor(t * fps)), never with the renderer's own code; and a zoom driven by ``beat`` whose
jumps, found in the stored frames, fall on those beats."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from helpers import beat_zoom_settings, frame_jumps, nearest_errors
from test_audio_features import RATE, StubMode, encode_track

import renderer
from renderer.rendering.schedule_binding import bind_render
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError
from renderer.schedules.audio_features import load_features

BPM = 120
START = 0.13  # the first kick, s: the beats fall inside frames, not on their edges
ACCENTED = 1  # kick 1, 5, 9... is louder: the downbeats


def kick_track(seconds: float, bpm: float = BPM, start: float = START) -> tuple[np.ndarray, list]:
    """A falling 150 -> 50 Hz sine kick on each beat, every 4th (from ACCENTED) louder; the
    samples and the kicks' times."""
    t = np.arange(round(seconds * RATE)) / RATE
    track, times = np.zeros(t.shape), []
    count = int((seconds - start - 0.1) * bpm / 60) + 1
    for k in range(count):
        at = start + k * 60 / bpm
        times.append(at)
        u = t[(t >= at) & (t < at + 0.2)] - at
        loud = 0.9 if k % 4 == ACCENTED else 0.6
        kick = loud * np.sin(2 * np.pi * (50 * u + 100 * (1 - np.exp(-30 * u)) / 30))
        track[(t >= at) & (t < at + 0.2)] += kick * np.exp(-u / 0.05)
    return track, times


def frames_of(times, fps: int) -> np.ndarray:
    return np.floor(np.asarray(times) * fps).astype(int)


@pytest.fixture(scope="module")
def kicks(tmp_path_factory):
    samples, times = kick_track(6.0)
    return encode_track(tmp_path_factory.mktemp("kicks") / "kicks.wav", samples), times


def test_beats_tempo_and_bars_follow_the_kicks(kicks):
    track, times = kicks
    fps = 12
    features = load_features(track, fps).features
    truth, beat = frames_of(times, fps), features["beat"]
    found = np.flatnonzero(beat == 1.0)
    assert len(found) == len(truth) and np.median(nearest_errors(found, truth)) < 1
    assert nearest_errors(found, truth).max() <= 1
    # It decays as onset does: to 1/e after 0.1 s (1.2 frames: exp(-1/1.2) a frame).
    after = beat[found[:-1] + 1]
    assert after == pytest.approx(np.exp(-1 / (0.1 * fps)), abs=1e-6)
    assert features["tempo"] == pytest.approx(BPM, abs=2)

    downs = np.flatnonzero(features["downbeat"] == 1.0)
    assert np.array_equal(downs, found[ACCENTED::4])
    phase, bar = features["beat_phase"], features["bar_phase"]
    assert np.all(phase[found] == 0) and np.all(bar[downs] == 0)
    for a, b in zip(found, found[1:]):  # 0 -> 1 between beats: 0, 1/6, 2/6 ... 5/6
        assert np.all(np.diff(phase[a:b]) > 0) and phase[b - 1] > 0.8
    for a, b in zip(downs, downs[1:]):
        assert np.all(np.diff(bar[a:b]) > 0) and bar[b - 1] > 0.95
    assert phase.min() >= 0 and phase.max() < 1 and bar.min() >= 0 and bar.max() < 1


def test_silence_has_no_beats(tmp_path):
    features = load_features(encode_track(tmp_path / "quiet.wav", np.zeros(RATE)), 8).features
    for name in ("beat", "downbeat", "beat_phase", "bar_phase", "tempo"):
        assert not features[name].any(), name


def test_a_beat_schedule_without_librosa_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "librosa", None)  # import librosa: ImportError
    samples, _ = kick_track(2.0)
    track = encode_track(tmp_path / "kicks.wav", samples)

    def bind(schedule):
        spec = load_spec("noise-zoom", ["fps=8", f'zoom.scale="{schedule}"'], audio=str(track))
        mode = StubMode(spec, 8.0)
        mode.count = 16
        return bind_render(spec, mode)

    with pytest.raises(DreamreelError) as refused:
        bind("audio: 1 + 0.1*bar_phase")
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith('a schedule reads "bar_phase"')
    assert message.endswith("pip install 'dreamreel[beats]'")
    # The other features need no librosa.
    assert bind("audio: 1 + 0.1*onset").spec.zoom.scale(2) >= 1.0


def test_the_missing_librosa_is_said_before_the_render_starts(tmp_path, monkeypatch, capsys):
    """--dry-run makes every check a render makes before TensorFlow loads: this one too."""
    from renderer.cli.main import main

    monkeypatch.setitem(sys.modules, "librosa", None)
    samples, _ = kick_track(1.0)
    track = encode_track(tmp_path / "kicks.wav", samples)
    argv = ["render", "noise-zoom", "--audio", str(track), "--dry-run"]
    assert main([*argv, "--set", 'zoom.scale="audio: 1 + 0.1*beat"']) == 2
    assert capsys.readouterr().err.startswith('dreamreel: error: a schedule reads "beat"')
    assert main([*argv, "--set", 'zoom.scale="audio: 1 + 0.1*onset"']) == 0


def test_a_zoom_jumps_on_the_beats(embedded_cache, tmp_path):
    fps = 8
    samples, times = kick_track(4.0)
    track = encode_track(tmp_path / "kicks.wav", samples)
    spec = load_spec("noise-zoom", beat_zoom_settings(fps), audio=str(track))
    renderer.render(spec, out=tmp_path / "out")
    jumps = frame_jumps(tmp_path / "out" / "frames")
    truth = frames_of(times, fps)
    assert len(jumps) == len(truth), (jumps, truth)
    assert np.median(nearest_errors(jumps, truth)) < 1, (jumps, truth)
