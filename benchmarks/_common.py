"""Shared helpers for the benchmarks: machine description, load, test images."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import numpy as np

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def machine_info() -> dict:
    """nproc, CPU model, RAM, versions and the load average right now."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 2**20, 1)
                break
    except OSError:
        pass
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": ram_gib,
        "python": platform.python_version(),
        "loadavg": load(),
    }
    try:
        import keras
        import tensorflow as tf

        info["tensorflow"] = tf.__version__
        info["keras"] = keras.__version__
    except ImportError:
        pass
    return info


def machine_line(info: dict) -> str:
    """One header line for a benchmark's output from machine_info(): date, cores, CPU,
    RAM, TensorFlow, load."""
    return (
        f"# {info['date']}  nproc={info['nproc']}  cpu={info['cpu']}  RAM={info['ram_gib']} "
        f"GiB  TF {info.get('tensorflow')}  load at start {info['loadavg']}"
    )


def load() -> tuple[float, float, float]:
    return tuple(round(x, 2) for x in os.getloadavg())


def test_image(height: int, width: int, half_offset: bool = False) -> np.ndarray:
    """A natural RGB float32 0..255 image of the given size (the samples, side by side,
    resized), so the dream has real edges to work on; random noise if they are missing.

    With ``half_offset`` the strip starts half a square in, so the photos' borders fall at
    (k + 1/2) * height and never on a multiple of 512 px for height 256 (for seam checks)."""
    try:
        import cv2

        names = ["astronaut.jpg", "chelsea.jpg", "coffee.jpg"]
        tiles = []
        for name in names:
            bgr = cv2.imread(str(SAMPLES / name))
            if bgr is None:
                raise FileNotFoundError(name)
            side = min(bgr.shape[:2])
            tiles.append(cv2.cvtColor(bgr[:side, :side], cv2.COLOR_BGR2RGB))
        side = min(t.shape[0] for t in tiles)
        tiles = [cv2.resize(t, (side, side), interpolation=cv2.INTER_AREA) for t in tiles]
        # Enough squares side by side to keep the aspect ratio about right.
        count = max(1, round(width / height))
        if half_offset:
            count += 1
        strip = np.concatenate([tiles[i % len(tiles)] for i in range(count)], axis=1)
        if half_offset:
            strip = strip[:, side // 2 : strip.shape[1] - side // 2]
        out = cv2.resize(strip, (width, height), interpolation=cv2.INTER_AREA)
        return out.astype(np.float32)
    except (ImportError, FileNotFoundError):
        rng = np.random.default_rng(0)
        return rng.uniform(0, 255, (height, width, 3)).astype(np.float32)


def weighted_mean_loss(model):
    """The engine's loss as a plain TF function for the reference loops: sum over the
    chosen layers of weight * mean activation (weights fixed as Python constants)."""
    import tensorflow as tf

    extractor = model.extractor
    weights = [float(w) for w in model.weights]

    def loss_of(image):
        activations = extractor(image[tf.newaxis], training=False)
        if not isinstance(activations, (list, tuple)):
            activations = [activations]
        return tf.add_n([w * tf.reduce_mean(a) for w, a in zip(weights, activations)])

    return loss_of
