"""Property tests (hypothesis): the schedule parser, the spec loader with --set overrides,
and the frame store's resume after a kill at any point of its write protocol."""

import shutil
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError
from renderer.schedules.keyframe_parser import parse_schedule
from renderer.schedules.keyframes import INTERPOLATIONS
from renderer.store.frame_names import CHECKPOINTS_DIR, FRAMES_DIR, LOSSES_CSV
from renderer.store.frame_store import FrameStore

# ---------------------------------------------------------------- schedules

frames = st.integers(min_value=0, max_value=100_000)
values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
keyframes = st.dictionaries(frames, values, min_size=1, max_size=8).map(
    lambda table: sorted(table.items())
)


def schedule_text(pairs, spaces: str = "") -> str:
    return f",{spaces}".join(f"{frame}:{spaces}({value!r})" for frame, value in pairs)


@given(keyframes, st.sampled_from(INTERPOLATIONS), st.sampled_from(["", " ", "  "]))
def test_a_schedule_text_reads_back_its_keyframes(pairs, interpolation, spaces):
    schedule = parse_schedule(schedule_text(pairs, spaces), key="k", interpolation=interpolation)
    assert list(schedule.keyframes) == pairs
    for frame, value in pairs:
        assert schedule(frame) == value
    # Its own text (what manifests and `presets show` print) parses to the same schedule.
    assert parse_schedule(str(schedule), key="k", interpolation=interpolation) == schedule


@given(keyframes, st.sampled_from(INTERPOLATIONS), st.integers(0, 200_000))
def test_values_never_leave_the_range_of_the_keyframes_around_them(pairs, interpolation, frame):
    schedule = parse_schedule(schedule_text(pairs), key="k", interpolation=interpolation)
    before = [value for f, value in pairs if f <= frame] or [pairs[0][1]]
    after = [value for f, value in pairs if f >= frame] or [pairs[-1][1]]
    low, high = sorted((before[-1], after[0]))
    value = schedule(frame)
    assert low - 1e-9 * max(1.0, abs(low)) <= value <= high + 1e-9 * max(1.0, abs(high))


@given(st.text(max_size=60))
def test_any_text_is_a_schedule_or_one_clear_error(text):
    try:
        schedule = parse_schedule(text, key="zoom.scale")
    except DreamreelError as err:
        assert "\n" not in str(err) and "zoom.scale" in str(err)
    else:
        assert all(np.isfinite(value) for _, value in schedule.keyframes)


@given(
    st.text(alphabet=string.ascii_letters + string.digits + "_(). *+-/'\"[]:,=<>%", max_size=30),
    st.booleans(),
)
def test_nothing_in_a_schedule_is_ever_executed(code, audio):
    """Any value text is a schedule of finite numbers or one clean line; the parser makes
    a syntax tree at most (compile's PyCF_ONLY_AST, what ast.parse does), never code."""
    import ast
    import builtins
    from unittest import mock

    real_compile = builtins.compile

    def forbidden(*args, **kwargs):
        raise AssertionError("schedule text reached eval, exec or compile")

    def syntax_tree_only(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:
            forbidden()
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    text = f"{'audio: ' if audio else ''}0:({code})"
    with (
        mock.patch.object(builtins, "eval", forbidden),
        mock.patch.object(builtins, "exec", forbidden),
        mock.patch.object(builtins, "compile", syntax_tree_only),
    ):
        try:
            schedule = parse_schedule(text, key="k", fps=12.0)
            values = schedule.values(3)
        except DreamreelError as err:
            assert "\n" not in str(err) and str(err).startswith("k: "), str(err)
            return
    assert all(np.isfinite(value) for value in values)
    if not set(code) & set(string.ascii_letters):  # no names: a number, or arithmetic on them
        assert schedule.is_constant()


# ---------------------------------------------------------------- spec + --set

# Keys of noise-zoom with a value each that its checks accept, and how the spec shows it.
_VALID = {
    "dream.steps": (st.integers(1, 50), lambda s: s.dream.steps(0)),  # a schedule
    "frames": (st.integers(1, 500), lambda s: s.frames),
    "fps": (st.floats(0.5, 60, allow_nan=False), lambda s: s.fps),
    "seed": (st.integers(0, 2**31 - 1), lambda s: s.seed),
    "zoom.first_octaves": (st.integers(1, 6), lambda s: s.zoom.first_octaves),
    "output.gif": (st.booleans(), lambda s: s.output.gif),
}


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


@given(
    st.lists(
        st.sampled_from(sorted(_VALID)).flatmap(
            lambda key: st.tuples(st.just(key), _VALID[key][0])
        ),
        max_size=6,
    )
)
def test_overrides_set_their_keys_and_the_last_one_wins(items):
    spec = load_spec("noise-zoom", [f"{key}={_toml(value)}" for key, value in items])
    last = dict(items)
    plain = load_spec("noise-zoom")
    for key, (_, read) in _VALID.items():
        expected = last[key] if key in last else read(plain)
        assert read(spec) == pytest.approx(expected)
        assert isinstance(read(spec), bool) == isinstance(expected, bool)


override_text = st.text(
    alphabet=string.ascii_letters + string.digits + "._=-+:()[]{}\"' ,", max_size=40
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(override_text, max_size=3))
def test_any_override_is_applied_or_refused_in_one_line(items):
    try:
        spec = load_spec("noise-zoom", items)
    except DreamreelError as err:
        assert "\n" not in str(err)
    else:
        assert spec.mode == "zoom"


@given(
    st.sampled_from(["dream.step", "dreams.steps", "zoom.scal", "frame", "output.giff"]),
    st.integers(1, 9),
)
def test_a_misspelt_key_names_the_right_one(key, value):
    with pytest.raises(DreamreelError, match="did you mean"):
        load_spec("noise-zoom", [f"{key}={value}"])


# ---------------------------------------------------------------- frame store resume

H, W = 6, 8
COLUMNS = ("steps",)


def _manifest():
    spec = {"mode": "zoom", "seed": 0, "dream": {"steps": 3}}
    from renderer.store.manifest import spec_hash

    return {"spec": spec, "spec_hash": spec_hash(spec), "model": {"name": "test"}}


def _image(index: int, stale: int = 0) -> np.ndarray:
    rng = np.random.default_rng([index, stale])
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def _write(store: FrameStore, index: int) -> None:
    store.write_frame(
        index,
        _image(index),
        octave_losses=[index + 0.5],
        final_loss=index + 1.25,
        seconds=0.5,
        steps=3,
        checkpoint={"state": np.full(3, index, np.int64)},
    )


def _render(out, count: int, start: int = 0) -> FrameStore:
    store = FrameStore(out, _manifest(), columns=COLUMNS)
    assert store.done_count() == start
    for index in range(start, count):
        _write(store, index)
    return store


def _snapshot(out) -> dict:
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "manifest.json")
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


