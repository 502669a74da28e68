"""How many floating-point operations a dream step costs, and what the machine can do.

`step_flops(model, height, width)`: FLOPs of ONE gradient-ascent step on one window
(tile + margins) of that size, counted from the Keras layers between the input and the
dream layers: every Conv/DepthwiseConv/SeparableConv/ConvTranspose/Dense call costs
2 x its multiply-adds at its real output size for this input size (forward), and the same
again for the gradient with respect to its input (backward; a convolution's input
gradient is the transposed convolution, with the same multiply-adds). The step needs no
weight gradients. Elementwise work (bias adds, batch norm, activations, adds, the loss's
means, the step's roll, normalisation and clip) is not counted.

Cross-check against TensorFlow's graph count (`profiled_step_flops`: the v1 profiler's
`float_operation()` on the traced step), mobilenet_v2_dogs' default layers: our forward
count equals the profiler's Conv2D + DepthwiseConv2dNative FLOPs exactly (2.306 GFLOP at
512x512, 5.259 at 747x811), and its Conv2DBackpropInput equals our Conv2D forward exactly
at 512x512 (0.014% lower at 747x811: it counts a strided conv's input gradient as input
pixels / stride^2, not output pixels, which differ for Conv1 on odd sizes). The
profiler's total is no reference, as it misses and adds ops:
- it has no FLOP statistic for DepthwiseConv2dNativeBackpropInput (nor for Relu6 or
  Relu6Grad), so it misses the depthwise share of the backward pass (~4% of a step);
- it counts Conv2DBackpropFilter (weight gradients): the traced graph holds them, but
  nothing consumes them and the runtime prunes them (a step that also returns the weight
  gradients takes 1.7x as long);
- its elementwise ops (Mul, Sum, AddV2, ... from batch norm and the loss) add ~4% to our
  count; we leave them out as memory-bound work, not multiply-adds.

`machine_peak()`: the CPU's theoretical float32 peak (cores x clock x FLOPs per cycle
from the instruction set) and a measured practical peak (large float32 matmuls with
TensorFlow, best of several), the honest reference for "what this machine can do".
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from .steps.tiling import tiles

# ------------------------------------------------------------------ FLOPs of a step


def step_flops(model, height: int, width: int) -> float:
    """FLOPs of one gradient-ascent step (forward + input gradient) on a height x width
    window. ``model``: a DreamModel or a Keras model (the extractor itself)."""
    return 2.0 * forward_flops(model, height, width)


def forward_flops(model, height: int, width: int) -> float:
    """FLOPs of the forward pass to the dream layers: 2 x multiply-adds."""
    return 2.0 * sum(macs for _name, macs in layer_macs(model, height, width))


def layer_macs(model, height: int, width: int) -> list[tuple[str, int]]:
    """(layer name, multiply-adds) of every counted layer call, for a 1 x H x W x 3 input;
    nested models are descended into (names "outer/inner")."""
    import keras

    extractor = getattr(model, "extractor", model)
    return _graph_macs(extractor, [keras.KerasTensor((1, int(height), int(width), 3))])


def image_step_flops(
    model, height: int, width: int, tile_size: int, tile_margin: int = 64
) -> float:
    """FLOPs of one step on a whole height x width image as the engine runs it: one step
    per window (tile + margins, overlaps included), tiles cut as `renderer.ascent` cuts
    them."""
    windows = tile_windows(height, width, tile_size, tile_margin)
    cost = {shape: step_flops(model, *shape) for shape in set(windows)}
    return float(sum(cost[shape] for shape in windows))


def tile_windows(
    height: int, width: int, tile_size: int, tile_margin: int = 64
) -> list[tuple[int, int]]:
    """(height, width) of every window the engine's tiled gradient runs, row by row."""
    return [t.window_size for t in tiles(int(height), int(width), tile_size, tile_margin)]


def _graph_macs(graph, input_specs: list) -> list[tuple[str, int]]:
    """Multiply-adds of every counted call in a functional graph, given its input shapes.

    One probe model outputs every tensor whose shape we need, and Keras' shape inference
    (no computation) gives their sizes for this input. Keras 3 lists a graph's layer calls
    only in the private `_nodes_by_depth`; walking nodes, not layers, counts a layer
    called twice twice and finds the tensors that feed a nested model in THIS graph."""
    import keras

    counted, transposed, separable = _layer_classes()
    graph = getattr(graph, "_functional", graph)  # a built Sequential wraps a Functional
    nodes = [
        node
        for depth in sorted(graph._nodes_by_depth, reverse=True)
        for node in graph._nodes_by_depth[depth]
    ]
    # A nested model and a transposed conv need the shapes of what goes in, the rest
    # the shape of what comes out.
    wanted = [node for node in nodes if isinstance(node.operation, (keras.Model, counted))]
    if not wanted:
        return []
    tensors = [
        list(node.input_tensors)
        if isinstance(node.operation, (keras.Model, transposed))
        else node.output_tensors[0]
        for node in wanted
    ]
    probe = keras.Model(graph.inputs, tensors)
    specs = probe.compute_output_spec(input_specs if len(input_specs) > 1 else input_specs[0])
    out = []
    for node, spec in zip(wanted, specs):
        layer = node.operation
        if isinstance(layer, keras.Model):
            inner = [
                keras.KerasTensor(s.shape) for s in (spec if isinstance(spec, list) else [spec])
            ]
            out += [(f"{layer.name}/{name}", macs) for name, macs in _graph_macs(layer, inner)]
            continue
        shape = (spec[0] if isinstance(spec, list) else spec).shape
        out.append((layer.name, _positions(layer, shape) * _kernel_size(layer, separable)))
    return out


