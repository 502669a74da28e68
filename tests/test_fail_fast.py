"""Issue 9, item 4: `dreamreel render` refuses what a user got wrong before TensorFlow
loads, and a render that fails before its first frame leaves no folder it created."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_without_tensorflow_probe, save_tiny_model

from renderer.runtime.errors import DreamreelError


def run_probe(*argv: str, cwd: Path) -> tuple[dict, str]:
    result, _out, err = run_without_tensorflow_probe(*argv, cwd=cwd)
    return result, err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["render", "progres"], "did you mean: progress?"),
        (["render", "progress", "--set", "dream.stepz=3"], "did you mean dream.steps?"),
        (["render", "progress", "--input", "missing.jpg"], "no such file"),
        (["render", "progress", "--input", "empty.jpg"], "the file is empty"),
        (
            ["render", "progress", "--set", 'layers=["block_12_expand_rel"]'],
            "did you mean: block_12_expand_relu",
        ),
        (["render", "progress", "--set", "model=inceptionv3"], "did you mean: inception_v3"),
        (
            ["render", "progress", "--set", "model=inception_v3", "--set", 'layers=["mixed33"]'],
            "unknown layer 'mixed33' in inception_v3",
        ),
        (["render", "progress", "--set", "model=mine.keras"], "does not exist"),
        (["render", "progress", "--input", "text.png"], "not an image file OpenCV can decode"),
        (["render", "noise-zoom", "--input", "folder"], "it is a folder, not a file"),
    ],
)
def test_user_errors_fail_before_tensorflow_loads(tmp_path, argv, expected):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("a text file named like an image")
    (tmp_path / "folder").mkdir()
    result, err = run_probe(*argv, cwd=tmp_path)
    code = 4 if "decode" in expected else 2  # a damaged input, else a usage error
    assert result == {"code": code, "tensorflow": False, "keras": False}, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamreel: error:"), err
    assert expected in lines[0]
    # No renders/ folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.jpg", "folder", "text.png"]


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_layers_of_a_model_file_are_read_from_its_config(tmp_path, suffix):
    from renderer.models.extractor import walk
    from renderer.models.layer_names import known_layers

    path = tmp_path / f"mine{suffix}"
    model = save_tiny_model(path)
    expected = [
        address for address, _scope, layer in walk(model) if type(layer).__name__ != "InputLayer"
    ]
    assert known_layers(str(path)) == expected
    assert "inner/inner_conv" in expected

    result, err = run_probe(
        "render",
        "progress",
        "--set",
        f"model={path.name}",
        "--set",
        'layers=["inner/inner_cnv"]',
        cwd=tmp_path,
    )
    code = 4 if "decode" in expected else 2  # a damaged input, else a usage error
    assert result == {"code": code, "tensorflow": False, "keras": False}, err
    assert "did you mean: inner/inner_conv?" in err


def test_stored_layer_lists_match_the_built_models():
    """renderer/models/model_layers.json is what `python -m renderer.models.write_layer_list`
    writes from
    real builds; a Keras upgrade that renames layers fails here, not in a user's render."""
    from renderer.models.layer_names import _stored_lists
    from renderer.models.loading import dreamable_layers
    from renderer.models.registry import REGISTRY

    stored = _stored_lists()
    assert stored is not None and set(stored) == set(REGISTRY.names())
    for name in REGISTRY.names():
        assert stored[name] == [address for address, _ in dreamable_layers(name)], name


def test_stored_lists_are_not_trusted_under_another_keras_major(monkeypatch):
    from renderer.models import layer_names

    layer_names._stored_lists.cache_clear()
    monkeypatch.setattr(layer_names, "installed_keras", lambda: "4.0.0")
    try:
        assert layer_names.known_layers("inception_v3") is None
        layer_names.check_layers("inception_v3", ["mixed33"])  # left to the load
    finally:
        layer_names._stored_lists.cache_clear()


# ------------------------------------------------------------- nothing left behind


