"""Issue 19, "one line, not a traceback": hostile numbers in schedules and settings, and
schedules that fail at a later frame, end in one line before the first frame (and in
``render --dry-run``), never in a traceback or a render that dies at frame 8."""

from __future__ import annotations

import math
import sys
import tracemalloc

import pytest

from renderer.cli.main import main
from renderer.rendering.schedule_binding import bind_render, check_every_frame
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError
from renderer.schedules.keyframe_parser import parse_schedule
from renderer.schedules.keyframes import MAX_FRAMES, Schedule

HUGE = "1" + "0" * 4999  # 5000 digits: Python's int() refuses text above 4300
LONG = "1" + "0" * 400  # 1e400 written as an integer: float() overflows on it
LARGEST_EXPONENT = math.log(sys.float_info.max)  # exp(x) overflows above this


def refused(capsys, *argv: str) -> str:
    """The one error line of ``dreamreel render ARGV --dry-run`` (exit status 2)."""
    code = main(["render", *argv, "--dry-run"])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("dreamreel: error: "), err
    assert len(lines[0]) < 400, lines[0]  # one readable line, not 5000 digits
    return lines[0]


def accepted(capsys, *argv: str) -> None:
    code = main(["render", *argv, "--dry-run"])
    _, err = capsys.readouterr()
    assert code == 0, err


def first_overflow(per_frame: float) -> int:
    """The first frame f with exp(f * per_frame) beyond the largest float."""
    return math.floor(LARGEST_EXPONENT / per_frame) + 1


# ---------------------------------------------------------------- numbers beyond any render


def test_a_keyframe_of_5000_digits_is_one_line(capsys):
    line = refused(capsys, "zoom-hd", "--set", f'zoom.scale="0:(1), {HUGE}:(1.1)"')
    assert "zoom.scale" in line and "5000 digits" in line and "10,000,000" in line


@pytest.mark.parametrize("frame", [LONG, str(MAX_FRAMES + 1)])
def test_a_keyframe_beyond_any_render_is_refused_where_it_is_written(frame):
    with pytest.raises(DreamreelError, match=r"zoom\.scale: keyframe .* is not a frame"):
        parse_schedule(f"0:(1), {frame}:(1.1)", key="zoom.scale")
    with pytest.raises(DreamreelError, match=r"zoom\.scale: keyframe .* is not a frame"):
        Schedule("zoom.scale", ((0, 1.0), (int(frame), 1.1)))


def test_the_last_frame_of_the_largest_render_is_a_keyframe_without_any_allocation():
    tracemalloc.start()
    try:
        schedule = parse_schedule(f"0:(1), {MAX_FRAMES}:(2)", key="zoom.scale")
        assert schedule(MAX_FRAMES // 2) == pytest.approx(1.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # nothing sized by the keyframe's number (10 million frames)


@pytest.mark.parametrize("fps", ["1e400", LONG, "nan", "-inf", "1001"])
def test_an_fps_of_1e400_in_a_preset_file_is_one_line(capsys, tmp_path, fps):
    preset = tmp_path / "hostile.toml"
    preset.write_text(f'mode = "zoom"\nfps = {fps}\n')
    assert "fps" in refused(capsys, str(preset))


@pytest.mark.parametrize("fps", ["1e400", LONG, "inf", "nan"])
def test_an_fps_of_1e400_in_set_is_one_line(capsys, fps):
    assert "fps" in refused(capsys, "zoom-hd", "--set", f"fps={fps}")


@pytest.mark.parametrize(
    "setting",
    [
        'zoom.scale="0:(1), 1e400:(1.1)"',  # a frame written as a float
        f'zoom.scale="0:(1), {LONG}:(1.1)"',  # a frame of 401 digits
        f"zoom.scale={LONG}",  # a keyframe value that is an integer of 401 digits
        f"layers={{block_13_expand_relu = {LONG}}}",
        "zoom.scale=1e400",
    ],
)
def test_a_keyframe_of_1e400_is_one_line(capsys, setting):
    line = refused(capsys, "zoom-hd", "--set", setting)
    assert "zoom.scale" in line or "layers.block_13_expand_relu" in line


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--set", f"seed={HUGE}"], "5000 digits"),
        (["--seed", HUGE], "5000 digits"),
        (["--size", f"{HUGE}x64"], "--size expects WIDTHxHEIGHT"),
        (["--set", f"seed={LONG}"], "401 digits"),
        (["--set", f"frames={LONG}"], "401 digits"),
        (["--set", f"frames={MAX_FRAMES + 1}"], "frames must be from 1 to 10,000,000"),
        (["--set", "output.hold_last=inf"], "output.hold_last must be a finite number"),
        (["--set", "dream.octave_scale=1e400"], "dream.octave_scale must be a finite number"),
    ],
)
def test_integers_too_long_to_read_and_infinite_settings_are_one_line(capsys, argv, words):
    assert words in refused(capsys, "zoom-hd", *argv)