def _positions(layer, shape) -> int:
    """Output (input, for a transposed conv) positions: every axis but the channels."""
    channels = 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1
    sizes = list(shape)
    del sizes[channels]
    return math.prod(int(s) for s in sizes)


def _kernel_size(layer, separable: tuple) -> int:
    """Multiply-adds per position: all kernel entries (a grouped or depthwise kernel
    already holds only the connections it makes)."""
    kernels = (
        [layer.depthwise_kernel, layer.pointwise_kernel]
        if isinstance(layer, separable)
        else [layer.kernel]
    )
    return sum(math.prod(int(s) for s in k.shape) for k in kernels)


def _layer_classes():
    import keras

    layers = keras.layers
    transposed = (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
    counted = (
        layers.Conv1D,
        layers.Conv2D,
        layers.Conv3D,
        layers.DepthwiseConv1D,
        layers.DepthwiseConv2D,
        layers.SeparableConv1D,
        layers.SeparableConv2D,
        layers.Dense,
    ) + transposed
    separable = (layers.SeparableConv1D, layers.SeparableConv2D)
    return counted, transposed, separable


def profiled_step_flops(model, height: int, width: int) -> dict[str, float]:
    """TensorFlow's own count for the cross-check: FLOPs per op type of the traced step
    (loss = sum of the mean activations, gradient w.r.t. the window), from the v1
    profiler's `float_operation()` view. Ops without a registered FLOP statistic are
    absent; see the module docstring for what that misses and adds."""
    import tensorflow as tf

    extractor = getattr(model, "extractor", model)

    @tf.function(input_signature=[tf.TensorSpec([int(height), int(width), 3], tf.float32)])
    def step(window):
        with tf.GradientTape() as tape:
            tape.watch(window)
            activations = extractor(window[tf.newaxis], training=False)
            if not isinstance(activations, (list, tuple)):
                activations = [activations]
            # The layer weights (scalars) change no FLOP count: all 1 here.
            loss = tf.add_n([tf.reduce_mean(a) for a in activations])
        return tape.gradient(loss, window)

    graph = step.get_concrete_function().graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # the v1 API's deprecation notice, every call
    try:
        profile = tf.compat.v1.profiler.profile(graph, cmd="op", options=options)
    finally:
        logger.setLevel(level)
    counts: dict[str, float] = {}
    pending = list(profile.children)  # the op view nests each op type under the last
    while pending:
        node = pending.pop()
        counts[node.name] = float(node.float_ops)
        pending += list(node.children)
    return {name: value for name, value in counts.items() if value > 0}


# ------------------------------------------------------------------ the machine's peak

# float32 FLOPs per cycle per core: FMA pipes x floats per vector x 2 (an FMA is two).
_FLOPS_PER_CYCLE_NOTES = {
    "zen4": (32, "AMD Zen 4: AVX-512 runs on 2 x 256-bit FMA pipes, 2 x 8 floats x 2"),
    "zen5": (64, "AMD Zen 5: 2 x 512-bit FMA pipes, 2 x 16 x 2 (mobile parts: half)"),
    "zen1": (16, "AMD Zen/Zen+: 2 x 128-bit FMA pipes, 2 x 4 x 2"),
    "avx512": (
        64,
        "AVX-512: assumed 2 x 512-bit FMA units, 2 x 16 x 2 (parts with one unit: half)",
    ),
    "avx2": (32, "AVX2 + FMA: 2 x 256-bit FMA units, 2 x 8 x 2"),
    "avx": (16, "AVX without FMA: one 256-bit add + one multiply per cycle, 8 x 2"),
    "sse": (8, "SSE: one 128-bit add + one multiply per cycle, 4 x 2"),
}


def machine_peak(
    *,
    matmul_size: int = 2048,
    repeats: int = 5,
    budget_s: float = 1.5,
    cpuinfo: str | os.PathLike = "/proc/cpuinfo",
) -> dict[str, Any]:
    """The theoretical float32 peak (None where /proc/cpuinfo says too little) and the
    measured matmul peak, in GFLOP/s, each with a line saying how it was obtained.

    Keys: theoretical_gflops, theoretical_how, cores, clock_ghz, flops_per_cycle,
    measured_gflops, measured_how, implied_clock_ghz (the clock at which the theoretical
    rule would give the measured rate: above clock_ghz means the cores boost)."""
    peak = theoretical_peak(cpuinfo)
    measured = matmul_gflops(matmul_size, repeats, budget_s)
    peak["measured_gflops"] = measured
    peak["measured_how"] = (
        f"best of up to {repeats} float32 {matmul_size}x{matmul_size} "
        f"TensorFlow matmuls on {os.cpu_count()} logical CPUs, after a "
        f"warm-up"
    )
    peak["implied_clock_ghz"] = (
        measured / (peak["cores"] * peak["flops_per_cycle"]) if peak["theoretical_gflops"] else None
    )
    return peak


def theoretical_peak(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> dict[str, Any]:
    """cores x clock x float32 FLOPs per cycle, from /proc/cpuinfo (and the cpufreq base
    clock where the kernel exposes one). theoretical_gflops is None where that file or
    one of the three numbers is missing (another OS, an unknown ISA)."""
    unknown = {
        "theoretical_gflops": None,
        "cores": None,
        "clock_ghz": None,
        "flops_per_cycle": None,
    }
    try:
        blocks = [
            _fields(block) for block in Path(cpuinfo).read_text().split("\n\n") if block.strip()
        ]
    except OSError:
        return {**unknown, "theoretical_how": f"unknown: no {cpuinfo}"}
    blocks = [b for b in blocks if "processor" in b] or blocks
    if not blocks:
        return {**unknown, "theoretical_how": f"unknown: {cpuinfo} is empty"}
    first = blocks[0]
    # Physical cores: SMT siblings share the FMA units.
    cores = len(
        {(b.get("physical id"), b.get("core id")) for b in blocks if "core id" in b}
    ) or len(blocks)
    clock_ghz, clock_how = _clock_ghz(blocks)
    fpc, fpc_how = _flops_per_cycle(first)
    if clock_ghz is None or fpc is None:
        return {
            **unknown,
            "cores": cores,
            "clock_ghz": clock_ghz,
            "flops_per_cycle": fpc,
            "theoretical_how": f"unknown: {clock_how if clock_ghz is None else fpc_how}",
        }
    return {
        "theoretical_gflops": cores * clock_ghz * fpc,
        "cores": cores,
        "clock_ghz": clock_ghz,
        "flops_per_cycle": fpc,
        "theoretical_how": f"{cores} cores x {clock_ghz:.2f} GHz ({clock_how}) x {fpc} "
        f"FLOPs/cycle ({fpc_how})",
    }


def _fields(block: str) -> dict[str, str]:
    out = {}
    for line in block.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _clock_ghz(blocks: list[dict[str, str]]) -> tuple[float | None, str]:
    """The base clock: cpufreq's base_frequency where the kernel has it, else cpuinfo's
    'cpu MHz' (under a hypervisor the rated clock; on bare metal the current one)."""
    base = Path("/sys/devices/system/cpu/cpu0/cpufreq/base_frequency")
    try:
        return int(base.read_text()) / 1e6, "cpufreq base_frequency"
    except (OSError, ValueError):
        pass
    try:
        mhz = max(float(b["cpu MHz"]) for b in blocks if "cpu MHz" in b)
    except ValueError:
        return None, "no clock in cpuinfo"
    return mhz / 1000, "cpuinfo 'cpu MHz'; boost clocks run higher"


def _flops_per_cycle(cpu: dict[str, str]) -> tuple[int | None, str]:
    flags = set(cpu.get("flags", "").split())
    amd = cpu.get("vendor_id") == "AuthenticAMD"
    try:
        family, model = int(cpu.get("cpu family", "")), int(cpu.get("model", ""))
    except ValueError:
        family = model = -1
    if amd and family == 25 and "avx512f" in flags:
        key = "zen4"
    elif amd and family >= 26 and "avx512f" in flags:
        key = "zen5"
    elif amd and family == 23 and model < 0x30:
        key = "zen1"
    elif "avx512f" in flags:
        key = "avx512"
    elif {"avx2", "fma"} <= flags:
        key = "avx2"
    elif "avx" in flags:
        key = "avx"
    elif "sse" in flags:
        key = "sse"
    else:
        return None, "no x86 vector flags in cpuinfo"
    return _FLOPS_PER_CYCLE_NOTES[key]


def matmul_gflops(size: int = 2048, repeats: int = 5, budget_s: float = 1.5) -> float:
    """Best float32 GFLOP/s of `size`-square TensorFlow matmuls: one warm-up, then up to
    `repeats` timed ones while under `budget_s` (at least one)."""
    import tensorflow as tf

    a = tf.random.uniform([size, size], seed=1)
    b = tf.random.uniform([size, size], seed=2)
    # The sum makes reading one number wait for the whole product, nothing pruned.
    tf.reduce_sum(tf.matmul(a, b)).numpy()
    best = math.inf
    started = time.perf_counter()
    for _ in range(max(1, repeats)):
        tick = time.perf_counter()
        tf.reduce_sum(tf.matmul(a, b)).numpy()
        best = min(best, time.perf_counter() - tick)
        if time.perf_counter() - started > budget_s:
            break
    return 2 * size**3 / best / 1e9
