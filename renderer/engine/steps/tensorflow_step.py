"""The TensorFlow gradient step: renderer/engine/ascent.py's Ascent (GradientTape, tf.function).

It stays where it always was, unchanged op for op, so TensorFlow renders keep their
bytes (and resumed renders their frames); this module names it beside jax_step.
"""

from ..ascent import Ascent

__all__ = ["Ascent"]
