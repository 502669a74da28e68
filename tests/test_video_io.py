"""Behaviour of renderer.media.open_video: which frames come back, how many, how big, and errors.

Every test clip encodes its frame number in its colour (red = units of 24, green = 24s),
so a test sees WHICH source frames came back, not just how many.
"""

import inspect
import subprocess

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from renderer.media import numbered_frames, open_video, write_gif, write_mp4
from renderer.runtime.errors import DreamreelError

H, W = 48, 64


def frame_image(index, height=H, width=W):
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = 8 + 10 * (index % 24)
    image[..., 1] = 8 + 10 * (index // 24)
    image[..., 2] = 128
    return image


def frame_id(image):
    """The frame number a frame_image shows (H.264 and palettes move colours by a few levels)."""
    red, green = image[..., 0].mean(), image[..., 1].mean()
    return round((red - 8) / 10) + 24 * round((green - 8) / 10)


def ids(frames):
    return [frame_id(frame) for frame in frames]


def ffmpeg(*args):
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", *map(str, args)]
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)


def make_clip(path, count, fps=24, height=H, width=W):
    write_mp4(path, (frame_image(i, height, width) for i in range(count)), fps=fps)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    clip = make_clip(folder / "clip.mp4", 24)
    long_raw = make_clip(folder / "long_raw.mp4", 96)
    # Keyframes every 12 frames and B-frames: resuming has to seek, and must hit the frame.
    ffmpeg(
        "-i",
        long_raw,
        "-c:v",
        "libx264",
        "-g",
        12,
        "-bf",
        2,
        "-pix_fmt",
        "yuv420p",
        folder / "long.mp4",
    )
    # Cut with stream copy at a non-keyframe: the MP4 keeps the GOP's leading packets
    # behind an edit list, marked "discard"; they are packets, but never frames.
    ffmpeg("-ss", 0.6, "-i", folder / "long.mp4", "-c", "copy", "-t", 2, folder / "cut.mp4")
    ffmpeg(
        "-i",
        clip,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=1",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        "-shortest",
        folder / "with_audio.mp4",
    )
    ffmpeg("-display_rotation", 90, "-i", clip, "-c", "copy", folder / "rotated.mp4")
    write_gif(folder / "long.gif", (frame_image(i) for i in range(96)), fps=24)
    return {
        "clip": clip,
        "long": folder / "long.mp4",
        "cut": folder / "cut.mp4",
        "audio": folder / "with_audio.mp4",
        "rotated": folder / "rotated.mp4",
        "gif": folder / "long.gif",
        "folder": folder,
    }


def write_png(path, image):
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


# ---------------------------------------------------------------- whole clips


def test_all_frames_stream_back_in_order(clips):
    with open_video(clips["clip"]) as source:
        assert (source.frame_count, source.fps, source.source_fps) == (24, 24.0, 24.0)
        assert (source.width, source.height) == (W, H)
        assert (source.start_seconds, source.has_audio, source.is_folder) == (0.0, False, False)
        assert source.audio is None and source.rate == 24
        frames = source.frames()
        assert inspect.isgenerator(frames)  # streamed, not a list
        frames = list(frames)
    assert ids(frames) == list(range(24))
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)
    frames[0][0, 0] = 0  # writable: callers may work in place


def test_closing_early_stops_cleanly(clips):
    with open_video(clips["long"]) as clip:
        frames = clip.frames()
        assert ids([next(frames), next(frames)]) == [0, 1]
        frames.close()  # the decoder is closed; no error, no hang
        other = clip.frames(3)
        assert frame_id(next(other)) == 3
    # leaving the clip closes the streams still open
    assert next(other, None) is None


def test_gif_clip(clips):
    source = open_video(clips["gif"])
    # GIF stores delays in 1/100 s (40, 40, 50 ms...): the mean rate is still 24 fps.
    assert (source.frame_count, source.fps) == (96, 24.0)
    assert ids(source.frames()) == list(range(96))


# ---------------------------------------------------------------- ranges, every, resume


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"start": 0.25, "end": 0.5}, range(6, 12)),  # frames at 6/24 s .. before 12/24 s
        ({"start": 0.26, "end": 0.49}, range(7, 12)),  # between frame times: first at/after
        ({"start": 0.5}, range(12, 24)),
        ({"start_frame": 5, "end_frame": 17}, range(5, 17)),
        ({"start_frame": 20, "end_frame": 1000}, range(20, 24)),  # past the end: to the end
        ({"every": 3}, range(0, 24, 3)),
        ({"start_frame": 1, "every": 5}, range(1, 24, 5)),
        ({"start": 0.5, "every": 4, "max_size": 32}, range(12, 24, 4)),
    ],
)
def test_ranges_pick_exactly_the_right_frames(clips, kwargs, expected):
    source = open_video(clips["clip"], **kwargs)

    frames = list(source.frames())
    assert ids(frames) == list(expected)
    assert source.frame_count == len(frames)
    assert source.fps == 24 / kwargs.get("every", 1)
    assert source.start_frame == expected[0]
    assert source.start_seconds == pytest.approx(expected[0] / 24)


