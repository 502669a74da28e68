"""The dream engine: loss rises, tiles agree, octaves keep shapes, seeds reproduce."""

from __future__ import annotations

import numpy as np
import pytest

import renderer
from renderer.engine.ascent import Ascent
from renderer.engine.dream import DreamSettings, DreamState, dream, octave_shapes, resize
from renderer.engine.step_cache import compiled_ascent
from renderer.engine.steps.base import AscentSettings
from renderer.imaging.noise import NOISE_KINDS, make_noise
from renderer.media.images import read_image
from renderer.runtime.errors import DreamreelError

QUICK = dict(steps=8, octaves=1, step_size=0.02)


@pytest.fixture(scope="module")
def dogs(embedded_cache):
    from renderer.models.loading import load_dream_model

    return load_dream_model("mobilenet_v2_dogs")


@pytest.fixture(scope="module")
def photo(samples_dir):
    return read_image(samples_dir / "chelsea.jpg").astype(np.float32)


def small(image: np.ndarray, height: int, width: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def seam_ratio(residual: np.ndarray, tile_width: int) -> float:
    """Mean jump of the dream residual across tile borders, over its median jump anywhere."""
    jumps = np.abs(np.diff(residual, axis=1)).mean(axis=(0, 2))
    borders = [tile_width * i - 1 for i in range(1, residual.shape[1] // tile_width)]
    return float(jumps[borders].mean() / np.median(jumps))


def test_embedded_model_dreams_a_photo_and_its_loss_rises(dogs, photo):
    assert dogs.layers == ("block_12_expand_relu", "block_13_expand_relu")
    image = small(photo, 120, 180)
    # Without jitter the per-step losses are measured on the image itself, not a rolled copy.
    steady = dream(image, dogs, DreamSettings(steps=10, octaves=2, jitter=0))
    for losses in steady.losses:
        assert losses[-1] > losses[0] * 1.2
    result = dream(image, dogs, DreamSettings(steps=10, octaves=2))
    ascent = Ascent(dogs, AscentSettings())
    before = ascent.loss(dogs.preprocessing.to_model(image))
    assert result.final_loss > before * 1.1
    assert result.final_loss == pytest.approx(
        ascent.loss(dogs.preprocessing.to_model(result.image)), rel=0.02
    )
    assert result.image.shape == image.shape
    assert np.abs(result.image - image).mean() > 5.0  # visibly dreamed, not a no-op


def test_flipping_the_step_sign_makes_the_loss_fall(dogs, photo):
    image = small(photo, 96, 128)
    up = dream(image, dogs, DreamSettings(**QUICK)).losses[0]
    down = dream(image, dogs, DreamSettings(**{**QUICK, "step_size": -0.02})).losses[0]
    assert up[-1] > up[0] and down[-1] < down[0]


def test_loss_rises_without_gradient_normalisation_and_with_smoothing(dogs, photo):
    image = small(photo, 96, 128)
    # Raw gradients here have a std near 1e-3: a step of 20 moves pixels ~0.02 a step.
    raw = dream(
        image,
        dogs,
        DreamSettings(**{**QUICK, "normalize_gradients": False, "step_size": 20.0, "jitter": 0}),
    ).losses[0]
    assert raw[-1] > raw[0] * 1.1
    smooth = dream(image, dogs, DreamSettings(**QUICK, smoothing=2.0))
    sharp = dream(image, dogs, DreamSettings(**QUICK))
    assert smooth.losses[0][-1] > smooth.losses[0][0]

    # Smoothed gradients leave less high-frequency energy in the dream residual.
    def roughness(result):
        return np.abs(np.diff(result.image - image, axis=1)).mean()

    assert roughness(smooth) < 0.8 * roughness(sharp)


def test_tiled_gradient_equals_untiled_when_the_image_fits_one_tile(dogs, photo):
    import tensorflow as tf

    x = dogs.preprocessing.to_model(small(photo, 96, 112))
    tiled = Ascent(dogs, AscentSettings(tile_size=128, tile_margin=64)).gradient(x)
    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        acts = dogs.extractor(t[tf.newaxis])
        loss = tf.add_n([w * tf.reduce_mean(a) for w, a in zip(dogs.weights, acts)])
    untiled = tape.gradient(loss, t).numpy()
    np.testing.assert_allclose(tiled, untiled, rtol=1e-4, atol=1e-7)


def test_tiles_with_margins_nearly_agree_with_the_untiled_gradient(dogs, photo):
    x = dogs.preprocessing.to_model(small(photo, 192, 384))
    whole = Ascent(dogs, AscentSettings(tile_size=512)).gradient(x)
    tiled = Ascent(dogs, AscentSettings(tile_size=128, tile_margin=64)).gradient(x)
    bare = Ascent(dogs, AscentSettings(tile_size=128, tile_margin=0)).gradient(x)
    corr = lambda a: np.corrcoef(a.ravel(), whole.ravel())[0, 1]  # noqa: E731
    assert corr(tiled) > 0.98
    assert corr(bare) < corr(tiled)  # the margin is what makes them agree


def test_an_image_several_tiles_wide_dreams_without_a_tile_grid(dogs, photo):
    image = small(photo, 128, 640)  # five 128 px tiles
    tiled = dream(image, dogs, DreamSettings(steps=12, octaves=1, tile_size=128))
    assert seam_ratio(tiled.image - image, 128) < 1.25
    # The measure does see seams when tiles have no margin and never move.
    seamy = dream(
        image, dogs, DreamSettings(steps=12, octaves=1, tile_size=128, tile_margin=0, jitter=0)
    )
    assert seam_ratio(seamy.image - image, 128) > 1.3


@pytest.mark.parametrize("height,width", [(101, 77), (67, 93), (300, 451)])
def test_octave_shapes_end_at_the_input_size_and_grow(height, width):
    shapes = octave_shapes(height, width, 4, 1.3)
    assert shapes[-1] == (height, width)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(shapes, shapes[1:]))
    assert all(min(s) >= 80 for s in shapes[:-1])


@pytest.mark.parametrize(
    "height,width",
    [(2160, 3840), (1080, 1920), (719, 1281), (81, 4000), (101, 77), (80, 80), (5, 3)],
)
def test_octave_shapes_never_exceed_the_frame_for_any_scale_and_count(height, width):
    for octaves in range(1, 9):
        for scale in (1.0000001, 1.001, 1.01, 1.1, 1.25, 1.3, 1.4, 1.5, 2.0, 3.7, 10.0):
            shapes = octave_shapes(height, width, octaves, scale)
            assert shapes[-1] == (height, width)
            assert 1 <= len(shapes) <= octaves
            assert all(h <= height and w <= width for h, w in shapes)
            assert all((h, w) != (height, width) for h, w in shapes[:-1])  # smaller
            assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(shapes, shapes[1:]))


def test_octave_shapes_of_4k_with_the_defaults():
    settings = DreamSettings()
    assert octave_shapes(2160, 3840, settings.octaves, settings.octave_scale) == [
        (1102, 1959),
        (1543, 2743),
        (2160, 3840),
    ]


def test_auto_tile_size_follows_total_memory_and_is_deterministic():
    from renderer.engine.dream import (
        AUTO_TILE_MAX,
        AUTO_TILE_MIN,
        auto_tile_size,
        total_memory_bytes,
    )

    gib = 2**30
    assert total_memory_bytes() > 0
    assert auto_tile_size() == auto_tile_size() == auto_tile_size(64, total_memory_bytes())
    sizes = [auto_tile_size(64, g * gib) for g in (1, 2, 4, 8, 16, 24, 32, 64, 128, 1024)]
    assert sizes == sorted(sizes)  # more memory, never smaller tiles
    assert all(AUTO_TILE_MIN <= t <= AUTO_TILE_MAX and t % 64 == 0 for t in sizes)
    assert sizes[0] == AUTO_TILE_MIN and sizes[-1] == AUTO_TILE_MAX
    assert auto_tile_size(64, 8 * gib) == 512 and auto_tile_size(64, 24 * gib) == 1024
    assert auto_tile_size(0, 24 * gib) >= auto_tile_size(128, 24 * gib)  # margins count
    for unset in (DreamSettings(), DreamSettings(tile_size="auto"), DreamSettings(tile_size=None)):
        assert unset.validate().resolved_tile_size() == auto_tile_size(unset.tile_margin)
        assert unset.ascent.tile_size == auto_tile_size(unset.tile_margin)


def test_an_explicit_tile_size_is_kept_and_bad_ones_are_refused():
    for tile in (64, 320, 512, 5000):
        settings = DreamSettings(tile_size=tile).validate()
        assert settings.resolved_tile_size() == tile and settings.ascent.tile_size == tile
    for bad in (63, 0, -512, "big", 512.0, True):
        with pytest.raises(DreamreelError, match="tile_size"):
            DreamSettings(tile_size=bad).validate()


def test_spec_tile_size_is_auto_unless_set():
    from renderer.engine.dream import auto_tile_size
    from renderer.rendering.spec import DreamTable

    assert DreamTable().tile_size == "auto"
    assert DreamTable().at(0, seed=0).resolved_tile_size() == auto_tile_size(64)
    assert DreamTable(tile_size=384).at(0, seed=0).resolved_tile_size() == 384
    with pytest.raises(DreamreelError, match="tile_size"):
        DreamTable(tile_size="huge").check("dream.")


def test_octaves_preserve_odd_sizes(dogs, photo):
    image = small(photo, 167, 243)
    result = dream(image, dogs, DreamSettings(steps=3, octaves=3, octave_scale=1.3))
    assert result.image.shape == (167, 243, 3)
    assert len(result.losses) == 3 and all(len(octave) == 3 for octave in result.losses)


def test_same_seed_same_dream_and_snapshots_do_not_change_it(dogs, photo):
    image = small(photo, 120, 160)  # big enough for two octaves (80 px minimum)
    settings = DreamSettings(steps=6, octaves=2, seed=7)
    plain = dream(image, dogs, settings)
    snaps = []
    chunked = dream(image, dogs, settings, snapshot_every=2, on_snapshot=snaps.append)
    np.testing.assert_array_equal(chunked.image, plain.image)  # deterministic ops
    other = dream(image, dogs, DreamSettings(steps=6, octaves=2, seed=8))
    assert np.abs(other.image - plain.image).mean() > 0.5
    # start, every 2 steps, octave ends: 1 + (2 + 1) * 2
    assert [(s.octave, s.step) for s in snaps] == [
        (1, 0),
        (1, 2),
        (1, 4),
        (1, 6),
        (2, 2),
        (2, 4),
        (2, 6),
    ]


# ---------------------------------------------------------------- dreams in parts

PARTS = DreamSettings(steps=5, octaves=2, seed=11)  # 120x160: octaves of 86x114 and 120x160


def in_parts(image, model, settings, max_steps, *, via=None):
    """Run a dream call by call, each resuming from the state the last one returned."""
    results, state = [], None
    while not results or not results[-1].finished:
        results.append(dream(image, model, settings, resume=state, max_steps=max_steps))
        state = results[-1].state if via is None else via(results[-1].state)
    return results


@pytest.mark.parametrize("max_steps", [1, 2, 3, 7])
def test_a_dream_in_parts_equals_the_dream_run_whole(dogs, photo, max_steps):
    image = small(photo, 120, 160)
    whole = dream(image, dogs, PARTS)
    parts = in_parts(image, dogs, PARTS, max_steps)
    assert whole.finished and parts[-1].finished
    np.testing.assert_array_equal(parts[-1].image, whole.image)
    np.testing.assert_array_equal(parts[-1].state.image, whole.state.image)
    # The per-step losses, call after call, are the whole dream's.
    np.testing.assert_array_equal(
        np.concatenate([octave for r in parts for octave in r.losses]), np.concatenate(whole.losses)
    )
    # A capped call never runs past an octave end: the end of octave 1 is a call's end.
    assert (0, 5) in [(r.state.octave, r.state.step) for r in parts]
    assert all(r.state.step <= 5 for r in parts)
    assert parts[-1].final_loss == whole.final_loss


def test_one_step_a_call_walks_every_step_and_octave_end(dogs, photo):
    parts = in_parts(small(photo, 120, 160), dogs, PARTS, 1)
    assert [(r.state.octave, r.state.step) for r in parts] == [(0, s) for s in range(1, 6)] + [
        (1, s) for s in range(1, 6)
    ]
    assert [r.image.shape[:2] for r in parts] == [(86, 114)] * 5 + [(120, 160)] * 5
    assert [r.finished for r in parts] == [False] * 9 + [True]
    assert all(len(r.losses) == 1 and len(r.losses[0]) == 1 for r in parts)
    assert [len(r.octave_losses) for r in parts] == [0, 0, 0, 0, 1] * 2


def test_a_dream_resumed_from_a_stored_state_equals_the_uninterrupted_one(dogs, photo, tmp_path):
    image = small(photo, 120, 160)
    whole = dream(image, dogs, PARTS)

    def through_disk(state: DreamState) -> DreamState:
        path = tmp_path / "state.npz"
        np.savez(path, **state.to_arrays())
        with np.load(path) as stored:
            return DreamState.from_arrays(stored)

    resumed = in_parts(image, dogs, PARTS, 3, via=through_disk)
    np.testing.assert_array_equal(resumed[-1].image, whole.image)
    # Stopped mid-octave, then everything that is left in one call.
    halfway = dream(image, dogs, PARTS, max_steps=4)
    rest = dream(image, dogs, PARTS, resume=through_disk(halfway.state))
    assert rest.finished and len(rest.losses) == 2 and len(rest.losses[0]) == 1
    np.testing.assert_array_equal(rest.image, whole.image)


def test_max_steps_zero_returns_the_start_and_octave_ends_stop_a_call(dogs, photo):
    image = small(photo, 120, 160)
    start = dream(image, dogs, PARTS, max_steps=0)
    assert (start.state.octave, start.state.step, start.finished) == (0, 0, False)
    assert start.losses == [] and start.octave_losses == []
    np.testing.assert_allclose(start.image, resize(image, (86, 114)), atol=1e-3)
    assert not np.any(start.state.detail)
    assert np.isfinite(start.final_loss)
    again = dream(image, dogs, PARTS, resume=start.state, max_steps=0)
    assert again.state.image is start.state.image

    first = dream(image, dogs, PARTS, max_steps=100)  # stops at the end of octave 1
    assert (first.state.octave, first.state.step, first.finished) == (0, 5, False)
    assert first.image.shape == (86, 114, 3) and len(first.octave_losses) == 1
    assert first.final_loss == first.octave_losses[0]
    second = dream(image, dogs, PARTS, resume=first.state, max_steps=100)
    assert (second.state.octave, second.state.step, second.finished) == (1, 5, True)
    done = dream(image, dogs, PARTS, resume=second.state, max_steps=100)
    assert done.finished and done.losses == [] and done.state.image is second.state.image


def test_a_state_from_another_image_or_settings_is_refused(dogs, photo):
    image = small(photo, 120, 160)
    state = dream(image, dogs, PARTS, max_steps=0).state
    with pytest.raises(DreamreelError, match="does not fit"):
        dream(small(photo, 100, 160), dogs, PARTS, resume=state)
    late = DreamState(0, 9, state.image, state.detail)
    with pytest.raises(DreamreelError, match="does not fit"):
        dream(image, dogs, PARTS, resume=late)
    with pytest.raises(DreamreelError, match="max_steps"):
        dream(image, dogs, PARTS, max_steps=-1)


# ---------------------------------------------------------------- the engine is kept


def test_the_ascent_lives_on_the_model_and_new_sizes_do_not_retrace(dogs, photo):
    settings = DreamSettings(steps=2, octaves=1, tile_size=256)
    ascent = compiled_ascent(dogs, settings.ascent)
    assert compiled_ascent(dogs, settings.ascent) is ascent
    assert compiled_ascent(dogs, DreamSettings(tile_size=320).ascent) is not ascent
    for height, width in ((88, 96), (101, 133), (96, 88)):
        dream(small(photo, height, width), dogs, settings)
    assert ascent._run.experimental_get_tracing_count() == 1
    assert ascent._measure.experimental_get_tracing_count() == 1


def test_dream_image_reuses_the_loaded_model(embedded_cache, photo):
    from renderer.models import loading as models

    image = small(photo, 80, 96).astype(np.uint8)
    model = renderer.load_model()
    assert renderer.load_model() is model
    assert renderer.load_model(layers=["block_13_expand_relu"]) is not model
    traced = compiled_ascent(model, DreamSettings().ascent)._run.experimental_get_tracing_count()
    renderer.dream_image(image, steps=2, octaves=1)
    by_name = models._LOADED[next(reversed(models._LOADED))]
    assert by_name is model
    out, _ = renderer.dream_image(image, model=model, steps=2, octaves=1)
    assert compiled_ascent(
        model, DreamSettings().ascent
    )._run.experimental_get_tracing_count() == max(traced, 1)
    assert out.shape == image.shape
    with pytest.raises(DreamreelError, match="load_model"):
        renderer.dream_image(image, model=model, layers=["block_13_expand_relu"])


def test_dream_image_api_keeps_dtype_and_range(embedded_cache, photo):
    image = small(photo, 80, 96).astype(np.uint8)
    out, losses = renderer.dream_image(image, steps=4, octaves=1)
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert losses[0][-1] > losses[0][0]
    out_f, _ = renderer.dream_image(image / 255.0, steps=4, octaves=1)
    assert out_f.dtype == np.float64 and 0.0 <= out_f.min() and out_f.max() <= 1.0
    with pytest.raises(DreamreelError):
        renderer.dream_image(image, steps=4, no_such_setting=1)


def test_noise_dreams_too(dogs):
    noise = make_noise(96, 96, kind="uniform", seed=3).astype(np.float32)
    result = dream(noise, dogs, DreamSettings(**QUICK))
    assert result.losses[0][-1] > result.losses[0][0]


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_is_seeded_rgb_uint8(kind):
    a = make_noise(50, 70, kind=kind, seed=1)
    assert a.shape == (50, 70, 3) and a.dtype == np.uint8
    assert np.array_equal(a, make_noise(50, 70, kind=kind, seed=1))
    assert not np.array_equal(a, make_noise(50, 70, kind=kind, seed=2))
    assert a.std() > 10  # not a flat image


def test_bad_settings_and_noise_kind_are_user_errors():
    with pytest.raises(DreamreelError, match="octaves"):
        DreamSettings(octaves=0).validate()
    with pytest.raises(DreamreelError, match="uniform"):
        make_noise(8, 8, kind="plaid")
