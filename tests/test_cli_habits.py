"""Issue 9, item 8: --version, the --set shorthands, the device on a render's first line
and in its manifest."""

from __future__ import annotations

import json
import tomllib

import pytest

from renderer.cli.main import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_prints_the_package_version_without_tensorflow(tmp_path):
    from helpers import run_without_tensorflow_probe

    from renderer import __version__

    result, out, err = run_without_tensorflow_probe("--version", cwd=tmp_path)
    assert result == {"code": 0, "tensorflow": False, "keras": False}, err
    assert out == f"dreamreel {__version__}\n"


def test_shorthands_resolve_to_the_same_spec_as_their_sets(capsys):
    _, short, _ = run(
        capsys,
        "render",
        "noise-zoom",
        "--dry-run",
        "--seed",
        "5",
        "--frames",
        "7",
        "--size",
        "96x64",
    )
    _, long, _ = run(
        capsys,
        "render",
        "noise-zoom",
        "--dry-run",
        "--set",
        "seed=5",
        "--set",
        "frames=7",
        "--set",
        "width=96",
        "--set",
        "height=64",
    )
    assert short == long
    table = tomllib.loads(short)
    assert (table["seed"], table["frames"], table["width"], table["height"]) == (5, 7, 96, 64)


def test_size_of_a_video_caps_its_long_side(capsys, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    code, out, err = run(
        capsys, "render", "video-quick", "--input", str(clip), "--dry-run", "--size", "640x360"
    )
    assert code == 0, err
    table = tomllib.loads(out)
    assert table["video"]["max_size"] == 640 and "width" not in table


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["noise-zoom", "--seed", "abc"], "seed must be an integer, got 'abc'"),
        (["noise-zoom", "--frames", "0"], "frames must be from 1 to 10,000,000, got 0"),
        (["noise-zoom", "--frames", "2.5"], "frames must be an integer"),
        (["noise-zoom", "--size", "640"], "--size expects WIDTHxHEIGHT"),
        (["noise-zoom", "--size", "8x8000"], "width must be between 16 and 8192"),
        (["video-quick", "--input", "CLIP", "--frames", "10"], "video.end_frame"),
    ],
)
def test_bad_shorthand_values_are_one_line(capsys, tmp_path, argv, expected):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    argv = [str(clip) if a == "CLIP" else a for a in argv]
    code, _, err = run(capsys, "render", *argv, "--dry-run")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dreamreel: error:"), err
    assert expected in lines[0]


def test_a_render_names_its_device_first_and_records_it(tmp_path, capsys):
    from helpers import save_tiny_model

    from renderer.runtime.device import render_device

    save_tiny_model(tmp_path / "mine.keras")
    argv = [
        "render",
        "noise-zoom",
        "-o",
        str(tmp_path / "out"),
        "--size",
        "48x48",
        "--frames",
        "2",
        "--set",
        f"model={tmp_path / 'mine.keras'}",
        "--set",
        'layers=["c2"]',
        "--set",
        "dream.steps=1",
        "--set",
        "dream.octaves=1",
        "--set",
        "zoom.first_steps=1",
        "--set",
        "zoom.first_octaves=1",
        "--set",
        "output.gif=false",
        "--set",
        "output.mp4=false",
    ]
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    first = err.splitlines()[0]
    device = render_device()  # "CPU" here, "GPU:0 NVIDIA ..." where TensorFlow has one
    assert device == "CPU" or device.startswith("GPU:")
    assert first.startswith("dreamreel ") and f" on {device} into " in first, err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["device"] == device

    code, _, err = run(capsys, *argv, "--quiet", "--restart")
    assert code == 0 and err == ""


def test_a_tensorflow_that_cannot_load_is_one_line(tmp_path, capsys, monkeypatch):
    import renderer.runtime.quiet_tensorflow
    from renderer.runtime.device import render_device

    def broken():
        raise ImportError("libcudnn.so.9: cannot open shared object file")

    monkeypatch.setattr(renderer.runtime.quiet_tensorflow, "import_tensorflow_quietly", broken)
    render_device.cache_clear()
    try:
        code, _, err = run(capsys, "render", "progress", "-o", str(tmp_path / "out"))
    finally:
        render_device.cache_clear()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "libcudnn.so.9" in lines[0], err
    assert "dreamreel doctor" in lines[0] and not (tmp_path / "out").exists()