@pytest.mark.parametrize("name", ["long", "gif"])  # MP4 seeks by time, GIF decodes from 0
def test_first_resumes_at_the_right_frame(clips, name):
    source = open_video(clips[name], start_frame=2, every=3)
    everything = list(range(2, 96, 3))
    assert source.frame_count == len(everything) == 32
    assert source._scan.seekable == (name == "long")  # both code paths are covered

    for first in (0, 1, 7, 8, 20, 31):  # 8 -> frame 26: 1 s in, after a keyframe at 24
        frames = source.frames(first)
        assert ids([next(frames), *frames][:3]) == everything[first : first + 3]
    assert list(source.frames(32)) == []  # a finished render resumes at the end
    assert ids(source.frames(29)) == everything[29:]  # and the tail is complete
    with pytest.raises(ValueError):
        source.frames(33)


def decoded_ids(path, fps=None):
    """What the ffmpeg program shows, the ground truth: one frame per decoded picture, or
    (fps) the pictures shown at its times (its fps filter: dropped frames held)."""
    params = ["-vf", f"fps={fps}"] if fps else ["-fps_mode", "passthrough"]
    reader = imageio_ffmpeg.read_frames(str(path), output_params=params)
    width, height = next(reader)["size"]
    return [frame_id(np.frombuffer(data, np.uint8).reshape(height, width, 3)) for data in reader]


def test_edit_list_cut_counts_only_shown_frames(clips):
    source = open_video(clips["cut"])
    frames = ids(source.frames())

    # The stream-copy cut also lost two B-frames before its last picture: a 2-frame gap
    # a player fills by holding the picture before it, as ffmpeg's fps filter does.
    assert frames == decoded_ids(clips["cut"], fps=24)
    pictures = decoded_ids(clips["cut"])
    assert sorted(set(frames)) == pictures and len(frames) == len(pictures) + 2
    assert frames[0] > 12  # shown from 0.6 s on: the keyframe at 12 (0.5 s) is only decoded
    assert source.frame_count == len(frames)
    resumed = source.frames(30)
    assert ids([next(resumed), next(resumed)]) == frames[30:32]
    resumed.close()


def test_a_cut_whose_only_keyframe_is_before_the_edit_list_still_opens(clips, tmp_path):
    """Stream-copy cut at a non-keyframe of a clip with one keyframe: every shown picture
    needs the discarded keyframe decoded first (found on a real clip, not the fixture's)."""
    one_gop = tmp_path / "one_gop.mp4"
    ffmpeg(
        "-i",
        clips["long"],
        "-c:v",
        "libx264",
        "-x264-params",
        "keyint=1000:scenecut=0",
        "-pix_fmt",
        "yuv420p",
        one_gop,
    )
    cut = tmp_path / "cut.mp4"
    ffmpeg("-ss", 0.6, "-i", one_gop, "-c", "copy", "-t", 2, cut)
    with open_video(cut) as source:
        frames = ids(source.frames())
    assert frames == decoded_ids(cut, fps=24) and len(frames) == source.frame_count
    assert frames[0] > 12


@pytest.mark.parametrize("end, count", [(1.01, 24), (1.03, 25), (1.0, 24), (0.99, 24)])
def test_an_end_between_frames_rounds_to_the_nearest_frame(clips, end, count):
    """The output lasts the range asked to within half a frame (24 fps: 1.01 s is 24
    frames, not the 25 that 'every frame before the end' would give)."""
    with open_video(clips["long"], end=end) as source:
        assert source.frame_count == count
        assert abs(source.frame_count / source.fps - end) <= 0.5 / source.fps


# ---------------------------------------------------------------- size


@pytest.mark.parametrize(
    "size, max_size, expected",
    [
        ((64, 48), 32, (32, 24)),
        ((64, 48), 40, (40, 30)),
        ((64, 48), 33, (32, 24)),  # odd max_size: the long side stays within it and even
        ((64, 48), 1000, (64, 48)),  # never upscaled
        ((64, 36), 40, (40, 22)),  # 22.5 rounds to an even 22
        ((36, 64), 40, (22, 40)),  # portrait
    ],
)
def test_max_size_keeps_aspect_and_even_sides(clips, size, max_size, expected):
    width, height = size
    path = clips["folder"] / f"clip_{width}x{height}.mp4"
    if not path.exists():
        make_clip(path, 3, height=height, width=width)
    source = open_video(path, max_size=max_size)

    frames = list(source.frames())
    assert (source.width, source.height) == expected
    assert all(frame.shape == (expected[1], expected[0], 3) for frame in frames)
    assert ids(frames) == [0, 1, 2]
    assert abs(expected[0] / expected[1] - width / height) < 0.05


