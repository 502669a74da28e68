"""What holds a video's dream to the scene (renderer/rendering/modes/video_hold.py): the
reference of the temporal term, short- and long-term, the raw frames kept for the
long-term flows, the coherence dial and the objective it adds the term to."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from renderer.engine.objectives import layer, temporal
from renderer.imaging.flow import FlowEstimator
from renderer.rendering.modes.video_hold import (
    COHERENCE_CURVE,
    EarlierMotion,
    RawHistory,
    coherence_settings,
    held_frame,
    held_objective,
    last_fresh_strength,
    level_gain,
)
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError

H, W = 48, 64


def texture(seed, shape=(H, W)):
    rng = np.random.default_rng(seed)
    noise = cv2.GaussianBlur(rng.uniform(0, 255, (*shape, 3)).astype(np.float32), (0, 0), 2)
    return np.clip((noise - noise.mean()) * 4 + 128, 0, 255).astype(np.uint8)


def still(distance, raw, mask):
    """An EarlierMotion that does not move (zero flow)."""
    return EarlierMotion(distance, raw, np.zeros((H, W, 2), np.float32), mask)


def test_each_pixel_is_held_to_its_most_recent_reliable_frame():
    """The frame before holds where its flow holds; a hole there (occluded one frame)
    takes the frame two back where that one holds; a pixel no frame holds is not held."""
    raw_now = texture(1)
    held = raw_now.astype(np.float32) + 10.0  # the frame before, carried: +10 everywhere
    mask = np.ones((H, W), np.float32)
    mask[10:20, 10:30] = 0.0  # occluded in the frame before
    raw_two = texture(2)
    dream_two = np.clip(raw_two.astype(np.int16) + 30, 0, 255).astype(np.uint8)
    two_mask = np.ones((H, W), np.float32)
    two_mask[10:20, 20:30] = 0.0  # ... and half of the hole two frames back as well
    raw_three = texture(3)
    dream_three = np.clip(raw_three.astype(np.int16) - 20, 0, 255).astype(np.uint8)
    three_mask = np.ones((H, W), np.float32)
    earlier = (
        (still(2, raw_two, two_mask), dream_two),
        (still(3, raw_three, three_mask), dream_three),
    )
    frame = held_frame(held, mask, raw_now, earlier, full=False)
    residual = frame.reference.astype(np.float32) - raw_now
    inside = (raw_now > 40) & (raw_now < 215)  # where no residual was clipped
    assert np.allclose(residual[mask > 0][inside[mask > 0]], 10.0, atol=0.01)
    hole_two = inside[10:20, 10:20]
    assert np.allclose(residual[10:20, 10:20][hole_two], 30.0, atol=0.5)  # two back
    hole_three = inside[10:20, 20:30]
    assert np.allclose(residual[10:20, 20:30][hole_three], -20.0, atol=0.5)  # three back
    target = frame.target(5.0)
    assert target is not None and np.all(target.weight == 5.0)
    assert frame.target(0.0) is None
    # the same hole, no frame further back: not held there
    short = held_frame(held, mask, raw_now, (), full=False).target(5.0)
    assert short is not None
    assert np.all(short.weight[10:20, 10:30] == 0) and np.all(short.weight[mask > 0] == 5.0)
    # blend_mode full: the earlier dream itself, not the raw frame plus its residual
    full = held_frame(held, mask, raw_now, earlier, full=True)
    assert np.allclose(full.reference[10:20, 10:20], dream_two[10:20, 10:20], atol=0.5)


def test_the_logged_difference_is_the_terms_measure_on_the_held_pixels():
    raw_now = texture(1)
    mask = np.zeros((H, W), np.float32)
    mask[:, : W // 2] = 1.0
    frame = held_frame(raw_now.astype(np.float32), mask, raw_now, (), full=False)
    image = raw_now.astype(np.float32)
    image[:, : W // 2] += 51.0  # 0.2 in 0..1 units, held
    image[:, W // 2 :] += 102.0  # not held: not measured
    assert frame.difference(np.clip(image, 0, 255)) == pytest.approx(0.04, rel=0.2)
    nowhere = held_frame(raw_now.astype(np.float32), mask * 0, raw_now, (), full=False)
    assert nowhere.difference(image) is None


def test_the_raw_frames_kept_give_flows_further_back_and_a_cut_forgets_them():
    estimator = FlowEstimator("dis", "fast")
    base = texture(7, (H, W + 12))
    frames = [np.ascontiguousarray(base[:, 2 * t : 2 * t + W]) for t in range(6)]
    history = RawHistory(3)
    assert history.wanted
    assert history.advance(estimator, frames[0], cut=False) == ()
    assert history.advance(estimator, frames[1], cut=False) == ()  # only the frame before
    (two_back,) = history.advance(estimator, frames[2], cut=False)
    assert two_back.distance == 2 and two_back.raw is frames[0]
    # the flow from frame 2 back to frame 0: 4 px to the right, reliable over most of it
    middle = two_back.backward[8:-8, 8:-8]
    assert np.median(middle[..., 0]) == pytest.approx(4.0, abs=0.5)
    assert two_back.mask.mean() > 0.7
    assert [m.distance for m in history.advance(estimator, frames[3], cut=False)] == [2, 3]
    assert history.advance(estimator, frames[4], cut=True) == ()  # frame 4: a new shot
    assert history.advance(estimator, frames[5], cut=False) == ()  # only frame 4 before
    assert not RawHistory(1).wanted
    assert RawHistory(1).advance(estimator, frames[0], cut=False) == ()


def test_the_dial_runs_from_dreaming_afresh_to_glued():
    assert coherence_settings(0.0) == (0.0, 0.0)
    blend, weight = coherence_settings(1.0)
    assert blend == 1.0 and weight == max(point[2] for point in COHERENCE_CURVE)
    values = [coherence_settings(c / 20) for c in range(21)]
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(values, values[1:]))
    assert coherence_settings(7.0) == coherence_settings(1.0)  # an expression may stray


VIDEO = ["mode=video", "output.gif=false"]


def video_spec(*extra):
    return load_spec("video-quick", [*VIDEO, *extra], input="clip.mp4")


def test_the_term_is_added_only_where_it_can_weigh_something():
    held = held_objective(video_spec("video.coherence=1"), None)
    assert held is not None
    kinds = [term.kind for term in held.terms]
    assert sorted(kinds) == ["layer", "layer", "temporal"]  # the preset's layers, held
    assert held.weights(0)[kinds.index("temporal")] == -1.0
    assert held_objective(video_spec("video.coherence=0"), None) is None
    assert held_objective(video_spec("video.temporal_weight=0"), None) is None
    assert held_objective(video_spec("video.coherence=1", "flow.enabled=false"), None) is None
    ramp = video_spec("video.temporal_weight=0:(0), 10:(50)")
    assert held_objective(ramp, None) is not None
    own = layer("block_13_expand_relu") - 0.5 * temporal()
    assert held_objective(video_spec("video.coherence=1"), own) == own  # the user's weight
    zoom = load_spec("noise-zoom", ["objective=layer:block_13_expand_relu - temporal"])
    with pytest.raises(DreamreelError, match="only video mode"):
        held_objective(zoom, zoom.objective)


@pytest.mark.parametrize(
    "setting, words",
    [
        ("video.coherence=1.5", "coherence must stay between 0"),
        ("video.coherence=0:(0), 5:(-1)", "coherence must stay between 0"),
        ("video.temporal_weight=-1", "temporal_weight must stay between 0"),
        ("video.temporal_frames=0", "temporal_frames must be 1"),
        ("video.temporal_frames=99", "temporal_frames must be 1"),
        ("video.catch_up=0.5", "catch_up must be between 1"),
        ("video.blend=2", "blend must stay between 0 and 1"),
    ],
)
def test_absurd_dial_settings_are_one_line(setting, words):
    with pytest.raises(DreamreelError, match=words):
        video_spec(setting)


def test_expert_settings_override_the_dial_frame_by_frame():
    spec = video_spec("video.coherence=1", "video.blend=0:(0.5), 10:(0.7)")
    video = spec.video
    assert video.blend_at(0) == 0.5 and video.blend_at(10) == pytest.approx(0.7)
    assert video.temporal_weight_at(3) == coherence_settings(1.0)[1]
    both = video_spec("video.coherence=0", "video.temporal_weight=40").video
    assert both.temporal_weight_at(0) == 40.0 and both.blend_at(0) == 0.0
    unset = video_spec("video.coherence=1", "video.blend=").video  # --set KEY= unsets
    assert unset.blend_at(0) == 1.0


class HalfPixelFlow:
    """Content moves half a pixel right a frame (backward flow -0.5, forward +0.5)."""

    def __call__(self, gray_from, gray_to):
        a, b = np.asarray(gray_from, np.float32), np.asarray(gray_to, np.float32)
        later_first = np.abs(a[:, 1:] - b[:, :-1]).mean() < np.abs(a[:, :-1] - b[:, 1:]).mean()
        return np.full((*a.shape, 2), (-0.5 if later_first else 0.5, 0.0), np.float32)


def test_a_dream_carried_frame_after_frame_keeps_its_detail():
    """Sampled bilinearly at half a pixel, a residual loses half its finest detail every
    frame; the carry resamples it bicubically, so a dream carried along a slow pan stays
    the dream it was (measured: 1.12 of its detail after 12 frames; bilinear kept 0.64)."""
    from renderer.rendering.modes.video import carry_dream

    spec = video_spec("video.blend=1", "video.blend_mode=residual")
    raw = np.full((H, W, 3), 128, np.uint8)  # a flat scene: only the dream moves
    rng = np.random.default_rng(0)
    fine = cv2.GaussianBlur(rng.normal(0, 30, (H, W, 3)).astype(np.float32), (0, 0), 0.7)
    dream = np.clip(128 + fine, 0, 255).astype(np.uint8)
    before = float(np.std(dream[8:-8, 8:-8].astype(np.float32)))
    for frame in range(12):
        raw_prev = raw.copy()
        raw = raw.copy()
        raw[0, 0] = frame  # frames differ, so the flow is asked (the scene stays flat)
        carry = carry_dream(spec, HalfPixelFlow(), frame + 1, raw, raw_prev, dream)
        dream = np.clip(np.rint(carry.image), 0, 255).astype(np.uint8)
    after = float(np.std(dream[8:-8, 8:-8].astype(np.float32)))
    assert 0.85 * before < after < 1.25 * before


def test_a_carried_dream_is_scaled_back_only_past_a_fresh_dreams_strength():
    assert level_gain(0.04, 0.03) == 1.0 and level_gain(None, 0.05) == 1.0
    assert level_gain(0.04, 0.05) == pytest.approx(0.8)
    rows = [
        {"frame": 1, "cut": 0, "dream_strength": 0.05},
        {"frame": 2, "cut": 0, "dream_strength": 0.06},
        {"frame": 3, "cut": 1, "dream_strength": 0.03},  # a new shot, dreamed afresh
        {"frame": 4, "cut": 0, "dream_strength": 0.031},
    ]
    assert last_fresh_strength(rows) == 0.03  # what a resumed render continues from
    assert last_fresh_strength(rows[:2]) == 0.05
    assert last_fresh_strength([]) is None
