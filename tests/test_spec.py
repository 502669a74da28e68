"""Preset loading and --set overrides: validated, with one clear line on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from renderer.rendering.preset_files import preset_names, resolve_preset
from renderer.rendering.spec import load_spec, parse_override
from renderer.runtime.errors import DreamreelError


def test_progress_preset_loads_by_bare_name_and_path():
    by_name = load_spec("progress")
    by_path = load_spec(str(resolve_preset("progress")))
    assert by_name == by_path
    assert by_name.mode == "progress" and by_name.name == "progress"
    assert by_name.layer_weights(0) == {"block_12_expand_relu": 1.0, "block_13_expand_relu": 1.0}
    assert "progress" in preset_names()


def test_overrides_parse_as_toml_values_and_reach_nested_tables():
    spec = load_spec(
        "progress",
        [
            "dream.steps=7",
            "dream.step_size=0.05",
            "seed=3",
            "model=inception_v3",
            'layers=["mixed3"]',
            "fps=12",
            "progress.caption=false",
        ],
    )
    settings = spec.dream_settings()
    assert settings.steps == 7 and settings.step_size == 0.05
    assert spec.model == "inception_v3" and spec.layer_weights(0) == {"mixed3": 1.0}
    assert spec.fps == 12.0 and spec.progress.caption is False
    assert settings.seed == 3


def test_direct_values_win_and_none_is_ignored():
    spec = load_spec("progress", input="photo.jpg", width=None)
    # The input is recorded absolute (manifests must not depend on the working folder).
    assert spec.input == str(Path("photo.jpg").resolve()) and spec.width == 480


@pytest.mark.parametrize(
    "override,message",
    [
        ("dream.stepz=3", "did you mean dream.steps"),
        ("colour=1", "unknown key 'colour'"),
        ("dream.steps=many", "dream.steps: cannot parse schedule"),
        ("dream.octaves=2.5", "dream.octaves must be an integer"),
        ('zoom.scale="0:(1.0), 10:(-1)"', "zoom.scale must be > 0"),
        ("interpolation=cubic", "interpolation must be one of"),
        ("dream.steps=-1", "dream.steps must be >= 0"),
        ("dream.octave_scale=1", "octave_scale must be > 1"),
        ("fps=0", "fps must be > 0"),
        ("width=3", "width must be between"),
        ("mode=film", "mode must be one of"),
        ("dream.seed=4", "unknown key 'dream.seed'"),
        ("layers=3", "layers must be"),
        ("progress.every=0", "every must be >= 1"),
        ("steps", "--set expects key=value"),
    ],
)
def test_bad_overrides_are_one_clear_line(override, message):
    with pytest.raises(DreamreelError) as err:
        load_spec("progress", [override])
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_preset_suggests_close_names(tmp_path):
    with pytest.raises(DreamreelError, match="did you mean: progress"):
        load_spec("progres")
    with pytest.raises(DreamreelError, match="not found"):
        load_spec(str(tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("mode = \n")
    with pytest.raises(DreamreelError, match="cannot read preset"):
        load_spec(str(broken))


def test_parse_override_keeps_bare_words_as_strings():
    assert parse_override("model=vgg16") == (["model"], "vgg16")
    assert parse_override("dream.jitter = 0") == (["dream", "jitter"], 0)
