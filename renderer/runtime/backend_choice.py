"""Which Keras backend dreams: TensorFlow (the default), JAX or PyTorch.

Keras picks its backend once per process, from KERAS_BACKEND, when it is first imported
(``import tensorflow`` imports it too). So the backend is chosen here, before anything
imports Keras: ``use(name)`` sets KERAS_BACKEND, or says in one line why it cannot (the
backend's library is not installed; Keras already runs on another backend in this
process). Precedence: the spec's ``backend`` key, then KERAS_BACKEND from the
environment, then tensorflow.

The engine is written once where it can be: the objective's window value in keras.ops
(renderer/engine/objective_graph.py), the tile grid and bounds (tiling.py, also the tiled loss
and gradient of the Python-loop backends). Each backend adds one small module for the
gradient step: tensorflow_step (renderer/engine/ascent.py: GradientTape
and tf.function, the engine as it always was), jax_step (jax.value_and_grad and jax.jit)
and torch_step (autograd, eager). All roll the image by the same jitter shifts
(renderer/engine/steps/shifts.py).
"""

from __future__ import annotations

import os
import sys
from importlib import metadata, util

from .errors import DreamreelError, one_of

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"
# What to install for each: the jax extra brings JAX's CPU build.
_INSTALL = {
    "tensorflow": "pip install 'tensorflow>=2.16,<3'",
    "jax": "pip install 'dreamreel[jax]'",
    "torch": "pip install 'dreamreel[torch]'",
}


def requested(name: str | None = None) -> str:
    """The backend a render asks for: ``name`` (the spec's key), else KERAS_BACKEND, else
    tensorflow. An unknown name is refused in one line."""
    chosen = name or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    one_of("backend" if name else "KERAS_BACKEND", chosen, BACKENDS)
    return chosen


def installed() -> dict[str, str]:
    """Backend -> installed version, for those whose library is installed."""
    versions = {}
    for name in BACKENDS:
        if util.find_spec(name) is not None:
            try:
                versions[name] = metadata.version(name)
            except metadata.PackageNotFoundError:
                versions[name] = "unknown version"
    return versions


def use(name: str | None = None) -> str:
    """Make ``name`` (see ``requested``) the backend Keras loads with in this process, and
    return it. Call before anything imports Keras or TensorFlow; calling again with the
    same backend is free."""
    chosen = requested(name)
    if util.find_spec(chosen) is None:
        raise DreamreelError(f"backend {chosen} is not installed: {_INSTALL[chosen]}")
    current = loaded()
    if current is not None and current != chosen:
        raise DreamreelError(
            f"Keras already runs on {current} in this process and cannot "
            f"switch to {chosen}: start a new process (KERAS_BACKEND="
            f"{chosen}) for a {chosen} render"
        )
    os.environ["KERAS_BACKEND"] = chosen
    if chosen == "torch" and "tensorflow" not in sys.modules:
        # TensorFlow and PyTorch abort when both load in one process (their LLVMs clash:
        # "LLVM ERROR: inconsistency in registered CommandLine options"), and Keras' .h5
        # loader imports TensorFlow whenever it is installed. A torch render needs none of
        # it: mark it absent, so every import of it fails as if it were not installed.
        # None here is Python's documented import block; typeshed types the values as modules.
        sys.modules["tensorflow"] = None  # type: ignore[assignment]
    return chosen


def loaded() -> str | None:
    """The backend of the Keras already imported in this process, or None."""
    if "keras" not in sys.modules:
        return None
    try:
        return sys.modules["keras"].backend.backend()
    except AttributeError:  # keras half imported (an import in progress): not decided
        return None


def active() -> str:
    """The backend the engine runs on: Keras' own (imported here if need be)."""
    import keras

    return keras.backend.backend()
