"""Inputs of unusual shape: non-square pixels, transparency, and sizes too small to dream
(refused in one line) or too small for every octave (said once per render)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from helpers import run_without_tensorflow_probe
from PIL import Image

from renderer.cli.main import main
from renderer.engine.dream import octave_note, octave_shapes, too_small_octaves
from renderer.media import open_video, write_mp4
from renderer.media.images import read_image
from renderer.media.transparency import parse_background
from renderer.rendering.modes.builtin import create_mode
from renderer.rendering.modes.source import source_image
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError


def ffmpeg(*args) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *map(str, args)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


# ---------------------------------------------------------------- non-square pixels


@pytest.fixture(scope="module")
def anamorphic_clip(tmp_path_factory):
    """240x272 coded pictures with SAR 8:3 (shown 640x272) of a round disc."""
    folder = tmp_path_factory.mktemp("sar")
    shown = np.zeros((272, 640, 3), np.uint8)
    cv2.circle(shown, (320, 136), 100, (255, 255, 255), -1)
    squeezed = cv2.resize(shown, (240, 272), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(folder / "squeezed.png"), squeezed)
    clip = folder / "sar.mp4"
    ffmpeg(
        "-loop",
        1,
        "-i",
        folder / "squeezed.png",
        "-t",
        0.5,
        "-r",
        8,
        "-vf",
        "setsar=8/3",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        clip,
    )
    return clip


def disc_aspect(frame: np.ndarray) -> float:
    ys, xs = np.nonzero(frame[..., 0] > 128)
    return (xs.max() - xs.min() + 1) / (ys.max() - ys.min() + 1)


@pytest.mark.parametrize("max_size, size", [(None, (640, 272)), (320, (320, 136))])
def test_non_square_pixels_come_out_at_the_display_aspect(anamorphic_clip, max_size, size):
    with open_video(anamorphic_clip, max_size=max_size) as clip:
        assert (clip.width, clip.height) == size
        frame = next(clip.frames())
    assert frame.shape == (size[1], size[0], 3)
    assert disc_aspect(frame) == pytest.approx(1.0, abs=0.05)  # round, not squeezed


# ---------------------------------------------------------------- transparency


def rgba_image() -> np.ndarray:
    """Left half fully transparent over hidden red; right half opaque blue; one column
    half transparent green."""
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:, :8] = (255, 0, 0, 0)
    rgba[:, 8:] = (0, 0, 255, 255)
    rgba[:, 8] = (0, 255, 0, 128)
    return rgba


@pytest.fixture
def rgba_png(tmp_path) -> Path:
    path = tmp_path / "rgba.png"
    Image.fromarray(rgba_image(), "RGBA").save(path)
    return path


def test_transparent_pixels_show_the_background_not_their_hidden_colour(rgba_png):
    image = read_image(rgba_png)
    assert (image[:, :8] == 255).all()  # white, not the hidden red
    assert (image[:, 9:] == (0, 0, 255)).all()  # opaque: as it is
    assert np.abs(image[0, 8].astype(int) - (127, 255, 127)).max() <= 1  # blended

    black = read_image(rgba_png, background="#000000")
    assert (black[:, :8] == 0).all()


def test_grey_alpha_and_palette_transparency_are_flattened_too(tmp_path):
    la = np.zeros((8, 8, 2), np.uint8)
    la[:, :4] = (0, 0)  # transparent black
    la[:, 4:] = (60, 255)  # opaque grey
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    palette.paste(1, (4, 0, 8, 8))
    palette.save(tmp_path / "p.png", transparency=0)  # index 0 (red) is transparent

    grey = read_image(tmp_path / "la.png", background="#ff8000")
    assert (grey[:, :4] == (255, 128, 0)).all() and (grey[:, 4:] == 60).all()
    indexed = read_image(tmp_path / "p.png")
    assert (indexed[:, :4] == 255).all() and (indexed[:, 4:] == (0, 0, 255)).all()


def test_a_folder_of_rgba_frames_is_flattened(tmp_path):
    for number in (1, 2):
        Image.fromarray(rgba_image(), "RGBA").save(tmp_path / f"frame_{number}.png")
    with open_video(tmp_path, background="#000000") as clip:
        frames = list(clip.frames())
    assert len(frames) == 2 and all((frame[:, :8] == 0).all() for frame in frames)


def test_the_background_is_a_spec_key(rgba_png):
    spec = load_spec(
        "progress", ["width=16", "height=16", "input_background=#000000"], input=str(rgba_png)
    )
    assert (source_image(spec)[:, :8] == 0).all()
    assert (
        source_image(load_spec("progress", ["width=16", "height=16"], input=str(rgba_png)))[:, :8]
        == 255
    ).all()
    with pytest.raises(DreamreelError, match="input_background must be a colour"):
        load_spec("progress", ["input_background=white"])
    assert parse_background("#abc") == (0xAA, 0xBB, 0xCC)


# ---------------------------------------------------------------- smallest sizes


@pytest.fixture
def wide_clip(tmp_path) -> Path:
    write_mp4(tmp_path / "wide.mp4", [np.full((28, 64, 3), 90, np.uint8)] * 2, fps=8)
    return tmp_path / "wide.mp4"


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamreel: error: "), stderr
    return lines[0]


def test_frames_too_small_are_refused_before_tensorflow_loads(tmp_path, wide_clip):
    out = tmp_path / "out"
    result, _, stderr = run_without_tensorflow_probe(
        "render",
        "video-quick",
        "--input",
        str(wide_clip),
        "--set",
        "video.max_size=32",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert result == {"code": 2, "tensorflow": False, "keras": False}
    line = one_line(stderr)
    assert "32x14" in line and "video.max_size" in line and "16 px" in line
    assert not out.exists()


def test_an_image_too_small_to_dream_at_its_own_size_is_refused(tmp_path):
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.zeros((12, 12, 3), np.uint8))
    result, _, stderr = run_without_tensorflow_probe(
        "render",
        "progress",
        "--input",
        str(tiny),
        "--set",
        "width=",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert result["code"] == 2 and not result["tensorflow"]
    assert "12x12" in one_line(stderr) and "--size" in one_line(stderr)


def test_the_mode_refuses_small_frames_itself(wide_clip):
    """renderer.render (a notebook) does not go through the CLI's early checks."""
    spec = load_spec("video-quick", ["video.max_size=32"], input=str(wide_clip))
    with pytest.raises(DreamreelError, match="32x14, too small to dream"):
        create_mode(spec)
    with create_mode(load_spec("video-quick", ["video.max_size=40"], input=str(wide_clip))):
        pass  # 40x16 dreams


