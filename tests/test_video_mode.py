"""Dreaming over clips: flow keeps the dream stable, cuts restart it, audio and resume work."""

from __future__ import annotations

import subprocess

import cv2
import imageio_ffmpeg
import pytest

from renderer.media.video_out import probe_video, write_mp4

from renderer.media.images import read_image
from renderer.scheduler import render_animation
from renderer.spec import load_spec

FPS = 12
QUICK = ["mode=video", "fps=12", "dream.steps=4", "dream.octaves=1", "video.first_steps=8",
         "video.first_octaves=1", "output.gif=false", "output.hold_last=0"]


def pan_clip(path, samples_dir, frames=12, cut_at=None):
    """A camera pan over a photo with a square sliding the other way; optionally a cut
    to another photo at frame ``cut_at``."""
    big = cv2.resize(read_image(samples_dir / "astronaut.jpg"), (300, 220))
    other = cv2.resize(read_image(samples_dir / "coffee.jpg"), (300, 220))
    images = []
    for t in range(frames):
        source = other if cut_at is not None and t >= cut_at else big
        x = 10 + 3 * t
        frame = source[30:126, x:x + 128].copy()
        sx = 80 - 4 * t
        frame[40:70, max(0, sx):sx + 30] = source[0:30, 0:30][:, max(0, -sx):]
        images.append(frame)
    write_mp4(path, images, FPS)
    return path


def spec_for(clip, *extra):
    return load_spec("progress", [*QUICK, *extra], input=str(clip))


@pytest.fixture(scope="module")
def dogs(embedded_cache):
    from renderer.models import load_dream_model

    return load_dream_model("mobilenet_v2_dogs")


@pytest.fixture(scope="module")
def clip(tmp_path_factory, samples_dir):
    return pan_clip(tmp_path_factory.mktemp("clip") / "pan.mp4", samples_dir)


@pytest.fixture(scope="module")
def with_flow(dogs, clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("flow-on")
    return out, render_animation(spec_for(clip), dogs, out)


def test_flow_adds_far_less_flicker_at_a_similar_dream_strength(dogs, clip, with_flow,
                                                                 tmp_path):
    _, on = with_flow
    off = render_animation(spec_for(clip, "flow.enabled=false"), dogs, tmp_path)
    assert on.report["added_flicker"] < 0.5 * off.report["added_flicker"]
    assert on.report["dream_strength"] > 0.7 * off.report["dream_strength"]
    assert on.report["e_warp_input"] == pytest.approx(off.report["e_warp_input"])


def test_dream_strength_stays_level_along_the_clip(with_flow):
    _, result = with_flow
    strengths = [s["dream_strength"] for s in result.report["per_second"]]
    assert len(strengths) == 1 or max(strengths) < 1.5 * min(strengths)


def test_output_keeps_the_clips_fps_and_frame_count(with_flow):
    out, result = with_flow
    video = probe_video(out / "video.mp4")
    assert result.frames == video["frames"] == 12 and video["fps"] == FPS
    assert (video["width"], video["height"]) == (128, 96)
    assert (out / "report.json").is_file()


def test_a_scene_cut_restarts_the_dream(dogs, tmp_path, samples_dir):
    clip = pan_clip(tmp_path / "cut.mp4", samples_dir, frames=8, cut_at=4)
    result = render_animation(spec_for(clip), dogs, tmp_path / "out")
    assert result.report["cuts"] == [5]  # frame numbers are 1-based, like the file names


def test_a_video_render_resumes_to_identical_frames(dogs, clip, with_flow, tmp_path):
    whole, _ = with_flow

    def stop_after_five(done, total, loss):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_animation(spec_for(clip), dogs, tmp_path, progress=stop_after_five)
    result = render_animation(spec_for(clip), dogs, tmp_path)
    assert result.rendered == 7
    for i in range(1, 13):
        name = f"frames/{i:06d}.png"
        assert (tmp_path / name).read_bytes() == (whole / name).read_bytes(), name


def test_the_clips_audio_survives_into_the_output(dogs, clip, tmp_path):
    with_sound = tmp_path / "sound.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(clip), "-f",
                    "lavfi", "-i", "sine=frequency=440:duration=1", "-c:v", "copy", "-c:a",
                    "aac", "-shortest", str(with_sound)], check=True)
    result = render_animation(spec_for(with_sound, "video.start_frame=2"), dogs,
                              tmp_path / "out")
    video = probe_video(tmp_path / "out" / "video.mp4")
    assert video["audio"] == "aac" and video["frames"] == result.frames == 10
    assert video["duration"] == pytest.approx(10 / FPS, abs=0.1)
    # `dreamreel stitch` afterwards keeps the clip's fps and sound.
    from renderer.stitch import stitch_from_manifest

    (tmp_path / "out" / "video.mp4").unlink()
    stitch_from_manifest(tmp_path / "out")
    again = probe_video(tmp_path / "out" / "video.mp4")
    assert (again["audio"], again["fps"], again["frames"]) == ("aac", FPS, 10)


def test_stability_command_compares_any_two_videos(with_flow, clip, capsys, tmp_path):
    from renderer.cli import main

    out, result = with_flow
    assert main(["stability", str(out / "video.mp4"), "--source", str(clip),
                 "--json", str(tmp_path / "r.json")]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("stability (12 frames") and "added flicker" in line
    import json
    report = json.loads((tmp_path / "r.json").read_text())
    # From the MP4 (compressed) rather than the PNGs: close to the render's own report.
    assert report["dream_strength"] == pytest.approx(result.report["dream_strength"], rel=0.15)
