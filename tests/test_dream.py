"""The dream engine: loss rises, tiles agree, octaves keep shapes, seeds reproduce."""

from __future__ import annotations

import numpy as np
import pytest

import renderer
from renderer.ascent import Ascent, AscentSettings
from renderer.dream import DreamSettings, dream, octave_shapes
from renderer.errors import DreamreelError
from renderer.noise import NOISE_KINDS, make_noise
from renderer.media.images import read_image

QUICK = dict(steps=8, octaves=1, step_size=0.02)


@pytest.fixture(scope="module")
def dogs(embedded_cache):
    from renderer.models import load_dream_model

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
    assert result.final_loss == pytest.approx(ascent.loss(dogs.preprocessing.to_model(result.image)),
                                              rel=0.02)
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
    raw = dream(image, dogs, DreamSettings(**{**QUICK, "normalize_gradients": False,
                                              "step_size": 20.0, "jitter": 0})).losses[0]
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
    seamy = dream(image, dogs, DreamSettings(steps=12, octaves=1, tile_size=128,
                                             tile_margin=0, jitter=0))
    assert seam_ratio(seamy.image - image, 128) > 1.3


@pytest.mark.parametrize("height,width", [(101, 77), (67, 93), (300, 451)])
def test_octave_shapes_end_at_the_input_size_and_grow(height, width):
    shapes = octave_shapes(height, width, 4, 1.3)
    assert shapes[-1] == (height, width)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(shapes, shapes[1:]))
    assert all(min(s) >= 80 for s in shapes[:-1])


def test_octaves_preserve_odd_sizes(dogs, photo):
    image = small(photo, 167, 243)
    result = dream(image, dogs, DreamSettings(steps=3, octaves=3, octave_scale=1.3))
    assert result.image.shape == (167, 243, 3)
    assert len(result.losses) == 3 and all(len(l) == 3 for l in result.losses)


def test_same_seed_same_dream_and_snapshots_do_not_change_it(dogs, photo):
    image = small(photo, 120, 160)  # big enough for two octaves (80 px minimum)
    settings = DreamSettings(steps=6, octaves=2, seed=7)
    plain = dream(image, dogs, settings)
    snaps = []
    chunked = dream(image, dogs, settings, snapshot_every=2, on_snapshot=snaps.append)
    np.testing.assert_allclose(chunked.image, plain.image, atol=1e-3)
    other = dream(image, dogs, DreamSettings(steps=6, octaves=2, seed=8))
    assert np.abs(other.image - plain.image).mean() > 0.5
    # start, every 2 steps, octave ends: 1 + (2 + 1) * 2
    assert [(s.octave, s.step) for s in snaps] == [(1, 0), (1, 2), (1, 4), (1, 6),
                                                   (2, 2), (2, 4), (2, 6)]


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
