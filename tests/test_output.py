"""Behaviour of renderer.runtime.atomic_files and renderer.media: what lands on disk, and when."""

import json
import os
import subprocess
from fractions import Fraction

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from renderer.imaging.contact_sheet import contact_sheet
from renderer.media import AudioSource, open_video, probe, write_gif, write_mp4
from renderer.media.images import even_size, read_image, write_image_atomic
from renderer.runtime.atomic_files import (
    remove_partial_files,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from renderer.runtime.errors import DreamreelError


def noise_frames(count, height, width, seed=0):
    """A generator (not a list), as the renderer streams frames."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def files_in(folder):
    return sorted(p.name for p in folder.iterdir())


def first_decoded_frame(path):
    with open_video(path) as clip:
        return next(clip.frames())


def sine_wav(path, seconds):
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi"]
    cmd += ["-i", f"sine=frequency=440:duration={seconds}", str(path)]
    subprocess.run(cmd, check=True)
    return path


# ---------------------------------------------------------------- MP4


def test_mp4_reads_back_with_exact_frames_size_fps_codec(tmp_path):
    path = tmp_path / "dream.mp4"
    written = write_mp4(path, noise_frames(15, 49, 65), fps=12)

    info = probe(path)
    assert written == 15
    assert info["frames"] == 15
    assert (info["width"], info["height"]) == (64, 48)  # odd input cropped to even
    assert info["fps"] == 12
    assert info["codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert info["audio"] is None
    assert files_in(tmp_path) == ["dream.mp4"]


def test_mp4_names_with_colons_are_files_not_ffmpeg_protocols(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_mp4("take:2.mp4", noise_frames(3, 32, 32), fps=8)
    assert probe("take:2.mp4")["frames"] == 3


def test_mp4_is_faststart_so_browsers_play_while_loading(tmp_path):
    path = tmp_path / "dream.mp4"
    write_mp4(path, noise_frames(4, 32, 32), fps=8)
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_mp4_keeps_rgb_channel_order(tmp_path):
    red = np.zeros((32, 48, 3), np.uint8)
    red[..., 0] = 255
    path = tmp_path / "red.mp4"
    write_mp4(path, [red, red], fps=2)
    mean = first_decoded_frame(path).reshape(-1, 3).mean(axis=0)
    assert mean[0] > 200 and mean[1] < 40 and mean[2] < 40


@pytest.mark.parametrize("audio_seconds", [3.0, 0.3])
def test_mp4_muxes_audio_without_losing_frames(tmp_path, audio_seconds):
    wav = sine_wav(tmp_path / "sound.wav", audio_seconds)
    path = tmp_path / "dream.mp4"
    write_mp4(path, noise_frames(12, 32, 32), fps=12, audio=AudioSource(str(wav), start=0.1))

    info = probe(path)
    assert info["frames"] == 12  # longer audio is cut, shorter is padded with silence
    assert info["audio"] == "aac"
    assert info["duration"] == pytest.approx(1.0, abs=0.05)
    assert sound_seconds(path) == pytest.approx(1.0, abs=0.001)  # exactly the video's


def sound_seconds(path):
    """Seconds of sound a player plays: the audio track's duration, which leaves out the
    AAC encoder's priming (an edit list) and the padding of its last packet."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


def test_mp4_audio_source_without_sound_adds_no_audio_stream(tmp_path):
    silent = tmp_path / "silent.mp4"
    write_mp4(silent, noise_frames(4, 32, 32), fps=8)
    path = tmp_path / "dream.mp4"
    write_mp4(path, noise_frames(4, 32, 32), fps=8, audio=AudioSource(str(silent)))
    assert probe(path)["audio"] is None


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])  # PCM and AAC (priming samples) sources
def test_mp4_audio_from_a_later_start_keeps_the_click_in_place(tmp_path, suffix):
    """A click 0.75 s into the source, the sound taken from 0.25 s: the output's click is
    at 0.5 s, within 20 ms (a shift of the start by a frame or more shows)."""
    from helpers import click_time, click_track, write_clip

    frames = list(noise_frames(16, 32, 32))
    source = write_clip(tmp_path / f"click{suffix}", frames, 8, audio=click_track(2.0, 0.75))
    assert click_time(source) == pytest.approx(0.75, abs=0.002)
    path = tmp_path / "dream.mp4"
    write_mp4(path, frames[:8], fps=8, audio=AudioSource(str(source), start=0.25))
    assert click_time(path) == pytest.approx(0.5, abs=0.02)


