"""Issue 10, item 6: ``mask = "path"`` confines the dream. White dreams, black keeps the
frame's source (a video's raw frame, else the frame's start image), grey changes part of
it; a video's mask may be a clip or a folder read in step with the input.

The source each frame was given is recorded through the Mode protocol itself (a wrapper
around the mode's ``start``); a video's masked pixels are also held against the input
clip as PyAV decodes it, independently of the renderer's reader.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import (
    decode_frames,
    differing_frames,
    frame_bytes,
    run_without_tensorflow_probe,
    set_args,
    write_clip,
)
from PIL import Image

import renderer
from renderer.rendering.masks import FrameMasks, check_mask
from renderer.rendering.modes.builtin import mode_class
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError

W, H = 96, 64
LEFT, RIGHT = (slice(None), slice(0, W // 2)), (slice(None), slice(W // 2, W))
FAST = [
    f"width={W}",
    f"height={H}",
    "dream.steps=4",
    "dream.octaves=1",
    "dream.step_size=0.05",
    "output.gif=false",
    "output.mp4=false",
    "output.hold_last=0",
]
VIDEO = ["mode=video", "fps=4", "video.first_steps=6", "video.first_octaves=1", *FAST]
FRAMES = 6


def photo(samples_dir, name="astronaut.jpg", size=(W, H)) -> np.ndarray:
    return cv2.resize(
        np.asarray(Image.open(samples_dir / name).convert("RGB")),
        size,
        interpolation=cv2.INTER_AREA,
    )


def save(path, image) -> str:
    Image.fromarray(np.asarray(image, np.uint8)).save(path)
    return str(path)


def halves(black_left=True, size=(W, H), grey=None) -> np.ndarray:
    """A mask: one half black, the other white (or ``grey`` everywhere)."""
    width, height = size
    if grey is not None:
        return np.full((height, width), grey, np.uint8)
    mask = np.zeros((height, width), np.uint8)
    if black_left:
        mask[:, width // 2 :] = 255
    else:
        mask[:, : width // 2] = 255
    return mask


def frames_of(out) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(p).convert("RGB")).astype(np.int16)
        for p in sorted((out / "frames").glob("*.png"))
    ]


def change(a, b, region) -> float:
    a, b = np.asarray(a, np.float32)[region], np.asarray(b, np.float32)[region]
    return float(np.abs(a - b).mean())


def off(a, b, region) -> int:
    return int(np.abs(np.asarray(a, np.float32)[region] - np.rint(b)[region]).max())


@pytest.fixture
def sources(monkeypatch):
    """Every frame's source as the mode hands it to the frame loop, by frame index."""
    seen: dict[int, np.ndarray] = {}
    for name in ("zoom", "progress", "video"):
        cls = mode_class(name)
        original = cls.start

        def start(self, index, seed, ready=None, _original=original):
            frame_start = _original(self, index, seed, ready)
            source = frame_start.image if frame_start.source is None else frame_start.source
            seen[index] = np.array(source, np.float32)
            return frame_start

        monkeypatch.setattr(cls, "start", start)
    return seen


def render(spec, out, **options):
    return renderer.render(spec, out=out, **options)


# ---------------------------------------------------------------- every mode


def test_a_zoom_keeps_the_black_half_of_every_frame(embedded_cache, samples_dir, tmp_path, sources):
    image = save(tmp_path / "in.png", photo(samples_dir))
    mask = save(tmp_path / "mask.png", halves())
    spec = load_spec(
        "noise-zoom",
        [*FAST, "frames=4", "zoom.first_steps=6", "zoom.first_octaves=1", "zoom.scale=1.05"],
        input=image,
        mask=mask,
    )
    render(spec, tmp_path / "out")
    frames = frames_of(tmp_path / "out")
    assert len(frames) == 4 == len(sources)
    for index, frame in enumerate(frames):
        assert off(frame, sources[index], LEFT) <= 3, f"frame {index + 1}"
        assert change(frame, sources[index], RIGHT) > 6, f"frame {index + 1}"
    # Frame 0's source is the photo itself: its black half is the photo's.
    assert off(frames[0], photo(samples_dir), LEFT) <= 3


