"""Helpers shared by test modules (pytest puts tests/ on sys.path: ``from helpers import``).

Written on PyAV, OpenCV and subprocess only, never on the renderer's own media code, so a
test that checks the renderer's output does not measure it with the code under test.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

AUDIO_RATE = 48000


# ---------------------------------------------------------------- clips and sound


def click_track(seconds: float, click_at: float, rate: int = AUDIO_RATE) -> np.ndarray:
    """Mono float32 silence with one 10 ms burst of 2 kHz centred on ``click_at`` s."""
    t = np.arange(int(round(seconds * rate))) / rate
    track = np.zeros(t.shape, np.float32)
    burst = np.abs(t - click_at) < 0.005
    track[burst] = 0.8 * np.sin(2 * np.pi * 2000 * (t[burst] - click_at))
    return track


def write_clip(path, frames, fps, audio: np.ndarray | None = None, rate: int = AUDIO_RATE) -> Path:
    """Encode RGB uint8 frames (H.264) and optional mono float audio with PyAV.

    The audio is lossless (PCM) in .mkv/.mov files and AAC in .mp4.
    """
    path = Path(path)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        video.height, video.width = frames[0].shape[:2]
        video.pix_fmt = "yuv420p"
        sound = None
        if audio is not None:
            codec = "pcm_s16le" if path.suffix in (".mkv", ".mov") else "aac"
            sound = container.add_stream(codec, rate=rate, layout="mono")
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(video.encode(None))
        if sound is not None:
            samples = (np.clip(audio, -1, 1) * 32767).astype(np.int16)
            for start in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(
                    samples[None, start : start + 1024], format="s16", layout="mono"
                )
                chunk.sample_rate, chunk.pts = rate, start
                chunk.time_base = Fraction(1, rate)
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return path


def decode_frames(path) -> list[np.ndarray]:
    """Every video frame of a file, RGB uint8."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def click_time(path) -> float:
    """When the sound of a file's first audio stream happens (energy-weighted mean time,
    seconds on the file's own clock): the click's centre for a click track."""
    times, energy = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples = frame.to_ndarray().astype(np.float64)
            if frame.format.is_planar:
                mono = samples.reshape(-1, frame.samples).mean(axis=0)
            else:
                mono = samples.reshape(frame.samples, -1).mean(axis=1)
            times.append(
                float(frame.pts * frame.time_base) + np.arange(frame.samples) / frame.sample_rate
            )
            energy.append(mono * mono)
    t, e = np.concatenate(times), np.concatenate(energy)
    assert e.sum() > 0, f"{path} is silent"
    return float((t * e).sum() / e.sum())


# ---------------------------------------------------------------- flow


class ShiftFlow:
    """A flow estimator that knows the answer: content moves ``dx`` px right a frame.

    Backward flow (frame t -> t-1) is (-dx, 0), forward (t-1 -> t) is (+dx, 0); which one
    is asked for is read off the frames. The occlusion mask is then exactly 0 on the
    ``dx`` columns entering at the left (they come from outside frame t-1), 1 elsewhere.
    """

    name = "shift"

    def __init__(self, dx: int):
        self.dx = dx

    def __call__(self, gray_from, gray_to):
        a, b, d = np.asarray(gray_from, np.float32), np.asarray(gray_to, np.float32), self.dx
        from_is_later = np.abs(a[:, d:] - b[:, :-d]).mean() < np.abs(a[:, :-d] - b[:, d:]).mean()
        flow = np.zeros(a.shape[:2] + (2,), np.float32)
        flow[..., 0] = -d if from_is_later else d
        return flow


# ---------------------------------------------------------------- the CLI in a child process


def dreamreel_argv(*args: str) -> list[str]:
    """The real command line, in a fresh interpreter that imports the checkout under test."""
    return [sys.executable, "-m", "renderer.cli.main", *args]


