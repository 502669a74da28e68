"""Dreaming over clips: the carry follows the flow and the occlusion mask, cuts restart the
dream, the sound keeps its place, and a render killed mid-way resumes to the same frames.

Tricks that make the checks exact: with ``dream.steps=0`` a carried frame is its start
image (rounded), so the render shows the carry itself; with ``dream.jitter=0`` a dream no
longer depends on the frame's seed, so a frame dreamed fresh after a cut must equal the
first frame of a render that starts there.
"""

from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pytest
from helpers import (
    ShiftFlow,
    click_time,
    click_track,
    decode_frames,
    differing_frames,
    frame_bytes,
    set_args,
    signal_render_after,
    write_clip,
)
from PIL import Image

# The renderer's API these tests call, in one place (issue 7 renames some of it).
import renderer
from renderer.cli.main import main as cli_main
from renderer.imaging.flow import FlowEstimator
from renderer.rendering.modes.video import carry_dream
from renderer.rendering.spec import load_spec


def render(spec, out, **options):
    """``renderer.render``: what ``dreamreel render`` runs (the model is loaded once)."""
    return renderer.render(spec, out=out, **options)


FPS = 4
FRAMES = 16  # four seconds: the per-second report has something to compare
QUICK = [
    "mode=video",
    f"fps={FPS}",
    "dream.steps=4",
    "dream.octaves=1",
    "video.first_steps=8",
    "video.first_octaves=1",
    "video.blend=0.9",
    "video.temporal_frames=3",  # every render here holds frames 1..3 back (the default dial)
    "output.gif=false",
    "output.hold_last=0",
]
BLEND = 0.9  # video.blend above


def photo(samples_dir, name):
    return cv2.resize(np.asarray(Image.open(samples_dir / name).convert("RGB")), (300, 220))


def pan_frames(samples_dir, frames=FRAMES, cut_at=None):
    """A camera pan over a photo with a square sliding the other way; optionally a cut
    to another photo at frame ``cut_at``."""
    big, other = photo(samples_dir, "astronaut.jpg"), photo(samples_dir, "coffee.jpg")
    images = []
    for t in range(frames):
        source = other if cut_at is not None and t >= cut_at else big
        x = 10 + 3 * t
        frame = source[30:126, x : x + 128].copy()
        sx = 80 - 4 * t
        frame[40:70, max(0, sx) : sx + 30] = source[0:30, 0:30][:, max(0, -sx) :]
        images.append(frame)
    return images


def spec_for(clip, *extra):
    return load_spec("progress", [*QUICK, *extra], input=str(clip))


def read_frames(out):
    return [
        np.asarray(Image.open(p).convert("RGB")) for p in sorted((out / "frames").glob("*.png"))
    ]