def test_a_progress_render_masks_every_snapshot(embedded_cache, samples_dir, tmp_path, sources):
    # Two octaves: the early snapshots are dreamed at a smaller size than the photo.
    size = (128, 96)
    image = save(tmp_path / "in.png", photo(samples_dir, size=size))
    mask = save(tmp_path / "mask.png", halves(size=size))
    spec = load_spec(
        "progress",
        [
            "width=128",
            "height=96",
            "dream.steps=4",
            "dream.octaves=2",
            "dream.octave_scale=1.2",
            "dream.step_size=0.05",
            "progress.every=2",
            "progress.caption=false",
            "output.gif=false",
            "output.mp4=false",
        ],
        input=image,
        mask=mask,
    )
    render(spec, tmp_path / "out")
    frames = frames_of(tmp_path / "out")
    assert len(frames) == 5
    left, right = (slice(None), slice(0, 64)), (slice(None), slice(64, 128))
    for index, frame in enumerate(frames):
        assert off(frame, sources[0], left) <= 3, f"snapshot {index + 1}"
    assert change(frames[-1], sources[0], right) > 6


@pytest.fixture(scope="module")
def clip(tmp_path_factory, samples_dir):
    """A pan over a photo, FRAMES frames of W x H."""
    big = photo(samples_dir, size=(W + 4 * FRAMES, H))
    frames = [np.ascontiguousarray(big[:, 4 * t : 4 * t + W]) for t in range(FRAMES)]
    return write_clip(tmp_path_factory.mktemp("clip") / "pan.mp4", frames, 4)


def test_a_video_keeps_the_raw_frame_not_the_carried_dream(embedded_cache, clip, tmp_path, sources):
    mask = save(tmp_path / "mask.png", halves())
    render(load_spec("progress", VIDEO, input=str(clip), mask=mask), tmp_path / "out")
    frames, raw = frames_of(tmp_path / "out"), decode_frames(clip)
    assert len(frames) == FRAMES == len(raw)
    for index, frame in enumerate(frames):
        assert off(frame, raw[index], LEFT) <= 3, f"frame {index + 1}"
        assert np.array_equal(sources[index], raw[index])  # the mode's source: the raw frame
        assert change(frame, raw[index], RIGHT) > 6, f"frame {index + 1}"


def test_a_grey_mask_gives_half_the_change(embedded_cache, samples_dir, tmp_path):
    image = save(tmp_path / "in.png", photo(samples_dir))
    grey = save(tmp_path / "grey.png", halves(grey=128))
    base = [*FAST, "frames=1", "zoom.first_steps=6", "zoom.first_octaves=1"]
    render(load_spec("noise-zoom", base, input=image), tmp_path / "full")
    render(load_spec("noise-zoom", base, input=image, mask=grey), tmp_path / "grey")
    source = photo(samples_dir)
    full = change(frames_of(tmp_path / "full")[0], source, np.s_[:])
    half = change(frames_of(tmp_path / "grey")[0], source, np.s_[:])
    assert full > 6
    assert half / full == pytest.approx(128 / 255, abs=0.08)


# ---------------------------------------------------------------- masks that move


K = 3  # the mask moves from the left half to the right half at mask frame K


def moving(count=FRAMES, size=(W, H)) -> list[np.ndarray]:
    """Mask frames: black left (dream right) before K, black right from K on."""
    return [
        np.repeat(halves(black_left=k < K, size=size)[..., None], 3, axis=2) for k in range(count)
    ]


