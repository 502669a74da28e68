"""The Python API in a notebook (issue 20, item 4): RenderResult's repr and inline display,
dream_image's pictures (paths, greyscale, RGBA), progress where someone watches, errors
in Python's spelling, explicit signatures, and no TensorFlow log lines on stderr."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import html
import inspect
import io
import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import renderer
from renderer.cli.python_spelling import python_spelling
from renderer.rendering.render_result import RenderResult
from renderer.runtime.errors import DreamreelError

TINY_ZOOM = dict(
    frames=2, width=32, height=32, dream={"steps": 0}, zoom={"first_steps": 1, "first_octaves": 1}
)


def a_kernel() -> types.ModuleType:
    """A stand-in for IPython as a Jupyter kernel has it: get_ipython() has a kernel."""
    module = types.ModuleType("IPython")
    shell = types.SimpleNamespace(kernel=object(), config={})
    module.get_ipython = lambda: shell  # type: ignore[attr-defined]
    return module


@pytest.fixture(scope="module")
def zoom(tmp_path_factory, embedded_cache):
    """A tiny noise zoom rendered as in a notebook: (its RenderResult, what went to stderr)."""
    out = tmp_path_factory.mktemp("notebook") / "zoom"
    stderr = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(stderr):
        patch.setitem(sys.modules, "IPython", a_kernel())
        result = renderer.render("noise-zoom", out=out, **TINY_ZOOM)
    return result, stderr.getvalue()


def data_uri_bytes(html: str, tag: str) -> tuple[str, bytes]:
    """The MIME type and the bytes of the first ``<tag src="data:...">`` in ``html``."""
    found = re.search(tag + r' src="data:([\w/]+);base64,([A-Za-z0-9+/=]+)"', html)
    assert found, html[:300]
    return found.group(1), base64.b64decode(found.group(2))


def a_result(tmp_path: Path, outputs: list[Path], **changes) -> RenderResult:
    profile = {"stages": {"dream": {"seconds": 1.0}}, "summary": "3 frames in 2.0 s: dream 90%"}
    fields = dict(
        out_dir=tmp_path,
        mode="video",
        frames=3,
        rendered=3,
        seconds=2.04,
        outputs=outputs,
        report={},
        final_loss=1.23456,
        profile=profile,
    )
    return RenderResult(**{**fields, **changes})


# ---------------------------------------------------------------- RenderResult


def test_a_render_result_reads_as_one_short_line_without_its_profile(tmp_path):
    result = a_result(tmp_path, [tmp_path / "video.mp4", tmp_path / "video.gif"])
    shown = repr(result)
    assert "\n" not in shown and len(shown) < 200
    for part in (str(tmp_path), "'video'", "frames=3", "2.0", "1.235", "video.mp4", "video.gif"):
        assert part in shown
    assert "stages" not in shown and "dream 90%" not in shown


def test_a_notebook_shows_the_renders_gif_inline(zoom):
    result, _ = zoom
    page = result._repr_html_()
    kind, shown = data_uri_bytes(page, "<img")
    gif = next(p for p in result.outputs if p.suffix == ".gif")
    assert kind == "image/gif" and shown == gif.read_bytes()
    assert f"{result.frames} frames" in page


def test_a_video_without_a_gif_shows_its_mp4_and_its_stability_line(tmp_path):
    mp4 = tmp_path / "video.mp4"
    mp4.write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a movie")
    summary = "temporal stability: flicker 1.1x the source's"
    report = {"summary": summary, "cuts": [12]}
    page = a_result(tmp_path, [mp4], report=report)._repr_html_()
    kind, shown = data_uri_bytes(page, "<video")
    assert kind == "video/mp4" and shown == mp4.read_bytes()
    assert f"{summary}; scene cuts at frames [12]" in html.unescape(page)


def test_a_large_gif_is_shown_from_its_file_not_copied_into_the_notebook(tmp_path, monkeypatch):
    gif = tmp_path / "zoom.gif"
    Image.new("RGB", (8, 8), "red").save(gif)
    monkeypatch.setattr("renderer.rendering.render_result.INLINE_LIMIT_BYTES", 10)
    monkeypatch.chdir(tmp_path)  # the notebook's folder: Jupyter serves files from it
    page = a_result(tmp_path, [gif])._repr_html_()
    assert "data:" not in page and '<img src="zoom.gif"' in page


# ---------------------------------------------------------------- dream_image's pictures


def test_dream_image_reads_a_path_as_a_render_reads_its_input(embedded_cache, samples_dir):
    from renderer.media.images import read_image

    photo = samples_dir / "chelsea.jpg"
    for given in (str(photo), photo):
        out, _ = renderer.dream_image(given, steps=0, octaves=1)
        assert out.dtype == np.uint8 and out.shape == (300, 451, 3)
        assert np.abs(out.astype(int) - read_image(photo)).max() <= 1


def test_dream_image_takes_greyscale_arrays(embedded_cache):
    grey = np.tile(np.linspace(0, 255, 48).astype(np.uint8), (40, 1))
    out, _ = renderer.dream_image(grey, steps=0, octaves=1)
    assert out.shape == (40, 48, 3)
    for channel in range(3):
        assert np.abs(out[:, :, channel].astype(int) - grey).max() <= 1
    floats, _ = renderer.dream_image(grey[:, :, None] / 255.0, steps=0, octaves=1)
    assert floats.dtype == np.float64 and floats.shape == (40, 48, 3)
    assert np.abs(floats[:, :, 1] - grey / 255.0).max() <= 1 / 255


def test_dream_image_puts_transparent_pixels_on_the_background(embedded_cache):
    rgba = np.zeros((32, 48, 4), np.uint8)
    rgba[:, :, 0] = 200  # red everywhere, but the left half cannot be seen
    rgba[:, 24:, 3] = 255
    white, _ = renderer.dream_image(rgba, steps=0, octaves=1)
    assert white.shape == (32, 48, 3)
    assert (white[:, :24] >= 254).all()  # the default background: white, as renders use
    assert np.abs(white[:, 24:].astype(int) - [200, 0, 0]).max() <= 1
    black, _ = renderer.dream_image(rgba, steps=0, octaves=1, input_background="#000000")
    assert (black[:, :24] <= 1).all()


@pytest.mark.parametrize(
    "image, said",
    [
        ("no-such-photo.jpg", "cannot read image 'no-such-photo.jpg': no such file"),
        (np.zeros((32, 32, 3), np.int64), "expected uint8 pixels"),
        (np.full((32, 32, 3), 255.0), "float pixels must lie in 0..1"),
        (np.zeros((32, 32, 2), np.uint8), "got (32, 32, 2)"),
        (np.zeros((8, 40, 3), np.uint8), "40x8, too small"),
        ([[1, 2], [3]], "not an image array"),
    ],
)
def test_dream_image_refuses_what_is_no_picture_in_one_line(image, said):
    with pytest.raises(DreamreelError) as caught:
        renderer.dream_image(image, steps=0)
    assert said in str(caught.value) and "\n" not in str(caught.value)


def test_dream_image_refuses_a_picture_above_the_pixel_limit(samples_dir):
    for picture in (np.zeros((40, 50, 3), np.uint8), samples_dir / "chelsea.jpg"):
        with pytest.raises(DreamreelError, match=r"above the .* limit; raise max_input_pixels"):
            renderer.dream_image(picture, max_input_pixels=1999)


def test_dream_image_names_a_misspelled_setting():
    with pytest.raises(DreamreelError, match="unknown setting 'stepz'; did you mean steps"):
        renderer.dream_image(np.zeros((32, 32, 3), np.uint8), stepz=3)
    with pytest.raises(DreamreelError, match="steps must be int, got '3'"):
        renderer.dream_image(np.zeros((32, 32, 3), np.uint8), steps="3")


# ---------------------------------------------------------------- signatures


def test_help_shows_the_real_keywords():
    from renderer.engine.dream import DreamSettings
    from renderer.media.limits import DEFAULT_MAX_INPUT_PIXELS
    from renderer.media.transparency import DEFAULT_BACKGROUND

    render = inspect.signature(renderer.render).parameters
    for name in ("preset", "input", "out", "overrides", "restart", "progress", "max_frames"):
        assert name in render
    assert render["settings"].kind is inspect.Parameter.VAR_KEYWORD
    dream = inspect.signature(renderer.dream_image).parameters
    spelled = [n for n in dream if n in {f.name for f in dataclasses.fields(DreamSettings)}]
    assert {"steps", "step_size", "octaves", "octave_scale", "seed"} <= set(spelled)
    for name in spelled:  # the defaults help() shows are the engine's own
        assert dream[name].default == getattr(DreamSettings(), name), name
    assert dream["max_input_pixels"].default == DEFAULT_MAX_INPUT_PIXELS
    assert dream["input_background"].default == DEFAULT_BACKGROUND
    for function in (renderer.render, renderer.dream_image, renderer.load_model):
        assert function.__doc__ and len(function.__doc__.split()) > 10


# ---------------------------------------------------------------- Python's spelling


def test_an_api_error_says_restart_true_not_the_cli_flag(zoom):
    result, _ = zoom
    with pytest.raises(DreamreelError) as caught:
        renderer.render("noise-zoom", out=result.out_dir, **{**TINY_ZOOM, "width": 48})
    said = str(caught.value)
    assert "add restart=True to start over" in said and "choose another out=" in said
    assert "--" not in said


@pytest.mark.parametrize(
    "cli, python",
    [
        ("clear it with --set video.start= --set video.end=)", 'overrides=["video.start=", '),
        ("unset it: --set video.max_size=)", 'overrides=["video.max_size="])'),
        ("--set expects key=value", "overrides expects key=value"),
        ("--set dream.steps: a number", 'overrides=["dream.steps=..."]: a number'),
        ("needs an input clip: --input CLIP (a video", "input=CLIP (a video"),
        ("add --audio TRACK (or", "add audio=TRACK (or"),
        ("--out s3://b/x: folders at a URL", "out=s3://b/x: folders at a URL"),
        ("with width/height (--size WxH)", "(width=W, height=H)"),
        # whole flags only, and never inside the user's own quoted text or a path
        ("'/tmp/a --restart' and /x/--out/y or --output", "'/tmp/a --restart' and /x/--out/y"),
    ],
)
def test_cli_flags_are_written_as_keywords(cli, python):
    assert python in python_spelling(cli)


def test_dream_image_names_its_own_keywords_for_a_setting():
    said = python_spelling("(e.g. --set max_input_pixels=200000000)", settings_as_keywords=True)
    assert said == "(e.g. max_input_pixels=200000000)"


# ---------------------------------------------------------------- progress


def test_render_shows_a_bar_in_a_notebook(zoom):
    _, stderr = zoom
    assert "noise-zoom" in stderr and "2/2" in stderr


def test_render_shows_no_bar_where_nobody_watches(zoom, tmp_path, capsys):
    renderer.render("noise-zoom", out=tmp_path / "quiet", **{**TINY_ZOOM, "frames": 1})
    assert "1/1" not in capsys.readouterr().err
    calls = []
    renderer.render(
        "noise-zoom", out=tmp_path / "own", progress=lambda *c: calls.append(c), **TINY_ZOOM
    )
    assert calls[-1][:2] == (2, 2)
    with pytest.raises(DreamreelError, match="progress must be None"):
        renderer.render("noise-zoom", out=tmp_path / "bad", progress="yes", **TINY_ZOOM)


# ---------------------------------------------------------------- TensorFlow's noise


def test_dream_image_prints_none_of_tensorflows_start_up_lines(embedded_cache, tmp_path):
    script = textwrap.dedent(
        """
        import numpy as np
        import renderer
        out, _ = renderer.dream_image(np.zeros((32, 32, 3), np.uint8), steps=1, octaves=1)
        print(out.shape)
        """
    )
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment["PYTHONPATH"] = str(Path(renderer.__file__).resolve().parent.parent)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(32, 32, 3)"
    for chatter in ("oneDNN", "cuda", "absl", "I0000", "W0000", "E0000", "cpu_feature_guard"):
        assert chatter not in done.stderr, done.stderr
