"""Schedule expressions: Deforum-style values of t, s and fps, evaluated on a whitelist.

The expression schedules are checked against their plain keyframe equivalents (values and
a tiny real zoom render), against Python's own arithmetic on generated expressions, and
against text that tries to run code, which must end in one line naming the column.
"""

from __future__ import annotations

import math
import tomllib

import pytest
from helpers import frame_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import renderer
from renderer.rendering.identity import render_identity
from renderer.rendering.spec import load_spec
from renderer.rendering.spec_toml import spec_to_toml
from renderer.runtime.errors import DreamreelError
from renderer.schedules.expressions import MAX_CHARS
from renderer.schedules.keyframe_parser import parse_schedule
from renderer.schedules.keyframes import Schedule

KEY = "zoom.scale"


def schedule(text, interpolation="linear", fps=None):
    return parse_schedule(text, key=KEY, interpolation=interpolation, fps=fps)


def one_line_error(text, **kwargs) -> str:
    with pytest.raises(DreamreelError) as error:
        schedule(text, **kwargs)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{KEY}: "), message
    return message


# ---------------------------------------------------------------- the same values


@pytest.mark.parametrize("interpolation", ["linear", "smooth"])
def test_constant_expressions_are_exactly_the_plain_keyframes(interpolation):
    plain = schedule("0:(1), 30:(2), 45:(2), 60:(3)", interpolation)
    spelled = schedule("0:(2*0.5), 30:(1+1), 45:(sqrt(4)), 60:(3**1)", interpolation)
    assert spelled == plain and spelled.keyframes == plain.keyframes
    assert spelled.values(70) == plain.values(70)  # exactly, not approximately
    assert spelled.is_constant() is plain.is_constant() is False
    assert schedule("0:(2*pi)").keyframes == ((0, 2 * math.pi),)


def test_a_piecewise_linear_expression_gives_the_keyframes_values():
    """Linear interpolation is y0 + (y1 - y0) * (frame - x0) / h: the same operations in
    an expression give the same floats, bit for bit."""
    keyframes = schedule("0:(1.0), 60:(1.04)")
    expression = schedule("0:(1.0 + (1.04 - 1.0)*(min(t, 60)/60))")
    assert expression.values(90) == keyframes.values(90)
    ramp = schedule("0:(0), 10:(5), 30:(-5)")
    spelled = schedule(
        "where(t < 10, 0 + (5 - 0)*(t/10), where(t < 30, 5 + (-5 - 5)*((t - 10)/20), -5))"
    )
    assert spelled.values(40) == ramp.values(40)


def test_an_expression_keyframe_rules_its_segment_and_numbers_glide_into_it():
    s = schedule("0:(1), 10:(1 + 0.1*sin(t)), 20:(2)")
    for frame in range(10, 20):  # the expression's own frames
        assert s(frame) == pytest.approx(1 + 0.1 * math.sin(frame), abs=1e-15)
    for frame in range(0, 10):  # from 1 into the expression, linearly
        target = 1 + 0.1 * math.sin(frame)
        assert s(frame) == pytest.approx(1 + (target - 1) * frame / 10, abs=1e-15)
    assert s.values(30)[20:] == [2.0] * 10  # a number after the last keyframe: held
    assert s.keyframes == ((0, 1.0), (10, 1 + 0.1 * math.sin(10)), (20, 2.0))
    smooth = schedule("0:(1), 10:(1 + 0.1*sin(t))", "smooth")
    u = 0.3
    assert smooth(3) == pytest.approx(1 + 0.1 * math.sin(3) * u * u * (3 - 2 * u))
    assert smooth(57) == pytest.approx(1 + 0.1 * math.sin(57))  # runs on after the last
    assert smooth(-3) == pytest.approx(1.0)  # a number before the first keyframe: held


