"""Zoom renders through the scheduler: resume, refusal, stitched outputs, real zooming."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from helpers import without_recipe
from PIL import Image

from renderer.media import probe as probe_video
from renderer.media.images import read_image
from renderer.rendering.frame_loop import frame_seed, render_frames
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError

FRAMES = 5
SMALL = [
    "width=96",
    "height=96",
    f"frames={FRAMES}",
    "fps=10",
    "dream.steps=3",
    "zoom.first_steps=4",
    "zoom.first_octaves=1",
    "zoom.scale=1.25",
    "output.gif_max_side=96",
]


def small_spec(*extra: str):
    return load_spec("noise-zoom", [*SMALL, *extra])


@pytest.fixture(scope="module")
def dogs(embedded_cache):
    from renderer.models.loading import load_dream_model

    return load_dream_model("mobilenet_v2_dogs")


@pytest.fixture(scope="module")
def uninterrupted(dogs, tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    result = render_frames(small_spec(), dogs, out)
    return out, result


def frame_bytes(out, count=FRAMES):
    """The frames' bytes less their recipe chunk (helpers.without_recipe)."""
    frames = [out / "frames" / f"{i:06d}.png" for i in range(1, count + 1)]
    return [without_recipe(p.read_bytes()) for p in frames]


def test_render_writes_frames_losses_plot_and_stitched_videos(uninterrupted):
    out, result = uninterrupted
    assert result.frames == result.rendered == FRAMES
    assert len(list((out / "frames").glob("*.png"))) == FRAMES
    rows = (out / "losses.csv").read_text().splitlines()
    assert rows[0].startswith("frame,final_loss,octave_losses,seconds") and len(rows) == FRAMES + 1
    assert read_image(out / "losses.png").shape[:2] == (320, 640)
    video = probe_video(out / "zoom.mp4")
    assert (video["frames"], video["width"], video["height"]) == (FRAMES, 96, 96)
    assert video["fps"] == 10 and video["codec"] == "h264" and video["pix_fmt"] == "yuv420p"
    gif = Image.open(out / "zoom.gif")
    assert gif.n_frames == FRAMES and gif.info["loop"] == 0


def test_frames_really_zoom(uninterrupted):
    """A centre crop of frame t, scaled up by the zoom, matches frame t+1 far better
    than frame t+1 matches anything unrelated."""
    out, _ = uninterrupted
    frames = [
        read_image(out / "frames" / f"{i:06d}.png").astype(np.float32) for i in range(1, FRAMES + 1)
    ]
    size, crop = 96, round(96 / 1.25)
    lo = (size - crop) // 2
    for before, after in zip(frames[1:], frames[2:]):
        zoomed = cv2.resize(
            before[lo : lo + crop, lo : lo + crop], (size, size), interpolation=cv2.INTER_CUBIC
        )
        matched = np.abs(zoomed - after).mean()
        unrelated = np.abs(np.flipud(before) - after).mean()
        assert matched < 0.6 * unrelated


def test_resume_after_interruption_gives_identical_frames(dogs, uninterrupted, tmp_path):
    whole, _ = uninterrupted
    calls = []

    def interrupt_after_two(done, total, loss):
        calls.append(done)
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_frames(small_spec(), dogs, tmp_path, progress=interrupt_after_two)
    assert len(list((tmp_path / "frames").glob("*.png"))) == 2
    result = render_frames(small_spec(), dogs, tmp_path)
    assert result.rendered == FRAMES - 2
    assert frame_bytes(tmp_path) == frame_bytes(whole)


def test_a_png_without_its_loss_row_is_rendered_again(dogs, uninterrupted, tmp_path):
    whole, _ = uninterrupted
    render_frames(small_spec("frames=3"), dogs, tmp_path)
    # As if killed between writing frame 3's PNG and its row: drop the row.
    lines = (tmp_path / "losses.csv").read_text().splitlines()
    (tmp_path / "losses.csv").write_text("\n".join(lines[:-1]) + "\n")
    (tmp_path / "frames" / "000003.png").write_bytes(b"\x89PNG truncated")
    result = render_frames(small_spec(), dogs, tmp_path)
    assert result.rendered == FRAMES - 2
    assert frame_bytes(tmp_path) == frame_bytes(whole)


def test_more_frames_extend_a_finished_render(dogs, uninterrupted, tmp_path):
    whole, _ = uninterrupted
    render_frames(small_spec("frames=3"), dogs, tmp_path)
    result = render_frames(small_spec(), dogs, tmp_path)  # frames=5: two more
    assert result.rendered == 2 and frame_bytes(tmp_path) == frame_bytes(whole)


def test_a_changed_spec_refuses_to_resume_unless_restarted(dogs, uninterrupted, tmp_path):
    render_frames(small_spec("frames=2"), dogs, tmp_path)
    with pytest.raises(DreamreelError, match=r"zoom\.scale.*--restart"):
        render_frames(small_spec("frames=2", "zoom.scale=1.1"), dogs, tmp_path)
    result = render_frames(small_spec("frames=2", "zoom.scale=1.1"), dogs, tmp_path, restart=True)
    assert result.rendered == 2


def test_frame_seeds_differ_per_frame_and_render():
    seeds = {frame_seed(0, i) for i in range(100)}
    assert len(seeds) == 100 and frame_seed(1, 0) != frame_seed(0, 0)


