"""A user's model file is as trusted as code (issue 19): what runs code or exhausts memory
while it loads is refused in one line, before Keras or the dry run's layer check reads it;
ordinary .keras and .h5 files still load."""

from __future__ import annotations

import json
import tomllib
import tracemalloc
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers import save_tiny_model
from packaging.requirements import Requirement

from renderer.cli.main import main
from renderer.models.layer_names import known_layers
from renderer.models.loading import load_dream_model
from renderer.runtime.errors import DreamreelError

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


def _dream_once(path: Path, layer: str) -> None:
    """Load the file as a render would and run the model once: where a Lambda's code runs."""
    dream = load_dream_model(str(path), [layer], preprocess="unit")
    dream.activations(np.zeros((1, 8, 8, 3), np.float32))


def _dry_run(capsys, model: Path, layer: str) -> tuple[int, str]:
    code = main(
        ["render", "progress", "--set", f"model={model}", "--set", f'layers=["{layer}"]']
        + ["--dry-run"]
    )
    return code, capsys.readouterr().err.strip()


def _write_keras_zip(path: Path, config_chunks) -> Path:
    """A .keras archive whose config.json is written from `config_chunks`, streamed."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("config.json", "w", force_zip64=True) as member:
            for chunk in config_chunks:
                member.write(chunk)
        archive.writestr("metadata.json", json.dumps({"keras_version": keras.__version__}))
        archive.writestr("model.weights.h5", b"")
    return path


def _config_with(layer: dict) -> dict:
    """A Functional config with an input, a conv and `layer`, as Keras would write it."""
    return {
        "class_name": "Functional",
        "config": {
            "name": "hand_made",
            "layers": [
                {"class_name": "InputLayer", "config": {"name": "input"}, "name": "input"},
                {"class_name": "Conv2D", "config": {"name": "c1"}, "name": "c1"},
                layer,
            ],
        },
    }


# ------------------------------------------------------------------ code in a model file


@pytest.fixture
def keras_safe_mode_bypassed(monkeypatch):
    """A Keras whose safe_mode lets a Lambda's Python code through, as releases before 3.11
    did for .h5 files (CVE-2025-9905): dreamreel's own check must still refuse it."""
    from keras.src.layers.core.lambda_layer import Lambda

    monkeypatch.setattr(Lambda, "_raise_for_lambda_deserialization", staticmethod(lambda _: None))


def _save_model_with_marker_lambda(path: Path, marker: Path) -> None:
    """Conv -> a nested sub-model whose Lambda touches `marker` whenever it runs."""
    marker_name = str(marker)
    inner = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            keras.layers.Lambda(
                lambda t: t if __import__("pathlib").Path(marker_name).touch() is None else t,
                output_shape=(6, 6, 2),
                name="evil",
            ),
        ],
        name="inner",
    )
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, inner(keras.layers.Conv2D(2, 3, name="c1")(inputs)))
    keras.saving.save_model(model, path)
    marker.unlink(missing_ok=True)


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_a_lambda_in_a_nested_model_is_refused_before_its_code_runs(
    tmp_path, capsys, keras_safe_mode_bypassed, suffix
):
    marker = tmp_path / "lambda-ran"
    path = tmp_path / f"evil{suffix}"
    _save_model_with_marker_lambda(path, marker)

    try:
        _dream_once(path, "inner")  # dreaming on the nested model would run its Lambda
    except DreamreelError as error:
        refusal = str(error)
    else:
        refusal = ""
    assert not marker.exists()
    assert "Lambda layer 'evil'" in refusal and "\n" not in refusal

    code, err = _dry_run(capsys, path, "c1")  # the dry run's layer check reads the file too
    assert code != 0 and "Lambda layer 'evil'" in err and "\n" not in err
    assert not marker.exists()


@pytest.mark.parametrize(
    "layer, expected",
    [
        ({"class_name": "Lambda", "config": {"name": "fn"}}, "Lambda layer 'fn'"),
        ({"class_name": "TFSMLayer", "config": {"name": "sm"}}, "TFSMLayer layer 'sm'"),
        (
            {"class_name": "TorchModuleWrapper", "config": {"name": "torch"}},
            "TorchModuleWrapper layer 'torch'",
        ),
        (
            {
                "class_name": "Activation",
                "config": {"name": "act", "activation": {"class_name": "__lambda__"}},
            },
            "serialized Python lambda",
        ),
        (
            {
                "class_name": "StringLookup",
                "config": {"name": "vocab", "vocabulary": "/etc/passwd"},
            },
            "vocabulary file",
        ),
    ],
)
def test_every_layer_safe_mode_refuses_is_refused_in_one_line(tmp_path, layer, expected):
    path = _write_keras_zip(tmp_path / "hand.keras", [json.dumps(_config_with(layer)).encode()])
    with pytest.raises(DreamreelError) as error:
        known_layers(str(path))
    assert expected in _one_line(error)


