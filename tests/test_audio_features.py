"""Audio-reactive schedules: tracks made here with numpy and encoded with PyAV's encoders;
what the renderer hears is checked against what the samples say, computed independently
(frame energies with numpy), never with the renderer's own feature code.
"""

from __future__ import annotations

import csv
import json
from fractions import Fraction

import av
import numpy as np
import pytest
from helpers import write_clip

import renderer
from renderer.cli.main import main
from renderer.rendering.identity import render_identity
from renderer.rendering.schedule_binding import bind_spec
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError
from renderer.schedules.audio_features import load_features

RATE = 44100
FPS = 8
CODECS = {
    ".mp3": "libmp3lame",
    ".wav": "pcm_s16le",
    ".m4a": "aac",
    ".ogg": "libopus",
    ".flac": "flac",
}


def encode_track(path, samples: np.ndarray, rate: int = RATE):
    """Mono float samples -> an audio file, the codec by the suffix (PyAV's encoders)."""
    codec = CODECS[path.suffix]
    rate = 48000 if codec == "libopus" else rate  # opus encodes at 48 kHz only
    if rate != RATE:
        samples = np.interp(
            np.arange(round(len(samples) * rate / RATE)) * RATE / rate,
            np.arange(len(samples)),
            samples,
        )
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        size = stream.codec_context.frame_size or 1024
        kind = stream.format.name
        for start in range(0, len(samples), size):
            chunk = np.clip(samples[start : start + size], -1, 1)
            if kind.startswith("s16"):
                chunk = (chunk * 32767).astype(np.int16)
            elif kind.startswith("s32"):
                chunk = (chunk * (2**31 - 1)).astype(np.int32)
            else:
                chunk = chunk.astype(np.float32)
            frame = av.AudioFrame.from_ndarray(chunk[None], format=kind, layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def beat_track(seconds: float, beat_frames, fps: int = FPS) -> np.ndarray:
    """Silence with a 30 ms noise burst (a drum hit) in the middle of each beat frame."""
    t = np.arange(round(seconds * RATE)) / RATE
    track = np.zeros(t.shape)
    rng = np.random.default_rng(1)
    for frame in beat_frames:
        hit = (frame + 0.5) / fps
        burst = (t >= hit) & (t < hit + 0.03)
        track[burst] = 0.8 * rng.uniform(-1, 1, burst.sum()) * np.exp(-(t[burst] - hit) / 0.01)
    return track


def onset_envelope(samples: np.ndarray, fps: int, frames: int) -> np.ndarray:
    """Independent of the renderer: each frame's energy minus the frame before's, only
    where it rose."""
    per_frame = RATE // fps
    energy = np.array(
        [np.sum(samples[i * per_frame : (i + 1) * per_frame] ** 2) for i in range(frames)]
    )
    return np.maximum(np.diff(energy, prepend=0.0), 0.0)


def zoom_per_frame(
    track, expression: str, frames: int, fps: int = FPS, key: str = "scale"
) -> np.ndarray:
    """zoom.scale (or another zoom key) of each frame, the schedule bound to the track as
    a render binds it."""
    spec = load_spec("noise-zoom", [f"fps={fps}", f'zoom.{key}="{expression}"'], audio=str(track))
    bound = bind_spec(spec, fps=fps, track=load_features(spec.audio, fps))
    return np.array([getattr(bound.zoom, key)(frame) for frame in range(frames)])


BEATS = list(range(1, 32, 4)) + [23]  # mostly every half second, one off the grid


@pytest.mark.parametrize("suffix", [".mp3", ".wav"])
def test_onset_peaks_on_the_beat_frames(tmp_path, suffix):
    samples = beat_track(4.0, BEATS)
    track = encode_track(tmp_path / f"beat{suffix}", samples)
    zoom = zoom_per_frame(track, "audio: 1.0 + 0.05*onset", 32)
    envelope = onset_envelope(samples, FPS, 32)
    assert np.corrcoef(zoom, envelope)[0, 1] > 0.8
    peaks = [frame for frame in range(1, 31) if zoom[frame] > max(zoom[frame - 1], zoom[frame + 1])]
    assert peaks == sorted(BEATS)
    assert zoom.max() == pytest.approx(1.05) and zoom.min() == pytest.approx(1.0, abs=1e-3)


def test_rms_follows_a_loud_and_quiet_track(tmp_path):
    t = np.arange(4 * RATE) / RATE
    loudness = np.where((t * 2).astype(int) % 2 == 0, 0.8, 0.1)  # half a second each
    samples = loudness * np.sin(2 * np.pi * 330 * t)
    track = encode_track(tmp_path / "loud-quiet.wav", samples)
    rms = zoom_per_frame(track, "audio: rms", 32, key="rotation")
    per_frame = RATE // FPS
    truth = np.array(
        [np.sqrt(np.mean(samples[i * per_frame : (i + 1) * per_frame] ** 2)) for i in range(32)]
    )
    assert np.corrcoef(rms, truth)[0, 1] > 0.9
    loud, quiet = rms[truth > 0.3], rms[truth < 0.3]
    assert loud.min() > 0.9 and np.median(quiet) < 0.3


@pytest.mark.parametrize("suffix", sorted(CODECS))
def test_every_format_decodes_to_the_same_beat(tmp_path, suffix):
    track = encode_track(tmp_path / f"beat{suffix}", beat_track(2.0, [5, 11]))
    features = load_features(track, FPS)
    assert features.duration == pytest.approx(2.0, abs=0.03)
    assert features.frames == 16
    onset = features.features["onset"]
    assert set(np.argsort(onset)[-2:]) == {5, 11}, onset.round(2)
    for name in ("rms", "onset", "low", "mid", "high"):
        values = features.features[name]
        assert values.min() >= 0 and values.max() == pytest.approx(1.0)


def test_bands_tell_a_bass_from_a_whistle(tmp_path):
    t = np.arange(2 * RATE) / RATE
    bass, whistle = np.sin(2 * np.pi * 80 * t), np.sin(2 * np.pi * 5000 * t)
    samples = 0.6 * np.where(t < 1.0, bass, whistle)
    features = load_features(encode_track(tmp_path / "bands.flac", samples), FPS).features
    first, second = slice(1, 7), slice(10, 16)  # away from the switch at frame 8
    assert features["low"][first].min() > 0.9 and features["low"][second].max() < 0.05
    assert features["high"][second].min() > 0.9 and features["high"][first].max() < 0.05


# ---------------------------------------------------------------- a real render


TINY = [
    "width=32",
    "height=32",
    f"fps={FPS}",
    "dream.steps=1",
    "dream.octaves=1",
    "zoom.first_steps=1",
    "zoom.first_octaves=1",
    "output.gif=false",
    "output.hold_last=0",
    'zoom.scale="audio: 1.0 + 0.05*onset"',
    'dream.step_size="audio: 0.01 + 0.02*rms"',
]


@pytest.fixture(scope="module")
def track_render(embedded_cache, tmp_path_factory):
    """A 2 s beat track rendered first as a 5-frame preview, then to its whole length."""
    folder = tmp_path_factory.mktemp("audio-zoom")
    samples = beat_track(2.0, [3, 11])
    track = encode_track(folder / "beat.mp3", samples)
    spec = load_spec("noise-zoom", TINY, audio=str(track))
    preview = renderer.render(spec, out=folder / "out", max_frames=5)
    whole = renderer.render(spec, out=folder / "out")
    return folder, track, preview, whole


def test_the_track_sets_the_frame_count_and_a_preview_extends(track_render):
    folder, track, preview, whole = track_render
    assert (preview.frames, preview.rendered) == (5, 5)
    assert (whole.frames, whole.rendered) == (16, 11)  # 2 s at 8 fps, the 5 kept
    assert len(list((folder / "out" / "frames").glob("*.png"))) == 16
    with open(folder / "out" / "losses.csv", newline="") as f:
        zooms = [float(row["zoom"]) for row in csv.DictReader(f)]
    assert np.argmax(zooms[1:8]) + 1 == 3 and np.argmax(zooms[8:]) + 8 == 11  # the beats


def test_the_mp4_carries_the_track_for_as_long_as_the_video(track_render):
    folder, track, _, _ = track_render
    with av.open(str(folder / "out" / "zoom.mp4")) as container:
        sound = container.streams.audio
        assert len(sound) == 1
        frames = sum(1 for _ in container.decode(video=0))
        container.seek(0)
        samples = sum(frame.samples for frame in container.decode(audio=0))
        rate = sound[0].rate
    assert frames == 16
    assert abs(samples / rate - frames / FPS) <= 1 / FPS
    manifest = json.loads((folder / "out" / "manifest.json").read_text())
    assert manifest["audio"]["path"] == str(track)  # `dreamreel stitch` keeps the sound


def test_another_track_at_the_same_path_is_refused_on_resume(embedded_cache, tmp_path):
    track = encode_track(tmp_path / "song.wav", beat_track(1.0, [2]))
    spec = load_spec("noise-zoom", TINY, audio=str(track))
    assert renderer.render(spec, out=tmp_path / "out", max_frames=2).frames == 2
    track.touch()  # the same bytes: the same render
    assert renderer.render(spec, out=tmp_path / "out", max_frames=2).rendered == 0
    encode_track(track, beat_track(1.0, [5]))  # another song where the first was
    with pytest.raises(DreamreelError, match="different render.*changed: audio_track"):
        renderer.render(spec, out=tmp_path / "out", max_frames=2)


# ---------------------------------------------------------------- one-line refusals


def test_a_missing_track_and_one_without_sound_are_one_line(tmp_path, capsys):
    clip = write_clip(tmp_path / "silent-film.mp4", [np.zeros((16, 16, 3), np.uint8)] * 4, 8)
    cases = {  # a path that is not there: usage (2); a file without sound: its input (4)
        str(tmp_path / "nope.mp3"): ("no such file", 2),
        str(clip): ("it has no audio stream", 4),
    }
    for path, (reason, status) in cases.items():
        assert main(["render", "noise-zoom", "--audio", path, "--dry-run"]) == status
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"cannot read audio track '{path}': {reason}" in err
        with pytest.raises(DreamreelError, match=reason):
            renderer.render("noise-zoom", audio=path, out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


def test_an_audio_schedule_without_a_track_is_refused_before_tensorflow(capsys, tmp_path):
    assert main(["render", "audio-zoom", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dream.step_size, zoom.scale follow an audio track" in err
    assert "--audio" in err
    with pytest.raises(DreamreelError, match=r"zoom\.scale follows an audio track"):
        renderer.render(
            "noise-zoom", overrides=['zoom.scale="audio: 1 + onset"'], out=tmp_path / "never"
        )


# ---------------------------------------------------------------- binding to the render


class StubMode:
    """What bind_render reads of a mode: its spec, its fps (a clip's), its own sound."""

    def __init__(self, spec, fps):
        self.spec, self.fps = spec, fps

    def audio(self):
        return None

    def manifest(self):
        return {"octaves": 1}


def test_binding_gives_the_mode_the_renders_fps_and_track(tmp_path):
    from renderer.rendering.schedule_binding import bind_render

    track = encode_track(tmp_path / "beat.wav", beat_track(2.0, [6], fps=24))
    spec = load_spec(
        "noise-zoom",
        ["fps=8", 'zoom.scale="audio: 1 + 0.1*onset"', 'zoom.rotation="0:(s)"'],
        audio=str(track),
    )
    mode = StubMode(spec, 24.0)  # the clip's rate, not the spec's
    bound = bind_render(spec, mode)
    assert mode.spec is bound.spec and bound.spec.zoom.scale == spec.zoom.scale
    scale = [bound.spec.zoom.scale(frame) for frame in range(48)]  # 2 s at 24 fps
    assert int(np.argmax(scale)) == 6 and max(scale) == pytest.approx(1.1)
    assert bound.spec.zoom.rotation(24) == pytest.approx(1.0)  # one second at 24 fps
    assert bound.identity["schedule_fps"] == 24.0
    assert bound.identity["audio_track"]["sha256"] and bound.manifest["octaves"] == 1
    assert bound.audio.path == str(track) and bound.manifest["audio"]["path"] == str(track)

    plain = load_spec("noise-zoom", ["fps=8"])  # no track, no time: the identity as before
    unchanged = bind_render(plain, StubMode(plain, 24.0))
    assert unchanged.spec is plain and unchanged.identity == render_identity(plain)
    assert unchanged.audio is None and "audio" not in unchanged.manifest


@pytest.mark.parametrize("fps", [30, 60])
def test_each_beat_lands_on_its_own_frame_and_fades_in_a_tenth_of_a_second(tmp_path, fps):
    """At video rates a frame is a few windows long: a hit in the middle of frame t peaks
    on frame t (not one early or late), and its onset falls to 1/e after 0.1 s and 1/e^2
    after 0.2 s (the release), the same in seconds at 30 and 60 fps."""
    beats = [round(fps * s) for s in (0.33, 0.83, 1.57, 2.33)]
    track = encode_track(tmp_path / "beats.wav", beat_track(3.0, beats, fps=fps))
    onset = load_features(track, fps).features["onset"]
    peaks = [t for t in range(1, len(onset) - 1) if onset[t] > max(onset[t - 1], onset[t + 1])]
    assert [t for t in peaks if onset[t] > 0.3] == beats, onset.round(2)
    tenth = round(0.1 * fps)
    for beat in beats:
        assert onset[beat + tenth] / onset[beat] == pytest.approx(np.exp(-1), abs=0.03)
        assert onset[beat + 2 * tenth] / onset[beat] == pytest.approx(np.exp(-2), abs=0.03)


def test_a_chunks_schedules_read_the_whole_renders_seconds_and_beats(tmp_path):
    """A chunk of a long render (frame_offset 20: its frame 0 is the render's frame 20)
    reads every schedule, objective weights included, as the whole render does on the
    same frame: seconds, expressions of t, keyframes and the track's beats."""
    from renderer.rendering.schedule_binding import bind_render

    track = encode_track(tmp_path / "beat.wav", beat_track(2.0, [6, 30], fps=24))
    schedules = [
        'zoom.scale="audio: 1 + 0.1*onset"',
        'zoom.rotation="0:(s)"',
        'zoom.translate_x="0:(0), 30:(3)"',
        'zoom.translate_y="0:(sin(t/5))"',
        'objective={"layer:block_13_expand_relu" = 1, "tv" = "audio: rms + s"}',
    ]

    def bound(*offset):
        spec = load_spec("noise-zoom", ["fps=8", *schedules, *offset], audio=str(track))
        return bind_render(spec, StubMode(spec, 24.0), spec.objective)

    whole, chunk = bound(), bound("frame_offset=20")
    for frame in range(28):
        for key in ("scale", "rotation", "translate_x", "translate_y"):
            in_chunk = getattr(chunk.spec.zoom, key)(frame)
            assert in_chunk == getattr(whole.spec.zoom, key)(20 + frame), (key, frame)
        assert chunk.objective.weights(frame) == whole.objective.weights(20 + frame)
    assert chunk.spec.zoom.scale(10) == pytest.approx(1.1, abs=0.01)  # the beat of frame 30
    assert chunk.spec.zoom.rotation(4) == pytest.approx(1.0)  # frame 24: one second