def test_a_render_killed_with_sigkill_resumes_to_the_same_frames(
    dogs, uninterrupted, tmp_path, samples_dir
):
    """The real CLI in a child process, killed without warning mid-render."""
    from helpers import set_args, signal_render_after

    # More frames than the other tests: at 96 px a frame takes ~30 ms, and the child
    # must still be rendering when the test sees its second PNG.
    many = 40
    whole = tmp_path / "whole"
    render_frames(small_spec(f"frames={many}"), dogs, whole)
    signal_render_after(
        tmp_path, ["noise-zoom", *set_args(SMALL), "--set", f"frames={many}"], frames=2
    )
    result = render_frames(small_spec(f"frames={many}"), dogs, tmp_path)
    assert 0 < result.rendered < many
    assert frame_bytes(tmp_path, many) == frame_bytes(whole, many)
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".partial")]


def test_an_auto_tile_size_is_kept_for_the_whole_render_folder(dogs, tmp_path, monkeypatch):
    """ "auto" follows the machine's memory: resolved once, recorded, and reused when the
    render resumes or extends on a machine with other memory (tiles move pixels)."""
    import renderer.engine.dream
    import renderer.rendering.frame_loop

    render_frames(small_spec("frames=2"), dogs, tmp_path)
    first = json.loads((tmp_path / "manifest.json").read_text())["tile_size"]
    assert first == small_spec().dream_settings().resolved_tile_size()
    used = []
    monkeypatch.setattr(renderer.engine.dream, "auto_tile_size", lambda *a, **k: first + 64)
    real_dream = renderer.rendering.frame_loop.dream
    monkeypatch.setattr(
        renderer.rendering.frame_loop,
        "dream",
        lambda image, model, settings, **kw: (
            used.append(settings.tile_size) or real_dream(image, model, settings, **kw)
        ),
    )
    render_frames(small_spec("frames=3"), dogs, tmp_path)  # "another machine" extends it
    assert used == [first]
    assert json.loads((tmp_path / "manifest.json").read_text())["tile_size"] == first
    render_frames(small_spec("frames=3"), dogs, tmp_path, restart=True)
    assert used[1:] == [first + 64] * 3


# ---------------------------------------------------------------- the pipelined loop


def rows_without_seconds(out):
    """losses.csv as text rows, the seconds column (wall time) left out."""
    import csv

    with open(out / "losses.csv", newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def test_the_sequential_loop_gives_byte_identical_frames_logs_and_outputs(
    dogs, uninterrupted, tmp_path
):
    """pipeline = false is the reference: the threads change when work runs, not what
    it computes. Both encode the MP4 and GIF as frames come: the same bytes."""
    whole, piped = uninterrupted
    plain = render_frames(small_spec("pipeline=false"), dogs, tmp_path)
    assert frame_bytes(tmp_path) == frame_bytes(whole)
    assert rows_without_seconds(tmp_path) == rows_without_seconds(whole)
    for name in ("zoom.mp4", "zoom.gif"):
        assert (tmp_path / name).read_bytes() == (whole / name).read_bytes(), name
    # Where the work ran: behind the dream on a worker, or in line.
    assert {"write", "encode_mp4", "encode_gif"} <= set(piped.profile["overlapped"])
    assert "write" not in piped.profile["stages"]
    assert "overlapped" not in plain.profile and "write" in plain.profile["stages"]


def test_a_pipelined_render_resumed_without_the_pipeline_gives_the_same_frames(
    dogs, uninterrupted, tmp_path
):
    whole, _ = uninterrupted

    def interrupt_after_three(done, total, loss):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_frames(small_spec(), dogs, tmp_path, progress=interrupt_after_three)
    # The frames dreamed before the interrupt are written before it propagates.
    assert len(list((tmp_path / "frames").glob("*.png"))) == 3
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob("*.gif"))
    result = render_frames(small_spec("pipeline=false"), dogs, tmp_path)
    assert result.rendered == FRAMES - 3
    assert frame_bytes(tmp_path) == frame_bytes(whole)
    assert (tmp_path / "zoom.mp4").read_bytes() == (whole / "zoom.mp4").read_bytes()


def test_a_write_that_fails_behind_the_dream_stops_the_render_cleanly(
    dogs, uninterrupted, tmp_path, monkeypatch
):
    """A full disk while writing frame 2 on the worker: the error reaches the caller, the
    frames before stay done, no output is left half-written; a resume finishes the job."""
    from renderer.store.frame_store import FrameStore

    whole, _ = uninterrupted
    real_write = FrameStore.write_frame

    def write_frame(self, index, *args, **kwargs):
        if index == 2:
            raise DreamreelError("cannot write frame 3: No space left on device")
        return real_write(self, index, *args, **kwargs)

    monkeypatch.setattr(FrameStore, "write_frame", write_frame)
    with pytest.raises(DreamreelError, match="No space left"):
        render_frames(small_spec(), dogs, tmp_path)
    assert sorted(p.name for p in (tmp_path / "frames").glob("*.png")) == [
        "000001.png",
        "000002.png",
    ]
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".mp4", ".gif", ".partial")]
    monkeypatch.setattr(FrameStore, "write_frame", real_write)
    assert render_frames(small_spec(), dogs, tmp_path).rendered == FRAMES - 2
    assert frame_bytes(tmp_path) == frame_bytes(whole)
