"""Shipped presets: all valid, and installed inside the package (not only in a checkout)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from renderer.rendering.preset_files import preset_names
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {"noise-zoom", "zoom-hd", "progress", "inception-classic", "video-dream", "video-quick"}


def test_the_promised_presets_ship():
    assert SHIPPED <= set(preset_names())


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_is_valid_and_its_first_line_describes_it(name):
    spec = load_spec(name, input="clip.mp4")  # video presets need an input; others accept one
    assert spec.name == name
    first = (ROOT / "presets" / f"{name}.toml").read_text().splitlines()[0]
    assert first.startswith(f"# {name}: ")
    for frame in (0, spec.frames // 2, spec.frames - 1):
        assert spec.dream_settings(frame).steps >= 1


def test_noise_zoom_is_small_enough_for_a_cpu():
    spec = load_spec("noise-zoom")
    assert spec.mode == "zoom" and spec.model == "mobilenet_v2_dogs" and spec.input is None
    assert spec.width * spec.height * spec.frames <= 384 * 384 * 100


def test_presets_are_found_from_an_installed_wheel(tmp_path):
    """Build the wheel, install it without the checkout, list presets from elsewhere."""
    pytest.importorskip("setuptools")  # --no-build-isolation builds with the venv's own
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT),
            "-w",
            str(wheels),
        ],
        check=True,
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            *map(str, wheels.glob("*.whl")),
        ],
        check=True,
    )
    code = (
        "from renderer.rendering.preset_files import preset_names, presets_dir; "
        "print(presets_dir(), preset_names())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(site) in out
    for name in SHIPPED:
        assert f"'{name}'" in out


def test_video_presets_need_an_input_clip():
    with pytest.raises(DreamreelError, match="--input CLIP"):
        load_spec("video-quick")
