"""Edge cases a demanding user hit (issue 9, "More, found by trying edge cases"): each ends
right now. --set can clear a key, a preset must name its mode, the input is known by its
content and recorded absolute, a negative seed is a random one recorded, pingpong keeps
hold_last, and a later video.end extends a finished video render.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from helpers import click_time, frame_bytes, write_clip

import renderer
from renderer.cli.main import main as cli_main
from renderer.engine.dream import DreamSettings
from renderer.media import probe
from renderer.media.input_identity import input_identity
from renderer.rendering.identity import render_identity
from renderer.rendering.preset_files import preset_names, resolve_preset
from renderer.rendering.seeds import resolve_random_seed
from renderer.rendering.spec import load_spec
from renderer.rendering.stitch import stitch_from_manifest
from renderer.runtime.errors import DreamreelError
from renderer.store.frame_store import FrameStore
from renderer.store.manifest import spec_hash

TINY_ZOOM = [
    "width=64",
    "height=64",
    "frames=2",
    "dream.steps=1",
    "zoom.first_steps=1",
    "zoom.first_octaves=1",
    "output.gif=false",
    "output.hold_last=0",
]
TINY_VIDEO = [
    "mode=video",
    "fps=8",
    "dream.steps=1",
    "dream.octaves=1",
    "video.first_steps=1",
    "video.first_octaves=1",
    "output.gif=false",
    "output.hold_last=0",
]


def moving_frames(count, height=48, width=64, seed=0):
    """Smooth texture panning 2 px a frame: flow has something to find."""
    rng = np.random.default_rng(seed)
    wide = rng.integers(0, 255, (height // 4, (width + 2 * count) // 4, 3), np.uint8)
    wide = np.kron(wide, np.ones((4, 4, 1), np.uint8))
    return [np.ascontiguousarray(wide[:height, 2 * t : 2 * t + width]) for t in range(count)]


# ---------------------------------------------------------------- --set key= (unset)


def test_set_with_an_empty_value_or_none_clears_a_preset_key():
    spec = load_spec("video-quick", ["video.end=", "video.end_frame=40"], input="clip.mp4")
    assert spec.video.end is None and spec.video.end_frame == 40
    assert load_spec("video-quick", ["video.end=none"], input="c.mp4").video.end is None
    assert load_spec("video-quick", ["video.end=None"], input="c.mp4").video.end is None
    # Back to the default (the engine's), not to a value of its own.
    assert load_spec("progress").width == 480 and load_spec("progress").dream.octaves == 3
    assert load_spec("progress", ["width="]).width is None
    assert load_spec("progress", ["dream.octaves="]).dream.octaves == DreamSettings().octaves


def test_clearing_a_misspelt_key_is_refused_like_setting_it():
    with pytest.raises(DreamreelError, match="unknown key 'video.edn'; did you mean video.end"):
        load_spec("video-quick", ["video.edn="], input="clip.mp4")
    with pytest.raises(DreamreelError, match="unknown key 'dreem'"):
        load_spec("progress", ["dreem.steps=none"])


def test_conflicting_range_keys_say_how_to_clear_one():
    with pytest.raises(DreamreelError, match=r"video.end .*video.end_frame .*--set video.end="):
        load_spec("video-quick", ["video.end_frame=40"], input="clip.mp4")


def test_cli_render_refuses_the_conflict_in_one_line(capsys):
    assert (
        cli_main(["render", "video-quick", "--input", "clip.mp4", "--set", "video.end_frame=40"])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--set video.end=" in err


# ---------------------------------------------------------------- a preset needs a mode


def test_a_preset_without_mode_is_refused(tmp_path):
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(DreamreelError, match='sets no mode: add mode = "progress"'):
        load_spec(str(empty))
    (tmp_path / "half.toml").write_text("[dream]\nsteps = 3\n")
    with pytest.raises(DreamreelError, match="sets no mode"):
        load_spec(str(tmp_path / "half.toml"))
    assert load_spec(str(empty), ["mode=zoom"]).mode == "zoom"  # given on the command line


@pytest.mark.parametrize("name", preset_names())
def test_every_shipped_preset_names_its_mode(name):
    assert "\nmode = " in resolve_preset(name).read_text()


# ---------------------------------------------------------------- the input, by content


def store_with_input(out, source, restart=False):
    spec = {"mode": "video", "input": str(source)}
    return FrameStore(out, {"spec": spec, "spec_hash": spec_hash(spec)}, restart=restart)


def write_one_frame(store):
    store.write_frame(
        0, np.zeros((8, 8, 3), np.uint8), octave_losses=[1.0], final_loss=1.0, seconds=0.1
    )


def test_a_replaced_input_file_is_refused_on_resume(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"first clip" * 100)
    write_one_frame(store_with_input(tmp_path / "out", clip))
    clip.write_bytes(b"other clip" * 100)  # same size, same path
    with pytest.raises(
        DreamreelError,
        match="the input changed since frames were rendered.*same size, other content.*--restart",
    ):
        store_with_input(tmp_path / "out", clip)
    clip.write_bytes(b"longer clip" * 100)
    with pytest.raises(DreamreelError, match=r"size 1000 -> 1100 bytes"):
        store_with_input(tmp_path / "out", clip)
    store = store_with_input(tmp_path / "out", clip, restart=True)  # --restart: the new one
    assert store.done_count() == 0


def test_a_touched_input_with_the_same_bytes_still_resumes(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"the clip" * 100)
    write_one_frame(store_with_input(tmp_path / "out", clip))
    later = time.time() + 100
    os.utime(clip, (later, later))
    assert store_with_input(tmp_path / "out", clip).done_count() == 1
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["input_identity"]["mtime_ns"] == clip.stat().st_mtime_ns  # recorded anew


def test_same_size_and_mtime_is_taken_as_the_same_file_without_reading_it(tmp_path, monkeypatch):
    from renderer.media import input_identity as module

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"the clip" * 100)
    known = input_identity(clip)

    def no_reading(*args):
        raise AssertionError("the file was read again")

    monkeypatch.setattr(module, "_file_hash", no_reading)
    assert input_identity(clip, known=known) is known


def test_big_files_hash_their_head_and_tail(tmp_path, monkeypatch):
    from renderer.media import input_identity as module

    monkeypatch.setattr(module, "FULL_HASH_LIMIT", 1000)
    monkeypatch.setattr(module, "PART", 100)
    clip = tmp_path / "big.mp4"
    data = bytearray(b"x" * 5000)
    clip.write_bytes(bytes(data))
    before = input_identity(clip)
    assert before["hashed"] == "first and last 100 bytes"
    data[-1:] = b"y"  # a change in the tail
    clip.write_bytes(bytes(data))
    assert input_identity(clip)["sha256"] != before["sha256"]


def test_a_changed_frame_folder_is_refused_on_resume(tmp_path):
    from renderer.media.images import write_image_atomic

    folder = tmp_path / "frames_in"
    folder.mkdir()
    for i, frame in enumerate(moving_frames(3)):
        write_image_atomic(folder / f"f_{i + 1}.png", frame)
    write_one_frame(store_with_input(tmp_path / "out", folder))
    assert store_with_input(tmp_path / "out", folder).done_count() == 1  # unchanged
    write_image_atomic(folder / "f_3.png", moving_frames(3, seed=5)[2])
    with pytest.raises(DreamreelError, match="the last frame's content differs"):
        store_with_input(tmp_path / "out", folder)
    write_image_atomic(folder / "f_4.png", moving_frames(4)[3])
    with pytest.raises(DreamreelError, match="3 -> 4 frames"):
        store_with_input(tmp_path / "out", folder)


def test_a_manifest_without_the_input_record_still_resumes(tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"the clip" * 100)
    write_one_frame(store_with_input(tmp_path / "out", clip))
    path = tmp_path / "out" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["input_identity"]  # as written before inputs were identified
    path.write_text(json.dumps(manifest))
    clip.write_bytes(b"the clap" * 100)
    assert store_with_input(tmp_path / "out", clip).done_count() == 1


# ---------------------------------------------------------------- absolute input paths


def test_the_input_is_recorded_absolute_and_relative_spellings_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    one = load_spec("video-quick", input="clip.mp4")
    two = load_spec("video-quick", input="sub/../clip.mp4")
    assert one.input == str(tmp_path.resolve() / "clip.mp4")
    assert render_identity(one) == render_identity(two)


@pytest.fixture(scope="module")
def sound_clip(tmp_path_factory):
    from helpers import click_track

    folder = tmp_path_factory.mktemp("sound")
    write_clip(folder / "clip.mkv", moving_frames(8), 8, audio=click_track(1.0, 0.5))
    return folder / "clip.mkv"


def test_stitch_finds_the_sound_from_any_working_folder(
    embedded_cache, sound_clip, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    monkeypatch.chdir(sound_clip.parent)
    renderer.render(load_spec("progress", TINY_VIDEO, input="clip.mkv"), out=out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["audio"]["path"] == str(sound_clip.resolve())
    # The same file by another relative path: the same render, resumed (nothing to do).
    again = renderer.render(load_spec("progress", TINY_VIDEO, input="./clip.mkv"), out=out)
    assert again.rendered == 0

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (out / "video.mp4").unlink()
    assert cli_main(["stitch", str(out)]) == 0
    assert probe(out / "video.mp4")["audio"] == "aac"
    assert click_time(out / "video.mp4") == pytest.approx(0.5, abs=0.03)


def test_stitch_names_a_relative_sound_path_of_an_old_manifest(tmp_path):
    from test_stitch import render_folder

    render_folder(tmp_path, 2)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["audio"] = {"path": "clip.mkv", "start": 0.0}  # as older versions kept it
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DreamreelError, match="relative to the folder the render ran in"):
        stitch_from_manifest(tmp_path)


# ---------------------------------------------------------------- seed = -1


def test_a_negative_seed_draws_one_and_a_resume_keeps_it(tmp_path):
    spec = load_spec("noise-zoom", ["seed=-1"])
    drawn, note = resolve_random_seed(spec, tmp_path)
    assert 0 <= drawn.seed < 2**31 and str(drawn.seed) in note
    store = FrameStore(tmp_path, {"spec": drawn.to_dict(), "spec_hash": "x"})
    write_one_frame(store)
    kept, note = resolve_random_seed(spec, tmp_path)
    assert kept.seed == drawn.seed and "continuing" in note
    assert resolve_random_seed(load_spec("noise-zoom", ["seed=7"]), tmp_path) == (
        load_spec("noise-zoom", ["seed=7"]),
        None,
    )


def test_a_seed_minus_one_render_records_its_seed_and_resumes(embedded_cache, tmp_path):
    said = []
    first = renderer.render(
        "noise-zoom", out=tmp_path, overrides=[*TINY_ZOOM, "seed=-1"], announce=said.append
    )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    seed = manifest["spec"]["seed"]
    assert first.rendered == 2 and seed >= 0
    assert any(f"drew seed {seed}" in line for line in said)
    frames = frame_bytes(tmp_path)

    longer = renderer.render(
        "noise-zoom", out=tmp_path, overrides=[*TINY_ZOOM, "seed=-1", "frames=3"]
    )
    assert longer.rendered == 1  # resumed with the recorded seed, not refused
    assert frame_bytes(tmp_path)[:2] == frames
    renderer.render("noise-zoom", out=tmp_path / "again", overrides=[*TINY_ZOOM, f"seed={seed}"])
    assert frame_bytes(tmp_path / "again") == frames  # reproducible from the record


def test_the_cli_says_the_drawn_seed_before_rendering(embedded_cache, tmp_path, capsys):
    args = [arg for item in [*TINY_ZOOM, "frames=1"] for arg in ("--set", item)]
    assert cli_main(["render", "noise-zoom", "--seed", "-1", "--out", str(tmp_path), *args]) == 0
    seed = json.loads((tmp_path / "manifest.json").read_text())["spec"]["seed"]
    err = capsys.readouterr().err
    assert 0 <= seed and f"seed -1: drew seed {seed}" in err and "Traceback" not in err


# ---------------------------------------------------------------- pingpong + hold_last


def test_a_pingpong_render_keeps_hold_last(embedded_cache, tmp_path):
    result = renderer.render(
        "noise-zoom",
        out=tmp_path,
        overrides=[*TINY_ZOOM, "frames=3", "fps=4", "output.pingpong=true", "output.hold_last=0.5"],
    )
    # 0 1 2, the final image held round(0.5 * 4) = 2 more frames, then back: 1.
    assert probe(tmp_path / "zoom.mp4")["frames"] == 3 + 2 + 1
    assert result.frames == 3


# ---------------------------------------------------------------- a later video end


@pytest.fixture(scope="module")
def clip12(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip12") / "clip.mp4", moving_frames(12), 8)


def test_a_later_end_extends_a_finished_video_render_to_the_same_frames(
    embedded_cache, clip12, tmp_path
):
    short = renderer.render(
        load_spec("progress", [*TINY_VIDEO, "video.end_frame=5"], input=str(clip12)),
        out=tmp_path / "ext",
    )
    assert short.frames == 5
    stored = frame_bytes(tmp_path / "ext")
    longer = renderer.render(
        load_spec("progress", [*TINY_VIDEO, "video.end_frame=9"], input=str(clip12)),
        out=tmp_path / "ext",
    )
    assert (longer.frames, longer.rendered) == (9, 4)
    assert frame_bytes(tmp_path / "ext")[:5] == stored
    renderer.render(
        load_spec("progress", [*TINY_VIDEO, "video.end_frame=9"], input=str(clip12)),
        out=tmp_path / "whole",
    )
    assert frame_bytes(tmp_path / "ext") == frame_bytes(tmp_path / "whole")
    report = json.loads((tmp_path / "ext" / "report.json").read_text())
    assert report == json.loads((tmp_path / "whole" / "report.json").read_text())
    # In seconds too: end = 1.5 s is frame 12 of an 8 fps clip, past its end: all 12.
    assert (
        renderer.render(
            load_spec("progress", [*TINY_VIDEO, "video.end=1.5"], input=str(clip12)),
            out=tmp_path / "ext",
        ).rendered
        == 3
    )


@pytest.mark.parametrize("change", ["video.start_frame=1", "video.every=2", "video.max_size=32"])
def test_a_changed_start_every_or_size_is_still_refused(embedded_cache, clip12, tmp_path, change):
    renderer.render(
        load_spec("progress", [*TINY_VIDEO, "video.end_frame=3"], input=str(clip12)), out=tmp_path
    )
    with pytest.raises(DreamreelError, match=f"different render.*{change.split('=')[0]}"):
        renderer.render(
            load_spec("progress", [*TINY_VIDEO, "video.end_frame=6", change], input=str(clip12)),
            out=tmp_path,
        )