def set_args(items) -> list[str]:
    """["a=1", "b=2"] -> ["--set", "a=1", "--set", "b=2"]."""
    return [arg for item in items for arg in ("--set", item)]


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and Python then never installs
    # its Ctrl-C handler: give the child a terminal's default, whatever runs the tests.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_render(out_dir, *args: str) -> subprocess.Popen:
    """``dreamreel render ARGS --out OUT_DIR --quiet`` in a child process."""
    return subprocess.Popen(
        dreamreel_argv("render", *args, "--out", str(out_dir), "--quiet"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=_default_sigint,
    )


def wait_for_frames(child: subprocess.Popen, out_dir, count: int, timeout: float = 240) -> int:
    """Wait until the child has written at least ``count`` frame PNGs; return how many."""
    frames = Path(out_dir) / "frames"
    deadline = time.monotonic() + timeout
    while True:
        done = len(list(frames.glob("*.png"))) if frames.is_dir() else 0
        if done >= count:
            return done
        assert child.poll() is None, (
            f"the render ended (exit {child.returncode}) before frame {count}:\n"
            + child.stderr.read().decode(errors="replace")
        )
        assert time.monotonic() < deadline, f"the render never wrote frame {count}"
        time.sleep(0.02)


def signal_render_after(
    out_dir, args, frames: int, sig=signal.SIGKILL, timeout: float = 240
) -> subprocess.CompletedProcess:
    """Start ``dreamreel render ARGS``, send ``sig`` once ``frames`` PNGs are on disk,
    wait for the child to end; returns its exit code and stderr."""
    child = start_render(out_dir, *args)
    try:
        wait_for_frames(child, out_dir, frames, timeout)
        os.kill(child.pid, sig)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return subprocess.CompletedProcess(child.args, child.returncode, b"", err)


def process_tree(pid: int) -> list[int]:
    """pid and its descendants, read from /proc (a local Ray's own processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    return tree


def read_until_stopped(path) -> tuple[list[np.ndarray], Exception]:
    """The frames a damaged clip gives before the reader stops, and the InputEnded it
    stops with (the test fails if it does not stop)."""
    import pytest

    from renderer.media import open_video
    from renderer.media.truncated_input import InputEnded

    frames = []
    with open_video(path) as clip:
        with pytest.raises(InputEnded) as stopped:
            for frame in clip.frames():
                frames.append(frame)
    return frames, stopped.value


def frame_bytes(out_dir) -> list[bytes]:
    """Every frame PNG of a render folder, in order, as bytes less the recipe's text
    chunk: renders of other settings that make the same pictures differ only there
    (tests/test_recipe_in_outputs.py checks the chunk itself)."""
    frames = sorted((Path(out_dir) / "frames").glob("*.png"))
    return [without_recipe(p.read_bytes()) for p in frames]


def without_recipe(png: bytes) -> bytes:
    """A PNG less its iTXt chunk "dreamreel" (the render's recipe), walked by hand."""
    out, at = bytearray(png[:8]), 8
    while at + 8 <= len(png):
        chunk = png[at : at + 12 + int.from_bytes(png[at : at + 4], "big")]
        if not (chunk[4:8] == b"iTXt" and chunk[8:].startswith(b"dreamreel\0")):
            out += chunk
        at += len(chunk)
    return bytes(out)


def differing_frames(frames_a: list[bytes], frames_b: list[bytes]) -> list[int]:
    """Frame numbers (1-based, like the files) where two renders differ; a missing frame
    counts as different."""
    count = max(len(frames_a), len(frames_b))
    return [
        i + 1
        for i in range(count)
        if i >= len(frames_a) or i >= len(frames_b) or frames_a[i] != frames_b[i]
    ]


# Runs `dreamreel ARGS` through main() in a fresh interpreter and prints, as JSON, the exit
# status and whether TensorFlow or Keras got imported on the way.
_LIGHTNESS_PROBE = """
import json, sys
from renderer.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit_:  # --version, --help
    code = exit_.code
print(json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules,
                  "keras": "keras" in sys.modules}))
"""


def run_without_tensorflow_probe(*argv: str, cwd) -> tuple[dict, str, str]:
    """``dreamreel ARGV`` in a fresh process run from ``cwd``: ({"code", "tensorflow",
    "keras"}, its other stdout, its stderr)."""
    import json

    checkout = str(Path(__file__).resolve().parent.parent)  # the code under test
    proc = subprocess.run(
        [sys.executable, "-c", _LIGHTNESS_PROBE, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "PYTHONPATH": checkout},
    )
    *out, last = proc.stdout.splitlines() or [""]
    assert last.startswith("{"), proc.stderr
    return json.loads(last), "".join(line + "\n" for line in out), proc.stderr


def save_tiny_model(path: Path):
    """A fully convolutional model with a nested sub-model and a non-spatial head."""
    import keras

    inner = keras.Sequential(
        [keras.Input((None, None, 4)), keras.layers.Conv2D(4, 3, name="inner_conv")], name="inner"
    )
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    x = inner(x)
    x = keras.layers.Conv2D(6, 3, strides=2, name="c2")(x)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    model = keras.Model(inputs, [x, pooled])
    model.save(path)
    return model


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A PNG whose IHDR says width x height (RGB): a few rows of data, written by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + width * 3) * 4)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )
    return path


def record_subprocess_runs(monkeypatch) -> list:
    """subprocess.run still runs, but every command it gets is appended to the list
    returned (how many pip downloads a cache fill takes)."""
    commands, real_run = [], subprocess.run

    def spy(command, *args, **kwargs):
        commands.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    return commands


def offline_empty_cache(monkeypatch, cache) -> None:
    """DREAMREEL_CACHE at an empty folder and pip unable to reach any index: a fetch
    fails as it does offline."""
    monkeypatch.setenv("DREAMREEL_CACHE", str(cache))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)


def fetched(url: str, into: Path) -> Path:
    """A copy of the folder at ``url`` (fsspec) in the local folder ``into``."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    for remote in fs.find(root):
        target = into / remote[len(root.rstrip("/")) :].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(remote, str(target))
    return into


# ---------------------------------------- beats (tests/test_beats.py, benchmarks/beat_check.py)
JUMP_FLOOR = 0.5  # grey levels: a smaller change between frames is no jump


def beat_zoom_settings(fps: int) -> list[str]:
    """A tiny zoom that dreams nothing and jumps on every beat: its picture changes only
    where the track's beats push it."""
    return [
        "width=48",
        "height=48",
        f"fps={fps}",
        "dream.steps=0",
        "zoom.first_steps=0",
        "output.gif=false",
        "output.mp4=false",
        'zoom.scale="audio: 1.0 + 0.2*beat"',
    ]


def frame_jumps(folder) -> list[int]:
    """Frames where the picture starts to jump: the mean absolute difference from the
    frame before (grey levels) is more than twice the one before it, and peaks."""
    paths = sorted(Path(folder).glob("*.png"))
    frames = [np.asarray(Image.open(p), np.float64) for p in paths]
    change = np.array([0.0] + [np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])
    return [
        t
        for t in range(1, len(change))
        if change[t] > max(2 * change[t - 1], JUMP_FLOOR)
        and (t + 1 == len(change) or change[t] >= change[t + 1])
    ]


def nearest_errors(found, truth) -> np.ndarray:
    """For each true beat, frames to the nearest one found (infinite when none was)."""
    found = np.asarray(found)
    if not len(found):
        return np.full(len(truth), np.inf)
    return np.array([np.abs(found - frame).min() for frame in truth], np.float64)
