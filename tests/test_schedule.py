"""Keyframe schedules: parsing the Deforum syntax, interpolation, and one-line errors."""

from __future__ import annotations

import pytest

from renderer.runtime.errors import DreamreelError
from renderer.schedules.keyframe_parser import parse_schedule
from renderer.schedules.keyframes import Schedule

KEY = "zoom.scale"


def schedule(text, interpolation="linear"):
    return parse_schedule(text, key=KEY, interpolation=interpolation)


def one_line_error(value, **kwargs) -> str:
    kwargs.setdefault("key", KEY)
    with pytest.raises(DreamreelError) as error:
        parse_schedule(value, **kwargs)
    message = str(error.value)
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith(kwargs["key"] + ":"), message
    return message


# --- constants ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, expected",
    [
        (1.04, 1.04),
        (2, 2.0),
        (0, 0.0),
        (-3.5, -3.5),
        ("1.04", 1.04),
        (" 7 ", 7.0),
        ("-1e-3", -0.001),
        ("+.5", 0.5),
        ("(1.5)", 1.5),
    ],
)
def test_numbers_and_numeric_strings_are_constants(value, expected):
    s = schedule(value)
    assert s.keyframes == ((0, expected),)
    assert s.is_constant()
    assert s(0) == s(1000) == expected
    assert all(isinstance(v, float) for v in s.values(5))
    assert s.values(3) == [expected] * 3


def test_a_schedule_with_equal_values_is_constant_and_a_changing_one_is_not():
    assert schedule("0:(2), 30:(2.0)").is_constant()
    assert not schedule("0:(2), 30:(2.5)").is_constant()


# --- parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0:(1.0), 60:(1.04)",
        "0:(1.0),60:(1.04)",
        "  0 : ( 1.0 ) ,\n 60 :\t(1.04)  ",
        "0: 1.0, 60: 1.04",
        "0:1, 60:(1.04),",
        "0:(1.0), 60:(104e-2)",
        "0:(1.0), 60:(1.04E0) , ",
    ],
)
def test_accepted_spellings(text):
    assert schedule(text).keyframes == ((0, 1.0), (60, 1.04))


def test_negative_values_and_exponents():
    s = schedule("0:(-2.5), 10:(1e-3), 20:(-4E+2), 30:-.25")
    assert s.keyframes == ((0, -2.5), (10, 0.001), (20, -400.0), (30, -0.25))


def test_unordered_keyframes_are_sorted():
    s = schedule("60:(3), 0:(1), 30:(2)")
    assert s.keyframes == ((0, 1.0), (30, 2.0), (60, 3.0))
    assert s(15) == pytest.approx(1.5)
    direct = Schedule(KEY, ((10, 5.0), (0, 1.0)))
    assert direct.keyframes == ((0, 1.0), (10, 5.0))


def test_first_keyframe_need_not_be_frame_zero():
    s = schedule("10:(2), 20:(4)")
    assert s(0) == s(10) == 2.0
    assert s(15) == 3.0


# --- linear interpolation ----------------------------------------------------------------


def test_linear_between_and_outside_keyframes():
    s = schedule("10:(0), 20:(10), 40:(0)")
    assert s.values(45) == (
        [0.0] * 11  # held before/at the first keyframe
        + [float(v) for v in range(1, 11)]  # 11..20 climb by 1
        + [10 - 0.5 * i for i in range(1, 21)]  # 21..40 fall by 0.5
        + [0.0] * 4  # held after the last
    )
    assert s(-5) == 0.0
    assert s(1000) == 0.0


def test_an_offset_binding_reads_the_schedule_that_many_frames_on():
    """A chunk whose frame 0 is the render's frame 7 sees the render's values."""
    for text in ("10:(0), 20:(10), 40:(0)", "0:(1 + 0.01*t), 30:(2)"):
        whole = schedule(text)
        chunk = whole.bind(offset=7)
        assert [chunk(k) for k in range(40)] == [whole(7 + k) for k in range(40)]
        assert chunk == whole and chunk.bind(offset=7) is chunk
    constant = schedule("0:(3), 9:(3)")
    assert constant.bind(offset=7) is constant


