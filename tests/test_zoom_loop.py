"""Seamless zoom loops (zoom.loop): the MP4/GIF play `frames` frames whose last ones
cross-fade into the chain's first, so the wrap is one regular zoom step.

Outputs are read back with PyAV and Pillow, and the zoom step is re-done here with OpenCV,
never with the renderer's own readers or warp.
"""

from __future__ import annotations

import json
import shutil
import signal

import av
import cv2
import numpy as np
import pytest
from helpers import (
    differing_frames,
    frame_bytes,
    run_without_tensorflow_probe,
    set_args,
    signal_render_after,
)
from PIL import Image, ImageSequence

import renderer
from renderer.rendering.identity import render_identity
from renderer.rendering.spec import load_spec
from renderer.rendering.stitch import stitch_from_manifest
from renderer.runtime.errors import DreamreelError
from renderer.store.frame_store import done_frame_count

N, K, SCALE = 8, 3, 1.05
TINY = [
    "width=64",
    "height=64",
    "fps=8",
    f"zoom.scale={SCALE}",
    "dream.steps=2",
    "dream.octaves=1",
    "zoom.first_steps=4",
    "zoom.first_octaves=2",
    "pipeline=true",
]
LOOP = [*TINY, f"frames={N}", f"zoom.loop={K}"]
PLAIN = [*TINY, f"frames={N + K}", "output.gif=false"]  # the same chain, nothing blended


def render(overrides, out, **options):
    return renderer.render(load_spec("noise-zoom", overrides), out=out, **options)


def mp4_frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def gif_frame_count(path) -> int:
    with Image.open(path) as gif:
        return sum(1 for _ in ImageSequence.Iterator(gif))


def pngs(out) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(p).convert("RGB")) for p in sorted((out / "frames").glob("*.png"))
    ]


def zoom_step(image: np.ndarray, scale: float) -> np.ndarray:
    """The camera move between two frames, redone with OpenCV: a zoom about the centre."""
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), 0.0, scale)
    return cv2.warpAffine(
        image.astype(np.float32),
        matrix,
        (width, height),
        flags=cv2.INTER_LANCZOS4,
        borderMode=cv2.BORDER_REFLECT_101,
    )


def e_warp(before: np.ndarray, after: np.ndarray) -> float:
    """Lai et al.'s E_warp for one pair with the known motion: mean squared RGB distance
    (0..1) between the next frame and the previous one moved by the camera."""
    moved = zoom_step(before, SCALE) / 255.0
    return float(((after / 255.0 - moved) ** 2).sum(axis=-1).mean())


def wrap_and_median(played: list[np.ndarray]) -> tuple[float, float]:
    steps = [e_warp(a, b) for a, b in zip(played, played[1:])]
    return e_warp(played[-1], played[0]), float(np.median(steps))


def smoothstep_weights(k: int) -> list[float]:
    return [x * x * (3 - 2 * x) for x in ((j + 1) / (k + 1) for j in range(k))]