def test_seconds_read_the_specs_fps_and_the_bound_rate():
    spec = load_spec(
        "noise-zoom", ["fps=12", 'zoom.scale="1 + 0.01*s"', 'zoom.rotation="0:(fps), 24:(2*fps)"']
    )
    assert spec.zoom.scale(24) == pytest.approx(1.02)
    assert spec.zoom.rotation(0) == 12.0 and spec.zoom.rotation(30) == 24.0
    video_rate = spec.zoom.scale.bind(fps=24)  # a clip's own rate, once known
    assert video_rate(24) == pytest.approx(1.01) and video_rate == spec.zoom.scale
    rotation = spec.zoom.rotation.bind(fps=25)  # its keyframe's own value changes with it
    assert rotation.keyframes == ((0, 25.0), (24, 50.0)) and rotation == spec.zoom.rotation
    plain = spec.zoom.translate_x
    assert plain.bind(fps=24) is plain  # nothing to bind: the same object
    with pytest.raises(DreamreelError, match=r"zoom\.scale: .*no frame rate"):
        schedule("0:(1 + s)")  # built by hand without one


def test_expression_schedules_round_trip_through_toml_and_change_the_hash():
    overrides = [
        'zoom.scale="0:(1.02 + 0.01*sin(2*pi*t/48)), 96:(1)"',
        'dream.steps="4 + round(2*cos(s))"',
        'layers={block_12_expand_relu="clip(t/24, 0, 1)", block_13_expand_relu=1}',
    ]
    spec = load_spec("noise-zoom", overrides)
    again = load_spec("noise-zoom", [], **tomllib.loads(spec_to_toml(spec)))
    assert again.to_dict() == spec.to_dict()
    for frame in (0, 7, 50, 120):
        assert again.zoom.scale(frame) == spec.zoom.scale(frame)
        assert again.dream_settings(frame).steps == spec.dream_settings(frame).steps
        assert again.layer_weights(frame) == spec.layer_weights(frame)
    changed = load_spec("noise-zoom", [overrides[0].replace("48", "47"), *overrides[1:]])
    assert render_identity(changed) != render_identity(spec)
    assert render_identity(load_spec("noise-zoom", overrides)) == render_identity(spec)


def test_errors_that_depend_on_the_frame_come_when_the_frame_is_asked_for():
    s = schedule("0:(1), 2:(1/(t-5))")
    assert s(4) == -1.0
    with pytest.raises(
        DreamreelError,
        match=r"zoom\.scale: cannot compute \"1/\(t-5\)\" "
        r"at t = 5: division by zero",
    ):
        s(5)
    with pytest.raises(DreamreelError, match="at t = 3: outside the function's domain"):
        schedule("0:(1), 5:(sqrt(t - 4))")(3)  # gliding into it reads it at t = 3
    with pytest.raises(DreamreelError, match="at t = 0: .*out of range"):
        schedule("exp(1000 - t)")  # the keyframe's own value is computed when parsed


# ---------------------------------------------------------------- Python's arithmetic


_LEAVES = st.sampled_from(["t", "2", "0.5", "3.25", "7", "pi"])


def _combine(children):
    binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/"]), children).map(
        lambda parts: f"({parts[0]} {parts[1]} {parts[2]})"
    )
    unary = children.map(lambda inner: f"-{inner}")
    calls = st.tuples(st.sampled_from(["sin", "cos", "abs", "atan"]), children).map(
        lambda parts: f"{parts[0]}({parts[1]})"
    )
    pairs = st.tuples(st.sampled_from(["min", "max", "atan2"]), children, children).map(
        lambda parts: f"{parts[0]}({parts[1]}, {parts[2]})"
    )
    return binary | unary | calls | pairs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(_LEAVES, _combine, max_leaves=8), st.integers(0, 50))
def test_generated_expressions_compute_what_python_computes(text, frame):
    # The oracle: Python itself, on text this test generated from a tiny grammar (never
    # on user text), with no builtins and only the math the grammar uses.
    names = {
        "t": float(frame),
        "pi": math.pi,
        "sin": math.sin,
        "cos": math.cos,
        "abs": abs,
        "atan": math.atan,
        "min": min,
        "max": max,
        "atan2": math.atan2,
    }
    try:
        expected = float(eval(text, {"__builtins__": {}}, names))
    except ZeroDivisionError:
        expected = None
    try:  # the keyframe at the frame itself: its value is computed when parsed
        value = schedule(f"{frame}:({text})")(frame)
    except DreamreelError as error:
        assert expected is None or not math.isfinite(expected), (text, str(error))
        assert "division by zero" in str(error) or "finite" in str(error), str(error)
        return
    assert expected is not None and value == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert schedule(str(schedule(f"{frame}:({text})")))(frame) == value  # its text reads back