def test_linear_exact_values():
    s = schedule("0:(1.0), 60:(1.04)")
    assert s(30) == pytest.approx(1.02, abs=1e-12)
    assert s(15) == pytest.approx(1.01, abs=1e-12)
    assert s(60) == 1.04
    assert s(61) == 1.04


def test_values_of_zero_frames_is_empty_and_negative_is_an_error():
    s = schedule("0:(1), 5:(2)")
    assert s.values(0) == []
    with pytest.raises(DreamreelError, match=KEY):
        s.values(-1)


# --- smooth interpolation ----------------------------------------------------------------

STEP = "0:(0), 10:(0), 12:(1), 30:(1), 31:(5), 60:(5)"


def test_smooth_passes_through_keyframes():
    for text in (STEP, "0:(1), 7:(3), 20:(-2), 21:(4), 50:(4.5)"):
        s = schedule(text, "smooth")
        for frame, value in s.keyframes:
            assert s(frame) == pytest.approx(value, abs=1e-12)


def test_smooth_does_not_overshoot_a_step_like_schedule():
    s = schedule(STEP, "smooth")
    keyframes = s.keyframes
    for (x0, y0), (x1, y1) in zip(keyframes, keyframes[1:]):
        low, high = min(y0, y1), max(y0, y1)
        for i in range(101):  # fractional frames too: the curve, not only samples
            v = s(x0 + (x1 - x0) * i / 100)
            assert low - 1e-12 <= v <= high + 1e-12, (x0, x1, v)
    # Flat runs stay exactly flat (a plain cubic spline would ripple here).
    assert s.values(11) == [0.0] * 11
    assert all(v == 1.0 for v in s.values(31)[12:31])


def test_smooth_is_monotone_where_the_keyframes_are():
    rising = schedule("0:(0), 5:(1), 8:(4), 30:(4.5), 31:(9)", "smooth")
    samples = [rising(i / 10) for i in range(0, 311)]
    assert all(b >= a - 1e-12 for a, b in zip(samples, samples[1:]))
    falling = schedule("0:(10), 20:(9), 22:(2), 50:(0)", "smooth")
    samples = [falling(i / 10) for i in range(0, 501)]
    assert all(b <= a + 1e-12 for a, b in zip(samples, samples[1:]))


def test_smooth_differs_from_linear_mid_segment():
    text = "0:(0), 10:(1), 40:(2)"
    smooth, linear = schedule(text, "smooth"), schedule(text, "linear")
    assert abs(smooth(5) - linear(5)) > 0.01
    assert abs(smooth(25) - linear(25)) > 0.01
    # two keyframes ease in and out (the value is held outside them)
    assert schedule("0:(0), 10:(1)", "smooth")(2) < schedule("0:(0), 10:(1)")(2)


def test_smooth_has_no_kink_at_interior_keyframes():
    s = schedule("0:(0), 10:(2), 20:(3), 40:(10)", "smooth")
    eps = 1e-4
    for frame in (10, 20):
        left = (s(frame) - s(frame - eps)) / eps
        right = (s(frame + eps) - s(frame)) / eps
        assert left == pytest.approx(right, rel=1e-2, abs=1e-3)
    linear = schedule("0:(0), 10:(2), 20:(3), 40:(10)")
    assert (linear(10) - linear(10 - eps)) / eps != pytest.approx(
        (linear(10 + eps) - linear(10)) / eps, rel=1e-2
    )


def test_unknown_interpolation_is_an_error():
    message = one_line_error("0:(1)", interpolation="cubic")
    assert "cubic" in message and "linear" in message and "smooth" in message
    with pytest.raises(DreamreelError, match=KEY):
        Schedule(KEY, ((0, 1.0),), "cubic")


# --- round trip --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0:(1.0), 60:(1.04)",
        "5:(-0.001), 0:(1e-07), 100:(12345.678), 7:(1e+20)",
        "3",
    ],
)
def test_round_trip_through_str(text):
    s = schedule(text, "smooth")
    again = parse_schedule(str(s), key=KEY, interpolation="smooth")
    assert again == s
    assert str(again) == str(s)


def test_str_uses_the_deforum_syntax():
    assert str(schedule("60: 1.04, 0: 1")) == "0:(1.0), 60:(1.04)"
    assert str(schedule(2)) == "0:(2.0)"


