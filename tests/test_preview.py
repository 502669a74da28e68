"""`dreamreel preview` (issue 20, item 2): a render's camera path as a GIF and its
schedules as a plot, in seconds and without TensorFlow; --look dreams a few frames.

The pictures are read back with Pillow and OpenCV, never with the renderer's own code.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import run_without_tensorflow_probe, write_clip
from PIL import Image, ImageSequence

from renderer.cli.main import main

SMALL = ["--size", "64x64"]
ROW_BACKGROUND = (246, 246, 248)  # the plot's rows' band
LINE = (30, 100, 200)  # a schedule's line
CUT = (200, 40, 40)
AUDIO = (0, 140, 110)
BEAT = (240, 150, 40)


def preview(capsys, *argv: str) -> tuple[int, str]:
    code = main(["preview", *argv])
    return code, capsys.readouterr().err


def previewed(capsys, out: Path, *argv: str) -> Path:
    code, err = preview(capsys, *argv, "-o", str(out))
    assert code == 0, err
    return out


def gif_frames(path: Path) -> tuple[list[np.ndarray], list[int]]:
    """Every frame of a GIF as RGB, and each one's delay in ms."""
    with Image.open(path) as gif:
        frames = [
            (np.asarray(f.convert("RGB")), f.info["duration"]) for f in ImageSequence.Iterator(gif)
        ]
    return [f for f, _ in frames], [d for _, d in frames]


def picture(frame: np.ndarray, side: int = 64) -> np.ndarray:
    """A GIF frame's picture of a side x side render: centred above the caption strip."""
    left = (frame.shape[1] - side) // 2
    return frame[:side, left : left + side]


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def write_photo(path: Path, image: np.ndarray) -> str:
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return str(path)


def coloured(image: np.ndarray, colour) -> np.ndarray:
    """Where ``image`` is ``colour`` (within a few levels: lines are anti-aliased)."""
    return np.abs(image.astype(int) - colour).max(axis=2) <= 8


# ---------------------------------------------------------------- the camera path


def test_a_zoom_in_grows_the_centre_frame_after_frame(tmp_path, capsys):
    disc = np.zeros((96, 96, 3), np.uint8)
    cv2.circle(disc, (48, 48), 8, (255, 255, 255), -1)
    photo = write_photo(tmp_path / "disc.png", disc)
    out = previewed(
        capsys,
        tmp_path / "p",
        "noise-zoom",
        "-i",
        photo,
        *SMALL,
        "--frames",
        "6",
        "--set",
        "zoom.scale=1.25",
    )
    frames, _ = gif_frames(out / "path.gif")
    assert len(frames) == 6  # one GIF frame a frame: a short render is not thinned
    white = [int((picture(f).min(axis=2) > 200).sum()) for f in frames]
    assert all(b > a for a, b in zip(white, white[1:])), white
    assert white[-1] > 2.5 * white[0]  # 1.25 ** 5 = 3.05 times as wide, less the blur


def test_a_positive_rotation_turns_the_picture_counter_clockwise(tmp_path, capsys):
    bar = np.zeros((96, 96, 3), np.uint8)
    bar[38:58, 52:92] = 255  # from the centre to the right edge
    photo = write_photo(tmp_path / "bar.png", bar)
    out = previewed(
        capsys,
        tmp_path / "p",
        "noise-zoom",
        "-i",
        photo,
        *SMALL,
        "--frames",
        "10",
        "--set",
        "zoom.scale=1.0",
        "--set",
        "zoom.rotation=10",
    )
    frames, _ = gif_frames(out / "path.gif")
    first, last = (picture(f).min(axis=2) > 200 for f in (frames[0], frames[-1]))
    right, up = np.s_[27:37, 40:58], np.s_[6:24, 27:37]
    assert first[right].mean() > 0.6 and first[up].mean() < 0.1
    # Nine frames of +10 degrees: the bar points up, as zoom.rotation's doc says.
    assert last[up].mean() > 0.6, "the bar did not turn up"
    assert last[right].mean() < 0.1


