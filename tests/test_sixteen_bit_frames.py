"""16-bit frames (issue 21 item 2): output.frames_format = "png16" or "tiff16" adds
frames16/NNNNNN.png (.tif) beside the 8-bit frames, from the dream's float values.

The 8-bit frames stay exactly as they were (frames chain through them); the 16-bit ones
really use their 16 bits, round to the 8-bit ones, resume like them, and are managed like
them (a link there is refused, --restart deletes them)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import set_args, without_recipe

from renderer.cli.main import main
from renderer.media.embedded_text import read_embedded_text
from renderer.media.images import to_uint16
from renderer.rendering.default_out import default_out
from renderer.rendering.spec import load_spec
from renderer.store.frame_store import RECIPE_KEYWORD, FrameStore

TINY = [
    "width=48",
    "height=48",
    "frames=3",
    "dream.steps=1",
    "zoom.first_steps=1",
    "zoom.first_octaves=1",
    "output.gif=false",
    "output.mp4=false",
]


def render(out: Path, frames_format: str | None, *extra: str) -> int:
    sets = [*TINY, *([f"output.frames_format={frames_format}"] if frames_format else [])]
    return main(["render", "noise-zoom", *set_args(sets), "--out", str(out), "--quiet", *extra])


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.is_dir() else {}


def pixels(folder: Path) -> dict[str, bytes]:
    """The 8-bit frames without their recipe chunk (which names frames_format)."""
    return {name: without_recipe(data) for name, data in files(folder).items()}


def read16(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None, path
    return image


@pytest.fixture(scope="module")
def renders(tmp_path_factory):
    """One png16 render and one plain (8-bit) render of the same tiny zoom."""
    root = tmp_path_factory.mktemp("sixteen")
    assert render(root / "png16", "png16") == 0
    assert render(root / "plain", None) == 0
    return root


def test_png16_frames_use_their_16_bits_and_round_to_the_8_bit_frames(renders):
    out = renders / "png16"
    names = sorted(p.name for p in (out / "frames16").iterdir())
    assert names == ["000001.png", "000002.png", "000003.png"]
    for name in names:
        wide = read16(out / "frames16" / name)
        narrow = read16(out / "frames" / name)
        assert wide.dtype == np.uint16 and wide.shape == (48, 48, 3)
        assert narrow.dtype == np.uint8
        assert len(np.unique(wide)) > 256  # not bytes * 257: the floats' own values
        assert np.array_equal(np.rint(wide / 257.0).astype(np.uint8), narrow)
    recipe = read_embedded_text(out / "frames16" / names[0], keyword=RECIPE_KEYWORD, prefix="")
    assert recipe and "frames_format" in recipe


def test_the_setting_changes_neither_the_folder_nor_the_8_bit_frames(renders):
    plain = load_spec("noise-zoom", TINY)
    wide = load_spec("noise-zoom", [*TINY, "output.frames_format=png16"])
    assert default_out(plain) == default_out(wide)
    assert pixels(renders / "plain" / "frames") == pixels(renders / "png16" / "frames")
    assert not (renders / "plain" / "frames16").exists()


def test_a_frame_missing_its_16_bit_file_is_rendered_again_and_comes_out_the_same(
    renders, tmp_path
):
    out = tmp_path / "resumed"
    shutil.copytree(renders / "png16", out)
    (out / "frames16" / "000003.png").unlink()
    kept = (out / "frames16" / "000001.png").stat().st_mtime_ns
    assert render(out, "png16") == 0
    assert files(out / "frames16") == files(renders / "png16" / "frames16")
    assert files(out / "frames") == files(renders / "png16" / "frames")
    assert (out / "frames16" / "000001.png").stat().st_mtime_ns == kept  # resumed, not redone
    rows = (out / "losses.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["1", "2", "3"]


def test_an_8_bit_render_resumed_as_tiff16_gets_every_16_bit_frame(renders, tmp_path):
    out = tmp_path / "switched"
    shutil.copytree(renders / "plain", out)
    assert render(out, "tiff16") == 0
    names = sorted(p.name for p in (out / "frames16").iterdir())
    assert names == ["000001.tif", "000002.tif", "000003.tif"]
    for name in names:
        tiff = read16(out / "frames16" / name)
        assert tiff.dtype == np.uint16 and len(np.unique(tiff)) > 256
        assert np.array_equal(
            tiff, read16(renders / "png16" / "frames16" / name.replace("tif", "png"))
        )
    assert pixels(out / "frames") == pixels(renders / "plain" / "frames")


def test_restart_deletes_the_16_bit_frames(renders, tmp_path):
    out = tmp_path / "restarted"
    shutil.copytree(renders / "png16", out)
    manifest = json.loads((out / "manifest.json").read_text())
    FrameStore(out, manifest, restart=True)
    assert files(out / "frames16") == {} and files(out / "frames") == {}


def test_a_float_that_disagrees_with_its_byte_keeps_the_byte():
    stored = np.array([[[10, 200, 255]]], np.uint8)
    exact = np.array([[[10.4, 90.0, 254.6]]], np.float32)  # 90: a caption drawn at 200
    wide = to_uint16(exact, stored)
    assert wide.tolist() == [[[round(10.4 * 257), 200 * 257, round(254.6 * 257)]]]
    assert to_uint16(None, stored).tolist() == [[[10 * 257, 200 * 257, 255 * 257]]]


def test_an_unknown_frames_format_is_one_line(tmp_path, capsys):
    code = render(tmp_path / "out", "png32")
    lines = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(lines) == 1, lines
    assert "frames_format" in lines[0] and "png16" in lines[0] and "tiff16" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.name == "nt", reason="POSIX links")
def test_a_linked_frames16_folder_is_refused_and_left_alone(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "000001.png").write_bytes(b"the user's own")
    out = tmp_path / "out"
    out.mkdir()
    (out / "frames16").symlink_to(elsewhere, target_is_directory=True)
    code = render(out, "png16", "--restart")
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(lines) == 1 and "symbolic link" in lines[0], lines
    assert files(elsewhere) == {"000001.png": b"the user's own"}
    assert not (out / "frames").exists()
