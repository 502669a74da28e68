"""Issue 21, item 5: `output.interpolate = N` puts N - 1 flow in-betweens (occlusion-aware)
between the played frames of the stitched MP4 and GIF, at N times the frame rate and the
same duration; frames/, losses.csv and the render's identity stay as they were."""

from __future__ import annotations

import json
from dataclasses import replace

import av
import cv2
import numpy as np
import pytest
from helpers import frame_bytes, set_args
from PIL import Image

from renderer.cli.main import main
from renderer.imaging.flow import FlowEstimator
from renderer.imaging.interpolate import inbetween, linear_blend, pair_motion
from renderer.rendering.default_out import default_out
from renderer.rendering.spec import load_spec
from renderer.rendering.stitch import PLAIN, Stitcher, stitch_from_manifest
from renderer.runtime.errors import DreamreelError

SIZE = 64


def smooth_texture(height, width, seed=0, sigma=3.0):
    """Blurred noise: texture DIS follows (raw noise at 64 px it does not)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), sigma)
    return cv2.normalize(blurred, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


TEXTURE = smooth_texture(SIZE + 40, SIZE + 80)


def panned(shift: int, size: int = SIZE) -> np.ndarray:
    """The texture seen through a window `shift` pixels to the right."""
    return np.ascontiguousarray(TEXTURE[10 : 10 + size, 10 + shift : 10 + shift + size])


def error(image, truth, region=np.s_[10:-10, 10:-10]) -> float:
    return float(np.abs(image[region].astype(np.float32) - truth[region]).mean())


def test_the_inbetween_of_a_pan_is_the_half_way_view():
    a, b, half_way = panned(0), panned(8), panned(4)
    tween = inbetween(a, b, 0.5, pair_motion(FlowEstimator(), a, b))
    blended = linear_blend(a, b, 0.5)
    assert error(blended, half_way) > 8  # the cross-fade shows both views, ghosted
    assert error(tween, half_way) < 1.0  # the in-between shows the view half-way
    # a quarter of the way: the same pair, t = 0.25
    assert error(inbetween(a, b, 0.25, pair_motion(FlowEstimator(), a, b)), panned(2)) < 1.0


def test_background_uncovered_behind_a_moving_square_comes_from_the_frame_that_sees_it():
    background = smooth_texture(SIZE, SIZE, seed=1) // 2  # dark
    square = smooth_texture(24, 24, seed=2, sigma=2.0) // 2 + 128  # bright

    def scene(left):
        frame = background.copy()
        frame[20:44, left : left + 24] = square
        return frame

    a, b, half_way = scene(12), scene(20), scene(16)
    tween = inbetween(a, b, 0.5, pair_motion(FlowEstimator(), a, b))
    # Pixels 12..15 show the background again at t = 0.5: only B sees it there (A has the
    # square); taking A's side too leaves a ghost of the square (error ~32, cross-fade ~69).
    trail = np.s_[20:44, 12:16]
    assert error(tween, half_way, trail) < 12
    assert error(tween, half_way, np.s_[16:48, 4:60]) < 5


def luma_error(image, truth) -> float:
    def gray(rgb):
        return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)

    return error(gray(image), gray(truth))


def mp4_facts(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, stream.average_rate, float(stream.duration * stream.time_base)


def gif_seconds(path) -> tuple[int, float]:
    with Image.open(path) as gif:
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
    return len(durations), sum(durations) / 1000


FPS = 12


@pytest.mark.parametrize(
    "settings, slots",
    [
        ({}, 4 * 2),  # every frame 2 slots; the last one's second slot its copy
        ({"hold_last": 1 / 6}, (4 + 2) * 2),  # 2 held copies, each 2 slots
        ({"pingpong": True}, (4 + 2) * 2),  # 0 1 2 3 2 1, and 1 -> 0 at the seam
    ],
    ids=["plain", "hold_last", "pingpong"],
)
def test_the_stitched_video_has_n_slots_a_played_frame_at_n_times_the_rate(
    tmp_path, settings, slots
):
    frames = [panned(8 * k) for k in range(4)]
    output = replace(PLAIN, gif_max_side=SIZE, interpolate=2, **settings)
    stitcher = Stitcher(tmp_path, name="tw", fps=FPS, count=len(frames), output=output)
    for index, frame in enumerate(frames):
        stitcher.add(index, frame)
    mp4, gif = stitcher.finish(lambda index: frames[index])
    decoded, rate, seconds = mp4_facts(mp4)
    assert len(decoded) == slots and rate == 2 * FPS
    assert seconds == pytest.approx(slots / 2 / FPS, abs=1e-3)  # as long as at 12 fps
    # slot 1 is the in-between of frames 0 and 1: the view 4 px along, not a cross-fade
    # (compared in luma: yuv420p halves the colours' resolution)
    cross_fade = linear_blend(frames[0], frames[1], 0.5)
    assert luma_error(decoded[1], panned(4)) < 0.3 * luma_error(cross_fade, panned(4))
    assert luma_error(decoded[2], frames[1]) < 2  # the stored frames themselves
    gif_frames, gif_length = gif_seconds(gif)
    assert gif_length == pytest.approx(slots / 2 / FPS, abs=0.011)  # 10 ms grid
    if settings.get("pingpong"):  # the seam: an in-between of frame 1 and frame 0
        assert luma_error(decoded[-1], panned(4)) < 0.3 * luma_error(cross_fade, panned(4))


def test_a_gif_never_plays_faster_than_50_fps(tmp_path):
    frames = [panned(2 * k) for k in range(3)]
    output = replace(PLAIN, gif_max_side=SIZE, interpolate=8)
    stitcher = Stitcher(tmp_path, name="tw", fps=FPS, count=3, output=output)
    for index, frame in enumerate(frames):
        stitcher.add(index, frame)
    mp4, gif = stitcher.finish(lambda index: frames[index])
    decoded, rate, _ = mp4_facts(mp4)
    assert len(decoded) == 3 * 8 and rate == 96
    _, gif_length = gif_seconds(gif)  # 48 fps: every other in-between
    assert gif_length == pytest.approx(3 / FPS, abs=0.011)


def losses(out_dir) -> list[list[str]]:
    """losses.csv less its "seconds" column (the clock's, not the render's)."""
    rows = [line.split(",") for line in (out_dir / "losses.csv").read_text().splitlines()]
    at = rows[0].index("seconds")
    return [row[:at] + row[at + 1 :] for row in rows]


TINY = set_args(["width=48", "height=48", "dream.steps=1", "zoom.first_steps=1"])


def test_interpolation_leaves_frames_losses_and_identity_alone(tmp_path, embedded_cache):
    plain, tweened = tmp_path / "plain", tmp_path / "tweened"
    base = ["render", "noise-zoom", "--frames", "3", *TINY, *set_args(["output.hold_last=0"])]
    with_it = set_args(["output.interpolate=2"])
    assert default_out(load_spec("noise-zoom", ["output.interpolate=2"])) == default_out(
        load_spec("noise-zoom")
    )
    assert main([*base, "--out", str(plain)]) == 0
    assert main([*base, *with_it, "--out", str(tweened)]) == 0
    assert frame_bytes(plain) == frame_bytes(tweened)
    assert losses(plain) == losses(tweened)
    decoded, rate, _ = mp4_facts(tweened / "zoom.mp4")
    assert len(decoded) == 3 * 2 and rate == 2 * load_spec("noise-zoom").fps
    assert len(mp4_facts(plain / "zoom.mp4")[0]) == 3
    # resuming with the setting changed is the same render: nothing dreamed again
    assert main([*base, *with_it, "--out", str(plain)]) == 0
    assert len(mp4_facts(plain / "zoom.mp4")[0]) == 3 * 2
    assert frame_bytes(plain) == frame_bytes(tweened)


def test_dreamreel_stitch_honours_the_manifests_setting(tmp_path):
    frames = [panned(4 * k, 32) for k in range(3)]
    (tmp_path / "frames").mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / "frames" / f"{index + 1:06d}.png"), frame[..., ::-1])
    rows = "".join(f"{k},1.0,1.0,0.1,1\n" for k in (1, 2, 3))
    (tmp_path / "losses.csv").write_text("frame,final_loss,octave_losses,seconds,steps\n" + rows)
    spec = {"mode": "zoom", "fps": 6, "output": {"gif": False, "hold_last": 0, "interpolate": 3}}
    (tmp_path / "manifest.json").write_text(json.dumps({"spec": spec}))
    (video,) = stitch_from_manifest(tmp_path)
    decoded, rate, _ = mp4_facts(video)
    assert len(decoded) == 3 * 3 and rate == 18


@pytest.mark.parametrize("value", ["0", "17", "2.5", "-3"])
def test_absurd_values_are_refused_in_one_line(value):
    with pytest.raises(DreamreelError, match=r"output\.interpolate") as refused:
        load_spec("noise-zoom", [f"output.interpolate={value}"])
    assert "\n" not in str(refused.value)


def test_a_hand_edited_manifest_is_refused_in_one_line(tmp_path):
    with pytest.raises(DreamreelError, match="interpolate") as refused:
        Stitcher(tmp_path, name="x", fps=8, count=2, output=replace(PLAIN, interpolate=99))
    assert "\n" not in str(refused.value)
