"""Progress mode end to end: captioned snapshots, GIF, MP4, contact sheet, rising losses,
resume after an interruption, re-stitching."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from renderer.media import probe as probe_video
from renderer.media.images import read_image
from renderer.rendering.frame_loop import render_frames
from renderer.rendering.spec import load_spec

SMALL = [
    "width=192",
    "dream.steps=6",
    "dream.octaves=2",
    "progress.every=3",
    "fps=5",
    "output.hold_last=0.4",
]


@pytest.fixture(scope="module")
def dogs(embedded_cache):
    from renderer.models.loading import load_dream_model

    return load_dream_model("mobilenet_v2_dogs")


@pytest.fixture(scope="module")
def rendered(dogs, samples_dir, tmp_path_factory):
    spec = load_spec("progress", SMALL, input=str(samples_dir / "coffee.jpg"))
    model = dogs
    out = tmp_path_factory.mktemp("progress")
    calls = []
    result = render_frames(spec, model, out, progress=lambda done, total, loss: calls.append(done))
    return spec, result, out, calls


def test_writes_one_captioned_frame_per_snapshot(rendered):
    spec, result, out, calls = rendered
    frames = sorted((out / "frames").glob("*.png"))
    # start, step 3, octave end; then step 3 and end of octave 2
    assert len(frames) == result.frames == 5
    first = read_image(frames[0])
    assert first.shape == (128, 192, 3)  # coffee.jpg is 512x341: width 192 keeps the aspect
    assert calls == sorted(calls) and calls[-1] == 5


def test_caption_is_drawn_on_the_frame(rendered, samples_dir):
    spec, result, out, _ = rendered
    first = read_image(out / "frames" / "000001.png").astype(float)
    source = read_image(samples_dir / "coffee.jpg")
    import cv2

    source = cv2.resize(source, (192, 128), interpolation=cv2.INTER_AREA).astype(float)
    top_diff = np.abs(first[:40] - source[:40]).mean()
    bottom_diff = np.abs(first[-12:] - source[-12:]).mean()
    assert bottom_diff > 3 * max(top_diff, 1.0)  # the text band, not the (undreamed) photo


def test_losses_csv_rises_within_each_octave(rendered):
    _, result, out, _ = rendered
    with open(out / "losses.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame"]) for r in rows] == [1, 2, 3, 4, 5]
    for octave in ("1", "2"):
        losses = [float(r["final_loss"]) for r in rows if r["octave"] == octave]
        assert losses[-1] > losses[0]
    with open(out / "steps.csv") as f:
        steps = list(csv.DictReader(f))
    assert len(steps) == 12


def test_gif_and_mp4_have_every_frame_plus_the_hold(rendered):
    spec, result, out, _ = rendered
    expected = result.frames + round(spec.output.hold_last * spec.fps)  # 5 + 2
    gif = Image.open(out / "progress.gif")
    # Pillow merges identical consecutive frames: the held frames become one long frame.
    assert gif.n_frames == result.frames
    assert gif.info["loop"] == 0
    durations = []
    for i in range(gif.n_frames):
        gif.seek(i)
        durations.append(gif.info["duration"])
    assert sum(durations) == pytest.approx(expected * 1000 / spec.fps, abs=20)
    video = probe_video(out / "progress.mp4")
    assert video["frames"] == expected and video["codec"] == "h264"
    assert video["pix_fmt"] == "yuv420p" and video["fps"] == 5
    assert (video["width"], video["height"]) == (192, 128)


def test_contact_sheet_and_manifest(rendered):
    spec, result, out, _ = rendered
    sheet = read_image(out / "contact_sheet.png")
    assert sheet.shape[0] > 128 and sheet.shape[1] > 192  # a grid, not one frame
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"]["dream"]["steps"] == 6
    assert manifest["model"]["name"] == "mobilenet_v2_dogs"
    assert manifest["frames"] == 5 and "tensorflow" in manifest["versions"]


def _frames_bytes(out):
    return [p.read_bytes() for p in sorted((out / "frames").glob("*.png"))]


@pytest.mark.parametrize("lose_checkpoint", [False, True])
def test_an_interrupted_progress_render_resumes_to_the_same_frames(
    rendered, dogs, samples_dir, tmp_path, lose_checkpoint
):
    spec, result, out, _ = rendered

    def stop_after_three(done, total, loss):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_frames(spec, dogs, tmp_path, progress=stop_after_three)
    assert len(list((tmp_path / "frames").glob("*.png"))) == 3
    if lose_checkpoint:  # e.g. a folder from before checkpoints: dream again from the start
        for path in (tmp_path / "checkpoints").glob("*.npz"):
            path.unlink()
    again = render_frames(spec, dogs, tmp_path)
    assert again.rendered == (5 if lose_checkpoint else 2)
    assert _frames_bytes(tmp_path) == _frames_bytes(out)
    with open(tmp_path / "losses.csv") as f:
        assert [int(r["frame"]) for r in csv.DictReader(f)] == [1, 2, 3, 4, 5]
    assert (tmp_path / "steps.csv").read_text() == (out / "steps.csv").read_text()


def test_dreamreel_stitch_rebuilds_a_progress_render(rendered, tmp_path):
    import shutil

    from renderer.cli.main import main

    _, result, out, _ = rendered
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "progress.mp4").unlink()
    (copy / "progress.gif").unlink()
    assert main(["stitch", str(copy)]) == 0
    assert (
        probe_video(copy / "progress.mp4")["frames"] == probe_video(out / "progress.mp4")["frames"]
    )
    assert Image.open(copy / "progress.gif").n_frames == result.frames