def test_a_long_render_is_shown_thinned_at_its_own_speed(tmp_path, capsys):
    out = previewed(capsys, tmp_path / "p", "noise-zoom", "--size", "32x32", "--frames", "300")
    frames, delays = gif_frames(out / "path.gif")
    # ceil(300 / 120) = 3: every 3rd frame, each shown for 3 frames' time at 12 fps.
    assert len(frames) == 100
    assert set(delays) == {250}


def test_a_morph_shows_its_photos_and_the_fade_between(tmp_path, capsys):
    red = write_photo(tmp_path / "red.png", np.full((48, 64, 3), (220, 0, 0), np.uint8))
    blue = write_photo(tmp_path / "blue.png", np.full((48, 64, 3), (0, 0, 220), np.uint8))
    out = previewed(
        capsys,
        tmp_path / "p",
        "morph",
        "-i",
        red,
        "-i",
        blue,
        "--set",
        "morph.hold=3",
        "--set",
        "morph.fade=2",
        "--size",
        "64x48",
    )
    frames, _ = gif_frames(out / "path.gif")
    assert len(frames) == 3 + 2 + 3
    means = [f[:48, 64:128].reshape(-1, 3).mean(axis=0) for f in frames]  # 64 px, centred
    reds, blues = [m[0] for m in means], [m[2] for m in means]
    assert reds[0] > 150 > blues[0] and blues[-1] > 150 > reds[-1]
    # The fade frames (3 and 4): blue comes in step by step (the grid has no blue).
    assert blues[2] + 30 < blues[3] < blues[4] - 30 < blues[5] - 60, blues


@pytest.fixture
def cut_clip(tmp_path) -> Path:
    """24 frames at 12 fps, 96x64: a square moving on grey, then (frame 12 on) on yellow."""
    frames = []
    for t in range(24):
        frame = np.full((64, 96, 3), 70 if t < 12 else (220, 200, 30), np.uint8)
        cv2.rectangle(frame, (10 + 2 * t, 20), (30 + 2 * t, 40), (255, 255, 255), -1)
        frames.append(frame)
    return write_clip(tmp_path / "cut.mp4", frames, 12)


def test_a_clip_is_read_over_the_render_s_stride_and_its_cut_is_marked(tmp_path, capsys, cut_clip):
    out = previewed(
        capsys, tmp_path / "p", "video-quick", "-i", str(cut_clip), "--set", "video.every=2"
    )
    frames, delays = gif_frames(out / "path.gif")
    assert len(frames) == 12  # every 2nd of the clip's 24 frames
    assert abs(sum(delays) - 2000) <= 10  # at 6 fps: the 2 s the clip lasts
    plot = read_rgb(out / "schedules.png")
    left, right = plot_extent(plot)
    cut_columns = np.flatnonzero(coloured(plot, CUT).sum(axis=0) > 10)
    # The cut is t = 6 (clip frame 12) of the 12 frames t = 0..11.
    expected = left + 6 / 11 * (right - left)
    assert len(cut_columns) and np.abs(cut_columns - expected).max() <= 2, cut_columns


# ---------------------------------------------------------------- the schedules' plot


def plot_extent(plot: np.ndarray) -> tuple[int, int]:
    """The first and last column of the rows' band: where frame 0 and the last frame are."""
    band = (plot == ROW_BACKGROUND).all(axis=2).sum(axis=0)
    columns = np.flatnonzero(band >= band.max() // 2)
    return int(columns.min()), int(columns.max())


def row_bands(plot: np.ndarray, column: int) -> list[tuple[int, int]]:
    """(top, bottom) of each row's band, top to bottom, read down one column: the runs
    that are not the page's white, taller than a line of text."""
    inside = np.concatenate([[False], (plot[:, column] != 255).any(axis=1), [False]])
    edges = np.flatnonzero(np.diff(inside.astype(int)))
    runs = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]
    return [(a, b) for a, b in runs if b - a > 30]