def test_mp4_keeps_ntsc_rates_exact(tmp_path):
    path = tmp_path / "ntsc.mp4"
    write_mp4(path, noise_frames(30, 32, 32), fps=30000 / 1001)  # a float, as manifests hold
    with open_video(path) as clip:
        assert clip.rate == Fraction(30000, 1001) and clip.frame_count == 30
    assert probe(path)["duration"] == pytest.approx(30 * 1001 / 30000, abs=0.001)


def test_audio_source_round_trips_through_json():
    audio = AudioSource("clip.mp4", start=1.5, origin=0.25, stream=1)
    assert AudioSource.from_dict(json.loads(json.dumps(audio.to_dict()))) == audio
    assert AudioSource.from_dict({"path": "old.mp4", "start": 2}) == AudioSource("old.mp4", 2.0)
    with pytest.raises(ValueError):
        AudioSource.from_dict({"start": 2})


def test_mp4_rejects_frames_of_different_sizes_and_leaves_nothing(tmp_path):
    frames = [np.zeros((32, 32, 3), np.uint8), np.zeros((40, 32, 3), np.uint8)]
    with pytest.raises(DreamreelError, match="frame 1 is 32x40, expected 32x32"):
        write_mp4(tmp_path / "dream.mp4", frames, fps=8)
    assert files_in(tmp_path) == []


def test_mp4_without_frames_is_a_user_error(tmp_path):
    with pytest.raises(DreamreelError, match="no frames"):
        write_mp4(tmp_path / "dream.mp4", iter([]), fps=8)
    assert files_in(tmp_path) == []


