"""Clips with an alpha channel are put on ``input_background`` as stills are, and the
pixel limit holds for every image decoder, OpenCV-only formats (.hdr, .pfm, .pam) too
(issue 19). Every file is made here: clips with FFmpeg, images with OpenCV and Pillow."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from renderer.media import open_video
from renderer.media.image_header import read_image_header
from renderer.media.images import read_image
from renderer.rendering.modes.builtin import create_mode
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
BACKGROUND = "#0000ff"  # not the default white: the test sees where it came from
WIDTH, HEIGHT = 48, 32


def half_transparent() -> np.ndarray:
    """Left half opaque red; right half fully transparent, green stored under the alpha."""
    rgba = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    rgba[:, : WIDTH // 2] = (*RED, 255)
    rgba[:, WIDTH // 2 :] = (*GREEN, 0)
    return rgba


def ffmpeg(*args) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *map(str, args)],
        check=True,
        stdin=subprocess.DEVNULL,
    )


# Encoders that keep alpha, and the pixel format each stores it in.
ALPHA_CLIPS = {
    "prores-4444.mov": ["-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le"],
    "png.mov": ["-c:v", "png", "-pix_fmt", "rgba"],
    "qtrle.mov": ["-c:v", "qtrle", "-pix_fmt", "argb"],
    "vp9-alpha.webm": ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p"],
    "vp8-alpha.webm": ["-c:v", "libvpx", "-pix_fmt", "yuva420p", "-auto-alt-ref", "0"],
}


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("alpha") / "half.png"
    Image.fromarray(half_transparent(), "RGBA").save(path)
    return path


def alpha_clip(picture: Path, name: str) -> Path:
    """Four frames of the half-transparent picture at 24 fps."""
    clip = picture.parent / name
    if name.endswith(".gif"):
        frame = Image.fromarray(half_transparent(), "RGBA")
        frame.save(clip, save_all=True, append_images=[frame] * 3, duration=42, disposal=2)
    elif not clip.exists():
        ffmpeg("-loop", 1, "-i", picture, "-frames:v", 4, "-r", 24, *ALPHA_CLIPS[name], clip)
    return clip


def assert_on_background(frame: np.ndarray, scale: int = 1) -> None:
    """Opaque half red, transparent half the background (columns near the edge blend)."""
    middle = frame.shape[1] // 2
    opaque, clear = frame[:, : middle - 4 // scale], frame[:, middle + 4 // scale :]
    assert np.abs(opaque.astype(int) - RED).max() <= 12, opaque[0, 0]
    assert np.abs(clear.astype(int) - BLUE).max() <= 12, clear[0, -1]


# ---------------------------------------------------------------- clips with alpha


@pytest.mark.parametrize("name", [*ALPHA_CLIPS, "transparent.gif"])
def test_a_clips_transparent_half_shows_the_background(picture, name):
    with open_video(alpha_clip(picture, name), background=BACKGROUND) as clip:
        frames = list(clip.frames())
    assert frames  # four pictures (a GIF's count depends on its rate)
    for frame in frames:
        assert frame.shape == (HEIGHT, WIDTH, 3)
        assert_on_background(frame)


@pytest.mark.parametrize("name", ["prores-4444.mov", "vp9-alpha.webm"])
def test_a_scaled_clip_resumed_midway_is_flattened_before_it_is_scaled(picture, name):
    """The resize averages flattened colours: no green seeps from under the alpha."""
    with open_video(alpha_clip(picture, name), background=BACKGROUND, max_size=24) as clip:
        frames = list(clip.frames(first=2))
    assert len(frames) == 2
    for frame in frames:
        assert frame.shape == (16, 24, 3)
        assert_on_background(frame, scale=2)
        assert frame[..., 1].max() <= 12  # no green anywhere, edge columns included


def test_the_spec_background_reaches_a_clips_frames(picture):
    spec = load_spec(
        "video-quick",
        [f"input_background={BACKGROUND}"],
        input=str(alpha_clip(picture, "png.mov")),
    )
    with create_mode(spec) as mode:
        frame = next(mode.source.frames())
    assert_on_background(frame)


def test_an_opaque_gif_reads_exactly_as_ffmpeg_decodes_it(tmp_path):
    """GIFs decode with an alpha channel even when opaque: their pixels stay untouched."""
    rng = np.random.default_rng(1)
    pictures = [Image.fromarray(rng.integers(0, 256, (30, 40, 3), np.uint8)) for _ in range(2)]
    gif = tmp_path / "opaque.gif"
    pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=100)
    with av.open(str(gif)) as container:
        expected = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    with open_video(gif, background=BACKGROUND) as clip:
        frames = list(clip.frames())
    assert np.array_equal(frames[0], expected[0]) and np.array_equal(frames[-1], expected[-1])


def test_a_folder_of_rgba_frames_shows_the_background(tmp_path):
    for number in (1, 2, 3):
        Image.fromarray(half_transparent(), "RGBA").save(tmp_path / f"frame_{number:03}.png")
    with open_video(tmp_path, background=BACKGROUND) as clip:
        frames = list(clip.frames())
    assert len(frames) == 3
    for frame in frames:
        assert_on_background(frame)


# ---------------------------------------------------------------- one pixel limit


@pytest.fixture
def no_decoding(monkeypatch):
    """Any decode by OpenCV fails the test: the limit must act before."""

    def refuse(*args, **kwargs):
        raise AssertionError("decoded an image above the limit")

    monkeypatch.setattr(cv2, "imdecode", refuse)


def opencv_only_image(path: Path, width: int, height: int) -> Path:
    """A real image in a format Pillow cannot parse, written by OpenCV."""
    depth = np.uint8 if path.suffix == ".pam" else np.float32  # .hdr, .pfm: float data
    pixels = np.full((height, width, 3), 0.5 if depth is np.float32 else 128, depth)
    assert cv2.imwrite(str(path), pixels)
    return path


OPENCV_ONLY = (".hdr", ".pfm", ".pam")


@pytest.mark.parametrize("suffix", OPENCV_ONLY)
def test_an_opencv_only_image_above_the_limit_is_refused_before_decoding(
    tmp_path, suffix, no_decoding
):
    big = opencv_only_image(tmp_path / f"big{suffix}", 1200, 1000)
    with pytest.raises(DreamreelError) as refused:
        read_image(big, max_pixels=1_000_000)
    assert str(refused.value) == (
        f"big{suffix} is 1200x1000 (1.2 MP), above the 1 MP limit; raise max_input_pixels "
        f"to render it (e.g. --set max_input_pixels=2000000)"
    )


@pytest.mark.parametrize("suffix", OPENCV_ONLY)
def test_an_opencv_only_image_under_the_limit_still_reads(tmp_path, suffix):
    small = opencv_only_image(tmp_path / f"small{suffix}", 40, 30)
    image = read_image(small, max_pixels=1_000_000)
    assert image.shape == (30, 40, 3) and np.ptp(image) == 0  # one flat colour, as written


def test_every_format_opencv_writes_here_has_its_size_read_from_its_header(tmp_path):
    """Whatever OpenCV decodes, a header reader knows its size: no decoder escapes."""
    from renderer.media.folder import IMAGE_SUFFIXES

    suffixes = {*IMAGE_SUFFIXES, *OPENCV_ONLY, ".pic", ".ppm", ".pnm", ".sr", ".ras", ".gif"}
    checked = []
    for suffix in sorted(suffixes | {".avif", ".jp2", ".exr", ".jxl"}):
        path = tmp_path / f"probe{suffix}"
        pixels = np.zeros(
            (30, 40, 3), np.float32 if suffix in (".hdr", ".pfm", ".pic") else np.uint8
        )
        try:
            written = cv2.imwrite(str(path), pixels)
        except cv2.error:  # no encoder for it in this build
            continue
        if written and cv2.imread(str(path)) is not None:
            header = read_image_header(path)
            assert header is not None and (header.width, header.height) == (40, 30), suffix
            checked.append(suffix)
    assert set(OPENCV_ONLY) <= set(checked) and ".png" in checked


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("cut.hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n", "Radiance HDR"),
        ("cut.pfm", b"PF\n40", "PFM"),
        ("cut.pam", b"P7\nWIDTH 40\nDEPTH 3\nENDHDR\n", "PAM"),
    ],
)
def test_a_header_without_a_size_is_refused_in_one_line(tmp_path, name, data, kind, no_decoding):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DreamreelError) as refused:
        read_image(path, max_pixels=1_000_000)
    assert (
        str(refused.value)
        == f"cannot read image '{path}': damaged (its {kind} header gives no size)"
    )


def test_a_folder_frame_replaced_by_a_bigger_one_is_refused(tmp_path):
    """The limit holds for every frame read, not only the sizes checked on opening."""
    for number in (1, 2):
        cv2.imwrite(str(tmp_path / f"frame_{number}.png"), np.zeros((32, 32, 3), np.uint8))
    with open_video(tmp_path, max_pixels=10_000) as clip:
        cv2.imwrite(str(tmp_path / "frame_2.png"), np.zeros((200, 200, 3), np.uint8))
        frames = clip.frames()
        assert next(frames).shape == (32, 32, 3)
        with pytest.raises(DreamreelError, match=r"frame_2.png is 200x200 .* above the"):
            next(frames)


def test_an_image_no_header_reader_knows_is_still_held_to_the_limit(tmp_path, monkeypatch):
    """A format OpenCV might learn later, whose size no header reader here knows: the
    size OpenCV decoded is checked before the picture goes anywhere."""
    monkeypatch.setattr("renderer.media.images.read_image_header", lambda path: None)
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((120, 100, 3), np.uint8))
    with pytest.raises(DreamreelError, match=r"big.png is 100x120 .* above the"):
        read_image(big, max_pixels=10_000)
    assert read_image(big, max_pixels=12_000).shape == (120, 100, 3)


def test_the_stability_meter_sees_the_clip_on_the_renders_background(picture, embedded_cache):
    """`dreamreel stability` compares a render with its clip as the render saw it: a
    render that dreamed nothing matches its transparent clip flattened on the render's
    background, so the dream it measures is ~0 (not the background against white)."""
    import renderer
    from renderer.cli.stability import stability_of_videos

    out = picture.parent / "undreamed"
    renderer.render(
        "video-quick",
        out=out,
        input=str(alpha_clip(picture, "png.mov")),
        overrides=[
            f"input_background={BACKGROUND}",
            "dream.steps=0",
            "video.first_steps=0",
            "output.gif=false",
        ],
    )
    assert stability_of_videos(out).dream_strength < 0.01
