"""``dreamreel import-deforum``: Deforum settings files -> a zoom preset that moves as
Deforum's run did. The settings are written here as Deforum writes them (one JSON object,
the A1111 extension's keys, json.dump(indent=4) into a *_settings.txt)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import cv2
import numpy as np
import pytest

from renderer.cli.main import main
from renderer.rendering import deforum_settings
from renderer.rendering.modes.zoom import Motion, warp
from renderer.rendering.spec import load_spec

# The A1111 Deforum extension's settings file, trimmed to a representative part of its keys
# (its DeforumArgs / DeforumAnimArgs / video args, merged into one flat JSON object).
A1111 = {
    "W": 512,
    "H": 448,
    "seed": -1,
    "sampler": "euler_a",
    "steps": 25,
    "prompts": {"0": "a tiny cat", "60": "a tiny dog"},
    "positive_prompts": "",
    "negative_prompts": "nsfw",
    "animation_mode": "2D",
    "max_frames": 120,
    "border": "replicate",
    "angle": "0:(0), 40:(0.5)",
    "zoom": "0:(1.0025+0.002*sin(1.25*3.14*t/30))",
    "translation_x": "0:(0), 30:(3), 60:(2*cos(t/10))",
    "translation_y": "0:(0)",
    "translation_z": "0:(1.75)",
    "rotation_3d_x": "0:(0)",
    "rotation_3d_y": "0:(0)",
    "rotation_3d_z": "0:(0)",
    "noise_schedule": "0: (0.065)",
    "strength_schedule": "0: (0.65)",
    "contrast_schedule": "0: (1.0)",
    "cfg_scale_schedule": "0: (7)",
    "noise_type": "perlin",
    "color_coherence": "LAB",
    "diffusion_cadence": "2",
    "fps": 15,
    "seed_behavior": "iter",
    "batch_name": "Deforum_{timestring}",
    "outdir": "outputs/img2img-images/Deforum",
}


def _settings_file(tmp_path, settings, name="20230601123456_settings.txt"):
    path = tmp_path / name
    path.write_text(json.dumps(settings, ensure_ascii=False, indent=4), encoding="utf-8")
    return path


def _import(tmp_path, capsys, settings, name="20230601123456_settings.txt"):
    path = _settings_file(tmp_path, settings, name)
    assert main(["import-deforum", str(path)]) == 0
    text = capsys.readouterr().out
    preset = tmp_path / "mine.toml"
    preset.write_text(text, encoding="utf-8")
    return text, preset


def test_a1111_settings_file_imports_into_a_preset_that_renders(tmp_path, capsys):
    text, preset = _import(tmp_path, capsys, A1111)
    assert main(["render", str(preset), "--dry-run"]) == 0
    capsys.readouterr()
    spec = load_spec(str(preset))
    assert (spec.mode, spec.width, spec.height, spec.frames, spec.fps) == (
        "zoom",
        512,
        448,
        120,
        15,
    )
    assert spec.seed < 0  # Deforum's -1: random
    assert spec.zoom.cadence == 2 and spec.zoom.color_coherence is True
    for t in (0, 7, 33, 119):  # the zoom expression kept as Deforum wrote it (3.14, sin, t)
        assert spec.zoom.scale(t) == pytest.approx(1.0025 + 0.002 * math.sin(1.25 * 3.14 * t / 30))
    assert spec.zoom.rotation(20) == pytest.approx(0.25)  # linear between keyframes, as Deforum
    # Deforum's translation_x: 0 -> 3 by frame 30, then glides into 2*cos(t/10): negated.
    assert spec.zoom.translate_x(15) == pytest.approx(-1.5)
    assert spec.zoom.translate_x(90) == pytest.approx(-2 * math.cos(9.0))
    assert spec.zoom.noise(50) == pytest.approx(0.065 * 127.5)
    # What has no counterpart is named at the top.
    head = text.split("mode =")[0]
    for dropped in ("prompts", "sampler", "strength_schedule", "3D motion", "border"):
        assert dropped in head


def _deforum_warp(image, angle, zoom, tx, ty):
    """Deforum's anim_frame_warp_2d (its documented 2D camera), for the comparison."""
    height, width = image.shape[:2]
    trans = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]], np.float64)
    rot = np.vstack([cv2.getRotationMatrix2D((width // 2, height // 2), angle, zoom), [0, 0, 1]])
    return cv2.warpPerspective(image, rot @ trans, (width, height), borderMode=cv2.BORDER_REPLICATE)


def _blob(size=65, at=(48, 32)):
    y, x = np.mgrid[:size, :size].astype(np.float32)
    spot = np.exp(-((x - at[0]) ** 2 + (y - at[1]) ** 2) / 8.0) * 255.0
    return np.repeat(spot[..., None], 3, axis=2).astype(np.float32)


def _centroid(image):
    weight = image[..., 0].astype(np.float64)
    y, x = np.mgrid[: image.shape[0], : image.shape[1]]
    return float((x * weight).sum() / weight.sum()), float((y * weight).sum() / weight.sum())


def _moved(tmp_path, capsys, motion, frames=3):
    """(where the blob ends in dreamreel's render, where it ends in Deforum's) after
    ``frames - 1`` camera moves, dreamreel's through the imported preset."""
    settings = {"W": 65, "H": 65, "max_frames": frames, "fps": 12, "seed": 3, **motion}
    _, preset = _import(tmp_path, capsys, settings)
    spec = load_spec(str(preset))
    ours = theirs = _blob()
    for frame in range(1, frames):
        ours = warp(ours, Motion.at(spec, frame))
        values = {
            key: float(str(motion.get(key, "0:(0)")).split("(")[1].rstrip(")"))
            for key in ("angle", "translation_x", "translation_y")
        }
        theirs = _deforum_warp(
            theirs,
            values["angle"],
            float(str(motion.get("zoom", "0:(1)")).split("(")[1].rstrip(")")),
            values["translation_x"],
            values["translation_y"],
        )
    return _centroid(ours), _centroid(theirs)


def test_positive_angle_turns_the_picture_counter_clockwise_as_deforum(tmp_path, capsys):
    ours, theirs = _moved(tmp_path, capsys, {"angle": "0:(10)", "zoom": "0:(1.0)"})
    # The blob right of the centre (32, 32) turns counter-clockwise on screen: up.
    assert ours[1] < 32 - 4 and ours[0] < 48
    assert ours == pytest.approx(theirs, abs=0.3)


def test_translation_moves_the_picture_as_deforum(tmp_path, capsys):
    motion = {"translation_x": "0:(2)", "translation_y": "0:(-1.5)", "zoom": "0:(1.0)"}
    ours, theirs = _moved(tmp_path, capsys, motion)
    assert ours == pytest.approx((48 + 4, 32 - 3), abs=0.3)  # right 2, up 1.5 a frame
    assert ours == pytest.approx(theirs, abs=0.3)


def test_zoom_rotation_and_translation_together_move_as_deforum(tmp_path, capsys):
    motion = {
        "angle": "0:(4)",
        "zoom": "0:(1.03)",
        "translation_x": "0:(1.5)",
        "translation_y": "0:(1)",
    }
    ours, theirs = _moved(tmp_path, capsys, motion)
    # Deforum moves the picture before zooming it: about zoom x the shift, within 0.25 px here.
    assert ours == pytest.approx(theirs, abs=0.5)


def test_deforum_names_and_unreadable_schedules(tmp_path, capsys):
    settings = {
        **A1111,
        "seed": 7,
        "max_frames": 11,
        "zoom": "0:(1 + 0.05*t/max_f)",  # max_f: Deforum's last frame
        "translation_x": "0:(s % 3)",  # s: Deforum's seed (dreamreel's s is seconds)
        "angle": "0:(arcsin(0.5))",  # numexpr's arcsin: dreamreel has asin
        "translation_y": "0:(1/(t-5))",  # no value at frame 5
    }
    text, preset = _import(tmp_path, capsys, settings)
    spec = load_spec(str(preset))
    assert spec.zoom.scale(10) == pytest.approx(1.05)
    assert spec.zoom.translate_x(4) == pytest.approx(-1.0)
    assert "\nrotation =" not in text
    assert 'zoom.rotation left out: dreamreel cannot use Deforum\'s angle "0:(arcsin(0.5))"' in text
    assert spec.zoom.rotation(5) == 0.0
    assert "\ntranslate_y =" not in text and "zoom.translate_y left out" in text


def test_3d_mode_imports_its_2d_keys_and_says_depth_is_dropped(tmp_path, capsys):
    settings = {**A1111, "animation_mode": "3D", "color_coherence": "None"}
    text, preset = _import(tmp_path, capsys, settings)
    assert "depth motion" in text.split("mode =")[0]
    spec = load_spec(str(preset))
    assert spec.zoom.translate_x(15) == pytest.approx(-1.5)
    assert spec.zoom.color_coherence is False


def test_text_from_the_file_cannot_break_out_of_a_comment(tmp_path, capsys):
    settings = {**A1111, "color_coherence": 'HSV\nmode = "video"\n[x', "animation_mode": "3D\r\n["}
    text, preset = _import(tmp_path, capsys, settings)
    assert load_spec(str(preset)).mode == "zoom"


def _refused(tmp_path, capsys, data: bytes, name="x_settings.txt"):
    path = tmp_path / name
    path.write_bytes(data)
    code = main(["import-deforum", str(path)])
    err = capsys.readouterr().err
    assert err.startswith("dreamreel: error:") and err.count("\n") == 1, err
    return code, err


@pytest.mark.parametrize(
    ("data", "code", "says"),
    [
        (b"W=512\nH=512\n", 4, "not JSON"),
        (b"\xff\xfe\x00garbage", 4, "not text"),
        (b"[1, 2]", 2, "JSON list"),
        (b"[" * 200_000 + b"]" * 200_000, 2, "nests"),
        (json.dumps({**A1111, "W": "wide"}).encode(), 2, "W"),
        (json.dumps({**A1111, "angle": [0, 1]}).encode(), 2, "angle"),
        (json.dumps({**A1111, "max_frames": 10**30}).encode(), 2, "max_frames"),
        (json.dumps({**A1111, "fps": "fast"}).encode(), 2, "fps"),
        (b'{"W": 512, "zoom": NaN}', 4, "NaN"),
    ],
)
def test_bad_files_end_in_one_line(tmp_path, capsys, data, code, says):
    got, err = _refused(tmp_path, capsys, data)
    assert got == code and says in err


def test_huge_and_missing_files_end_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(deforum_settings, "MAX_BYTES", 1000)
    code, err = _refused(tmp_path, capsys, json.dumps({**A1111, "pad": "x" * 2000}).encode())
    assert code == 2 and "over" in err
    assert main(["import-deforum", str(tmp_path / "gone.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_import_deforum_does_not_load_tensorflow(tmp_path):
    path = _settings_file(tmp_path, A1111)
    code = (
        "import sys; from renderer.cli.main import main; "
        f"assert main(['import-deforum', {str(path)!r}]) == 0; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