# ---------------------------------------------------------------- what is refused


@pytest.mark.parametrize(
    "text, at",
    [
        ("0:(__import__('os'))", "__import__"),
        ("0:(().__class__)", "()"),  # the first thing wrong, left to right
        ("0:(t.real)", ".real"),
        ("0:(t.__class__.__mro__)", ".__class__"),
        ("0:([1][0])", "[1]"),
        ("0:(t[0])", "[0]"),
        ("0:((lambda: 1)())", "lambda"),
        ("0:(9**9**9)", "9**9**9"),
        ("0:(10**400)", "10**400"),
        ("0:('a'*10)", "'a'"),
        ("0:(1), 30:(open('/tmp/dreamreel-pwned', 'w'))", "open"),
        ("0:(1), 30:(sin(t, x=1))", "x=1"),
        ("0:(1 + exec)", "exec"),
        ("0:(t // 2)", "t // 2"),
        ("0:(1 if t else 2)", "1 if"),
        ("0:(1), 9:(onset)", "onset"),  # audio features need "audio:"
        ("audio: 1 + mystery", "mystery"),
    ],
)
def test_code_is_refused_in_one_line_naming_the_column(text, at, tmp_path):
    message = one_line_error(text, fps=8.0)
    column = int(message.split(" at column ", 1)[1].split()[0])
    assert text[column - 1 :].startswith(at), (message, text[column - 1 :])
    assert f'of "{text}"' in message
    assert not (tmp_path / "dreamreel-pwned").exists()


def test_a_huge_expression_is_refused_before_it_is_parsed():
    text = "0:(" + "1+" * 5000 + "1)"
    message = one_line_error(text)
    assert "an expression of 10001 characters at column 4" in message
    assert f"limited to {MAX_CHARS}" in message and len(message) < 300


def test_a_refusal_names_the_spec_key_and_comes_before_any_rendering():
    with pytest.raises(DreamreelError) as error:
        load_spec("noise-zoom", ["zoom.rotation=\"0:(0), 12:(__import__('os').getcwd())\""])
    assert str(error.value).startswith("zoom.rotation: cannot use '__import__' at column 12 ")


# ---------------------------------------------------------------- a real render


TINY = [
    "width=32",
    "height=32",
    "frames=3",
    "fps=8",
    "dream.steps=1",
    "dream.octaves=1",
    "zoom.first_steps=1",
    "zoom.first_octaves=1",
    "zoom.rotation=2",
    "output.gif=false",
    "output.mp4=false",
]


def test_a_zoom_with_an_expression_renders_the_same_frames_as_its_keyframes(
    embedded_cache, tmp_path
):
    keyframes = load_spec("noise-zoom", [*TINY, 'zoom.scale="0:(1.0), 2:(1.1)"'])
    spelled = load_spec("noise-zoom", [*TINY, 'zoom.scale="1.0 + (1.1 - 1.0)*(min(t, 2)/2)"'])
    assert spelled.zoom.scale.values(3) == keyframes.zoom.scale.values(3)
    renderer.render(keyframes, out=tmp_path / "keyframes")
    renderer.render(spelled, out=tmp_path / "expression")
    frames = frame_bytes(tmp_path / "expression")
    assert len(frames) == 3 and frames == frame_bytes(tmp_path / "keyframes")
    # Resuming the same expression render does nothing; another expression is refused.
    assert renderer.render(spelled, out=tmp_path / "expression").rendered == 0
    other = load_spec("noise-zoom", [*TINY, 'zoom.scale="1.0 + (1.2 - 1.0)*(min(t, 2)/2)"'])
    with pytest.raises(DreamreelError, match="different render.*zoom.scale"):
        renderer.render(other, out=tmp_path / "expression")


def test_schedule_objects_stay_plain_for_numbers():
    assert isinstance(schedule("0:(1), 5:(2)"), Schedule)
    assert schedule("0:(1), 5:(2)").expressions == ()
    assert str(schedule("audio: 0:(1 + onset), 10:(2)")) == "audio: 0:(1 + onset), 10:(2.0)"
    assert str(schedule("audio: 2")) == "0:(2.0)"  # follows nothing: a plain number
