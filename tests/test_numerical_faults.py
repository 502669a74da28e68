"""A NaN or inf in a dream stops it with one line naming the frame, octave and step, and
the frame is never written (issue 9, item 6)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tensorflow as tf

from renderer.engine.ascent import Ascent
from renderer.engine.dream import DreamSettings, dream
from renderer.engine.numeric_faults import NumericalFault
from renderer.engine.steps.base import AscentSettings
from renderer.runtime.errors import DreamreelError

TINY = [
    "width=64",
    "height=64",
    "frames=5",
    "dream.steps=2",
    "zoom.first_steps=2",
    "zoom.first_octaves=1",
    "output.gif=false",
]


def _model_with(layer):
    """A one-layer DreamModel on a 4-channel conv, built in milliseconds, and its conv."""
    import keras

    from renderer.models.loading import DreamModel
    from renderer.models.preprocessing import get_preprocessing

    image = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", name="conv")
    extractor = keras.Model(image, layer(conv(image)))
    return DreamModel("tiny", extractor, ("conv",), (1.0,), get_preprocessing("tf")), conv


@tf.custom_gradient
def _nan_gradient(x):
    """Activations pass unchanged (a finite loss), but the gradient sent back is NaN."""
    return tf.identity(x), lambda upstream: upstream * np.float32("nan")


def _with_nan_gradient(x):
    import keras

    return keras.layers.Lambda(_nan_gradient)(x)


def test_the_compiled_step_finds_a_nan_loss():
    model, conv = _model_with(lambda x: x)
    kernel, bias = conv.get_weights()
    conv.set_weights([np.full_like(kernel, np.nan), bias])
    ascent = Ascent(model, AscentSettings(tile_size=64, tile_margin=0, jitter=0))
    with pytest.raises(NumericalFault) as fault:
        ascent.run(np.zeros((16, 16, 3), np.float32), 3, np.full(3, 0.01, np.float32))
    assert (fault.value.what, fault.value.step) == ("loss", 1)


def test_the_compiled_step_finds_an_image_gone_nan_behind_a_finite_loss():
    """The loss is finite at step 1, but the gradient is NaN: the image it moves is not."""
    model, _ = _model_with(_with_nan_gradient)
    ascent = Ascent(model, AscentSettings(tile_size=64, tile_margin=0, jitter=0))
    with pytest.raises(NumericalFault) as fault:
        ascent.run(np.zeros((16, 16, 3), np.float32), 3, np.full(3, 0.01, np.float32))
    assert (fault.value.what, fault.value.step) == ("image", 1)
    assert "step 1: the image became nan or inf" in str(fault.value)


def _poison_step(monkeypatch, *, call: int, step: int, value=np.nan):
    """Make the ``call``-th compiled run (1-based, counted over all Ascents) measure
    ``value`` as the loss of its ``step``-th step (1-based), as a diverging dream would."""
    calls = []
    real_run = Ascent.run

    def run(self, *args, **kwargs):
        calls.append(1)
        if len(calls) != call:
            return real_run(self, *args, **kwargs)
        compiled = self._run

        def poisoned(*inputs):
            out, losses, finite = compiled(*inputs)
            losses = losses.numpy().copy()
            losses[step - 1] = value
            return out, tf.constant(losses), finite

        self._run = poisoned
        try:
            return real_run(self, *args, **kwargs)
        finally:
            self._run = compiled

    monkeypatch.setattr(Ascent, "run", run)


@pytest.fixture(scope="module")
def dogs(embedded_cache):
    from renderer.models.loading import load_dream_model

    return load_dream_model("mobilenet_v2_dogs")


def test_the_dream_names_the_octave_and_the_step_within_it(dogs, monkeypatch):
    """Two octaves of 3 steps, run in chunks of 2 (snapshots): the 3rd compiled run is
    octave 2's steps 1-2, so its second step is octave 2, step 2."""
    settings = DreamSettings(steps=3, octaves=2, tile_size=256, seed=1)
    image = np.full((120, 120, 3), 128.0, np.float32)
    _poison_step(monkeypatch, call=3, step=2, value=np.inf)
    with pytest.raises(NumericalFault) as fault:
        dream(image, dogs, settings, snapshot_every=2, on_snapshot=lambda snapshot: None)
    assert str(fault.value) == (
        "octave 2, step 2: the loss became inf (try a smaller dream.step_size)"
    )


def test_a_loss_measured_at_an_octave_end_is_checked_too(dogs, monkeypatch):
    from renderer.engine import ascent as ascent_module

    monkeypatch.setattr(
        ascent_module.Ascent, "loss", lambda self, image, weights=None, held=None: np.nan
    )
    with pytest.raises(NumericalFault, match="^octave 1, step 2: the loss became nan"):
        dream(
            np.full((64, 64, 3), 128.0, np.float32),
            dogs,
            DreamSettings(steps=2, octaves=1, tile_size=256),
        )


def test_a_step_size_beyond_float32_diverges_at_the_first_step_without_a_warning(dogs):
    """No injection: a real divergence, found by the compiled step's own check."""
    settings = DreamSettings(steps=2, octaves=1, tile_size=256, step_size=3e38)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow warning would be a second line
        with pytest.raises(NumericalFault, match="^octave 1, step 1: the image became nan or inf"):
            dream(np.full((64, 64, 3), 128.0, np.float32), dogs, settings)


@pytest.mark.parametrize("step_size", ["nan", "inf"])
def test_a_step_size_that_is_no_number_is_refused_up_front(step_size):
    with pytest.raises(DreamreelError, match="dream.step_size must be a finite number"):
        DreamSettings(step_size=float(step_size)).validate()


def test_a_render_stops_at_the_frame_whose_dream_went_nan(dogs, monkeypatch, tmp_path, capsys):
    """Frame 3's dream (the 3rd compiled run: one octave, one run a frame) goes NaN at its
    2nd step: one line naming frame, octave and step, exit 2, frames 1-2 kept, frame 3
    never written, nothing half-stitched; a rerun finishes with the frames of an
    uninterrupted render."""
    from helpers import frame_bytes, set_args

    from renderer.cli.main import main

    whole = tmp_path / "whole"
    assert main(["render", "noise-zoom", *set_args(TINY), "--out", str(whole), "--quiet"]) == 0
    out = tmp_path / "faulty"
    argv = ["render", "noise-zoom", *set_args(TINY), "--out", str(out), "--quiet"]
    capsys.readouterr()
    _poison_step(monkeypatch, call=3, step=2)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        "dreamreel: error: frame 3, octave 1, step 2: the loss became nan; the frame was not "
        "written (try a smaller dream.step_size)"
    ]
    assert sorted(p.name for p in (out / "frames").iterdir()) == ["000001.png", "000002.png"]
    assert not [p for p in out.rglob("*") if p.suffix in (".mp4", ".gif", ".partial")]
    assert len((out / "losses.csv").read_text().splitlines()) == 1 + 2

    monkeypatch.undo()
    assert main(argv) == 0
    assert frame_bytes(out) == frame_bytes(whole)
