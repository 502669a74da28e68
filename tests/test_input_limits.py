"""Inputs above the pixel limit (``max_input_pixels``) are refused from their header,
before anything is decoded: hand-made files whose headers claim 40000x40000 pixels
(a few hundred bytes on disk, 4.8 GB decoded)."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import png_claiming, run_without_tensorflow_probe

from renderer.media import open_video
from renderer.media.image_header import read_image_header
from renderer.media.images import read_image
from renderer.media.limits import DEFAULT_MAX_INPUT_PIXELS
from renderer.rendering.identity import render_identity
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError


def jpeg_claiming(path: Path, width: int, height: int) -> Path:
    """A small real JPEG with its SOF0 frame header rewritten to width x height."""
    ok, encoded = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))
    data = bytearray(encoded.tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


def y4m_claiming(path: Path, width: int, height: int) -> Path:
    """A YUV4MPEG2 clip whose stream header says width x height; one frame's data cut."""
    path.write_bytes(
        f"YUV4MPEG2 W{width} H{height} F24:1 Ip A1:1 C420jpeg\nFRAME\n".encode() + bytes(1000)
    )
    return path


@pytest.fixture
def no_decoding(monkeypatch):
    """Any decode by OpenCV or PyAV fails the test: the limit must act before."""

    def refuse(*args, **kwargs):
        raise AssertionError("decoded an image above the limit")

    monkeypatch.setattr(cv2, "imdecode", refuse)
    monkeypatch.setattr("renderer.media.clip_scan._first_decoded", refuse)


@pytest.mark.parametrize("make", [png_claiming, jpeg_claiming])
def test_a_huge_image_is_refused_from_its_header(tmp_path, make, no_decoding):
    big = make(tmp_path / f"big{'.png' if make is png_claiming else '.jpg'}", 40000, 40000)

    with pytest.raises(DreamreelError) as refused:
        read_image(big, max_pixels=DEFAULT_MAX_INPUT_PIXELS)

    assert str(refused.value) == (
        f"{big.name} is 40000x40000 (1600 MP), above the 100 MP limit; raise "
        f"max_input_pixels to render it (e.g. --set max_input_pixels=1700000000)"
    )


def test_pillows_own_bomb_check_never_leaks(tmp_path):
    """225 MP is above Pillow's DecompressionBombError threshold (179 MP) and 120 MP above
    its warning (89 MP): the header still reads, silently, and Pillow's limit is back."""
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for width, height in ((15000, 15000), (12000, 10000)):
            header = read_image_header(png_claiming(tmp_path / "big.png", width, height))
            assert (header.width, header.height) == (width, height)
    assert Image.MAX_IMAGE_PIXELS == saved


def test_a_raised_limit_lets_a_large_image_through_to_one_line_from_opencv(tmp_path):
    big = png_claiming(tmp_path / "big.png", 40000, 40000)  # above OpenCV's 2**30 pixels
    with pytest.raises(DreamreelError, match="OpenCV cannot decode it.*2\\*\\*30"):
        read_image(big, max_pixels=2_000_000_000)


def test_images_under_the_limit_read_as_before(tmp_path):
    path = tmp_path / "small.png"
    cv2.imwrite(str(path), np.full((20, 30, 3), 100, np.uint8))
    assert read_image(path, max_pixels=600).shape == (20, 30, 3)
    with pytest.raises(DreamreelError, match="small.png is 30x20 .* max_input_pixels"):
        read_image(path, max_pixels=599)


def test_a_huge_clip_is_refused_from_its_stream_header(tmp_path, no_decoding):
    clip = y4m_claiming(tmp_path / "big.y4m", 12000, 10000)
    with pytest.raises(
        DreamreelError,
        match=r"big.y4m is 12000x10000 \(120 MP\), above the "
        r"100 MP limit; raise max_input_pixels",
    ):
        open_video(clip)


def test_a_clip_over_a_lowered_limit_is_refused(tmp_path, no_decoding):
    clip = tmp_path / "clip.mp4"
    from renderer.media import write_mp4

    write_mp4(clip, [np.zeros((48, 64, 3), np.uint8)] * 2, fps=24)
    with pytest.raises(DreamreelError, match="clip.mp4 is 64x48"):
        open_video(clip, max_pixels=64 * 48 - 1)


def test_a_huge_frame_in_a_folder_is_refused_by_name(tmp_path, no_decoding):
    for number in (1, 2):
        cv2.imwrite(str(tmp_path / f"frame_{number}.png"), np.zeros((24, 32, 3), np.uint8))
    png_claiming(tmp_path / "frame_3.png", 40000, 40000)
    with pytest.raises(DreamreelError, match="frame_3.png is 40000x40000"):
        open_video(tmp_path)


def test_the_limit_is_a_spec_key_that_decides_no_pixels():
    default = load_spec("progress")
    raised = load_spec("progress", ["max_input_pixels=400000000"])
    assert default.max_input_pixels == DEFAULT_MAX_INPUT_PIXELS
    assert raised.max_input_pixels == 400_000_000
    assert render_identity(raised) == render_identity(default)  # resumes either way
    with pytest.raises(DreamreelError, match="max_input_pixels must be >= 1"):
        load_spec("progress", ["max_input_pixels=0"])


@pytest.mark.parametrize("preset", ["progress", "zoom-hd", "video-quick"])
def test_the_cli_refuses_in_one_line_before_tensorflow_loads(tmp_path, preset):
    big = png_claiming(tmp_path / "big.png", 40000, 40000)
    if preset == "video-quick":  # a folder of frames
        (tmp_path / "frames").mkdir()
        big = png_claiming(tmp_path / "frames" / "frame_1.png", 40000, 40000)
    out = tmp_path / "out"

    result, stdout, stderr = run_without_tensorflow_probe(
        "render",
        preset,
        "--input",
        str(big.parent if preset == "video-quick" else big),
        "--out",
        str(out),
        cwd=tmp_path,
    )

    assert result == {"code": 2, "tensorflow": False, "keras": False}
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("dreamreel: error: ") and "40000x40000 (1600 MP)" in lines[0]
    assert "max_input_pixels" in lines[0]
    assert not out.exists()