kills = st.fixed_dictionaries(
    {
        "count": st.integers(1, 6),
        # How much of the final losses.csv a kill left: any prefix (the log only grows).
        "log_fraction": st.floats(0.0, 1.0),
        # Frames without a row: their PNG may be there (written just before the kill, or
        # left by an earlier run), with the right pixels or stale ones; likewise checkpoints.
        "unlogged_png": st.lists(
            st.sampled_from(["none", "right", "stale"]), min_size=6, max_size=6
        ),
        "unlogged_checkpoint": st.lists(st.booleans(), min_size=6, max_size=6),
        "older_checkpoints_kept": st.booleans(),  # killed before deleting the older ones
        "partial_files": st.lists(st.sampled_from([FRAMES_DIR, CHECKPOINTS_DIR, "."]), max_size=3),
    }
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(kill=kills)
def test_a_killed_store_resumes_into_the_right_frames_only(tmp_path_factory, kill):
    count = kill["count"]
    reference = tmp_path_factory.mktemp("reference")
    _render(reference, count)
    expected = _snapshot(reference)

    out = tmp_path_factory.mktemp("killed")
    shutil.copytree(reference, out, dirs_exist_ok=True)
    log = (reference / LOSSES_CSV).read_bytes()
    kept = log[: int(len(log) * kill["log_fraction"])]
    (out / LOSSES_CSV).write_bytes(kept)
    logged = max(kept.count(b"\n") - 1, 0)  # complete rows (the header is the first line)
    for index in range(count):
        png = out / FRAMES_DIR / f"{index + 1:06d}.png"
        checkpoint = out / CHECKPOINTS_DIR / f"{index + 1:06d}.npz"
        if index < logged:  # the protocol wrote its PNG (and checkpoint) before its row
            if index < logged - 1 and kill["older_checkpoints_kept"]:
                np.savez(checkpoint, state=np.full(3, index, np.int64))
            continue
        how = kill["unlogged_png"][index]
        if how == "none":
            png.unlink()
        elif how == "stale":
            from renderer.media.images import write_image_atomic

            write_image_atomic(png, _image(index, stale=1))
        if kill["unlogged_checkpoint"][index]:
            np.savez(checkpoint, state=np.full(3, -1, np.int64))  # not this frame's state
        else:
            checkpoint.unlink(missing_ok=True)
    for folder in kill["partial_files"]:  # temp files of an atomic write cut short
        (out / folder / f".000001.png.{len(folder):08x}.partial").write_bytes(b"\x89PNG\r\n")

    store = FrameStore(out, _manifest(), columns=COLUMNS)
    done = store.done_count()
    assert done == logged  # a frame counts only with its row, and every logged one does
    for index in range(done):
        np.testing.assert_array_equal(store.read_frame(index), _image(index))
    assert [row["final_loss"] for row in store.rows()] == [i + 1.25 for i in range(done)]
    if done:  # the state a mode resumes from is the last done frame's, or none
        state = store.read_checkpoint(done - 1)
        assert state is None or state["state"].tolist() == [done - 1] * 3
    assert not list(out.rglob("*.partial"))

    for index in range(done, count):
        _write(store, index)
    assert _snapshot(out) == expected  # the same folder as a render never killed


# A real process writing frames through the store, SIGKILLed at a random moment: whatever
# syscall it was in, the reopened store holds right frames only and completes as above.
_WRITER = """
import sys
sys.path.insert(0, sys.argv[2])
from test_properties import _render
print("writing", flush=True)
_render(sys.argv[1], 200)
"""


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(delay=st.floats(0.0, 0.6))  # 200 frames take ~0.65 s here
def test_a_store_killed_for_real_resumes_into_the_right_frames_only(tmp_path_factory, delay):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    out = tmp_path_factory.mktemp("sigkill")
    tests_dir = str(Path(__file__).parent)
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(out), tests_dir],
        env={**os.environ, "PYTHONPATH": str(Path(tests_dir).parent)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline() == "writing\n"  # imports done: the kill lands in writes
    time.sleep(delay)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()

    store = FrameStore(out, _manifest(), columns=COLUMNS)
    done = store.done_count()
    for index in range(done):
        np.testing.assert_array_equal(store.read_frame(index), _image(index))
    assert [row["final_loss"] for row in store.rows()] == [i + 1.25 for i in range(done)]
    if done:
        state = store.read_checkpoint(done - 1)
        assert state is None or state["state"].tolist() == [done - 1] * 3
    for index in range(done, 200):
        _write(store, index)
    reference = tmp_path_factory.mktemp("uninterrupted")
    _render(reference, 200)
    assert _snapshot(out) == _snapshot(reference)
