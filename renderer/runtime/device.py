"""Which device TensorFlow dreams on: "CPU" or e.g. "GPU:0 NVIDIA H100 80GB HBM3".

A broken CUDA install does not fail: TensorFlow quietly finds no GPU and the render runs
on the CPU, ten to a hundred times slower. So every render names its device on its first
line and in manifest.json, and ``dreamreel doctor`` tells that case apart (a CUDA build of
TensorFlow, an NVIDIA driver on the machine, and still no GPU found).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from .backend_choice import loaded, requested
from .quiet_tensorflow import tensorflow_or_one_line


@dataclass(frozen=True)
class Devices:
    gpus: tuple[str, ...]  # "GPU:0 NVIDIA H100 ..." for every GPU TensorFlow found
    built_with_cuda: bool  # this TensorFlow build can use CUDA GPUs
    nvidia_driver: bool  # the machine has an NVIDIA driver loaded

    @property
    def used(self) -> str:
        """Where ops go by default: TensorFlow places them on the first GPU it found."""
        return self.gpus[0] if self.gpus else "CPU"

    @property
    def broken_cuda(self) -> bool:
        return self.built_with_cuda and self.nvidia_driver and not self.gpus

    def warning(self) -> str | None:
        if self.broken_cuda:
            return (
                "TensorFlow was built with CUDA and this machine has an NVIDIA driver, "
                "but TensorFlow found no GPU: renders run on the CPU. Check the CUDA "
                "libraries (pip install 'dreamreel[gpu]' installs TensorFlow's own) and "
                "CUDA_VISIBLE_DEVICES"
            )
        return None


def probe(tf) -> Devices:
    """What ``tf`` (the imported module) sees."""
    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        label = device.name.rsplit("physical_device:", 1)[-1]  # "GPU:0"
        try:
            name = tf.config.experimental.get_device_details(device).get("device_name")
        except Exception:  # details are best effort: the label alone still says GPU
            name = None
        gpus.append(f"{label} {name}" if name else label)
    try:
        built_with_cuda = bool(tf.test.is_built_with_cuda())
    except Exception:
        built_with_cuda = False
    return Devices(tuple(gpus), built_with_cuda, nvidia_driver_present())


def nvidia_driver_present() -> bool:
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or os.path.exists("/dev/nvidia0")


@functools.lru_cache(maxsize=1)
def render_device() -> str:
    """The device renders in this process dream on (imports TensorFlow, quietly)."""
    backend = loaded() or requested()
    if backend == "jax":  # JAX and torch place ops themselves: no TensorFlow to load
        return _jax_device()
    if backend == "torch":
        return _torch_device()
    return probe(tensorflow_or_one_line()).used


def _torch_device() -> str:
    """Where Keras' torch backend puts the model: "CPU" or "GPU:0 <name>"."""
    import torch

    if not torch.cuda.is_available():
        return "CPU"
    return f"GPU:0 {torch.cuda.get_device_name(0)}"


def _jax_device() -> str:
    """JAX's default device, named as TensorFlow's are: "CPU" or "GPU:0 <kind>"."""
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return "CPU"
    return f"{device.platform.upper()}:{device.id} {device.device_kind}"