def loss_rows(out):
    with open(out / "losses.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def clip(tmp_path_factory, samples_dir):
    return write_clip(tmp_path_factory.mktemp("clip") / "pan.mp4", pan_frames(samples_dir), FPS)


@pytest.fixture(scope="module")
def with_flow(embedded_cache, clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("flow-on")
    return out, render(spec_for(clip), out)


# ---------------------------------------------------------------- the carry, by hand


def texture(height, width, seed):
    """Smooth RGB noise in 20..200 (room for a +40 residual without clipping)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for sigma in (2.0, 6.0):
        image += (
            cv2.GaussianBlur(rng.normal(size=(height, width, 3)).astype(np.float32), (0, 0), sigma)
            * sigma
        )
    image = (image - image.min()) / (image.max() - image.min())
    return (20 + 180 * image).astype(np.uint8)


def shifted(image, dx, seed):
    """``image`` moved dx px right, new content entering at the left."""
    out = image.copy()
    out[:, dx:] = image[:, :-dx]
    out[:, :dx] = texture(image.shape[0], dx, seed)
    return out


@pytest.mark.parametrize("blend_mode", ["residual", "full"])
def test_carry_by_hand_for_a_known_shift_and_a_partial_mask(clip, blend_mode):
    """residual: start = raw + blend * M * warp(dream - raw); full: start =
    blend * M * warp(dream) + (1 - blend * M) * raw, M = 0 on the entering strip.
    The top half brightens as it moves: there the two modes differ (the residual keeps
    the new light, the full dream carries the old one)."""
    dx = 5
    previous_raw = texture(64, 96, seed=1)
    raw = shifted(previous_raw, dx, seed=2)
    raw[:32] += np.uint8(15)  # texture() stays below 201: no overflow
    previous_dream = np.clip(
        previous_raw.astype(np.int16) + texture(64, 96, seed=3) // 4, 0, 255
    ).astype(np.uint8)
    spec = spec_for(clip, f"video.blend_mode={blend_mode}")
    carry = carry_dream(spec, ShiftFlow(dx), 1, raw, previous_raw, previous_dream)

    raw_f, prev_raw_f, dream_f = (a.astype(np.float32) for a in (raw, previous_raw, previous_dream))
    expected = raw_f.copy()  # the entering strip: nothing to carry, the raw frame
    if blend_mode == "residual":
        expected[:, dx:] = raw_f[:, dx:] + BLEND * (dream_f - prev_raw_f)[:, :-dx]
    else:
        expected[:, dx:] = BLEND * dream_f[:, :-dx] + (1 - BLEND) * raw_f[:, dx:]
    assert not carry.fresh and not carry.cut
    np.testing.assert_allclose(carry.image, expected, atol=1e-3)


def moving_square(x, background, square):
    image = background.copy()
    image[24:56, x : x + 32] = square
    return image


def test_carry_shows_the_raw_frame_where_the_flow_is_unreliable(clip):
    """A square moves 8 px right over a still background: the strip it uncovers has no
    past in frame t-1 and must start from the raw frame, not from a carried ghost.

    With a constant residual of 40 the warped residual is 40 wherever it reads, so the
    carry adds exactly blend * 40 * mask: the start image shows the mask itself.
    """
    background, square = texture(80, 112, seed=4), texture(32, 32, seed=5)
    previous_raw, raw = moving_square(40, background, square), moving_square(48, background, square)
    previous_dream = previous_raw + np.uint8(40)
    carry = carry_dream(spec_for(clip), FlowEstimator(), 1, raw, previous_raw, previous_dream)
    carried = (carry.image - raw.astype(np.float32)).mean(axis=2) / (BLEND * 40)
    assert np.all((np.abs(carried) < 1e-3) | (np.abs(carried - 1) < 1e-3))  # 0 or 1: a mask

    uncovered = carried[26:54, 41:47]  # background in frame t that the square hid in t-1
    assert uncovered.mean() < 0.2, f"{uncovered.mean():.0%} of the uncovered strip carried"
    assert carried[26:54, 52:76].mean() > 0.95  # the square itself is tracked
    assert carried[:16].mean() > 0.95 and carried[64:].mean() > 0.95  # still background
    assert carry.reliable == pytest.approx(carried.mean(), abs=1e-3)


def test_a_cut_starts_from_the_raw_frame(clip):
    previous_raw, raw = texture(64, 96, seed=6), texture(64, 96, seed=7)[::-1].copy()
    previous_dream = previous_raw + np.uint8(40)
    carry = carry_dream(spec_for(clip), FlowEstimator(), 1, raw, previous_raw, previous_dream)
    assert carry.cut and carry.fresh
    np.testing.assert_array_equal(carry.image, raw)


# ---------------------------------------------------------------- the carry in a render


def test_a_render_leaves_no_ghost_where_a_moving_square_uncovers_the_background(
    embedded_cache, tmp_path
):
    """Frame 0 dreamed, the rest carried only (dream.steps=0): each output is its start
    image. Where the square uncovers background the output is the raw frame, while the
    still background keeps the carried dream."""
    background, square = texture(80, 128, seed=8), texture(32, 32, seed=9)
    raws = [moving_square(24 + 8 * t, background, square) for t in range(6)]
    clip = write_clip(tmp_path / "square.mkv", raws, FPS)
    raws = decode_frames(clip)  # what the render reads
    out = tmp_path / "out"
    render(spec_for(clip, "dream.steps=0", "video.first_steps=10"), out)
    outputs = read_frames(out)

    ghost, kept = [], []
    for t in range(1, 6):
        diff = np.abs(outputs[t].astype(np.float32) - raws[t]).mean(axis=2)
        x = 24 + 8 * t
        ghost.append(diff[26:54, x - 7 : x - 1].mean())  # uncovered this frame
        kept.append(np.concatenate([diff[:16].ravel(), diff[64:].ravel()]).mean())
    assert min(kept) > 2.0, kept  # the carried dream is there to see
    # Measured: at most 0.27 (DIS misses a few uncovered pixels); mask ignored: 0.8-1.2.
    ratios = [round(float(g / k), 2) for g, k in zip(ghost, kept)]
    assert max(ratios) < 0.5, f"uncovered strip vs carried background, frames 2-6: {ratios}"


def test_flow_cuts_flicker_and_keeps_more_dream_than_dreaming_each_frame_alone(
    clip, with_flow, tmp_path
):
    _, on = with_flow
    off = render(spec_for(clip, "flow.enabled=false"), tmp_path)
    # Measured: 0.28 (flow backwards: 1.8, carried without warping: 2.7).
    assert on.report["added_flicker"] < 0.4 * off.report["added_flicker"]
    # Carried dream adds up (measured 1.4x); a carry at half strength falls below.
    assert on.report["dream_strength"] > off.report["dream_strength"]
    expected = input_e_warp(decode_frames(clip))
    assert on.report["e_warp_input"] == pytest.approx(expected, rel=1e-3)
    assert off.report["e_warp_input"] == pytest.approx(expected, rel=1e-3)


def input_e_warp(frames):
    """E_warp of the raw clip written out from DESIGN.md (Lai et al. 2018; Sundaram et
    al.'s occlusion check) with OpenCV alone: DIS medium, as the render's flow."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    terms = []
    for prev, cur in zip(frames, frames[1:]):
        g_prev, g_cur = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (prev, cur))
        w = dis.calc(g_cur, g_prev, None)  # t -> t-1
        forward = dis.calc(g_prev, g_cur, None)  # t-1 -> t
        h, wd = g_cur.shape
        map_x = (np.arange(wd, dtype=np.float32)[None, :] + w[..., 0]).astype(np.float32)
        map_y = (np.arange(h, dtype=np.float32)[:, None] + w[..., 1]).astype(np.float32)
        w_tilde = cv2.remap(
            forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        round_trip = ((w + w_tilde) ** 2).sum(axis=2)
        magnitude = (w**2).sum(axis=2) + (w_tilde**2).sum(axis=2)
        inside = (map_x >= -0.5) & (map_x < wd - 0.5) & (map_y >= -0.5) & (map_y < h - 0.5)
        mask = ((round_trip <= 0.01 * magnitude + 0.5) & inside).astype(np.float64)
        warped = cv2.remap(
            prev.astype(np.float32) / 255,
            map_x,
            map_y,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        error = ((cur.astype(np.float32) / 255 - warped) ** 2).sum(axis=2)
        terms.append((mask * error).sum() / mask.sum())
    return float(np.mean(terms))


def test_dream_strength_stays_level_along_the_clip(with_flow):
    """Four seconds: a dream that builds up frame after frame (no fade, measured 1.7x
    from the first second to the last) or dies away shows here."""
    _, result = with_flow
    strengths = [s["dream_strength"] for s in result.report["per_second"]]
    assert len(strengths) == FRAMES // FPS == 4
    assert max(strengths) < 1.45 * min(strengths), strengths  # measured 1.3
    assert strengths[-1] < 1.15 * strengths[1], strengths  # settled after the first second
    assert strengths[-1] > 0.85 * strengths[1], strengths


def test_output_keeps_the_clips_fps_and_frame_count(with_flow):
    out, result = with_flow
    frames = decode_frames(out / "video.mp4")
    assert result.frames == len(frames) == FRAMES
    assert frames[0].shape == (96, 128, 3)
    import av

    with av.open(str(out / "video.mp4")) as container:
        assert container.streams.video[0].average_rate == FPS
    assert (out / "report.json").is_file()


# ---------------------------------------------------------------- cuts


def test_a_scene_cut_restarts_the_dream(embedded_cache, tmp_path, samples_dir):
    """After the cut the render is the render of a clip that starts there, frame for
    frame: the first frame after the cut starts from its raw frame (no residual of the
    other shot) and is dreamed with video.first_steps, and the chain restarts from it."""
    clip = write_clip(tmp_path / "cut.mp4", pan_frames(samples_dir, frames=8, cut_at=4), FPS)
    whole = render(spec_for(clip, "dream.jitter=0"), tmp_path / "whole")
    assert whole.report["cuts"] == [5]  # frame numbers are 1-based, like the file names
    steps = [int(row["steps"]) for row in loss_rows(tmp_path / "whole")]
    assert steps == [8, 4, 4, 4, 8, 4, 4, 4]

    after = render(spec_for(clip, "dream.jitter=0", "video.start_frame=4"), tmp_path / "after")
    assert after.frames == 4
    differ = differing_frames(frame_bytes(tmp_path / "whole")[4:], frame_bytes(tmp_path / "after"))
    assert not differ, f"frames {[4 + n for n in differ]} differ from a render from the cut"


# ---------------------------------------------------------------- held to the scene


def test_the_temporal_term_holds_the_dream_to_the_frames_before(clip, with_flow, tmp_path):
    """The default dial holds each frame to the earlier ones warped onto it: the added
    flicker falls well below the same render's without the term, the dream keeps the
    strength of every frame dreamed alone (flow off), and losses.csv logs the term (blank
    where nothing was held: frame 1)."""
    held_out, held = with_flow
    free = render(spec_for(clip, "video.temporal_weight=0"), tmp_path)
    alone = render(spec_for(clip, "flow.enabled=false"), tmp_path / "alone")
    assert held.report["added_flicker"] < 0.5 * free.report["added_flicker"]
    assert held.report["dream_strength"] > 0.8 * alone.report["dream_strength"]
    held_rows, free_rows = loss_rows(held_out), loss_rows(tmp_path)
    assert held_rows[0]["temporal"] == "" and all(r["temporal"] for r in held_rows[1:])
    mean = [np.mean([float(r["temporal"]) for r in rows[1:]]) for rows in (held_rows, free_rows)]
    assert mean[0] < 0.5 * mean[1]


def test_a_glued_dream_keeps_the_strength_it_was_dreamed_with(clip, tmp_path):
    """Held without a fade (coherence 1), each frame still nudges the dream the same way:
    it grew 1.13x over this clip. The carried residual is scaled back to the strength of
    the frame dreamed afresh: the dream stays level."""
    glued = ["video.coherence=1", "video.blend="]
    render(spec_for(clip, *glued), tmp_path / "whole")
    strength = [float(r["dream_strength"]) for r in loss_rows(tmp_path / "whole")]
    assert max(strength[-4:]) < 1.06 * strength[0], strength
    assert min(strength) > 0.95 * strength[0], strength

    def stop_after_nine(done, total, loss):
        if done == 9:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # resumed, it scales back to the same strength
        render(spec_for(clip, *glued), tmp_path / "resumed", progress=stop_after_nine)
    render(spec_for(clip, *glued), tmp_path / "resumed")
    differ = differing_frames(frame_bytes(tmp_path / "resumed"), frame_bytes(tmp_path / "whole"))
    assert not differ, f"resumed frames {differ} differ from the uninterrupted render"


def revealing_frames(samples_dir, frames=8):
    """A slow pan on the left; on the right, new noise every frame (no flow holds there,
    so the carry brings no dream: it starts from the raw frame each time)."""
    base = photo(samples_dir, "astronaut.jpg")
    rng = np.random.default_rng(5)
    images = []
    for t in range(frames):
        frame = base[30:126, 10 + 2 * t : 138 + 2 * t].copy()
        noise = cv2.GaussianBlur(rng.uniform(0, 255, (96, 48, 3)).astype(np.float32), (0, 0), 3)
        frame[:, 80:] = np.clip((noise - 128) * 3 + 128, 0, 255).astype(np.uint8)
        images.append(frame)
    return images


def test_pixels_the_carry_brought_nothing_catch_up(embedded_cache, samples_dir, tmp_path):
    """Where no flow holds, a frame starts from its raw pixels: they dream catch_up times
    as hard, so they reach the strength of the dream carried around them."""
    clip = write_clip(tmp_path / "reveal.mkv", revealing_frames(samples_dir), FPS)
    raws = decode_frames(clip)

    def strength(catch_up):
        out = tmp_path / f"catch-{catch_up}"
        render(spec_for(clip, f"video.catch_up={catch_up}", "video.temporal_weight=0"), out)
        frames = read_frames(out)[2:]  # carried frames
        diff = [np.abs(f.astype(np.float32) - r).mean(axis=2) for f, r in zip(frames, raws[2:])]
        return np.mean([d[:, 84:] for d in diff]), np.mean([d[:, :76] for d in diff])

    plain_new, plain_carried = strength(1)
    caught_new, caught_carried = strength(3)
    assert caught_new > 1.6 * plain_new  # dreamed harder where nothing was carried
    assert caught_carried == pytest.approx(plain_carried, rel=0.25)  # the rest as it was


# ---------------------------------------------------------------- resume


def test_a_video_render_resumes_to_identical_frames(clip, with_flow, tmp_path, monkeypatch):
    whole, _ = with_flow

    def stop_after_five(done, total, loss):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(spec_for(clip), tmp_path, progress=stop_after_five)
    # Each frame logs its stability terms: the resumed render measures only the frames
    # it renders (with the carry's flows) and never reads the clip again to do so.
    import renderer.imaging.stability

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the stability of stored frames was measured again")

    monkeypatch.setattr(renderer.imaging.stability.StabilityMeter, "add", no_second_pass)
    result = render(spec_for(clip), tmp_path)
    assert result.rendered == FRAMES - 5
    differ = differing_frames(frame_bytes(tmp_path), frame_bytes(whole))
    assert not differ, f"resumed frames {differ} differ from the uninterrupted render"
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(
        (whole / "report.json").read_text()
    )


def test_a_render_logged_without_stability_terms_measures_them_from_the_clip(
    clip, with_flow, tmp_path
):
    """Frames of an older version have no terms in losses.csv: the report is measured
    from the clip and the stored frames, and comes out the same."""
    import shutil

    whole, _ = with_flow
    out = tmp_path / "old"
    shutil.copytree(whole, out)
    rows = loss_rows(out)
    old_columns = [
        c for c in rows[0] if c not in ("dream_strength", "e_warp_output", "e_warp_input")
    ]
    with open(out / "losses.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, old_columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    (out / "report.json").unlink()
    assert render(spec_for(clip), out).rendered == 0
    assert json.loads((out / "report.json").read_text()) == json.loads(
        (whole / "report.json").read_text()
    )


def test_the_sequential_loop_renders_the_same_video(clip, with_flow, tmp_path):
    """pipeline = false (decode, flow, measuring and writing in line with the dream):
    byte-identical frames, the same log, report and MP4."""
    whole, piped = with_flow
    plain = render(spec_for(clip, "pipeline=false"), tmp_path)
    differ = differing_frames(frame_bytes(tmp_path), frame_bytes(whole))
    assert not differ, f"frames {differ} differ between the pipelined and sequential loops"
    without_seconds = [
        [{k: v for k, v in row.items() if k != "seconds"} for row in loss_rows(out)]
        for out in (whole, tmp_path)
    ]
    assert without_seconds[0] == without_seconds[1]
    assert json.loads((tmp_path / "report.json").read_text()) == json.loads(
        (whole / "report.json").read_text()
    )
    assert (tmp_path / "video.mp4").read_bytes() == (whole / "video.mp4").read_bytes()
    assert {"decode", "flow", "stability", "write"} <= set(piped.profile["overlapped"])
    assert {"decode", "flow", "stability", "write"} <= set(plain.profile["stages"])


def test_a_video_render_killed_with_sigkill_resumes_to_the_same_frames(clip, with_flow, tmp_path):
    """The real CLI in a child process, killed without warning mid-render."""
    whole, _ = with_flow
    signal_render_after(tmp_path, ["progress", "--input", str(clip), *set_args(QUICK)], frames=4)
    result = render(spec_for(clip), tmp_path)
    assert 0 < result.rendered < FRAMES  # a PNG may lack its losses.csv row: done again
    differ = differing_frames(frame_bytes(tmp_path), frame_bytes(whole))
    assert not differ, f"resumed frames {differ} differ from the uninterrupted render"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".partial")]


# ---------------------------------------------------------------- sound


def test_the_clips_sound_stays_in_sync_from_a_later_start(embedded_cache, tmp_path, samples_dir):
    """A click 1.75 s into the clip; the render starts at frame 3 (0.75 s), so the
    output's click is at 1.0 s: also after `dreamreel stitch` rebuilds the MP4."""
    clip = write_clip(
        tmp_path / "click.mkv",
        pan_frames(samples_dir),
        FPS,
        audio=click_track(FRAMES / FPS, click_at=1.75),
    )
    assert click_time(clip) == pytest.approx(1.75, abs=0.002)
    out = tmp_path / "out"
    result = render(spec_for(clip, "video.start_frame=3"), out)
    assert result.frames == len(decode_frames(out / "video.mp4")) == FRAMES - 3
    assert click_time(out / "video.mp4") == pytest.approx(1.0, abs=0.02)
    import av

    with av.open(str(out / "video.mp4")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        assert float(container.duration / av.time_base) == pytest.approx(13 / FPS, abs=0.1)

    (out / "video.mp4").unlink()
    assert cli_main(["stitch", str(out)]) == 0
    assert len(decode_frames(out / "video.mp4")) == FRAMES - 3
    assert click_time(out / "video.mp4") == pytest.approx(1.0, abs=0.02)


def test_stability_command_compares_any_two_videos(with_flow, clip, capsys, tmp_path):
    out, result = with_flow
    assert (
        cli_main(
            [
                "stability",
                str(out / "video.mp4"),
                "--source",
                str(clip),
                "--json",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"stability ({FRAMES} frames") and "added flicker" in line
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    # From the MP4 (compressed) rather than the PNGs: close to the render's own report.
    assert report["dream_strength"] == pytest.approx(result.report["dream_strength"], rel=0.15)
    assert not math.isnan(report["added_flicker"])


# ---------------------------------------------------------------- cadence


CADENCE = ["video.cadence=3", "video.between_steps=0"]


@pytest.fixture(scope="module")
def with_cadence(embedded_cache, clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("cadence-3")
    return out, render(spec_for(clip, *CADENCE), out)


def test_cadence_1_is_the_default_and_changes_nothing(clip, with_flow, tmp_path):
    """video.cadence=1 dreams every frame as before; between_steps then never applies."""
    out, _ = with_flow
    rows = loss_rows(out)
    assert [int(r["keyframe"]) for r in rows] == [1] * FRAMES
    assert [int(r["steps"]) for r in rows] == [8] + [4] * (FRAMES - 1)
    render(spec_for(clip, "video.cadence=1", "video.between_steps=2"), tmp_path)
    differ = differing_frames(frame_bytes(tmp_path), frame_bytes(out))
    assert not differ, f"frames {differ} differ from the render without cadence"


def test_cadence_3_dreams_every_third_frame_and_carries_the_frames_between(clip, with_cadence):
    """Frames 0, 3, 6... dream (frame 0 with video.first_steps); the frames between get
    no steps: each is its carried start, the previous output's residual warped along the
    flow with the whole dream (no blend: the dream fades once a keyframe, not a frame)."""
    out, _ = with_cadence
    rows = loss_rows(out)
    assert [int(r["steps"]) for r in rows] == [
        8 if i == 0 else 4 if i % 3 == 0 else 0 for i in range(FRAMES)
    ]
    assert [int(r["keyframe"]) for r in rows] == [int(i % 3 == 0) for i in range(FRAMES)]
    # every frame after the first is held (the keyframes to the carried frames before)
    assert rows[0]["temporal"] == "" and all(r["temporal"] for r in rows[1:])
    spec = spec_for(clip, *CADENCE)
    raws, outputs = decode_frames(clip), read_frames(out)
    estimator = FlowEstimator(spec.flow.method, spec.flow.preset)
    for t in range(1, FRAMES):
        if t % 3 == 0:
            continue
        carry = carry_dream(spec, estimator, t, raws[t], raws[t - 1], outputs[t - 1], fade=False)
        assert not carry.fresh
        expected = np.clip(np.rint(carry.image), 0, 255)
        # The engine's round trip through the model's input range moves a value that
        # sits on .5 by a level at most.
        diff = np.abs(outputs[t].astype(np.int16) - expected)
        assert diff.max() <= 1 and (diff == 0).mean() > 0.99, f"frame {t + 1}"
    # The carry at full strength: the frames between keep the keyframe's dream.
    strength = [float(np.abs(o.astype(np.float32) - r).mean()) for o, r in zip(outputs, raws)]
    assert min(strength[4], strength[5]) > 0.8 * strength[3], strength


def test_cadence_keeps_the_dream_and_adds_no_flicker(clip, with_flow, with_cadence, tmp_path):
    """The stability report's figures, cadence 3 against 1 on the test clip (issue 8's
    check asks for at most 1.5x the added flicker and at least 0.8x the strength).
    Keyframes dream with sqrt(3) times the step size; without it the dream thins."""
    one, three = with_flow[1].report, with_cadence[1].report
    assert three["added_flicker"] <= 1.5 * one["added_flicker"], (three, one)
    assert three["dream_strength"] >= 0.8 * one["dream_strength"], (three, one)
    plain = render(spec_for(clip, *CADENCE, "video.keyframe_step_scale=1"), tmp_path).report
    assert plain["dream_strength"] < three["dream_strength"], (plain, three)


def test_between_steps_dream_the_frames_between_a_little(clip, tmp_path):
    render(
        spec_for(clip, "video.cadence=3", "video.between_steps=2", "video.end_frame=5"), tmp_path
    )
    rows = loss_rows(tmp_path)
    assert [int(r["steps"]) for r in rows] == [8, 2, 2, 4, 2]
    assert [int(r["keyframe"]) for r in rows] == [1, 0, 0, 1, 0]


def test_with_cadence_a_cut_dreams_afresh_and_the_count_stays_on_the_index(
    embedded_cache, tmp_path, samples_dir
):
    """A keyframe is decided by the frame's index (a resumed render decides the same),
    and a cut always dreams: cut at frame 5 (index 4), cadence 3 -> 4 fresh, 5 carried,
    6 a keyframe."""
    clip = write_clip(tmp_path / "cut.mp4", pan_frames(samples_dir, frames=8, cut_at=4), FPS)
    render(spec_for(clip, *CADENCE), tmp_path / "out")
    rows = loss_rows(tmp_path / "out")
    assert [int(r["cut"]) for r in rows] == [0, 0, 0, 0, 1, 0, 0, 0]
    assert [int(r["steps"]) for r in rows] == [8, 0, 0, 4, 8, 0, 4, 0]
    assert [int(r["keyframe"]) for r in rows] == [1, 0, 0, 1, 1, 0, 1, 0]


def test_a_render_with_cadence_resumes_to_identical_frames(clip, with_cadence, tmp_path):
    whole, _ = with_cadence

    def stop_after_five(done, total, loss):  # frame 6 (index 5) is between keyframes
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(spec_for(clip, *CADENCE), tmp_path, progress=stop_after_five)
    result = render(spec_for(clip, *CADENCE), tmp_path)
    assert result.rendered == FRAMES - 5
    differ = differing_frames(frame_bytes(tmp_path), frame_bytes(whole))
    assert not differ, f"resumed frames {differ} differ from the uninterrupted render"
    columns = ("frame", "steps", "keyframe", "cut", "temporal")
    assert [[r[k] for k in columns] for r in loss_rows(tmp_path)] == [
        [r[k] for k in columns] for r in loss_rows(whole)
    ]


@pytest.mark.parametrize(
    "setting, message",
    [
        ("video.cadence=0", "cadence must be >= 1"),
        ("video.between_steps=-1", "cadence must"),
        ("video.keyframe_step_scale=0", "keyframe_step_scale must be > 0"),
    ],
)
def test_cadence_settings_are_checked(clip, setting, message):
    from renderer.runtime.errors import DreamreelError

    with pytest.raises(DreamreelError, match=message):
        spec_for(clip, setting)
