"""The per-stage profile (issue 8, item 1): the clock by hand on a fake time, then real
zoom and video renders, whose manifests and results carry the table. No timed
assertions: only how the numbers relate to each other."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from helpers import write_clip
from PIL import Image

from renderer.rendering.stage_clock import NULL_CLOCK, OTHER, StageClock, format_table


class FakeTime:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t

    def tick(self, seconds):
        self.t += seconds


def test_stages_accumulate_and_the_rest_is_other():
    now = FakeTime()
    clock = StageClock(now=now)
    for _ in range(2):
        with clock.stage("dream"):
            now.tick(3.0)
        with clock.stage("write"):
            now.tick(0.5)
        now.tick(0.5)  # untimed
        clock.frame()
    table = clock.table()
    stages = table["stages"]
    assert table["wall_seconds"] == 8.0 and table["frames"] == 2
    assert table["frames_per_second"] == 0.25
    assert stages["dream"] == {"seconds": 6.0, "share": 0.75, "per_frame": 3.0}
    assert stages["write"]["seconds"] == 1.0 and stages[OTHER]["seconds"] == 1.0
    assert list(stages) == ["dream", "write", OTHER]
    assert table["summary"] == "2 frames in 8.0 s (0.25 frames/s): dream 75%, write 12%, other 12%"
    assert clock.summary() == table["summary"]


def test_nested_stages_count_once():
    """The inner stage's time is taken out of the outer one: nothing is counted twice."""
    now = FakeTime()
    clock = StageClock(now=now)
    with clock.stage("mode"):
        now.tick(1.0)
        with clock.stage("flow"):
            now.tick(2.0)
            with clock.stage("decode"):
                now.tick(4.0)
            now.tick(1.0)
        now.tick(1.0)
    seconds = {name: row["seconds"] for name, row in clock.table()["stages"].items()}
    assert seconds == {"mode": 2.0, "flow": 3.0, "decode": 4.0, OTHER: 0.0}


def test_a_stage_that_raises_is_still_counted_and_the_wall_can_be_stopped():
    now = FakeTime()
    clock = StageClock(now=now)
    with pytest.raises(RuntimeError):
        with clock.stage("dream"):
            now.tick(2.0)
            raise RuntimeError("boom")
    assert clock.stop() == 2.0
    now.tick(5.0)  # after stop: the wall stays
    table = clock.table()
    assert table["wall_seconds"] == 2.0 and table["stages"]["dream"]["seconds"] == 2.0
    assert table["frames"] == 0 and table["stages"]["dream"]["per_frame"] is None
    assert table["summary"].startswith("0 frames in 2.0 s")


def test_other_is_a_reserved_name_and_the_null_clock_measures_nothing():
    with pytest.raises(ValueError):
        with StageClock().stage(OTHER):
            pass
    with NULL_CLOCK.stage("dream"):
        NULL_CLOCK.frame()


def test_stages_timed_on_other_threads_are_kept_apart_as_overlapped():
    """A worker's stages ran alongside the main thread: they never eat into the wall
    time's shares, which say what stayed on the critical path."""
    import threading

    now = FakeTime()
    clock = StageClock(now=now)
    with clock.stage("dream"):
        now.tick(4.0)

    def worker():
        with clock.stage("flow"):
            now.tick(3.0)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    with clock.stage("wait_ahead"):
        now.tick(1.0)
    clock.frame()
    table = clock.table()
    assert table["wall_seconds"] == 8.0
    assert set(table["stages"]) == {"dream", "wait_ahead", OTHER}
    assert table["stages"][OTHER]["seconds"] == 3.0  # the main thread timed nothing then
    assert table["overlapped"] == {"flow": {"seconds": 3.0, "share": 0.375, "per_frame": 3.0}}
    assert table["summary"].endswith("; alongside: flow 3.0 s")
    assert format_table(table)[-1].split() == ["+flow", "3.000", "3.0000", "alongside"]


def test_the_table_prints_as_aligned_lines():
    now = FakeTime()
    clock = StageClock(now=now)
    with clock.stage("dream"):
        now.tick(1.0)
    clock.frame()
    lines = format_table(clock.table())
    assert lines[0].split() == ["stage", "seconds", "share", "s/frame"]
    assert lines[1].split()[:3] == ["dream", "1.000", "100.0%"]
    assert lines[-1].startswith("wall") and "1 frames" in lines[-1]


# ---------------------------------------------------------------- real renders


def check_profile(profile, frames, expected):
    """``expected`` stages timed on the main thread or alongside it (the workers)."""
    stages = profile["stages"]
    assert profile["frames"] == frames
    assert set(expected) <= set(stages) | set(profile.get("overlapped", {})), sorted(stages)
    assert stages["dream"]["seconds"] > 0
    timed = sum(row["seconds"] for name, row in stages.items() if name != OTHER)
    assert timed <= profile["wall_seconds"] + 1e-3
    assert abs(timed + stages[OTHER]["seconds"] - profile["wall_seconds"]) < 1e-2
    assert profile["frames_per_second"] > 0
    assert profile["summary"].startswith(f"{frames} frames in ")


@pytest.fixture(scope="module")
def dogs(embedded_cache):
    from renderer.models.loading import load_dream_model

    return load_dream_model("mobilenet_v2_dogs")


def test_a_zoom_render_records_its_profile_in_the_result_and_the_manifest(dogs, tmp_path):
    from renderer.rendering.frame_loop import render_frames
    from renderer.rendering.spec import load_spec

    spec = load_spec(
        "noise-zoom",
        [
            "width=64",
            "height=64",
            "frames=3",
            "dream.steps=2",
            "zoom.first_steps=2",
            "zoom.first_octaves=1",
            "output.gif_max_side=64",
        ],
    )
    result = render_frames(spec, dogs, tmp_path)
    check_profile(
        result.profile, 3, ["dream", "write", "carry", "mode", "encode_mp4", "encode_gif"]
    )
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["profile"] == result.profile


def test_a_video_render_times_decode_flow_carry_and_stability(
    embedded_cache, tmp_path, samples_dir
):
    import renderer

    big = cv2.resize(
        np.asarray(Image.open(samples_dir / "astronaut.jpg").convert("RGB")), (300, 220)
    )
    clip = write_clip(
        tmp_path / "pan.mp4", [big[40:104, 8 + 4 * t : 88 + 4 * t] for t in range(5)], 5
    )
    out = tmp_path / "out"
    result = renderer.render(
        "progress",
        input=clip,
        out=out,
        overrides=[
            "mode=video",
            "dream.steps=2",
            "dream.octaves=1",
            "video.first_steps=2",
            "video.first_octaves=1",
            "output.gif=false",
        ],
    )
    check_profile(
        result.profile, 5, ["decode", "flow", "carry", "dream", "write", "stability", "encode_mp4"]
    )
    assert "encode_gif" not in result.profile["stages"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["profile"]["stages"].keys() == result.profile["stages"].keys()