def test_probe_of_a_non_video_is_one_clear_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(DreamreelError, match="not a media file ffmpeg can read"):
        probe(text)
    with pytest.raises(DreamreelError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(DreamreelError, match="no video stream"):
        probe(sine_wav(tmp_path / "sound.wav", 0.2))


# ---------------------------------------------------------------- GIF


def gif_frames_info(path):
    with Image.open(path) as gif:
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
        return gif.size, durations, gif.info.get("loop")


@pytest.mark.parametrize("fps", [10, 24])
def test_gif_loops_forever_with_durations_from_fps(tmp_path, fps):
    path = tmp_path / "dream.gif"
    written = write_gif(path, noise_frames(12, 24, 30), fps=fps)

    size, durations, loop = gif_frames_info(path)
    assert written == 12 and len(durations) == 12
    assert size == (30, 24)
    assert loop == 0  # NETSCAPE loop count 0: forever
    # GIF delays are whole hundredths of a second: each frame is within one tick of
    # 1/fps, and the running total stays on time (24 fps mixes 40 and 50 ms).
    assert all(d % 10 == 0 and abs(d - 1000 / fps) < 10 for d in durations)
    assert sum(durations) == pytest.approx(12 * 1000 / fps, abs=10)


def test_gif_can_play_once_and_downscale(tmp_path):
    path = tmp_path / "once.gif"
    write_gif(path, noise_frames(3, 100, 200), fps=5, loop=False, max_side=50)
    size, durations, loop = gif_frames_info(path)
    assert size == (50, 25)
    assert loop is None
    assert durations == [200, 200, 200]


# ---------------------------------------------------------------- atomic writes


def crashing_frames(good):
    yield from noise_frames(good, 32, 32)
    raise RuntimeError("renderer crashed")


@pytest.mark.parametrize("writer", [write_mp4, write_gif])
def test_crash_mid_stream_leaves_no_file_and_no_temp(tmp_path, writer):
    target = tmp_path / "dream.out"
    with pytest.raises(RuntimeError, match="renderer crashed"):
        writer(target, crashing_frames(3), 8)
    assert files_in(tmp_path) == []


def test_interrupt_mid_mp4_leaves_no_temp(tmp_path):
    def interrupted():
        yield from noise_frames(2, 32, 32)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_mp4(tmp_path / "dream.mp4", interrupted(), fps=8)
    assert files_in(tmp_path) == []


def test_failed_rename_keeps_the_old_file_and_removes_the_temp(tmp_path, monkeypatch):
    target = tmp_path / "000001.png"
    write_image_atomic(target, np.zeros((4, 4, 3), np.uint8))
    before = target.read_bytes()

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(DreamreelError, match="cannot write .*No space left on device"):
        write_image_atomic(target, np.full((4, 4, 3), 255, np.uint8))
    assert target.read_bytes() == before
    assert files_in(tmp_path) == ["000001.png"]


def test_unwritable_destination_is_one_clear_error(tmp_path):
    blocker = tmp_path / "frames"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(DreamreelError, match="is a file, not a folder"):
        write_image_atomic(blocker / "000001.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DreamreelError, match="cannot write"):
        write_mp4(blocker / "dream.mp4", noise_frames(2, 32, 32), fps=8)


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_written_files_follow_the_umask_not_private_temp_modes(tmp_path):
    target = tmp_path / "losses.csv"
    write_csv_atomic(target, ["frame", "loss"], [[1, 0.5]])
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


def test_text_csv_json_round_trip_and_missing_folders_are_created(tmp_path):
    write_text_atomic(tmp_path / "a" / "note.txt", "héllo\n")
    write_csv_atomic(tmp_path / "losses.csv", ["frame", "loss"], [[1, 0.5], [2, 0.25]])
    write_json_atomic(tmp_path / "manifest.json", {"model": "inception", "fps": 24})
    assert (tmp_path / "a" / "note.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "losses.csv").read_bytes() == b"frame,loss\n1,0.5\n2,0.25\n"
    assert '"fps": 24' in (tmp_path / "manifest.json").read_text()


def test_remove_partial_files_sweeps_only_temp_leftovers(tmp_path):
    (tmp_path / ".000002.png.1a2b3c4d.partial").write_bytes(b"half")
    (tmp_path / "000001.png").write_bytes(b"done")
    assert remove_partial_files(tmp_path) == 1
    assert files_in(tmp_path) == ["000001.png"]


# ---------------------------------------------------------------- reading images


def test_png_round_trip_is_exact_rgb(tmp_path):
    image = next(noise_frames(1, 7, 9))
    write_image_atomic(tmp_path / "x.png", image)
    np.testing.assert_array_equal(read_image(tmp_path / "x.png"), image)


def test_read_image_turns_grayscale_and_rgba_into_rgb(tmp_path):
    cv2.imwrite(str(tmp_path / "gray.png"), np.full((5, 6), 77, np.uint8))
    bgra = np.zeros((5, 6, 4), np.uint8)
    bgra[...] = (10, 20, 30, 0)  # fully transparent: the background shows (issue 9)
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    cv2.imwrite(str(tmp_path / "photo.webp"), np.zeros((5, 6, 3), np.uint8))

    gray = read_image(tmp_path / "gray.png")
    rgba = read_image(tmp_path / "rgba.png")
    assert gray.shape == rgba.shape == (5, 6, 3) and gray.dtype == np.uint8
    assert (gray == 77).all()
    assert tuple(rgba[0, 0]) == (255, 255, 255)  # white, not the hidden colour
    assert read_image(tmp_path / "photo.webp").shape == (5, 6, 3)


def test_read_image_errors_are_one_clear_line(tmp_path):
    (tmp_path / "x.jpg").write_text("this is not a jpeg")
    with pytest.raises(DreamreelError) as err:
        read_image(tmp_path / "x.jpg")
    expected = f"cannot read image '{tmp_path / 'x.jpg'}': not an image file OpenCV can decode"
    assert str(err.value) == expected
    with pytest.raises(DreamreelError, match="no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(DreamreelError, match="folder"):
        read_image(tmp_path)


# ---------------------------------------------------------------- layout helpers


def test_even_size_crops_odd_sides_only():
    assert even_size(np.zeros((49, 65, 3), np.uint8)).shape == (48, 64, 3)
    assert even_size(np.zeros((48, 64, 3), np.uint8)).shape == (48, 64, 3)


def test_contact_sheet_grid_layout():
    tiles = [np.full((10, 20, 3), 50 * (i + 1), np.uint8) for i in range(5)]
    sheet = contact_sheet(tiles, gap=4)

    assert sheet.shape == (2 * 10 + 3 * 4, 3 * 20 + 4 * 4, 3)  # 3 columns, 2 rows
    assert (sheet[4:14, 4:24] == 50).all()  # first tile, top left
    assert (sheet[18:28, 28:48] == 250).all()  # fifth tile, second row, middle
    assert (sheet[18:28, 52:72] == 16).all()  # empty slot shows the background
    assert contact_sheet(tiles, columns=1, gap=0).shape == (50, 20, 3)
    with pytest.raises(ValueError):
        contact_sheet([tiles[0], np.zeros((5, 5, 3), np.uint8)])