# ---------------------------------------------------------------- octaves dropped


def test_the_note_counts_the_octaves_octave_shapes_drops():
    for height, width, octaves in ((120, 160, 5), (100, 100, 3), (600, 800, 4), (80, 81, 2)):
        dropped = too_small_octaves(height, width, octaves, 1.4)
        assert octaves - dropped == len(octave_shapes(height, width, octaves, 1.4))
    assert octave_note(120, 160, 5, 1.4, "dream.octaves") == (
        "3 of 5 octaves dropped (dream.octaves = 5): 160x120 is too small, the 3 smallest "
        "would be under 80 px on a side; dreaming 2 octaves"
    )
    assert octave_note(512, 512, 3, 1.4, "dream.octaves") is None


def test_each_mode_notes_the_octaves_its_frames_drop(tmp_path, wide_clip):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.zeros((100, 100, 3), np.uint8))
    progress = create_mode(
        load_spec("progress", ["width=100", "dream.octaves=3"], input=str(photo))
    )
    zoom = create_mode(load_spec("noise-zoom", ["width=100", "height=100", "zoom.first_octaves=4"]))
    with create_mode(
        load_spec("video-quick", ["video.first_octaves=3"], input=str(wide_clip))
    ) as video:
        notes = video.notes()
    assert progress.notes() == [octave_note(100, 100, 3, 1.4, "dream.octaves")]
    assert "(zoom.first_octaves = 4)" in zoom.notes()[0]
    assert "(video.first_octaves = 3): 64x28" in notes[0]
    large = create_mode(
        load_spec(
            "noise-zoom", ["width=512", "height=512", "zoom.first_octaves=3", "dream.octaves=3"]
        )
    )
    assert large.notes() == []


def test_a_render_says_once_which_octaves_it_drops(tmp_path, capsys, embedded_cache):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((100, 100, 3), 120, np.uint8))
    code = main(
        [
            "render",
            "progress",
            "--input",
            str(photo),
            "--out",
            str(tmp_path / "out"),
            "--set",
            "width=100",
            "--set",
            "dream.octaves=2",
            "--set",
            "dream.steps=1",
            "--set",
            "output.gif=false",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.count("1 of 2 octaves dropped (dream.octaves = 2): 100x100 is too small") == 1