def test_a_bad_layer_leaves_no_output_folder_but_keeps_an_existing_one(tmp_path, capsys):
    from renderer.cli.main import main

    new = tmp_path / "renders" / "new"
    argv = ["render", "progress", "--set", 'layers=["nope"]', "--quiet"]
    assert main([*argv, "--out", str(new)]) == 2
    assert not (tmp_path / "renders").exists()

    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep me")
    assert main([*argv, "--out", str(existing)]) == 2
    assert (existing / "notes.txt").read_text() == "keep me"
    capsys.readouterr()


def test_a_layer_refused_after_the_load_leaves_no_output_folder(tmp_path, capsys):
    """`pool` is in the file's config (so the fast check lets it through) but has no
    spatial output: the refusal comes after TensorFlow and the model loaded."""
    from renderer.cli.main import main

    save_tiny_model(tmp_path / "mine.keras")
    out = tmp_path / "a" / "b"
    code = main(
        [
            "render",
            "progress",
            "--set",
            f"model={tmp_path / 'mine.keras'}",
            "--set",
            'layers=["pool"]',
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 2
    assert "no (batch, H, W, C) output" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()


def _tiny_render(tmp_path: Path, out: Path):
    import renderer

    save_tiny_model(tmp_path / "mine.keras")
    return renderer.render(
        "noise-zoom",
        out=out,
        model=str(tmp_path / "mine.keras"),
        layers=["c2"],
        width=48,
        height=48,
        frames=4,
        pipeline=False,
        dream={"steps": 1, "octaves": 1},
        zoom={"first_steps": 1, "first_octaves": 1},
        output={"gif": False, "mp4": False},
    )


def _dream_failing_at(monkeypatch, frame: int):
    """The frame loop's dream raises on its ``frame``-th call (0-based)."""
    import renderer.rendering.frame_loop as scheduler

    real, calls = scheduler.dream, []

    def dream(*args, **kwargs):
        calls.append(1)
        if len(calls) > frame:
            raise DreamreelError("injected failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(scheduler, "dream", dream)


def test_a_render_failing_before_frame_0_removes_the_folders_it_created(tmp_path, monkeypatch):
    _dream_failing_at(monkeypatch, 0)
    with pytest.raises(DreamreelError, match="injected"):
        _tiny_render(tmp_path, tmp_path / "new" / "deeper")
    assert not (tmp_path / "new").exists()

    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(DreamreelError, match="injected"):
        _tiny_render(tmp_path, kept)
    assert kept.is_dir()  # it existed before: never removed


def test_a_render_failing_after_its_first_frame_keeps_its_folder(tmp_path, monkeypatch):
    _dream_failing_at(monkeypatch, 2)
    out = tmp_path / "new"
    with pytest.raises(DreamreelError, match="injected"):
        _tiny_render(tmp_path, out)
    assert len(list((out / "frames").glob("*.png"))) == 2  # kept: the next run resumes


_HOLD_LOCK = """
import sys
from renderer.store.render_lock import render_lock
with render_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_failed_render_leaves_a_folder_another_render_holds(tmp_path, monkeypatch):
    """Two renders started at once into a new folder both see it missing; the one that
    fails must not remove the folder the other one (a child process here) renders into."""
    import subprocess
    import sys

    import renderer.rendering.prepared
    from renderer.rendering.render_preset import render

    out = tmp_path / "shared"
    other: list[subprocess.Popen] = []

    def model_load(*args, **kwargs):  # meanwhile another render takes the folder
        if not other:
            other.append(
                subprocess.Popen(
                    [sys.executable, "-c", _HOLD_LOCK, str(out)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            assert other[0].stdout.readline().strip() == "held"
        raise DreamreelError("injected failure before frame 0")

    # Where the render loads its model (rendering/prepared.py).
    monkeypatch.setattr(renderer.rendering.prepared, "cached_dream_model", model_load)
    try:
        with pytest.raises(DreamreelError, match="injected"):
            render("noise-zoom", out=out)
        assert out.is_dir()  # the other render's
    finally:
        other[0].communicate("", timeout=60)
