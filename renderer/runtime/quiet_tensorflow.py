"""Import TensorFlow without its C++ start-up chatter on the terminal.

TensorFlow logs oneDNN and CUDA-probing notes through absl before any log level set
from Python applies (TF_CPP_MIN_LOG_LEVEL does not stop them), so the CLI points
file descriptor 2 at /dev/null while TensorFlow loads and probes devices. Python
exceptions are untouched: an import that fails still raises with its message.
"""

from __future__ import annotations

import os
import sys

from .backend_choice import installed, use
from .errors import DreamreelError


def import_tensorflow_quietly():
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")  # the CUDA probe logs here, not at import
        return tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def use_backend_quietly(name: str | None = None) -> str:
    """``backends.use(name)``, then TensorFlow imported quietly wherever the render would
    load it anyway: on TensorFlow, and on JAX when it is installed (Keras' .h5 loader
    imports it). Never on PyTorch: the two abort in one process. Returns the backend."""
    chosen = use(name)
    if chosen == "tensorflow" or (chosen == "jax" and "tensorflow" in installed()):
        tensorflow_or_one_line()
    return chosen


def tensorflow_or_one_line():
    """TensorFlow, imported quietly; one line instead of a traceback if it cannot load (a
    broken CUDA install: libcudnn missing...)."""
    try:
        return import_tensorflow_quietly()
    except ImportError as error:  # a render cannot run: one line, not a traceback
        raise DreamreelError(
            f"TensorFlow cannot be imported ({error}); `dreamreel doctor` checks the installation"
        ) from None