# The kept halves without the 4 columns next to the edge, which a lossy mask clip blurs.
INNER_LEFT, INNER_RIGHT = (slice(None), slice(0, W // 2 - 4)), (slice(None), slice(W // 2 + 4, W))


def assert_follows(frames, raw, moved_at):
    """Frames before ``moved_at`` keep their left half, the later ones their right."""
    for index, frame in enumerate(frames):
        kept, dreamed = (INNER_LEFT, RIGHT) if index < moved_at else (INNER_RIGHT, LEFT)
        assert off(frame, raw[index], kept) <= 3, f"frame {index + 1}"
        assert change(frame, raw[index], dreamed) > 6, f"frame {index + 1}"


def mask_folder(path, frames, first_number=1):
    path.mkdir()
    for k, frame in enumerate(frames):
        save(path / f"mask_{k + first_number:04d}.png", frame)
    return path


def test_a_mask_clip_is_read_in_step_with_the_input(embedded_cache, clip, tmp_path):
    # Twice the frame size: each mask frame is shrunk to the frame.
    masks = write_clip(tmp_path / "masks.mp4", moving(size=(2 * W, 2 * H)), 4)
    render(load_spec("progress", VIDEO, input=str(clip), mask=str(masks)), tmp_path / "out")
    assert_follows(frames_of(tmp_path / "out"), decode_frames(clip), K)


def test_a_mask_folder_follows_the_inputs_range(embedded_cache, clip, tmp_path):
    folder = mask_folder(tmp_path / "masks", moving(), first_number=0)
    spec = load_spec("progress", [*VIDEO, "video.start_frame=1"], input=str(clip), mask=str(folder))
    render(spec, tmp_path / "out")
    frames = frames_of(tmp_path / "out")
    assert len(frames) == FRAMES - 1
    # Render frame k is input frame k + 1 and goes with mask frame k + 1.
    assert_follows(frames, decode_frames(clip)[1:], K - 1)


def banded(count=FRAMES) -> list[np.ndarray]:
    """Mask frame k is white in the k-th of ``count`` vertical bands only: which band a
    frame dreamed in tells which mask frame it was given."""
    frames = []
    for k in range(count):
        mask = np.zeros((H, W, 3), np.uint8)
        mask[:, k * W // count : (k + 1) * W // count] = 255
        frames.append(mask)
    return frames


@pytest.mark.parametrize("kind", ["folder", "clip"])
def test_every_other_input_frame_from_a_start_keeps_its_own_mask_frame(
    embedded_cache, clip, tmp_path, kind
):
    """video.start_frame=1 and video.every=2 take input frames 1, 3, 5: render frame j
    dreams only in mask frame 1 + 2j's band, the rest stays that input frame."""
    if kind == "folder":
        masks = mask_folder(tmp_path / "masks", banded(), first_number=0)
    else:
        masks = write_clip(tmp_path / "masks.mp4", banded(), 4)
    spec = load_spec(
        "progress",
        [*VIDEO, "video.start_frame=1", "video.every=2"],
        input=str(clip),
        mask=str(masks),
    )
    render(spec, tmp_path / "out")
    frames, raw = frames_of(tmp_path / "out"), decode_frames(clip)
    assert len(frames) == 3
    band = W // FRAMES
    for j, frame in enumerate(frames):
        source = raw[1 + 2 * j]
        for b in range(FRAMES):
            inner = (slice(None), slice(b * band + 3, (b + 1) * band - 3))
            if b == 1 + 2 * j:
                assert change(frame, source, inner) > 6, f"frame {j + 1} band {b}"
            else:
                assert off(frame, source, inner) <= 3, f"frame {j + 1} band {b}"


def test_a_masked_render_resumes_to_identical_frames_and_refuses_another_mask(
    embedded_cache, clip, tmp_path
):
    folder = mask_folder(tmp_path / "masks", moving())
    spec = load_spec("progress", VIDEO, input=str(clip), mask=str(folder))
    render(spec, tmp_path / "whole")

    def stop_after(done, total, loss):
        if done == K + 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(spec, tmp_path / "resumed", progress=stop_after)
    result = render(spec, tmp_path / "resumed")
    assert result.rendered == FRAMES - K - 1
    assert not differing_frames(frame_bytes(tmp_path / "resumed"), frame_bytes(tmp_path / "whole"))
    # Another mask at the same path: the stored frames are not this render's.
    save(folder / "mask_0001.png", moving()[K])
    with pytest.raises(DreamreelError, match="different render.*changed: mask_content"):
        render(spec, tmp_path / "resumed")


# ---------------------------------------------------------------- reading masks


def test_colour_and_transparency_become_luminance_times_alpha(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = (255, 0, 0)  # red: Rec. 601 luminance 0.299
    rgba[:, :2, 3] = 255  # opaque left, transparent right
    Image.fromarray(rgba, "RGBA").save(tmp_path / "mask.png")
    spec = load_spec("noise-zoom", mask=str(tmp_path / "mask.png"))
    with FrameMasks.open(spec) as masks:
        mask = masks.mask_for(0, (4, 4))
        assert mask[:, :2] == pytest.approx(0.298, abs=0.005)
        assert (mask[:, 2:] == 0).all()
        assert masks.mask_for(5, (8, 2)).shape == (8, 2)
    with FrameMasks.open(load_spec("noise-zoom")) as none:
        assert not none.active and none.mask_for(0, (4, 4)) is None


def write_sound(path):
    """A WAV file: a media file without a video stream."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate, frame.pts = 8000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


@pytest.mark.parametrize(
    "argv, files, expected",
    [
        (["render", "noise-zoom", "--set", "mask=missing.png"], {}, "no such file"),
        (
            ["render", "noise-zoom", "--set", "mask=text.png"],
            {},
            "not an image file OpenCV can decode",
        ),
        (
            ["render", "noise-zoom", "--set", "mask=big.png", "--set", "max_input_pixels=1000"],
            {},
            "above the",
        ),
        (["render", "noise-zoom", "--set", "mask=gap"], {}, "are for video mode"),
        (
            ["render", "progress", *set_args(VIDEO), "--input", "clip.mp4", "--set", "mask=gap"],
            {"clip"},
            "has no frame 3 (after 'm_2.png')",
        ),
        (
            [
                "render",
                "progress",
                *set_args(VIDEO),
                "--input",
                "clip.mp4",
                "--set",
                "mask=short.mp4",
            ],
            {"clip", "short"},
            f"has {FRAMES - 2} frames, but the render needs {FRAMES}",
        ),
        (
            [
                "render",
                "progress",
                *set_args(VIDEO),
                "--input",
                "clip.mp4",
                "--set",
                "mask=sound.wav",
            ],
            {"clip", "sound"},
            "sound.wav': it has no video stream",
        ),
    ],
)
def test_bad_masks_fail_in_one_line_before_tensorflow(tmp_path, clip, argv, files, expected):
    (tmp_path / "text.png").write_text("a text file named like an image")
    save(tmp_path / "big.png", halves(size=(40, 40)))
    (tmp_path / "gap").mkdir()
    for number in (1, 2, 4):
        save(tmp_path / "gap" / f"m_{number}.png", halves())
    if "clip" in files:
        (tmp_path / "clip.mp4").write_bytes(clip.read_bytes())
    if "short" in files:
        write_clip(tmp_path / "short.mp4", moving(FRAMES - 2), 4)
    if "sound" in files:
        write_sound(tmp_path / "sound.wav")
    result, _out, err = run_without_tensorflow_probe(*argv, cwd=tmp_path)
    assert result == {"code": 2, "tensorflow": False, "keras": False}, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamreel: error:"), err
    assert expected in lines[0]
    assert not (tmp_path / "renders").exists()


def test_the_early_check_passes_a_longer_mask_and_refuses_one_frame_short(clip, tmp_path):
    folder = mask_folder(tmp_path / "masks", moving(FRAMES + 3))
    check_mask(load_spec("progress", VIDEO, input=str(clip), mask=str(folder)))
    (folder / f"mask_{FRAMES:04d}.png").unlink()  # the last one the range needs
    for extra in (
        "",
        f"mask_{FRAMES + 1:04d}.png",
        f"mask_{FRAMES + 2:04d}.png",
        f"mask_{FRAMES + 3:04d}.png",
    ):
        if extra:
            (folder / extra).unlink()
    with pytest.raises(
        DreamreelError, match=f"has {FRAMES - 1} frames, but the render needs {FRAMES}"
    ):
        check_mask(load_spec("progress", VIDEO, input=str(clip), mask=str(folder)))
