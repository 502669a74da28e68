"""The JAX and PyTorch backends dream what the TensorFlow one does (renderer/backends).

Keras picks its backend once per process, so each backend dreams in a subprocess of its
own. They agree to float rounding, not bit for bit: the loss curves within 1%, the images
within a few grey levels. Each is deterministic: a dream run in two chunks equals it run
whole, as resume needs. A render names its backend in manifest.json and never resumes on
another. Each backend's tests are skipped where it is not installed
(pip install 'dreamreel[jax]', 'dreamreel[torch]').
"""

import json
import os
import subprocess
import sys
from importlib import util

import numpy as np
import pytest
from helpers import dreamreel_argv, set_args

from renderer.engine.steps.shifts import jitter_shift
from renderer.runtime.backend_choice import use
from renderer.runtime.errors import DreamreelError


def _installed(backend):
    return pytest.param(
        backend,
        marks=pytest.mark.skipif(
            util.find_spec(backend) is None,
            reason=f"{backend} is not installed (pip install 'dreamreel[{backend}]')",
        ),
    )


OTHER_BACKENDS = [_installed("jax"), _installed("torch")]

# Dreams a 96x96 noise image (2 octaves asked, 10 steps, jitter, tiles with margins,
# smoothing) and saves its image, losses and the first raw gradient under argv[2].
_DREAM = """
import sys
from renderer.runtime.backend_choice import use
use(sys.argv[1])
import numpy as np
from renderer.engine.dream import DreamSettings, dream
from renderer.models.loading import load_dream_model
from renderer.imaging.noise import make_noise
from renderer.engine.step_cache import compiled_ascent
model = load_dream_model("mobilenet_v2_dogs")
image = make_noise(96, 96, seed=1).astype(np.float32)
settings = DreamSettings(steps=10, octaves=2, tile_size=64, tile_margin=16, jitter=8,
                         smoothing=0.5, seed=5).validate()
result = dream(image, model, settings)
gradient = compiled_ascent(model, settings.ascent).gradient(model.preprocessing.to_model(image))
# A composite objective (a channel, a neuron, a class logit, total variation), one octave.
from renderer.engine.objective_graph import bind
from renderer.engine.objective_layers import resolved_objective
from renderer.engine.objective_parser import parse_objective
composite = resolved_objective(parse_objective(
    "channel:block_12_expand_relu:37 + 0.5*neuron:block_13_expand_relu:3"
    " + 0.3*class:golden_retriever - 0.1*tv"), "mobilenet_v2_dogs")
reader = load_dream_model("mobilenet_v2_dogs", composite.layer_names())
single = DreamSettings(steps=6, octaves=1, tile_size=64, tile_margin=16, jitter=8,
                       smoothing=0.5, seed=5).validate()
mixed = dream(image, reader, single, objective=bind(composite, reader))
# The temporal term: the left half held to a reference 40 grey levels off.
from renderer.engine.dream import TemporalTarget
reference = np.clip(image + 40.0, 0, 255).astype(np.float32)
where = np.zeros(image.shape[:2], np.float32)
where[:, :48] = 300.0
holding = bind(resolved_objective(parse_objective(
    "channel:block_12_expand_relu:37 - temporal"), "mobilenet_v2_dogs"), reader)
held = dream(image, reader, single, objective=holding, temporal=TemporalTarget(reference, where))
# Determinism: four steps run whole, and run as two plus two (as a resumed dream is).
ascent = compiled_ascent(model, settings.ascent)
start = model.preprocessing.to_model(image[:64, :64])
whole, _ = ascent.run(start, 4, np.full(3, 0.02, np.float32), seed=3)
half, _ = ascent.run(start, 2, np.full(3, 0.02, np.float32), seed=3)
chunked, _ = ascent.run(half, 2, np.full(3, 0.02, np.float32), first_step=2, seed=3)
np.savez(sys.argv[2], image=result.image, losses=np.concatenate(result.losses),
         gradient=gradient, whole=whole, chunked=chunked,
         composite_losses=np.concatenate(mixed.losses), composite_image=mixed.image,
         held_losses=np.concatenate(held.losses), held_image=held.image, reference=reference)
"""


