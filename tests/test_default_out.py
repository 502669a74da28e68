"""Issue 20, item 1: without --out each recipe renders into a folder of its own, so a
second photo or a changed setting is never refused by the last render, and the same
command resumes its own folder; decided before TensorFlow loads."""

from __future__ import annotations

import subprocess
import sys

from helpers import set_args

from renderer.cli.main import main
from renderer.rendering.default_out import default_out
from renderer.rendering.spec import load_spec
from renderer.store.frame_store import done_frame_count

TINY = set_args(["width=48", "height=48", "dream.steps=1", "zoom.first_steps=1"])


def test_the_folder_follows_the_recipe_not_the_frame_count(samples_dir):
    def out(*overrides, photo="coffee.jpg"):
        return default_out(load_spec("progress", list(overrides), input=str(samples_dir / photo)))

    first = out()
    assert first == out()  # the same command: the same folder
    assert first.parent.name == "renders" and first.name.startswith("progress-coffee-")
    assert out(photo="chelsea.jpg").name.startswith("progress-chelsea-")
    assert out(photo="chelsea.jpg") != first  # another photo: another folder
    assert out("dream.steps=7") != first  # another setting: another folder
    noise = default_out(load_spec("noise-zoom"))
    assert noise.name.startswith("noise-zoom-noise-")
    assert default_out(load_spec("noise-zoom", ["frames=500"])) == noise  # a longer zoom


def test_a_changed_setting_renders_beside_the_last_and_the_same_command_resumes(
    tmp_path, monkeypatch, capsys, embedded_cache
):
    monkeypatch.chdir(tmp_path)
    first = ["render", "noise-zoom", "--frames", "2", *TINY]
    changed = [*first, *set_args(["zoom.scale=1.2"])]
    assert main(first) == 0
    assert "a new render" in capsys.readouterr().err
    assert main(changed) == 0  # not refused by the first render's folder
    folders = sorted((tmp_path / "renders").iterdir())
    assert len(folders) == 2 and all(done_frame_count(f) == 2 for f in folders)
    assert main([*first[:3], "3", *TINY]) == 0  # the same recipe, one frame more
    assert "holds 2 frames: resumed" in capsys.readouterr().err
    assert sorted((tmp_path / "renders").iterdir()) == folders
    assert sorted(done_frame_count(f) for f in folders) == [2, 3]


def test_the_folder_is_decided_without_tensorflow(tmp_path):
    code = (
        "import sys; from renderer.rendering.spec import load_spec; "
        "from renderer.rendering.default_out import default_out; "
        "print(default_out(load_spec('noise-zoom')), 'tensorflow' in sys.modules)"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    folder, tensorflow = shown.stdout.split()
    assert folder.startswith("renders/noise-zoom-noise-") and tensorflow == "False"
