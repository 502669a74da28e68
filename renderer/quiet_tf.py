"""Import TensorFlow without its C++ start-up chatter on the terminal.

TensorFlow logs oneDNN and CUDA-probing notes through absl before any log level set
from Python applies (TF_CPP_MIN_LOG_LEVEL does not stop them), so the CLI points
file descriptor 2 at /dev/null while TensorFlow loads and probes devices. Python
exceptions are untouched: an import that fails still raises with its message.
"""

from __future__ import annotations

import os
import sys


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
