"""Behaviour of renderer.imaging.flow: flow convention, warping, occlusion, E_warp, scene cuts."""

import math

import cv2
import numpy as np
import pytest
from helpers import ShiftFlow

from renderer.cli.stability import stability_of_videos
from renderer.imaging.flow import (
    FlowEstimator,
    backward_warp,
    flow_pair,
    is_scene_cut,
    occlusion_mask,
    to_gray,
)
from renderer.imaging.stability import StabilityMeter, warp_error
from renderer.media import write_mp4
from renderer.runtime.errors import DreamreelError

H, W = 96, 128
INTERIOR = (slice(12, -12), slice(12, -12))


def smooth_texture(height, width, seed=0, sigma=2.0):
    """Smooth RGB noise (two scales): textured enough for flow everywhere."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for scale in (sigma, 3 * sigma):
        noise = rng.normal(size=(height, width, 3)).astype(np.float32)
        image += cv2.GaussianBlur(noise, (0, 0), scale) * scale
    image -= image.min()
    image /= image.max()
    return (image * 255).astype(np.uint8)


BIG = smooth_texture(H + 64, W + 72)
Y0, X0 = 32, 36


def crop(image, dy=0, dx=0):
    """A (H, W) window of `image`; content moves by (-dx, -dy) as the window moves."""
    return image[Y0 + dy : Y0 + dy + H, X0 + dx : X0 + dx + W]


def translated_pair(dx, dy):
    """(prev, cur) where the content moves by (dx, dy) pixels: cur(y, x) = prev(y-dy, x-dx)."""
    return crop(BIG), crop(BIG, -dy, -dx)


def rotated_pair(degrees):
    centre = (X0 + W / 2, Y0 + H / 2)
    matrix = cv2.getRotationMatrix2D(centre, degrees, 1.0)
    rotated = cv2.warpAffine(
        BIG, matrix, BIG.shape[1::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return crop(BIG), crop(rotated)


def mean_abs(a, b):
    return float(np.mean(np.abs(a[INTERIOR].astype(np.float32) - b[INTERIOR])))


def panning_clip(frames, step=2):
    """The texture panning right by `step` px a frame (uint8 RGB, a list)."""
    return [crop(BIG, 0, -step * t + 8 * step) for t in range(frames)]


# ---------------------------------------------------------------- flow and warping


ESTIMATORS = [("dis", "ultrafast"), ("dis", "fast"), ("dis", "medium"), ("farneback", "medium")]


@pytest.fixture(params=ESTIMATORS, ids=lambda p: "/".join(p))
def estimator(request):
    return FlowEstimator(*request.param)


@pytest.mark.parametrize("pair", ["translate", "rotate"])
def test_backward_warp_of_flow_from_t_to_t_minus_1_rebuilds_frame_t(estimator, pair):
    prev, cur = translated_pair(5, -3) if pair == "translate" else rotated_pair(3.0)
    backward = estimator(to_gray(cur), to_gray(prev))
    assert backward.dtype == np.float32 and backward.shape == (H, W, 2)

    warped = backward_warp(prev, backward)
    assert warped.dtype == np.uint8 and warped.shape == prev.shape
    unwarped_error = mean_abs(prev, cur)
    assert unwarped_error > 8
    assert mean_abs(warped, cur) < 0.25 * unwarped_error  # DIS ultrafast, rotation: ~0.17
    # The sign convention: the negated flow warps the wrong way.
    assert mean_abs(backward_warp(prev, -backward), cur) > unwarped_error


def test_flow_follows_opencv_convention_for_a_known_shift():
    prev, cur = translated_pair(5, -3)  # content moves 5 right, 3 up
    backward = FlowEstimator("dis", "medium")(to_gray(cur), to_gray(prev))
    # cur(y, x) ~ prev(y + F[..., 1], x + F[..., 0])  =>  F = (-5, +3)
    assert np.median(backward[INTERIOR][..., 0]) == pytest.approx(-5, abs=0.1)
    assert np.median(backward[INTERIOR][..., 1]) == pytest.approx(3, abs=0.1)


def test_backward_warp_exact_for_a_constant_integer_flow():
    image = smooth_texture(H, W, seed=3)
    shift = np.zeros((H, W, 2), np.float32)
    shift[..., 0], shift[..., 1] = 4, -2
    warped = backward_warp(image, shift)
    np.testing.assert_array_equal(warped[2:, :-4], image[:-2, 4:])
    # Border replicate: reads past the edge repeat the last column/row.
    np.testing.assert_array_equal(warped[5:, -1], image[3:-2, -1])
    as_float = backward_warp(image.astype(np.float32) / 255, shift)
    assert as_float.dtype == np.float32
    np.testing.assert_allclose(as_float[2:, :-4], image[:-2, 4:] / 255, atol=1e-6)


def test_to_gray_accepts_rgb_rgba_grey_and_unit_floats():
    rgb = smooth_texture(8, 8, seed=4)
    gray = to_gray(rgb)
    assert gray.dtype == np.uint8 and gray.shape == (8, 8)
    np.testing.assert_array_equal(to_gray(np.dstack([rgb, np.full((8, 8), 255, np.uint8)])), gray)
    np.testing.assert_array_equal(to_gray(gray), gray)
    assert np.max(np.abs(to_gray(rgb / 255.0).astype(int) - gray)) <= 1


def test_unknown_method_or_preset_is_a_user_error():
    with pytest.raises(DreamreelError, match="unknown flow method 'raft'"):
        FlowEstimator("raft")
    with pytest.raises(DreamreelError, match="unknown DIS preset 'slow'"):
        FlowEstimator("dis", "slow")
    assert FlowEstimator("dis", "fast").name == "dis/fast"
    assert FlowEstimator("farneback").name == "farneback"


# ---------------------------------------------------------------- occlusion


def test_consistency_check_on_synthetic_flows():
    backward = np.zeros((H, W, 2), np.float32)
    backward[..., 0] = 2.0
    agreeing = -backward
    mask = occlusion_mask(backward, agreeing)
    assert mask.dtype == np.float32 and mask.shape == (H, W)
    assert mask[:, :-3].min() == 1.0
    # |w + w~|^2 = 4 > 0.01 * (4 + 0) + 0.5: the forward flow says "did not move".
    assert occlusion_mask(backward, np.zeros_like(backward)).max() == 0.0
    # Half a pixel of round-trip error is within the absolute tolerance (0.25 <= 0.54).
    assert occlusion_mask(backward, agreeing + np.float32(0.5))[:, :-3].min() == 1.0


def test_pixels_mapped_outside_the_image_are_unreliable():
    backward = np.zeros((H, W, 2), np.float32)
    backward[..., 0] = -10.0  # each pixel comes from 10 px to its left in frame t-1
    mask = occlusion_mask(backward, -backward)
    assert mask[:, :10].max() == 0.0
    assert mask[:, 10:].min() == 1.0
    backward[..., 0], backward[..., 1] = 0.0, 6.0  # from 6 px below
    mask = occlusion_mask(backward, -backward)
    assert mask[-6:].max() == 0.0 and mask[:-6].min() == 1.0


def test_camera_pan_marks_the_entering_edge_unreliable():
    prev, cur = translated_pair(5, 0)
    backward, forward = flow_pair(FlowEstimator(), to_gray(prev), to_gray(cur))
    mask = occlusion_mask(backward, forward)
    assert mask[:, :4].mean() < 0.1  # new content entering from the left
    assert mask[:, 8:].mean() > 0.9


def test_moving_square_disocclusion_is_masked_and_the_background_kept():
    background = smooth_texture(H, W, seed=1)
    square = smooth_texture(32, 32, seed=2, sigma=1.5)

    def frame(x):
        image = background.copy()
        image[32:64, x : x + 32] = square
        return image

    prev, cur = frame(40), frame(48)  # the square moves 8 px right
    backward, forward = flow_pair(FlowEstimator(), to_gray(prev), to_gray(cur))
    mask = occlusion_mask(backward, forward)

    uncovered = mask[34:62, 41:47]  # background in frame t that the square hid in t-1
    assert uncovered.mean() < 0.2
    assert mask[34:62, 52:76].mean() > 0.9  # the square itself is tracked
    far_background = np.concatenate([mask[:24].ravel(), mask[72:].ravel(), mask[:, 100:].ravel()])
    assert far_background.mean() > 0.95
    assert mask.mean() > 0.85


# ---------------------------------------------------------------- E_warp


def brightness_flicker(frames, amplitude, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for frame in frames:
        gain = 1.0 + amplitude * rng.standard_normal()
        out.append(np.clip(frame.astype(np.float32) * gain, 0, 255).astype(np.uint8))
    return out


def measure(sources, outputs, fps=4, estimator=None):
    meter = StabilityMeter(fps, estimator or FlowEstimator("dis", "fast"))
    for source, output in zip(sources, outputs):
        meter.add(source, output)
    return meter.report()


def test_e_warp_is_tiny_for_a_still_video_and_identical_output():
    still = [crop(BIG)] * 4
    report = measure(still, still)
    assert report.frames == 4
    assert report.e_warp_output < 1e-6 and report.e_warp_input < 1e-6
    assert report.dream_strength == 0.0


def test_e_warp_grows_with_flicker_and_added_flicker_is_zero_without_it():
    clip = panning_clip(6)
    estimator = FlowEstimator("dis", "fast")
    reports = [
        measure(clip, brightness_flicker(clip, amp), estimator=estimator)
        for amp in (0.0, 0.02, 0.05, 0.1, 0.2)
    ]
    e_out = [r.e_warp_output for r in reports]
    assert all(a < b for a, b in zip(e_out, e_out[1:])), e_out
    flicker = [r.added_flicker for r in reports]
    assert abs(flicker[0]) < 1e-9  # output == source
    assert reports[0].e_warp_output == pytest.approx(reports[0].e_warp_input)
    assert all(a < b for a, b in zip(flicker, flicker[1:])), flicker
    assert reports[0].e_warp_input < 0.01  # a clean pan: the flow floor is low
    assert reports[0].dream_strength == 0.0
    assert all(r.dream_strength > 0 for r in reports[1:])


def test_dream_strength_is_the_mean_absolute_difference():
    source = np.zeros((H, W, 3), np.uint8)
    output = source.copy()
    output[..., 0] = 51  # 0.2 in one of three channels
    report = measure([source], [output])
    assert report.dream_strength == pytest.approx(0.2 / 3)
    assert report.e_warp_output is None and report.added_flicker is None


def test_warp_error_normalisation_sums_channels_and_averages_masked_pixels():
    prev = np.zeros((H, W, 3), np.float32)
    cur = np.full((H, W, 3), 0.1, np.float32)
    cur[:, : W // 2] = 0.5  # left half: a large error, but masked out
    mask = np.zeros((H, W), np.float32)
    mask[:, W // 2 :] = 1
    zero = np.zeros((H, W, 2), np.float32)
    assert warp_error(prev, cur, mask, zero) == pytest.approx(3 * 0.1**2)
    assert math.isnan(warp_error(prev, cur, np.zeros_like(mask), zero))
    as_uint8 = warp_error(
        (prev * 255).astype(np.uint8), np.full((H, W, 3), 255, np.uint8), np.ones_like(mask), zero
    )
    assert as_uint8 == pytest.approx(3.0)


def test_warp_error_by_hand_for_a_shift_and_a_partial_mask():
    """Flow (+3, -2): warp(prev)(y, x) = prev(y - 2, x + 3). The mask drops the rows and
    columns read from outside the image and the left half; the expected value is summed
    by hand over what is left."""
    rng = np.random.default_rng(5)
    prev = rng.uniform(0, 1, (H, W, 3)).astype(np.float32)
    cur = rng.uniform(0, 1, (H, W, 3)).astype(np.float32)
    flow = np.zeros((H, W, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3, -2
    mask = np.zeros((H, W), np.float32)
    mask[2:, W // 2 : W - 3] = 1

    total = 0.0
    for y in range(2, H):
        for x in range(W // 2, W - 3):
            total += sum(
                (float(cur[y, x, c]) - float(prev[y - 2, x + 3, c])) ** 2 for c in range(3)
            )
    expected = total / ((H - 2) * (W - 3 - W // 2))
    assert warp_error(prev, cur, mask, flow) == pytest.approx(expected, rel=1e-5)


def test_meter_by_hand_for_a_pan_with_noise():
    """A pan of 3 px a frame with noise on the sources and more on the outputs. By hand:
    E_warp = mean over t of the squared RGB error between frame t and frame t-1 moved 3 px
    right, summed over channels, averaged over the pixels that have a past (x >= 3)."""
    step, frames = 3, 5
    rng = np.random.default_rng(2)
    pan = panning_clip(frames, step=step)
    sources = [np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8) for f in pan]
    outputs = [np.clip(f + rng.normal(0, 12, f.shape), 0, 255).astype(np.uint8) for f in sources]

    def e_warp(clip):
        terms = []
        for prev, cur in zip(clip, clip[1:]):
            moved = prev[:, :-step].astype(np.float64) / 255  # frame t-1 at x - 3
            diff = cur[:, step:].astype(np.float64) / 255 - moved
            terms.append((diff**2).sum(axis=2).mean())
        return float(np.mean(terms))

    report = measure(sources, outputs, estimator=ShiftFlow(step))
    assert report.e_warp_input == pytest.approx(e_warp(sources), rel=1e-5)
    assert report.e_warp_output == pytest.approx(e_warp(outputs), rel=1e-5)
    assert report.added_flicker == pytest.approx(e_warp(outputs) - e_warp(sources), rel=1e-5)
    strength = np.mean([np.abs(o / 255.0 - s / 255.0).mean() for s, o in zip(sources, outputs)])
    assert report.dream_strength == pytest.approx(strength, rel=1e-5)
    assert report.method == "shift"


def test_meter_uses_the_dis_flow_it_is_given():
    """The real estimator on the same pan: close to the exact-flow numbers."""
    step = 3
    rng = np.random.default_rng(2)
    sources = panning_clip(4, step=step)
    outputs = [np.clip(f + rng.normal(0, 12, f.shape), 0, 255).astype(np.uint8) for f in sources]
    exact = measure(sources, outputs, estimator=ShiftFlow(step))
    dis = measure(sources, outputs, estimator=FlowEstimator("dis", "medium"))
    assert dis.e_warp_output == pytest.approx(exact.e_warp_output, rel=0.05)
    assert dis.e_warp_input < 0.05 * dis.e_warp_output
    assert dis.method == "dis/medium"


@pytest.mark.parametrize("frames, fps", [(5, 2), (8, 4), (9, 4), (1, 4), (7, 2.5)])
def test_per_second_has_one_entry_per_started_second(frames, fps):
    clip = panning_clip(frames)
    report = measure(clip, brightness_flicker(clip, 0.05), fps=fps)
    assert len(report.per_second) == math.ceil(frames / fps)
    assert [s["second"] for s in report.per_second] == list(range(len(report.per_second)))
    assert sum(s["frames"] for s in report.per_second) == frames
    for entry in report.per_second:
        assert set(entry) >= {
            "e_warp_output",
            "e_warp_input",
            "added_flicker",
            "dream_strength",
            "frames",
            "first_frame",
        }
    # Pairs per second weight the per-second means into the overall mean.
    pairs = [s["frames"] - (1 if s["second"] == 0 else 0) for s in report.per_second]
    if sum(pairs):
        overall = sum(p * s["e_warp_output"] for p, s in zip(pairs, report.per_second) if p)
        assert report.e_warp_output == pytest.approx(overall / sum(pairs))


def test_report_dict_and_summary_line():
    clip = panning_clip(3)
    report = measure(clip, brightness_flicker(clip, 0.05))
    data = report.to_dict()
    assert data["frames"] == 3 and data["method"] == "dis/fast"
    assert len(data["per_second"]) == 1
    line = report.summary_line()
    assert "\n" not in line and "added flicker" in line and "dream strength" in line


def test_meter_refuses_frames_of_mismatched_size():
    meter = StabilityMeter(4)
    with pytest.raises(DreamreelError, match="differ in size"):
        meter.add(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 10, 3), np.uint8))
    with pytest.raises(DreamreelError, match="fps"):
        StabilityMeter(0)


def test_farneback_measures_flicker_too():
    clip = panning_clip(4)
    estimator = FlowEstimator("farneback")
    calm = measure(clip, clip, estimator=estimator)
    flicker = measure(clip, brightness_flicker(clip, 0.1), estimator=estimator)
    assert calm.added_flicker == pytest.approx(0.0, abs=1e-9)
    assert calm.e_warp_input < 0.01
    assert flicker.added_flicker > 10 * max(calm.e_warp_input, 1e-4)
    assert calm.method == "farneback"


# ---------------------------------------------------------------- videos on disk


def test_stability_of_videos_from_mp4_files(tmp_path):
    sources = panning_clip(8)
    write_mp4(tmp_path / "source.mp4", sources, fps=4)
    write_mp4(tmp_path / "same.mp4", sources, fps=4)
    write_mp4(tmp_path / "flicker.mp4", brightness_flicker(sources, 0.1), fps=4)

    same = stability_of_videos(tmp_path / "same.mp4", tmp_path / "source.mp4", preset="fast")
    assert same.frames == 8 and same.fps == pytest.approx(4)
    assert len(same.per_second) == 2
    assert abs(same.added_flicker) < 1e-4
    assert same.dream_strength < 0.01  # both decode to (near) the same frames
    assert same.notes == []

    flicker = stability_of_videos(tmp_path / "flicker.mp4", tmp_path / "source.mp4", preset="fast")
    assert flicker.added_flicker > 10 * max(abs(same.added_flicker), 1e-4)
    assert flicker.dream_strength > 0.02
    assert flicker.e_warp_input == pytest.approx(same.e_warp_input, rel=0.05)


def test_stability_of_videos_resizes_the_source(tmp_path):
    sources = panning_clip(8)
    big = [cv2.resize(f, (2 * W, 2 * H), interpolation=cv2.INTER_LINEAR) for f in sources]
    write_mp4(tmp_path / "big_source.mp4", big, fps=4)
    write_mp4(tmp_path / "output.mp4", sources, fps=4)

    report = stability_of_videos(
        tmp_path / "output.mp4", tmp_path / "big_source.mp4", method="farneback"
    )
    assert report.frames == 8
    assert any("resized" in note and f"{W}x{H}" in note for note in report.notes)
    assert report.dream_strength < 0.03  # a resize away from the same frames


def test_bare_videos_whose_timing_does_not_match_are_refused(tmp_path):
    """Frames pair by time: a shorter output could be any part of the source (5 frames
    of 8 at the same rate), so it is refused, not paired by index."""
    sources = panning_clip(8)
    write_mp4(tmp_path / "source.mp4", sources, fps=4)
    write_mp4(tmp_path / "short_output.mp4", sources[:5], fps=4)
    with pytest.raises(
        DreamreelError,
        match=r"cannot pair the frames of .*short_output.mp4' "
        r"\(5 at 4 fps\) with .*\(8 at 4 fps\) by time: "
        r"measure the render folder",
    ):
        stability_of_videos(tmp_path / "short_output.mp4", tmp_path / "source.mp4")


def test_a_bare_video_at_a_whole_fraction_of_the_sources_rate_pairs_by_time(tmp_path):
    sources = panning_clip(8)
    write_mp4(tmp_path / "source.mp4", sources, fps=8)
    write_mp4(tmp_path / "half.mp4", sources[::2], fps=4)
    report = stability_of_videos(tmp_path / "half.mp4", tmp_path / "source.mp4", preset="fast")
    assert report.frames == 4 and report.fps == pytest.approx(4)
    assert report.dream_strength < 0.01  # each frame against its own source frame
    assert any("1 frame in 2 taken" in note for note in report.notes)


def test_stability_of_videos_reports_unreadable_files_as_user_errors(tmp_path):
    write_mp4(tmp_path / "ok.mp4", panning_clip(2), fps=4)
    with pytest.raises(DreamreelError, match="no such file"):
        stability_of_videos(tmp_path / "missing.mp4", tmp_path / "ok.mp4")
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    with pytest.raises(DreamreelError, match="cannot read source video"):
        stability_of_videos(tmp_path / "ok.mp4", tmp_path / "junk.mp4")


# ---------------------------------------------------------------- scene cuts


def test_scene_cut_false_for_a_small_shift_true_for_an_unrelated_image():
    estimator = FlowEstimator()
    prev, cur = translated_pair(4, 2)
    backward, forward = flow_pair(estimator, to_gray(prev), to_gray(cur))
    assert not is_scene_cut(to_gray(prev), to_gray(cur), occlusion_mask(backward, forward))

    other = smooth_texture(H, W, seed=7)  # same statistics: the flow check catches it
    backward, forward = flow_pair(estimator, to_gray(prev), to_gray(other))
    assert is_scene_cut(to_gray(prev), to_gray(other), occlusion_mask(backward, forward))


def test_scene_cut_by_histogram_when_flow_cannot_tell():
    dark = np.full((H, W), 40, np.uint8)
    light = np.full((H, W), 200, np.uint8)
    all_reliable = np.ones((H, W), np.float32)  # flat frames: zero flow both ways
    assert is_scene_cut(dark, light, all_reliable)
    assert is_scene_cut(dark, light, None)
    assert not is_scene_cut(dark, dark.copy(), all_reliable)
    assert not is_scene_cut(dark, light, all_reliable, hist_threshold=1.01)


def test_e_warp_leaves_out_the_pair_across_a_scene_cut():
    """A pan, then another shot: the flow has no correspondence across the cut, so that
    pair is not measured (whatever few pixels pass the check there) and the note says so;
    the pairs within each shot are, and the cut frame's dream strength still counts."""
    pan = panning_clip(4)
    other = [crop(smooth_texture(H + 64, W + 72, seed=9), 0, -2 * t) for t in range(3)]
    sources = pan + other
    rng = np.random.default_rng(4)
    outputs = [np.clip(f + rng.normal(0, 8, f.shape), 0, 255).astype(np.uint8) for f in sources]
    whole = measure(sources, outputs, estimator=FlowEstimator("dis", "fast"))
    shots = [
        measure(part, outs, estimator=FlowEstimator("dis", "fast"))
        for part, outs in ((pan, outputs[:4]), (other, outputs[4:]))
    ]
    within = (shots[0].e_warp_output * 3 + shots[1].e_warp_output * 2) / 5  # 3 + 2 pairs
    assert whole.e_warp_output == pytest.approx(within, rel=1e-9)
    assert any("scene cut" in note for note in whole.notes)
    assert whole.dream_strength == pytest.approx(
        np.mean([np.abs(o / 255.0 - s / 255.0).mean() for s, o in zip(sources, outputs)])
    )
