"""Depthwise convolutions as sums of shifted slices: why the JAX step is slow on the CPU.

An experiment for issue 11, not wired into the engine. Keras' JAX backend runs a
depthwise convolution as one ``lax.conv_general_dilated`` with ``feature_group_count``
= channels; XLA's CPU backend has no fast kernel for grouped convolutions. At
MobileNetV2's shapes it is 20-50x slower than the same sums written out (k*k strided
slices of the padded input times one tap each), forward and backward. Swapped in while
the JAX step traces (``shifted_depthwise()``, trace time only), the dream step went from
3.0 to 9.0 steps/s at 256 px. It is NOT used yet: the op agrees with Keras' to 3e-7 in
isolation and on the whole model, yet tests/test_backends.py's tiled-gradient check
(1e-3 of the largest value) failed with it (6e-3), and jitted-vs-eager gradients of the
model itself differed by 2-8% at some sizes, with either convolution; see
benchmarks/history/backends-jax-torch.md. Run it for the per-shape timings:

    PYTHONPATH=. KERAS_BACKEND=jax python benchmarks/jax_depthwise.py
"""

from __future__ import annotations

import contextlib


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """keras.ops.depthwise_conv for channels_last 2-D inputs: (N, H, W, C) by a
    (kh, kw, C, multiplier) kernel -> (N, H', W', C * multiplier)."""
    import jax.numpy as jnp
    from jax import lax

    inputs, kernel = jnp.asarray(inputs), jnp.asarray(kernel)
    kh, kw, channels, multiplier = kernel.shape
    sy, sx = _pair(strides)
    dy, dx = _pair(dilation_rate)
    (top, bottom), oh = _padding(inputs.shape[1], kh, sy, dy, padding)
    (left, right), ow = _padding(inputs.shape[2], kw, sx, dx, padding)
    padded = jnp.pad(inputs, ((0, 0), (top, bottom), (left, right), (0, 0)))
    if multiplier > 1:  # output channel c * multiplier + m reads input channel c
        padded = jnp.repeat(padded, multiplier, axis=3)
    taps = kernel.reshape(kh, kw, channels * multiplier)
    out = None
    for i in range(kh):
        for j in range(kw):
            y, x = i * dy, j * dx
            window = lax.slice(
                padded,
                (0, y, x, 0),
                (padded.shape[0], y + (oh - 1) * sy + 1, x + (ow - 1) * sx + 1, padded.shape[3]),
                (1, sy, sx, 1),
            )
            term = window * taps[i, j]
            out = term if out is None else out + term
    return out


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _padding(size: int, k: int, stride: int, dilation: int, padding: str):
    """((before, after), output size) along one side, as XLA's SAME / VALID (SAME puts
    the odd pixel after)."""
    span = (k - 1) * dilation + 1
    if padding.lower() == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + span - size, 0)
        return (total // 2, total - total // 2), out
    return (0, 0), (size - span) // stride + 1


@contextlib.contextmanager
def shifted_depthwise():
    """While tracing inside: Keras' JAX depthwise_conv is ``depthwise_conv`` above for
    channels_last 2-D inputs, Keras' own for anything else."""
    from keras.src.backend.jax import nn

    original = nn.depthwise_conv

    def chosen(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
        from keras.src.backend import standardize_data_format

        if (
            standardize_data_format(data_format) == "channels_last"
            and len(inputs.shape) == 4
            and len(kernel.shape) == 4
        ):
            return depthwise_conv(inputs, kernel, strides, padding, data_format, dilation_rate)
        return original(inputs, kernel, strides, padding, data_format, dilation_rate)

    nn.depthwise_conv = chosen
    try:
        yield
    finally:
        nn.depthwise_conv = original


def main() -> None:
    import time

    import jax
    import jax.numpy as jnp
    import numpy as np
    from keras.src.backend.jax import nn

    def median_ms(f, n=5):
        f()
        times = []
        for _ in range(n):
            start = time.perf_counter()
            jax.block_until_ready(f())
            times.append(time.perf_counter() - start)
        return sorted(times)[n // 2] * 1e3

    print(f"{'H=W':>4}{'C':>5}{'stride':>7}{'op':>9}{'fwd ms':>9}{'grad ms':>9}")
    for size, channels, stride in [(128, 96, 2), (64, 144, 1), (32, 192, 1), (128, 32, 1)]:
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.random((1, size, size, channels), np.float32))
        k = jnp.asarray(rng.random((3, 3, channels, 1), np.float32))
        for name, conv in [("grouped", nn.depthwise_conv), ("shifted", depthwise_conv)]:

            def value(x, k, conv=conv, stride=stride):
                return conv(x, k, stride, "same")

            fwd = jax.jit(value)
            grad = jax.jit(jax.grad(lambda x, k, v=value: jnp.sum(v(x, k) ** 2), (0, 1)))
            print(
                f"{size:>4}{channels:>5}{stride:>7}{name:>9}"
                f"{median_ms(lambda: fwd(x, k)):>9.2f}{median_ms(lambda: grad(x, k)):>9.2f}"  # noqa: B023
            )


if __name__ == "__main__":
    main()