def test_a_schedule_passed_in_is_rekeyed():
    s = schedule("0:(1), 10:(2)")
    assert parse_schedule(s, key=KEY) is s
    other = parse_schedule(s, key="zoom.rotation", interpolation="smooth")
    assert (other.key, other.interpolation, other.keyframes) == (
        "zoom.rotation",
        "smooth",
        s.keyframes,
    )


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, at",
    [
        ("", None),
        ("   ", None),
        ("0:(1.0), 0:(2.0)", "frame 0"),  # duplicate frame
        ("0:(1), 10:(2), 10 : 3", "frame 10"),  # duplicate after spacing
        ("0:(1.0), 60:1.0x", '"1.0x"'),  # non-numeric value
        ("0:(1e999)", "1e999"),  # not finite
        ("0:(1.0), 60", '"60"'),
        ("0:(1.0) 60:(1.04)", '"60:(1.04)"'),  # missing comma
        ("0:(1.0) x, 60:(1.04)", '"x"'),  # garbage between entries
        ("0:(1.0)x", '"x"'),
        ("0:(1.0); 60:(1.04)", "60:(1.04)"),
        ("0:(1.0),, 60:(1.04)", '","'),  # empty entry
        (", 0:(1.0)", '","'),
        ("0:(1.0),,", '","'),
        ("-5:(1.0)", '"-5"'),  # negative frame
        ("1.5:(1.0)", '"1.5"'),  # fractional frame
        (":(1.0)", None),
        ("0:", None),
        ("0:()", None),
        ("0:(1.0", None),
        ("hello", '"hello"'),  # a bare word
        ("0:(1.0),\n60:(1.04)\nx", None),  # newlines in the text
        (True, "bool"),
        (False, "bool"),
        (None, None),
        ([0, 1.0], None),
        (float("nan"), None),
        (float("inf"), None),
    ],
)
def test_malformed_input_is_a_one_line_error_naming_the_key(value, at):
    message = one_line_error(value)
    if at is not None:
        assert at in message, message
    assert "0:(1.0), 60:(1.04)" in message, message  # shows the expected syntax


def test_parse_error_message_matches_the_documented_form():
    message = one_line_error("0:(1.0), 60:1.0x")
    assert message.startswith('zoom.scale: cannot parse schedule "0:(1.0), 60:1.0x" at "1.0x"')
    assert message.endswith('"0:(1.0), 60:(1.04)"')
    assert "1+t" in message  # says expressions are not supported


def test_long_schedules_are_cut_in_messages():
    text = ", ".join(f"{i}:({i})" for i in range(200)) + ", 999:oops"
    message = one_line_error(text)
    assert '"oops"' in message and len(message) < 400


@pytest.mark.parametrize(
    "text, at",
    [
        ("0:(abc)", "'abc' at column 4"),  # names outside the whitelist
        ("0:(nan)", "'nan' at column 4"),
        ("60 (1.04)", "'60' at column 1"),  # a number called: missing ':'
    ],
)
def test_unknown_names_are_refused_with_their_column(text, at):
    message = one_line_error(text)
    assert at in message and f'of "{text}"' in message, message


@pytest.mark.parametrize(
    "text",
    [
        "0:(__import__('os'))",
        "0:(__import__('os').system('echo pwned'))",
        "__import__('os')",
        "0:(exec('x=1'))",
        "0:(lambda: 1)",
        "0:(1 if True else 2)",
    ],
)
def test_values_are_never_evaluated(text, monkeypatch):
    """Expressions are parsed into a syntax tree (compile's PyCF_ONLY_AST, what ast.parse
    does) and walked on a whitelist; nothing is ever compiled to code or run."""
    import ast
    import builtins

    real_compile = builtins.compile

    def forbidden(*args, **kwargs):
        raise AssertionError("the schedule parser must not evaluate text")

    def syntax_tree_only(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:
            forbidden()
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", syntax_tree_only)
    one_line_error(text)
    assert schedule("0:(1.0), 60:(1.04)")(30) == pytest.approx(1.02)
    assert schedule("0:(1 + 0.04*min(t, 60)/60)")(30) == pytest.approx(1.02)