@pytest.fixture(scope="module")
def looped(embedded_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("looped")
    render(LOOP, out)
    return out


@pytest.fixture(scope="module")
def plain(embedded_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("plain")
    render(PLAIN, out)
    return out


def test_the_mp4_and_gif_play_exactly_frames_frames(looped):
    assert len(mp4_frames(looped / "zoom.mp4")) == N
    assert gif_frame_count(looped / "zoom.gif") == N
    assert len(pngs(looped)) == N + K  # the lead-in is stored, and said so
    manifest = json.loads((looped / "manifest.json").read_text())
    assert manifest["lead_in"] == K and manifest["loop"]["frames"] == N


def test_the_stored_frames_are_the_chain_with_its_last_frames_faded_into_the_first(looped, plain):
    loop, chain = pngs(looped), pngs(plain)
    for i in range(N):  # lead-in and played frames: the plain zoom, untouched
        assert np.array_equal(loop[i], chain[i]), f"frame {i + 1}"
    for j, w in enumerate(smoothstep_weights(K)):
        expected = (1 - w) * chain[N + j].astype(np.float64) + w * chain[j]
        assert np.abs(loop[N + j] - expected).max() <= 0.51, f"frame {N + j + 1}"
    # The MP4 plays stored frames K..N+K-1, in order: each decoded frame is nearest its own.
    for i, frame in enumerate(mp4_frames(looped / "zoom.mp4")):
        distances = [np.abs(frame.astype(np.float32) - png).mean() for png in loop]
        assert int(np.argmin(distances)) == K + i, f"MP4 frame {i}"


def test_the_wrap_is_as_smooth_as_a_regular_step_and_would_jump_without_the_loop(looped, plain):
    wrap, median = wrap_and_median(mp4_frames(looped / "zoom.mp4"))
    assert wrap <= 1.5 * median, (wrap, median)
    # The same chain frames played without the fade: the wrap is a cut to other content.
    unblended, median_plain = wrap_and_median(mp4_frames(plain / "zoom.mp4")[K:])
    assert unblended >= 3 * median_plain, (unblended, median_plain)


def test_a_loop_with_cadence_fades_the_unblended_chain(embedded_cache, tmp_path):
    cadence = ["zoom.cadence=2", "zoom.between_steps=0"]
    render([*LOOP, *cadence], tmp_path / "loop")
    render([*PLAIN, *cadence], tmp_path / "plain")
    loop, chain = pngs(tmp_path / "loop"), pngs(tmp_path / "plain")
    assert all(np.array_equal(a, b) for a, b in zip(loop[:N], chain[:N]))
    # Frame N+1 is a camera move alone: chained from a blend it would differ from the plain
    # chain's, and so would its fade.
    for j, w in enumerate(smoothstep_weights(K)):
        expected = (1 - w) * chain[N + j].astype(np.float64) + w * chain[j]
        assert np.abs(loop[N + j] - expected).max() <= 0.51, f"frame {N + j + 1}"
    assert len(mp4_frames(tmp_path / "loop" / "zoom.mp4")) == N


def stop_at(count):
    def progress(done, total, loss):
        if done == count:
            raise KeyboardInterrupt

    return progress


def assert_same_render(out, reference):
    differ = differing_frames(frame_bytes(out), frame_bytes(reference))
    assert not differ, f"resumed frames {differ} differ from the uninterrupted render"
    for name in ("zoom.mp4", "zoom.gif"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_stopped_in_the_lead_in_and_in_the_fade_it_resumes_to_the_same_render(looped, tmp_path):
    out = tmp_path / "stopped"
    with pytest.raises(KeyboardInterrupt):
        render(LOOP, out, progress=stop_at(2))  # inside the lead-in
    with pytest.raises(KeyboardInterrupt):
        render(LOOP, out, progress=stop_at(N + 2))  # two blended frames stored
    spare = shutil.copytree(out, tmp_path / "no-checkpoint")
    assert render(LOOP, out).rendered == K - 2  # picked up from frame N+2's checkpoint
    assert_same_render(out, looped)
    # Without the checkpoint the fade is dreamed again from the last plain frame.
    for path in (spare / "checkpoints").glob("*.npz"):
        path.unlink()
    assert render(LOOP, spare).rendered == K
    assert_same_render(spare, looped)
    # Run again when finished: nothing to dream, the same files.
    assert render(LOOP, out).rendered == 0
    assert_same_render(out, looped)
    # Re-stitched from the PNGs with the manifest's lead-in: the same files again.
    stitch_from_manifest(out)
    assert_same_render(out, looped)


def test_killed_inside_the_fade_it_resumes_and_restitches_to_the_same_bytes(
    embedded_cache, tmp_path
):
    # Frame N+K-1 dreams long (400 steps, ~4 s), so the kill lands in the fade with
    # frames N.. stored, even on a loaded machine (60 steps, ~0.6 s, once raced past it).
    slow_end = [*LOOP, f'dream.steps="0:(2), {N + K - 2}:(2), {N + K - 1}:(400)"']
    render(slow_end, tmp_path / "whole")
    out = tmp_path / "killed"
    proc = signal_render_after(
        out, ["noise-zoom", *set_args(slow_end)], frames=N + K - 1, sig=signal.SIGKILL
    )
    assert proc.returncode == -signal.SIGKILL
    stored = done_frame_count(out)
    assert N < stored < N + K and not (out / "zoom.mp4").exists()
    assert render(slow_end, out).rendered == N + K - stored
    assert_same_render(out, tmp_path / "whole")
    stitch_from_manifest(out)
    assert_same_render(out, tmp_path / "whole")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["frames=8", "zoom.loop=8"], "zoom.loop must be <= frames - 1"),
        (["zoom.loop=3", "output.pingpong=true"], "zoom.loop and output.pingpong"),
        (["zoom.loop=3", "output.hold_last=1.0"], "zoom.loop needs output.hold_last = 0"),
        (["zoom.loop=-1"], "zoom.loop must be >= 0"),
    ],
)
def test_settings_a_loop_cannot_have_are_refused_in_one_line(overrides, message):
    with pytest.raises(DreamreelError, match=message) as caught:
        load_spec("noise-zoom", overrides)
    assert "\n" not in str(caught.value)


def test_the_cli_refuses_pingpong_with_a_loop_before_tensorflow(tmp_path):
    result, _, err = run_without_tensorflow_probe(
        "render",
        "noise-zoom",
        *set_args(["zoom.loop=3", "output.pingpong=true"]),
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    assert result["code"] != 0 and not result["tensorflow"], err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "zoom.loop and output.pingpong" in lines[0], err


def test_loop_and_its_frames_decide_the_pixels():
    plain, looped = (load_spec("noise-zoom", o) for o in ([], ["zoom.loop=3"]))
    assert render_identity(plain) != render_identity(looped)
    # Without a loop a longer zoom extends a finished one; with one the fade moves.
    assert render_identity(plain) == render_identity(load_spec("noise-zoom", ["frames=120"]))
    assert render_identity(looped) != render_identity(
        load_spec("noise-zoom", ["zoom.loop=3", "frames=120"])
    )