def test_models_are_loaded_with_safe_mode_said_explicitly(tmp_path, monkeypatch):
    real_load, calls = keras.models.load_model, []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(keras.models, "load_model", spy)
    save_tiny_model(tmp_path / "mine.keras")
    load_dream_model(str(tmp_path / "mine.keras"), ["c1"])
    assert calls and all(kwargs.get("safe_mode") is True for kwargs in calls)


def test_the_keras_floor_is_past_the_safe_mode_bypasses():
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    keras_requirement = next(
        Requirement(line) for line in dependencies if Requirement(line).name == "keras"
    )
    # CVE-2025-1550 (fixed in 3.9), CVE-2025-9906 and CVE-2025-9905 (fixed in 3.11)
    for vulnerable in ("3.0.0", "3.8.0", "3.9.2", "3.10.0"):
        assert not keras_requirement.specifier.contains(vulnerable), vulnerable
    assert keras_requirement.specifier.contains("3.11.0")


@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_ordinary_model_files_still_load(tmp_path, capsys, suffix):
    path = tmp_path / f"mine{suffix}"
    save_tiny_model(path)
    assert {"c1", "inner/inner_conv", "c2"} <= set(known_layers(str(path)) or [])
    dream = load_dream_model(str(path), ["c1", "c2"], preprocess="unit")
    c1, c2 = dream.activations(np.zeros((1, 9, 9, 3), np.float32))
    assert c1.shape[1:] == (7, 7, 4) and c2.shape[1:] == (2, 2, 6)
    code, err = _dry_run(capsys, path, "inner/inner_conv")
    assert code == 0, err


# ------------------------------------------------------------------ resources


def _spaces(total: int, chunk: int = 2**20):
    """`total` bytes of JSON whitespace around `{}`: deflates ~1000:1."""
    yield b"{"
    for _ in range(total // chunk):
        yield b" " * chunk
    yield b"}"


def _refusal_cost(call) -> tuple[str, int]:
    """(the refusal's text, "" when `call` passed; peak bytes Python allocated)."""
    tracemalloc.start()
    try:
        call()
        refusal = ""
    except DreamreelError as error:
        refusal = str(error)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return refusal, peak


def test_a_config_json_that_inflates_to_200_mb_is_refused_small(tmp_path, capsys):
    path = _write_keras_zip(tmp_path / "bomb.keras", _spaces(200 * 2**20))
    assert path.stat().st_size < 2**20  # a small file on disk...

    for call in (lambda: known_layers(str(path)), lambda: _dream_once(path, "c1")):
        refusal, peak = _refusal_cost(call)  # ...refused before it inflates
        assert peak < 16 * 2**20, peak
        assert "config.json declares 200.0 MiB" in refusal and "16.0 MiB" in refusal
        assert "\n" not in refusal

    code, err = _dry_run(capsys, path, "c1")
    assert code != 0 and "config.json declares" in err and "\n" not in err


def test_weights_that_inflate_far_past_the_archive_are_a_bomb(tmp_path):
    normal = tmp_path / "mine.keras"
    save_tiny_model(normal)
    with zipfile.ZipFile(normal) as archive:
        config = archive.read("config.json")
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", config)
        with archive.open("model.weights.h5", "w", force_zip64=True) as member:
            for _ in range(128):
                member.write(bytes(2**20))  # 128 MiB of zeros in ~130 KB

    refusal, peak = _refusal_cost(lambda: _dream_once(path, "c1"))
    assert peak < 16 * 2**20, peak
    assert "decompression bomb" in refusal and "128.0 MiB" in refusal and "\n" not in refusal


def _nested(depth: int) -> list[bytes]:
    return [b"[" * depth, b"]" * depth]


@pytest.mark.parametrize("depth", [100_000, 150])
def test_a_deeply_nested_config_is_one_line(tmp_path, capsys, depth):
    """100,000 levels break json's parser (RecursionError); 150 parse, but are past any
    real model (14): refused before Keras' recursive deserializer sees them."""
    path = _write_keras_zip(tmp_path / "deep.keras", _nested(depth))
    for call in (lambda: known_layers(str(path)), lambda: _dream_once(path, "c1")):
        with pytest.raises(DreamreelError) as error:
            call()
        assert "config.json nests deeper than 100 levels" in _one_line(error)

    code, err = _dry_run(capsys, path, "c1")
    assert code != 0 and "nests deeper" in err and "\n" not in err


def test_a_deeply_nested_h5_model_config_is_one_line(tmp_path):
    import h5py

    path = tmp_path / "deep.h5"
    with h5py.File(path, "w") as h5:  # 20,000 levels: under HDF5's 64 KB for an attribute
        h5.attrs["model_config"] = "[" * 20_000 + "]" * 20_000
    with pytest.raises(DreamreelError) as error:
        known_layers(str(path))
    assert "model_config nests deeper than 100 levels" in _one_line(error)
