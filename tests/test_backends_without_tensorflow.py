"""A JAX or PyTorch render needs no TensorFlow: the GPU box of issue 11 has JAX and
PyTorch but no TensorFlow.

The render runs in a subprocess where ``import tensorflow`` fails as if it were not
installed (sys.modules["tensorflow"] = None: find_spec says None, imports raise
ModuleNotFoundError), so any TensorFlow import reached on the backend's path (model
loading, the .h5 read, the step, the profile) breaks it. Skipped where the backend is not
installed.
"""

import json
import os
import subprocess
import sys
from importlib import util

import pytest
from helpers import set_args

_RUN = """
import sys
sys.modules["tensorflow"] = None  # as if not installed
from renderer.cli.main import main
sys.argv = ["dreamreel", *sys.argv[1:]]
try:
    main()
finally:
    assert sys.modules.get("tensorflow") is None
"""


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(
            name,
            marks=pytest.mark.skipif(
                util.find_spec(name) is None, reason=f"{name} is not installed"
            ),
        )
        for name in ("jax", "torch")
    ],
)
def test_render_without_tensorflow(backend, tmp_path, embedded_cache):
    out = tmp_path / "zoom"
    tiny = [
        "frames=2",
        "width=64",
        "height=64",
        "dream.steps=2",
        "zoom.first_steps=2",
        "zoom.first_octaves=1",
        f"backend={backend}",
    ]
    env = {**os.environ, "KERAS_BACKEND": ""}
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            _RUN,
            "render",
            "noise-zoom",
            "--out",
            str(out),
            "--quiet",
            *set_args(tiny),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["backend"] == backend
    assert len(list((out / "frames").iterdir())) == 2