def line_height(plot: np.ndarray, band: tuple[int, int], column: int) -> float:
    """The line's mean row in ``band`` at ``column`` (smaller: higher up: a larger value)."""
    rows = np.flatnonzero(coloured(plot[band[0] : band[1], column : column + 1], LINE)[:, 0])
    assert len(rows), f"no line at column {column}"
    return band[0] + float(rows.mean())


def test_the_plot_draws_a_schedule_rising_where_its_keyframe_is(tmp_path, capsys):
    out = previewed(
        capsys,
        tmp_path / "p",
        "noise-zoom",
        *SMALL,
        "--frames",
        "41",
        "--set",
        'zoom.rotation="0:(0), 20:(0), 21:(6)"',
    )
    plot = read_rgb(out / "schedules.png")
    left, right = plot_extent(plot)

    def x(frame: int) -> int:
        return round(left + frame / 40 * (right - left))

    # Rows: the dream steps taken, then zoom.rotation (the only schedule that changes).
    steps, rotation = row_bands(plot, right - 3)
    before = [line_height(plot, rotation, x(f)) for f in (5, 12, 18)]
    after = [line_height(plot, rotation, x(f)) for f in (24, 30, 38)]
    assert max(before) - min(before) < 2 and max(after) - min(after) < 2  # flat either side
    assert min(before) - max(after) > 20  # and high after t = 21: the value rose there


def test_a_music_track_adds_its_features_and_beats_under_the_schedules(
    tmp_path, capsys, samples_dir
):
    plain = read_rgb(
        previewed(capsys, tmp_path / "a", "noise-zoom", *SMALL, "--frames", "24") / "schedules.png"
    )
    track = str(samples_dir / "beat.m4a")
    code, err = preview(
        capsys, "noise-zoom", *SMALL, "--frames", "24", "--audio", track, "-o", str(tmp_path / "b")
    )
    assert code == 0, err
    with_track = read_rgb(tmp_path / "b" / "schedules.png")
    assert with_track.shape[0] > plain.shape[0] + 200  # five feature rows under the rest
    assert coloured(with_track, AUDIO).sum() > 500 and not coloured(plain, AUDIO).any()
    beats = np.flatnonzero(coloured(with_track, BEAT).sum(axis=0) > 30)
    assert len(beats) >= 2  # beat.m4a beats twice in 2 s at least


# ---------------------------------------------------------------- checks and folders


