"""Zoom mode's geometry and colour coherence (numpy only, no dreaming)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import differing_frames, frame_bytes
from PIL import Image

# The renderer's API these tests call, in one place (issue 7 renames some of it).
import renderer
from renderer.rendering.modes.zoom import Motion, match_colours, next_init, warp
from renderer.rendering.spec import load_spec


def render(spec, out, **options):
    """``renderer.render``: what ``dreamreel render`` runs (the model is loaded once)."""
    return renderer.render(spec, out=out, **options)


def marker_image(size: int = 101) -> np.ndarray:
    """Grey with a bright dot at (row 50, col 70)."""
    image = np.full((size, size, 3), 100.0, np.float32)
    image[48:53, 68:73] = 250.0
    return image


def dot_position(image: np.ndarray) -> tuple[float, float]:
    weight = np.clip(image[..., 0] - 150.0, 0, None)
    rows, cols = np.indices(weight.shape)
    return float((rows * weight).sum() / weight.sum()), float((cols * weight).sum() / weight.sum())


def test_zoom_moves_points_away_from_the_centre():
    row, col = dot_position(warp(marker_image(), Motion(scale=2.0)))
    assert row == pytest.approx(50, abs=0.6) and col == pytest.approx(50 + 2 * 20, abs=0.6)


def test_translation_slides_the_view_and_rotation_turns_it():
    row, col = dot_position(warp(marker_image(), Motion(translate_x=10.0, translate_y=-5.0)))
    assert (row, col) == pytest.approx((55, 60), abs=0.6)  # view right/up: content left/down
    row, col = dot_position(warp(marker_image(), Motion(rotation=90.0)))
    assert (row, col) == pytest.approx((30, 50), abs=0.6)  # counter-clockwise a quarter turn


def test_warp_leaves_no_black_borders():
    grey = np.full((101, 101, 3), 100.0, np.float32)
    moved = warp(grey, Motion(scale=0.8, rotation=30.0, translate_x=15.0))
    assert np.abs(moved - 100.0).max() < 0.5  # a zero border would show as black corners


def test_schedules_drive_the_motion_frame_by_frame():
    spec = load_spec(
        "noise-zoom", ['zoom.scale="0:(1.0), 10:(1.1)"', 'zoom.rotation="0:(0), 20:(-2)"']
    )
    assert Motion.at(spec, 0).scale == 1.0
    assert Motion.at(spec, 5).scale == pytest.approx(1.05)
    assert Motion.at(spec, 30).scale == pytest.approx(1.1)
    assert Motion.at(spec, 10).rotation == pytest.approx(-1.0)


def test_colour_match_moves_statistics_to_the_reference():
    rng = np.random.default_rng(0)
    reference = rng.uniform(0, 255, (64, 64, 3)).astype(np.float32)
    washed = reference * 0.3 + 150.0  # grey drift
    matched = match_colours(washed, reference)
    for channel in range(3):
        assert matched[..., channel].mean() == pytest.approx(reference[..., channel].mean(), abs=6)
        assert matched[..., channel].std() == pytest.approx(reference[..., channel].std(), rel=0.1)


def lab_stats(rgb: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return np.concatenate([lab.mean(axis=(0, 1)), lab.std(axis=(0, 1))])


@pytest.mark.parametrize("coherence", [True, False])
def test_a_hundred_frames_keep_frame_zeros_colours_only_with_coherence(coherence):
    """A stand-in dream that saturates a little each frame drifts without coherence."""
    spec = load_spec(
        "noise-zoom", [f"zoom.color_coherence={str(coherence).lower()}", "zoom.scale=1.02"]
    )
    rng = np.random.default_rng(1)
    frame0 = cv2.GaussianBlur(rng.uniform(0, 255, (64, 64, 3)).astype(np.float32), (0, 0), 2)
    previous = frame0
    for index in range(1, 101):
        start = next_init(spec, previous, frame0, index, seed=index)
        previous = np.clip((start - 128.0) * 1.04 + 131.0, 0, 255)  # "dream": contrast, warmth
    drift = np.abs(lab_stats(previous) - lab_stats(frame0)).max()
    if coherence:
        assert drift < 8.0
    else:
        assert drift > 15.0


# ---------------------------------------------------------------- colour coherence in a render


# Frame 0 is the photo itself (zoom.first_steps=0), frame 1 a strong dream that shifts the
# colours, frames 2.. no dream at all (dream.steps=0): each of them is its start image, the
# previous frame zoomed and recoloured, so it shows which frame the colours were matched to.
COLOUR_PROBE = [
    "width=96",
    "height=96",
    "frames=5",
    "fps=10",
    "zoom.scale=1.1",
    'dream.steps="0:(0), 1:(10), 2:(0)"',
    "dream.step_size=0.05",
    "zoom.first_steps=0",
    "zoom.first_octaves=1",
    "zoom.color_coherence=true",
    "output.gif=false",
]


@pytest.fixture(scope="module")
def colour_probe(embedded_cache, samples_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("colour-probe")
    render(load_spec("noise-zoom", COLOUR_PROBE, input=str(samples_dir / "coffee.jpg")), out)
    return out


def frame_lab_stats(out):
    return [
        lab_stats(np.asarray(Image.open(p).convert("RGB"), np.float32))
        for p in sorted((out / "frames").glob("*.png"))
    ]


def test_a_render_matches_every_frames_colours_to_frame_zero(colour_probe):
    stats = frame_lab_stats(colour_probe)
    drift = [float(np.abs(s - stats[0]).max()) for s in stats]
    assert len(drift) == 5
    assert drift[1] > 2.0, drift  # the dream moved the colours (measured 4.0)...
    # ...and the next frames are pulled back to frame 0's, not to the previous frame's
    # (measured 0.2 and less; matched to the previous frame: 4.0).
    assert max(drift[2:]) < 0.8, drift


def test_a_resumed_render_keeps_matching_colours_to_frame_zero(colour_probe, samples_dir, tmp_path):
    def stop_after_three(done, total, loss):
        if done == 3:
            raise KeyboardInterrupt

    spec = load_spec("noise-zoom", COLOUR_PROBE, input=str(samples_dir / "coffee.jpg"))
    with pytest.raises(KeyboardInterrupt):
        render(spec, tmp_path, progress=stop_after_three)
    assert render(spec, tmp_path).rendered == 2
    differ = differing_frames(frame_bytes(tmp_path), frame_bytes(colour_probe))
    assert not differ, f"resumed frames {differ} differ from the uninterrupted render"


# ---------------------------------------------------------------- cadence


# A small zoom from a photo with zoom.cadence=3: frames 0, 3, 6 dream, the rest are the
# camera move alone (zoom.between_steps=0). Noise is on to show it feeds only dreams.
CADENCE = [
    "width=64",
    "height=64",
    "frames=7",
    "fps=10",
    "zoom.scale=1.05",
    "zoom.rotation=1.0",
    "zoom.noise=6",
    "dream.steps=2",
    "dream.octaves=1",
    "zoom.first_steps=3",
    "zoom.first_octaves=1",
    "zoom.cadence=3",
    "zoom.between_steps=0",
    "output.gif=false",
]


def cadence_spec(samples_dir, *extra):
    return load_spec("noise-zoom", [*CADENCE, *extra], input=str(samples_dir / "coffee.jpg"))


def rows_of(out):
    import csv

    with open(out / "losses.csv", newline="") as f:
        return list(csv.DictReader(f))


def frames_of(out):
    return [
        np.asarray(Image.open(p).convert("RGB")) for p in sorted((out / "frames").glob("*.png"))
    ]


@pytest.fixture(scope="module")
def zoom_cadence(embedded_cache, samples_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("zoom-cadence")
    render(cadence_spec(samples_dir), out)
    return out


def test_zoom_cadence_dreams_every_third_frame_and_moves_the_camera_between(
    zoom_cadence, samples_dir
):
    rows = rows_of(zoom_cadence)
    assert [int(r["steps"]) for r in rows] == [3, 0, 0, 2, 0, 0, 2]
    assert [int(r["keyframe"]) for r in rows] == [1, 0, 0, 1, 0, 0, 1]
    spec, frames = cadence_spec(samples_dir), frames_of(zoom_cadence)
    for t in (1, 2, 4, 5):  # each the previous frame moved and recoloured, with no noise
        expected = np.rint(next_init(spec, frames[t - 1], frames[0], t, seed=0, noise=False))
        diff = np.abs(frames[t].astype(np.int16) - expected)
        assert diff.max() <= 1 and (diff == 0).mean() > 0.99, f"frame {t + 1}"


def test_zoom_between_steps_dream_the_frames_between(embedded_cache, samples_dir, tmp_path):
    render(cadence_spec(samples_dir, "frames=4", "zoom.between_steps=1"), tmp_path)
    assert [int(r["steps"]) for r in rows_of(tmp_path)] == [3, 1, 1, 2]


def test_zoom_cadence_1_changes_nothing(embedded_cache, samples_dir, tmp_path):
    plain = [s for s in CADENCE if not s.startswith("zoom.cadence")] + ["frames=3"]
    spec = load_spec("noise-zoom", plain, input=str(samples_dir / "coffee.jpg"))
    render(spec, tmp_path / "default")
    render(
        load_spec(
            "noise-zoom",
            plain + ["zoom.cadence=1", "zoom.between_steps=4"],
            input=str(samples_dir / "coffee.jpg"),
        ),
        tmp_path / "one",
    )
    assert [int(r["steps"]) for r in rows_of(tmp_path / "one")] == [3, 2, 2]
    assert frame_bytes(tmp_path / "one") == frame_bytes(tmp_path / "default")


def test_a_zoom_with_cadence_resumes_to_identical_frames(zoom_cadence, samples_dir, tmp_path):
    def stop_after_five(done, total, loss):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render(cadence_spec(samples_dir), tmp_path, progress=stop_after_five)
    assert render(cadence_spec(samples_dir), tmp_path).rendered == 2
    differ = differing_frames(frame_bytes(tmp_path), frame_bytes(zoom_cadence))
    assert not differ, f"resumed frames {differ} differ from the uninterrupted render"


@pytest.mark.parametrize("setting", ["zoom.cadence=0", "zoom.between_steps=-1"])
def test_zoom_cadence_settings_are_checked(setting):
    from renderer.runtime.errors import DreamreelError

    with pytest.raises(DreamreelError, match="cadence must be >= 1"):
        load_spec("noise-zoom", [setting])
