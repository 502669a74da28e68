"""Behaviour of renderer.rendering.stitch: frame counts, order, timing and the manifest-driven
CLI path."""

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageSequence

from renderer.media import probe
from renderer.rendering.stitch import PLAIN, play_order, stitch, stitch_from_manifest
from renderer.runtime.errors import DreamreelError
from renderer.store.frame_store import FrameStore
from renderer.store.manifest import spec_hash

H, W = 32, 48
COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]


def render_folder(tmp_path, count=4, *, fps=8.0, output=None):
    spec = {
        "mode": "zoom",
        "fps": fps,
        "output": output or {"gif": True, "mp4": True, "gif_max_side": 480, "hold_last": 0.0},
    }
    store = FrameStore(tmp_path, {"spec": spec, "spec_hash": spec_hash(spec)})
    for i in range(count):
        image = np.full((H, W, 3), COLOURS[i % len(COLOURS)], np.uint8)
        store.write_frame(i, image, octave_losses=[1.0], final_loss=1.0, seconds=0.1)
    return store


def gif_colours(path):
    """The dominant colour of each GIF frame, in order (Pillow merges no distinct frames)."""
    with Image.open(path) as gif:
        assert gif.info.get("loop") == 0  # loops forever
        return [
            tuple(int(c) for c in np.asarray(frame.convert("RGB"))[H // 2, W // 2])
            for frame in ImageSequence.Iterator(gif)
        ]


def test_mp4_and_gif_match_the_frames(tmp_path):
    render_folder(tmp_path, 4)
    written = stitch(tmp_path, name="zoom", fps=12)
    assert written == [tmp_path / "zoom.mp4", tmp_path / "zoom.gif"]

    info = probe(tmp_path / "zoom.mp4")
    assert info["frames"] == 4
    assert (info["width"], info["height"]) == (W, H)
    assert info["fps"] == 12
    assert (info["codec"], info["pix_fmt"]) == ("h264", "yuv420p")
    assert gif_colours(tmp_path / "zoom.gif") == COLOURS[:4]


def test_pingpong_plays_back_without_repeating_the_ends(tmp_path):
    render_folder(tmp_path, 4)
    stitch(tmp_path, name="loop", fps=8, output=replace(PLAIN, pingpong=True))
    assert probe(tmp_path / "loop.mp4")["frames"] == 2 * 4 - 2
    assert gif_colours(tmp_path / "loop.gif") == [COLOURS[i] for i in (0, 1, 2, 3, 2, 1)]


def test_pingpong_holds_the_final_image_where_the_loop_turns(tmp_path):
    render_folder(tmp_path, 4)
    stitch(
        tmp_path, name="loop", fps=8, output=replace(PLAIN, pingpong=True, hold_last=0.25)
    )  # 2 frames held
    assert probe(tmp_path / "loop.mp4")["frames"] == 2 * 4 - 2 + 2
    # The GIF merges equal neighbours into one longer frame: the colours in order.
    assert gif_colours(tmp_path / "loop.gif") == [COLOURS[i] for i in (0, 1, 2, 3, 2, 1)]


def test_play_order():
    assert play_order(4, fps=8, pingpong=True) == [0, 1, 2, 3, 2, 1]
    assert play_order(2, fps=8, pingpong=True) == [0, 1]
    assert play_order(1, fps=8, pingpong=True) == [0]
    assert play_order(4, fps=8, pingpong=True, hold_last=0.25) == [0, 1, 2, 3, 3, 3, 2, 1]
    assert play_order(3, fps=10, hold_last=0.25) == [0, 1, 2, 2, 2]  # round(2.5) == 2
    assert play_order(3, fps=10, hold_last=0.0) == [0, 1, 2]


def test_hold_last_adds_frames(tmp_path):
    render_folder(tmp_path, 3)
    stitch(tmp_path, name="held", fps=10, output=replace(PLAIN, hold_last=0.5, gif=False))
    assert probe(tmp_path / "held.mp4")["frames"] == 3 + 5
    assert not (tmp_path / "held.gif").exists()


def test_count_takes_the_first_frames_and_gif_is_downscaled(tmp_path):
    render_folder(tmp_path, 5)
    written = stitch(
        tmp_path, name="part", fps=8, count=2, output=replace(PLAIN, mp4=False, gif_max_side=24)
    )
    assert written == [tmp_path / "part.gif"]
    with Image.open(written[0]) as gif:
        assert gif.size == (24, 16) and gif.n_frames == 2


def test_stitch_from_manifest_uses_its_settings_and_done_frames(tmp_path):
    store = render_folder(
        tmp_path,
        3,
        fps=6.0,
        output={"gif": True, "mp4": True, "gif_max_side": 480, "hold_last": 0.5},
    )
    (tmp_path / "frames" / "000004.png").write_bytes(store.frame_path(0).read_bytes())  # no row
    written = stitch_from_manifest(tmp_path)
    assert written == [tmp_path / "zoom.mp4", tmp_path / "zoom.gif"]
    info = probe(tmp_path / "zoom.mp4")
    assert info["fps"] == 6
    assert info["frames"] == 3 + 3  # 3 done frames, not the stray 4th; round(0.5 * 6) held


def test_stitch_from_manifest_pingpong_and_no_gif(tmp_path):
    render_folder(
        tmp_path,
        3,
        output={"gif": False, "mp4": True, "gif_max_side": 480, "pingpong": True, "hold_last": 1.0},
    )
    assert stitch_from_manifest(tmp_path) == [tmp_path / "zoom.mp4"]
    assert probe(tmp_path / "zoom.mp4")["frames"] == 4 + 8  # 0 1 2, 8 x 2 held, 1


def test_stitch_from_manifest_of_a_progress_folder(tmp_path):
    """Progress snapshots are frames like any other: stored, logged and stitched alike."""
    render_folder(tmp_path, 3)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["spec"]["mode"] = "progress"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert stitch_from_manifest(tmp_path) == [tmp_path / "progress.mp4", tmp_path / "progress.gif"]
    assert probe(tmp_path / "progress.mp4")["frames"] == 3


def test_empty_and_foreign_folders_are_one_line_errors(tmp_path):
    with pytest.raises(DreamreelError, match="no frames in .*frames to stitch"):
        stitch(tmp_path, name="x", fps=8)
    with pytest.raises(DreamreelError, match="no manifest.json"):
        stitch_from_manifest(tmp_path)
    render_folder(tmp_path, 0)
    with pytest.raises(DreamreelError, match="no frames in .*frames to stitch"):
        stitch_from_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"spec": {"fps": 8}}))
    with pytest.raises(DreamreelError) as info:
        stitch_from_manifest(tmp_path)
    assert "\n" not in str(info.value)
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob("*.gif")) == []
