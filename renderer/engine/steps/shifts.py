"""The jitter roll of every step, the same on every backend.

The TensorFlow engine draws step i's shift with
``tf.random.stateless_uniform([2], seed=(seed, i), minval=-jitter, maxval=jitter + 1,
dtype=int32)`` inside its graph, and its renders (and resumed renders) depend on those
exact numbers. ``jitter_shift`` computes the same two numbers in numpy, on the host, so
the JAX step rolls by the same shifts without loading TensorFlow: TensorFlow's
stateless RNG is Philox-4x32-10, keyed by scrambling the seed pair through one Philox
round; an int in [lo, hi) is lo + (32 random bits mod (hi - lo)).
tests/test_backends.py checks it against TensorFlow over many (seed, step).
"""

from __future__ import annotations

import numpy as np

_M0, _M1 = 0xD2511F53, 0xCD9E8D57  # Philox multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments
_SCRAMBLE_KEY = (0x3EC8F720, 0x02461E29)  # TensorFlow's seed-scrambling key
_MASK = 0xFFFFFFFF


def _philox(counter: list[int], key: list[int]) -> list[int]:
    """Philox-4x32-10: four 32-bit outputs of ``counter`` under ``key``."""
    c, k = list(counter), list(key)
    for round_ in range(10):
        p0, p1 = _M0 * c[0], _M1 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & _MASK, (p0 >> 32) ^ c[3] ^ k[1], p0 & _MASK]
        if round_ < 9:
            k = [(k[0] + _W0) & _MASK, (k[1] + _W1) & _MASK]
    return c


def _key_counter(seed: int, step: int) -> tuple[list[int], list[int]]:
    s0, s1 = seed & 0xFFFFFFFFFFFFFFFF, step & 0xFFFFFFFFFFFFFFFF
    mix = _philox([s0 & _MASK, s0 >> 32, s1 & _MASK, s1 >> 32], list(_SCRAMBLE_KEY))
    return [mix[0], mix[1]], [0, 0, mix[2], mix[3]]


def jitter_shift(seed: int, step: int, jitter: int) -> np.ndarray:
    """(dy, dx) int32 in [-jitter, jitter] for step ``step`` of a dream seeded ``seed``
    (both int32, as the graph takes them)."""
    if jitter == 0:
        return np.zeros(2, np.int32)
    key, counter = _key_counter(int(np.int32(seed)), int(np.int32(step)))
    bits = _philox(counter, key)
    span = 2 * jitter + 1
    return np.array([-jitter + bits[0] % span, -jitter + bits[1] % span], np.int32)