def test_rotated_phone_clip_comes_upright(clips):
    source = open_video(clips["rotated"])

    frames = list(source.frames())
    assert (source.width, source.height) == (H, W)
    assert frames[0].shape == (W, H, 3)
    assert ids(frames) == list(range(24))
    assert source.rotation == 90


# ---------------------------------------------------------------- folders


def test_numbered_folder_sorts_numerically(tmp_path):
    numbers = [1000, 2, 999, 10, 1]
    for i, number in enumerate(sorted(numbers)):
        write_png(tmp_path / f"frame_{number}.png", frame_image(i, 49, 65))  # odd size
    for name in ("notes.txt", "frame_3.json", ".frame_4.png", "Thumbs.db"):
        (tmp_path / name).write_text("not a frame")

    assert [p.name for p in numbered_frames(tmp_path)] == [
        "frame_1.png",
        "frame_2.png",
        "frame_10.png",
        "frame_999.png",
        "frame_1000.png",
    ]
    source = open_video(tmp_path, folder_fps=12)
    frames = list(source.frames())
    assert (source.frame_count, source.fps, source.has_audio) == (5, 12, False)
    assert source.is_folder
    assert (source.width, source.height) == (64, 48)  # cropped to even
    assert ids(frames) == [0, 1, 2, 3, 4]
    assert ids(open_video(tmp_path, start_frame=1, every=2).frames(first=1)) == [3]
    small = open_video(tmp_path, max_size=32)
    assert [f.shape for f in small.frames()] == [(24, 32, 3)] * 5


def test_folder_of_mixed_sizes_names_the_odd_one_out(tmp_path):
    for number in (1, 2, 3):
        write_png(tmp_path / f"f{number}.png", frame_image(number))
    write_png(tmp_path / "f2.png", frame_image(2, 32, 32))

    with pytest.raises(DreamreelError, match=r"'f2.png' is 32x32, but 'f1.png' is 64x48") as err:
        open_video(tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "names, message",
    [
        ([], "holds no images"),
        (["frame_1.png", "cover.png"], "'cover.png' has no frame number"),
        (["a_1.png", "b_01.png"], "'a_1.png' and 'b_01.png' are both frame 1"),
    ],
)
def test_folder_errors(tmp_path, names, message):
    for name in names:
        write_png(tmp_path / name, frame_image(0))
    with pytest.raises(DreamreelError, match=message):
        open_video(tmp_path)


# ---------------------------------------------------------------- audio and errors


def test_has_audio(clips):
    assert open_video(clips["audio"]).has_audio
    assert not open_video(clips["clip"]).has_audio
    assert open_video(clips["audio"], start=0.5).start_seconds == 0.5  # where to trim sound
    audio = open_video(clips["audio"], start=0.5).audio
    assert (audio.path, audio.start, audio.origin) == (str(clips["audio"]), 0.5, 0.0)


@pytest.mark.parametrize(
    "content, message",
    [
        ("shopping list\n", "not a media file ffmpeg can read"),
        # ffmpeg's "tty" demuxer plays longer .txt files as ANSI-art video: refused too.
        ("lorem ipsum dolor sit amet\n" * 2000, "it is a text file, not a video"),
    ],
)
def test_text_file_is_a_one_line_error(tmp_path, content, message):
    path = tmp_path / "notes.txt"
    path.write_text(content)
    with pytest.raises(DreamreelError, match=message) as err:
        open_video(path)
    assert "notes.txt" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"start": 2.0}, r"no frames from 2 s to the end \(it has 24 frames, 1.000 s\)"),
        ({"start": 0.5, "end": 0.5}, "no frames from 0.5 s to 0.5 s"),
        ({"start_frame": 24}, "no frames from frame 24 to the end"),
        ({"start": 0.5, "end_frame": 20}, "not both"),
        ({"every": 0}, "every must be a whole number >= 1"),
        ({"start": -1}, "start must be a number of seconds >= 0"),
        ({"max_size": 1}, "max_size must be"),
    ],
)
def test_bad_ranges_are_one_line_errors(clips, kwargs, message):
    with pytest.raises(DreamreelError, match=message) as err:
        open_video(clips["clip"], **kwargs)
    assert "clip.mp4" in str(err.value) and "\n" not in str(err.value)


def test_missing_path(tmp_path):
    with pytest.raises(DreamreelError, match="no such file or folder"):
        open_video(tmp_path / "gone.mp4")