def _dream(backend, path):
    env = {**os.environ, "KERAS_BACKEND": ""}  # the spec's choice alone decides
    proc = subprocess.run(
        [sys.executable, "-c", _DREAM, backend, str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.load(path)


def test_jitter_shifts_are_tensorflows_draws():
    """The host's shifts (both backends' rolls) equal TensorFlow's stateless draws."""
    import tensorflow as tf

    for seed in (0, 5, 2**31 - 1):
        for step in (0, 1, 17, 250):
            for jitter in (1, 8, 32):
                drawn = tf.random.stateless_uniform(
                    [2],
                    seed=tf.constant([seed, step], tf.int32),
                    minval=-jitter,
                    maxval=jitter + 1,
                    dtype=tf.int32,
                ).numpy()
                assert np.array_equal(jitter_shift(seed, step, jitter), drawn), (seed, step, jitter)
    assert not jitter_shift(3, 4, 0).any()


def test_keras_already_on_another_backend_is_one_line():
    import keras  # this test process runs on TensorFlow

    assert keras.backend.backend() == "tensorflow"
    said = (
        "already runs on tensorflow.*new process"
        if util.find_spec("jax")
        else "backend jax is not installed: pip install 'dreamreel\\[jax\\]'"
    )
    with pytest.raises(DreamreelError, match=said):
        use("jax")
    assert use("tensorflow") == "tensorflow"  # the one already loaded: free
    with pytest.raises(DreamreelError, match="backend must be one of tensorflow, jax, torch"):
        use("theano")


@pytest.fixture(scope="module")
def tensorflow_dream(tmp_path_factory, embedded_cache):
    return _dream("tensorflow", tmp_path_factory.mktemp("tf") / "tf.npz")


def test_tensorflow_dreams_the_same_in_chunks(tensorflow_dream):
    assert np.array_equal(tensorflow_dream["whole"], tensorflow_dream["chunked"])


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_backend_dreams_what_tensorflow_dreams(backend, tensorflow_dream, tmp_path):
    tf_run, other = tensorflow_dream, _dream(backend, tmp_path / f"{backend}.npz")
    assert len(tf_run["losses"]) >= 10
    np.testing.assert_allclose(other["losses"], tf_run["losses"], rtol=0.01)
    # One gradient of the same image: equal to float rounding, tiles and all, but for
    # where rounding put a unit on the other side of a ReLU's kink: one deep unit's
    # receptive field in one window, under 1% of the pixels (seen with PyTorch).
    scale = np.abs(tf_run["gradient"]).max()
    off = np.abs(other["gradient"] - tf_run["gradient"]) / scale
    assert np.percentile(off, 99) < 1e-3 and off.max() < 0.05
    # Ten normalised steps amplify the rounding a little, pixel by pixel.
    difference = np.abs(other["image"] - tf_run["image"])
    assert difference.mean() < 2.0 and np.percentile(difference, 95) < 8.0
    # The composite objective's terms (keras.ops, shared) agree the same way.
    np.testing.assert_allclose(other["composite_losses"], tf_run["composite_losses"], rtol=0.01)
    assert np.abs(other["composite_image"] - tf_run["composite_image"]).mean() < 2.0
    # The temporal term's value and its step (keras.ops, shared) agree too; both held.
    np.testing.assert_allclose(other["held_losses"], tf_run["held_losses"], rtol=0.01)
    assert np.abs(other["held_image"] - tf_run["held_image"]).mean() < 2.0
    for run in (tf_run, other):
        off = np.abs(run["held_image"] - run["reference"])
        assert off[:, :48].mean() < 0.2 * off[:, 56:].mean()
    # Deterministic: the same bits whole or in chunks.
    assert np.array_equal(other["whole"], other["chunked"])


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_render_end_to_end_and_no_resume_on_tensorflow(backend, tmp_path, embedded_cache):
    out = tmp_path / "zoom"
    tiny = [
        "frames=3",
        "width=64",
        "height=64",
        "dream.steps=2",
        "zoom.first_steps=3",
        "zoom.first_octaves=1",
    ]
    env = {**os.environ, "KERAS_BACKEND": ""}
    run = subprocess.run(
        dreamreel_argv(
            "render",
            "noise-zoom",
            "--out",
            str(out),
            "--quiet",
            *set_args([*tiny, f"backend={backend}"]),
        ),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend"] == backend and manifest["spec"]["backend"] == backend
    assert len(list((out / "frames").iterdir())) == 3 and (out / "zoom.mp4").is_file()
    if backend == "jax":  # XLA's compiled steps are kept for the next render
        assert any((embedded_cache / "jax-compiled").iterdir())
    refused = subprocess.run(
        dreamreel_argv(
            "render",
            "noise-zoom",
            "--out",
            str(out),
            "--quiet",
            *set_args([*tiny, "backend=tensorflow"]),
        ),
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert refused.returncode == 3  # refused: the folder holds another (jax) render
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and f'backend "{backend}" -> "tensorflow"' in lines[0], refused.stderr