@pytest.mark.parametrize(
    "setting, words",
    [
        (f'objective={{"layer:block_13_expand_relu" = {LONG}}}', "401 digits"),
        ('objective={"layer:block_13_expand_relu" = inf}', "finite"),
        (f'zoom.scale="0:(1 + {LONG}*t)"', "not a finite number"),  # cut, not 400 digits
    ],
)
def test_objective_weights_and_expression_numbers_beyond_floats_are_one_line(
    capsys, setting, words
):
    assert words in refused(capsys, "zoom-hd", "--set", setting)


def test_a_preset_holding_an_integer_of_5000_digits_is_one_line(capsys, tmp_path):
    preset = tmp_path / "hostile.toml"
    preset.write_text(f'mode = "zoom"\nseed = {HUGE}\n')
    assert "over 4300 digits" in refused(capsys, str(preset))


# ---------------------------------------------------------------- every frame, before the first


def test_an_expression_that_overflows_at_frame_8_is_refused_by_the_dry_run(capsys):
    first = first_overflow(100)  # exp(t*100): t is the frame
    assert first == 8
    line = refused(capsys, "zoom-hd", "--set", 'zoom.scale="exp(t*100)"')
    assert "zoom.scale" in line and "exp(t*100)" in line and f"at frame {first} " in line


def test_an_expression_of_seconds_fails_at_the_frame_the_specs_fps_puts_it(capsys):
    fps = 8
    first = first_overflow(100 / fps)  # exp(s*100), s = t / fps
    line = refused(
        capsys,
        "zoom-hd",
        "--set",
        f"fps={fps}",
        "--set",
        "frames=200",
        "--set",
        'dream.step_size="0:(0.01), 20:(exp(s*100))"',
    )
    assert line.startswith("dreamreel: error: dream.step_size = ")
    assert f"at frame {first} " in line and f"s = {first / fps:.4g}" in line


def test_a_schedule_is_checked_over_the_renders_frames_and_no_further(capsys):
    """exp(t*100) is finite up to frame 7: eight frames render, nine do not; and a table
    of a mode the render does not use is never read, so never refused."""
    accepted(capsys, "zoom-hd", "--set", "frames=8", "--set", 'zoom.scale="exp(t*100)"')
    assert "frame 8 of 9" in refused(
        capsys, "zoom-hd", "--set", "frames=9", "--set", 'zoom.scale="exp(t*100)"'
    )
    accepted(capsys, "zoom-hd", "--set", 'morph.scale="exp(t*100)"')


def test_objective_weights_that_are_schedules_are_checked_too(capsys):
    objective = 'objective={"layer:block_13_expand_relu" = 1.0, tv = "0:(0), 4:(exp(t*100))"}'
    line = refused(capsys, "zoom-hd", "--set", objective)
    assert "objective.tv" in line and "at frame 8 " in line


def test_numbers_interpolated_past_the_float_range_are_refused():
    schedule = parse_schedule("0:(1e308), 10:(-1e308)", key="zoom.rotation")
    with pytest.raises(DreamreelError, match=r"zoom\.rotation = .* at frame 1 of 20 .*-inf"):
        check_every_frame([schedule], 20)


class CountedMode:
    """What bind_render reads of a mode: its spec, fps, frame count and own sound."""

    def __init__(self, spec, fps: float, count: int):
        self.spec, self.fps, self.count = spec, fps, count

    def audio(self):
        return None

    def manifest(self):
        return {}


def test_binding_checks_every_frame_at_the_renders_own_rate():
    """A video renders at its clip's rate: exp(s*100) overflows at the frame that rate
    puts it, found when the schedules are bound, before the first frame."""
    spec = load_spec("noise-zoom", ["fps=8", 'zoom.rotation="exp(s*100)"', "frames=10"])
    clip_fps = 24.0
    first = first_overflow(100 / clip_fps)
    with pytest.raises(DreamreelError) as error:
        bind_render(spec, CountedMode(spec, clip_fps, first + 1))
    assert f'zoom.rotation = "0:(exp(s*100))" has no finite value at frame {first} ' in str(
        error.value
    )
    bind_render(spec, CountedMode(spec, clip_fps, first))  # one frame fewer: fine


def test_audio_schedules_are_checked_once_the_tracks_features_are_known(tmp_path):
    from test_audio_features import beat_track, encode_track

    from renderer.schedules.audio_features import load_features

    fps = 8
    track = encode_track(tmp_path / "beat.wav", beat_track(2.0, [5], fps=fps))
    onset = load_features(track, fps).features["onset"]
    first = next(frame for frame, value in enumerate(onset) if value > 0.5)
    spec = load_spec(
        "noise-zoom",
        [f"fps={fps}", 'zoom.rotation="audio: sqrt(0.5 - onset)"'],  # silence: fine
        audio=str(track),
    )
    with pytest.raises(DreamreelError) as error:
        bind_render(spec, CountedMode(spec, fps, len(onset)))
    message = str(error.value)
    assert message.startswith("zoom.rotation = ") and f"at frame {first} " in message
    assert "outside the function's domain" in message