@pytest.mark.parametrize(
    "argv",
    [
        ["noise-zoom", "--set", "zoom.scal=1.1"],
        ["noise-zoom", "--input", "missing.jpg"],
        ["audio-zoom"],  # its schedules follow a track: none given
        ["video-quick", "--input", "clip.mp4", "--frames", "10"],
        ["noise-zom"],
    ],
    ids=["bad-key", "missing-input", "no-track", "frames-for-video", "bad-preset"],
)
def test_bad_arguments_are_refused_as_render_refuses_them(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip.mp4").write_bytes(b"not decoded: refused before")
    status = main(["render", *argv, "--dry-run"])
    rendered = capsys.readouterr().err
    code, err = preview(capsys, *argv)
    assert code == status != 0  # 2 for all these, as render gives them
    assert err == rendered and err.count("\n") == 1, err
    assert not (tmp_path / "previews").exists()


def test_the_preview_goes_to_a_folder_of_its_own_beside_the_render_s_name(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    code, err = preview(capsys, "noise-zoom", *SMALL, "--frames", "3")
    assert code == 0, err
    assert main(["render", "noise-zoom", *SMALL, "--frames", "3", "--dry-run"]) == 0
    render_folder = Path(capsys.readouterr().out.splitlines()[0].split()[2])  # "# output: DIR ..."
    folder = Path("previews") / render_folder.name
    assert sorted(p.name for p in folder.iterdir()) == ["path.gif", "schedules.png"]
    assert not Path("renders").exists()
    assert err.splitlines()[-3:] == [
        f"wrote {folder / 'path.gif'}",
        f"wrote {folder / 'schedules.png'}",
        f"preview of noise-zoom (zoom) in {folder}/",
    ]


def test_an_input_where_a_preview_file_goes_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "p"
    out.mkdir()
    photo = out / "schedules.png"
    write_photo(photo, np.full((64, 64, 3), 90, np.uint8))
    before = photo.read_bytes()
    code, err = preview(capsys, "noise-zoom", "-i", str(photo), "--frames", "2", "-o", str(out))
    assert code == 3 and "is where the preview writes its schedules.png" in err  # refused
    assert photo.read_bytes() == before and not (out / "path.gif").exists()


def test_a_planted_link_at_previews_is_not_followed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    Path("previews").symlink_to(elsewhere)
    code, err = preview(capsys, "noise-zoom", *SMALL, "--frames", "2")
    assert code == 3 and "symbolic link" in err and err.count("\n") == 1  # refused
    assert list(elsewhere.iterdir()) == []


def test_preview_never_imports_tensorflow(tmp_path):
    result, _out, err = run_without_tensorflow_probe(
        "preview", "noise-zoom", *SMALL, "--frames", "4", cwd=tmp_path
    )
    assert result["code"] == 0, err
    assert not result["tensorflow"] and not result["keras"]
    assert (tmp_path / "previews").is_dir()


# ---------------------------------------------------------------- --look


def test_look_dreams_the_frames_it_shows(tmp_path, capsys, samples_dir, embedded_cache):
    out = previewed(
        capsys,
        tmp_path / "p",
        "noise-zoom",
        "-i",
        str(samples_dir / "chelsea.jpg"),
        *SMALL,
        "--frames",
        "3",
        "--look",
        "2",
        "--set",
        "dream.steps=1",
        "--set",
        "zoom.first_steps=1",
        "--set",
        "zoom.first_octaves=1",
        "--set",
        "dream.step_size=0.2",
    )
    sheet = read_rgb(out / "look.jpg")
    assert sheet.shape[:2] == (64 + 2 * 4, 2 * 64 + 3 * 4)  # two 64 px tiles, 4 px apart
    photo = cv2.cvtColor(cv2.imread(str(samples_dir / "chelsea.jpg")), cv2.COLOR_BGR2RGB)
    start = cv2.resize(photo, (64, 64), interpolation=cv2.INTER_AREA).astype(int)
    first = sheet[4 : 4 + 28, 4 : 4 + 64].astype(int)  # above its caption (half the tile)
    assert np.abs(first - start[:28]).mean() > 8  # dreamed: not the start (JPEG's error: ~3)


def test_a_later_zoom_frame_is_dreamed_as_settled_as_the_chain_makes_it(
    tmp_path, capsys, samples_dir, embedded_cache
):
    """The render's later frames carry the dream its chain built up: a tile dreamed alone
    with the frame's own 0 steps would show none of it, so the first frame's strength
    stands in. zoom.first_steps then changes the later tile too."""

    def second_tile(first_steps: int) -> np.ndarray:
        out = previewed(
            capsys,
            tmp_path / str(first_steps),
            "noise-zoom",
            "-i",
            str(samples_dir / "chelsea.jpg"),
            *SMALL,
            *("--frames", "3", "--look", "2"),
            *("--set", "dream.steps=0", "--set", f"zoom.first_steps={first_steps}"),
            *("--set", "zoom.first_octaves=1", "--set", "dream.step_size=0.2"),
        )
        return read_rgb(out / "look.jpg")[4 : 4 + 28, 4 + 64 + 4 : 4 + 64 + 4 + 64].astype(int)

    assert np.abs(second_tile(2) - second_tile(0)).mean() > 8  # dreamed, not its start
