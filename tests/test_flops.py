"""FLOP counts of a dream step (renderer.engine.flops) and the machine's peak."""

from pathlib import Path

import keras
import pytest

from renderer.engine import flops

# A 3 -> 8 channel 3x3 conv, then a stride-2 3x3 depthwise conv ('same' padding).
CONV_MACS_PER_PIXEL = 3 * 3 * 3 * 8  # per output pixel of the conv (stride 1)
DEPTHWISE_MACS_PER_PIXEL = 3 * 3 * 8  # per output pixel of the depthwise conv


def _tiny_model():
    image = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(image)
    x = keras.layers.BatchNormalization(name="bn")(x)  # elementwise: not counted
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    return keras.Model(image, x)


def test_a_step_costs_forward_and_input_gradient_multiply_adds_by_hand():
    model = _tiny_model()
    # 30 x 22: the stride-2 depthwise conv outputs ceil(30/2) x ceil(22/2) = 15 x 11.
    macs = 30 * 22 * CONV_MACS_PER_PIXEL + 15 * 11 * DEPTHWISE_MACS_PER_PIXEL
    assert flops.layer_macs(model, 30, 22) == [
        ("conv", 30 * 22 * CONV_MACS_PER_PIXEL),
        ("dw", 15 * 11 * DEPTHWISE_MACS_PER_PIXEL),
    ]
    assert flops.forward_flops(model, 30, 22) == 2 * macs
    assert flops.step_flops(model, 30, 22) == 4 * macs


def test_flops_scale_with_the_pixel_count():
    model = _tiny_model()
    assert flops.step_flops(model, 64, 96) == 4 * flops.step_flops(model, 32, 48)


def test_nested_models_separable_transposed_and_dense_layers_count():
    inner_input = keras.Input((None, None, 8))
    inner = keras.Model(
        inner_input,
        keras.layers.SeparableConv2D(16, 3, padding="same", name="sep")(inner_input),
        name="inner",
    )
    image = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 1, strides=2, name="down")(image)
    x = inner(x)
    x = keras.layers.Conv2DTranspose(4, 2, strides=2, name="up")(x)
    x = keras.layers.Dense(5, name="dense")(x)
    model = keras.Model(image, x)
    # 16 x 16 in: down 8 x 8; sep (depthwise 3x3x8 + pointwise 8x16) at 8 x 8; the
    # transposed conv 2x2x4x16 per INPUT pixel (8 x 8); dense 4 -> 5 per pixel at 16 x 16.
    assert flops.layer_macs(model, 16, 16) == [
        ("down", 64 * 3 * 8),
        ("inner/sep", 64 * (3 * 3 * 8 + 8 * 16)),
        ("up", 64 * 2 * 2 * 4 * 16),
        ("dense", 256 * 4 * 5),
    ]


def test_the_count_agrees_with_tensorflows_profiler():
    """Forward: the profiler's Conv2D + depthwise FLOPs; backward: its input gradient of
    the conv equals the conv's forward (it has no statistic for the depthwise one)."""
    model = _tiny_model()
    profiled = flops.profiled_step_flops(model, 32, 48)
    assert profiled["Conv2D"] + profiled["DepthwiseConv2dNative"] == flops.forward_flops(
        model, 32, 48
    )
    assert profiled["Conv2DBackpropInput"] == profiled["Conv2D"]


def test_the_embedded_model_count_agrees_with_the_profiler():
    from renderer.models.loading import load_dream_model

    model = load_dream_model("mobilenet_v2_dogs", weights=None)  # shapes need no weights
    profiled = flops.profiled_step_flops(model, 96, 128)
    forward = flops.forward_flops(model, 96, 128)
    assert profiled["Conv2D"] + profiled["DepthwiseConv2dNative"] == forward
    # MobileNetV2 up to block 13 costs ~2.3 GFLOP forward at 512 x 512.
    assert 2.2e9 < flops.forward_flops(model, 512, 512) < 2.4e9


def test_tiles_as_the_engine_cuts_them():
    # 1024 px with 960 px tiles: 2 x 2 tiles of 512, each with a 64 px margin inside.
    assert flops.tile_windows(1024, 1024, 960, 64) == [(576, 576)] * 4
    assert flops.tile_windows(300, 200, 960, 64) == [(300, 200)]
    model = _tiny_model()
    assert flops.image_step_flops(model, 1024, 1024, 960, 64) == 4 * flops.step_flops(
        model, 576, 576
    )


def test_machine_peak_is_positive_here():
    peak = flops.machine_peak(matmul_size=256, repeats=2)
    assert peak["measured_gflops"] > 0 and peak["measured_how"]
    if Path("/proc/cpuinfo").is_file() and peak["theoretical_gflops"] is None:
        pytest.skip(f"this CPU's peak is unknown: {peak['theoretical_how']}")
    if Path("/proc/cpuinfo").is_file():
        assert peak["theoretical_gflops"] > 0 and peak["cores"] >= 1


def test_theoretical_peak_from_cpuinfo_text(tmp_path):
    # 2 physical cores with 2 SMT threads each: siblings share the FMA units.
    block = (
        "processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
        "cpu MHz\t\t: 2000.000\nphysical id\t: 0\ncore id\t\t: {core}\n"
        "flags\t\t: fpu sse sse2 avx avx2 fma\n"
    )
    text = "\n".join(block.format(n=n, core=n // 2) for n in range(4))
    (tmp_path / "cpuinfo").write_text(text)
    peak = flops.theoretical_peak(tmp_path / "cpuinfo")
    assert (peak["cores"], peak["flops_per_cycle"]) == (2, 32)
    if not Path("/sys/devices/system/cpu/cpu0/cpufreq/base_frequency").exists():
        assert peak["theoretical_gflops"] == pytest.approx(2 * 2.0 * 32)
    assert flops.theoretical_peak(tmp_path / "missing")["theoretical_gflops"] is None


def test_the_bench_table_shows_gflops_and_the_share_of_the_matmul_peak():
    from renderer.cli.bench import BenchReport, EngineSpeed

    engine = EngineSpeed(size=512, steps=6, seconds=1.0, flops_per_step=5e9)  # 30 GFLOP/s
    report = BenchReport(
        engine=[engine], peak={"measured_gflops": 120.0, "measured_how": "a matmul"}
    )
    assert engine.gflops_per_s == pytest.approx(30.0)
    assert report.share_of_peak(engine) == pytest.approx(0.25)
    assert "30.0 GFLOP/s   25% of matmul peak" in report.lines()[1]
    row = report.to_dict()["engine"][0]
    assert (row["gflops_per_s"], row["share_of_matmul_peak"]) == (30.0, 0.25)
    assert BenchReport(engine=[engine]).share_of_peak(engine) is None  # no peak measured
