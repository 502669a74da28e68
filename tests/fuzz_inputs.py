"""The fuzz battery's inputs and its runner (tests/test_fuzz.py; issue 19, item 3).

Seeds: one tiny clip per container the suite makes (8 frames of 32x24, with sound where
the container takes it), one image per format, the shipped presets, a jobs file, valid
schedules and objectives. Mutations are seeded (``random.Random`` seeded with a string
naming the case): every run, here and in CI, sees the same cases.

The runner feeds the cases to one child process (``python tests/fuzz_inputs.py CASES
FIRST``) under a memory limit (RLIMIT_AS), each case under an alarm, and reads one JSON
line per case back. A case that hangs in C code (no alarm gets through) is killed by the
parent's watchdog; a case that crashes the child (a segfault, an abort) is recorded as
such; either way the child is started again at the next case.

Each case ends in one of:
    ok         frames, a value, or exit status 0
    error      one DreamreelError line (exit 2 with one ``dreamreel: error:`` line)
    traceback  anything else that escaped: the last line of the traceback
    multiline  a DreamreelError whose message is more than one line
    hang       past the case's time bound
    memory     MemoryError, or the peak memory grew past the bound during the case
    crash      the child process died
    leak       threads left running after the case (a decoder never freed)
    overclaim  a clip of a few packets that says it has thousands of frames
    tensorflow TensorFlow was imported on a path that must not import it
Only ok and error are expected.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import random
import re
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path

EXPECTED = ("ok", "error")

# ---------------------------------------------------------------- byte mutations

_INTERESTING = (
    *(b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00"),
    *(b"\x00\x00\x00\x01", b"\xff\xff\xff\xff\xff\xff\xff\xff"),
    *(b"\x7f\xff\xff\xff\xff\xff\xff\xff", b"\x00\x00\x00\x00\x00\x00\x00\x00", b"\xff"),
    *(b"\x00", b"\x7f", b"\x80", b"\x01\x00", b"\xff\xfe"),
)
# A box/chunk type or tag (MP4 "moov", AVI "idx1", RIFF "LIST", PNG "IHDR", ...): the size
# field sits just before it (ISO BMFF, PNG) or just after it (RIFF).
_TAG = re.compile(rb"[a-zA-Z][a-zA-Z0-9 ]{3}")


def _tag_positions(data: bytes) -> list[int]:
    return [m.start() for m in _TAG.finditer(data, 0, min(len(data), 1 << 20))]


def mutate_bytes(data: bytes, rng: random.Random, rounds: int | None = None) -> tuple[bytes, str]:
    """``data`` changed 1-3 times (flips, zeroed or duplicated ranges, a cut, a size or
    count field set to 0xFFFFFFFF...); the second item says what was done, so a finding
    can be reproduced by hand."""
    out = bytearray(data)
    done = []
    for _ in range(rounds or rng.choice((1, 1, 2, 3))):
        n = len(out)
        if n < 8:
            break
        how = rng.choice(
            ("flip", "flip", "zero", "truncate", "duplicate", "size", "size", "field", "field")
            + ("value", "head", "clock")
        )
        if how == "flip":
            spots = sorted(rng.randrange(n) for _ in range(rng.randint(1, 8)))
            for at in spots:
                out[at] ^= rng.randint(1, 255)
            done.append(f"flip@{','.join(map(str, spots))}")
        elif how == "zero":
            start = rng.randrange(n)
            length = rng.randint(1, max(1, n // 8))
            out[start : start + length] = bytes(len(out[start : start + length]))
            done.append(f"zero[{start}:{start + length}]")
        elif how == "truncate":
            cut = rng.randint(n // 10, n - 1)
            del out[cut:]
            done.append(f"truncate@{cut}")
        elif how == "duplicate":
            start = rng.randrange(n)
            length = rng.randint(1, max(1, n // 6))
            piece = bytes(out[start : start + length])
            at = rng.randrange(n)
            out[at:at] = piece
            done.append(f"duplicate[{start}:{start + length}]@{at}")
        elif how == "size":
            tags = _tag_positions(bytes(out))
            value = rng.choice(_INTERESTING[:5])
            if tags:
                tag = rng.choice(tags)
                at = tag - 4 if rng.random() < 0.5 else tag + 4
            else:
                at = rng.randrange(n)
            at = max(0, min(at, n - len(value)))
            out[at : at + len(value)] = value
            done.append(f"size@{at}={value.hex()}")
        elif how == "field":  # a count, a rate, a duration, an offset after a tag
            tags = _tag_positions(bytes(out))
            value = rng.choice(_INTERESTING[:8])
            at = rng.choice(tags) + 4 * rng.randint(1, 8) if tags else rng.randrange(n)
            at = max(0, min(at, n - len(value)))
            out[at : at + len(value)] = value
            done.append(f"field@{at}={value.hex()}")
        elif how == "clock":  # a Matroska cluster's timestamp (ID E7) far ahead, if any
            clocks = [m.start() for m in re.finditer(rb"\xe7[\x81-\x84]", bytes(out))]
            if clocks:
                at = rng.choice(clocks)
                width = out[at + 1] - 0x80
                out[at + 2 : at + 2 + width] = rng.choice((b"\xff", b"\x7f", b"\x10")) * width
                done.append(f"clock@{at}")
        elif how == "value":
            value = rng.choice(_INTERESTING)
            at = rng.randrange(max(1, n - len(value)))
            out[at : at + len(value)] = value
            done.append(f"value@{at}={value.hex()}")
        else:  # the header: where sizes, counts, rates and offsets live
            value = rng.choice(_INTERESTING)
            at = rng.randrange(max(1, min(n, 1024) - len(value)))
            out[at : at + len(value)] = value
            done.append(f"head@{at}={value.hex()}")
    return bytes(out), "; ".join(done)


# ---------------------------------------------------------------- text mutations

_HOSTILE_VALUES = (
    "1" + "0" * 400,  # an integer past any float
    "-" + "9" * 60,
    "1e400",
    "-1e400",
    "nan",
    "inf",
    "-inf",
    "-5",
    "0",
    "-0.0",
    "1e-400",
    "2147483648",
    "18446744073709551617",
    "1979-05-27T07:32:00Z",
    "1979-05-27",
    "07:32:00",
    '"text"',
    '""',
    "true",
    "[]",
    "{}",
    '["a", 1, 2.5]',
    "{ a = 1, b = { c = [1, [2, [3]]] } }",
    '"0:(1), 99999999999:(2)"',
    '"0:(exp(t*100))"',
    '"0:(1/(t-3))"',
    '"0:(1), ' + "9" * 5000 + ':(1.1)"',
    '"audio: 1 + rms"',
    '"../../../../etc/passwd"',
    '"/dev/zero"',
    '"s3://user:secret@bucket/x"',
    '"' + "x" * 300 + '.png"',  # a name longer than the file system takes
    '"a\\u0000b.png"',  # a NUL in a path
    '"."',
    '"/"',
)
_KEYS = (
    *("mode", "model", "width", "height", "fps", "frames", "seed", "input", "audio"),
    *("mask", "guide", "objective", "layers", "max_input_pixels", "interpolation"),
    *("dream.steps", "dream.step_size", "dream.octaves", "dream.octave_scale"),
    *("dream.tile_size", "zoom.scale", "zoom.rotation", "video.every", "video.start"),
    *("video.end", "video.max_size", "video.allow_partial", "morph.hold", "morph.fade"),
    *("morph.images", "output.gif_max_side", "output.hold_last"),
)
_TEXT_NOISE = ("[", "]", "{", "}", "=", '"', "'", "\\", "#", "\n", ",", ".", "\x00", "é", " ")


def _nested(rng: random.Random) -> str:
    depth = rng.choice((40, 400, 4000))
    return (
        "[" * depth + "1" + "]" * depth if rng.random() < 0.5 else "{a=" * depth + "1" + "}" * depth
    )


def hostile_setting(rng: random.Random) -> tuple[str, str]:
    """A ``--set KEY=VALUE`` with a known key and a hostile value; and what it is."""
    key = rng.choice(_KEYS)
    value = _nested(rng) if rng.random() < 0.15 else rng.choice(_HOSTILE_VALUES)
    return f"{key}={value}", f"{key} = {shortened(value)[:40]}"


def _assignment_lines(lines: list[str]) -> list[int]:
    return [k for k, line in enumerate(lines) if "=" in line and not line.lstrip().startswith("#")]


def mutate_toml(text: str, rng: random.Random) -> tuple[str, str]:
    """A TOML text changed 1-3 times at the level of lines and values."""
    lines = text.splitlines()
    done = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        if not lines:
            lines = [""]
        how = rng.choice(("delete", "duplicate", "value", "value", "value", "key", "char", "nest"))
        k = rng.randrange(len(lines))
        assigned = _assignment_lines(lines)
        if how == "delete":
            done.append(f"delete line {k + 1}")
            del lines[k]
        elif how == "duplicate":
            lines.insert(k, lines[k])
            done.append(f"duplicate line {k + 1}")
        elif how == "value" and assigned:
            k = rng.choice(assigned)
            key = lines[k].split("=", 1)[0]
            value = rng.choice(_HOSTILE_VALUES)
            lines[k] = f"{key}= {value}"
            done.append(f"line {k + 1}: {key.strip()} = {value[:40]}")
        elif how == "key":
            key = rng.choice(_KEYS)
            value = rng.choice(_HOSTILE_VALUES)
            # at the top (before any [table]), as a dotted key
            lines.insert(0, f"{key} = {value}")
            done.append(f"top: {key} = {value[:40]}")
        elif how == "nest" and assigned:
            k = rng.choice(assigned)
            key = lines[k].split("=", 1)[0]
            value = _nested(rng)
            lines[k] = f"{key}= {value}"
            done.append(f"line {k + 1}: {key.strip()} = nested {value[:6]}...")
        else:
            line = lines[k]
            at = rng.randint(0, len(line))
            noise = rng.choice(_TEXT_NOISE)
            lines[k] = line[:at] + noise + line[at:]
            done.append(f"line {k + 1}: insert {noise!r} at {at}")
    return "\n".join(lines) + "\n", "; ".join(done)


_SCHEDULE_TOKENS = (
    *("(", ")", "*", "**", "/", "+", "-", ",", ":", " ", ".", "0", "9" * 30, "e999"),
    *("e-999", "1e308", "t", "s", "fps", "pi", "e", "sin(", "exp(", "log(", "sqrt("),
    *("clip(", "where(", "round(", "audio:", "rms", "onset", "x", "__class__", "lambda"),
    *("[", '"', "'", "\\", "\n", "%", "!", "&", "==", "<", "not ", " if "),
    *("__import__('os')", "é", "\x00"),
)


_NUMBERS = ("0", "0.0", "1", "47", "48", "1e308", "1e-308", "1e-9", "9999999", "10000001", "3.5")


def mutate_expression(text: str, rng: random.Random, tokens=_SCHEDULE_TOKENS) -> tuple[str, str]:
    """A schedule or objective text changed 1-4 times at the level of characters and
    tokens (and now and then made huge: 5000 digits, deep parentheses)."""
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        n = len(text)
        how = rng.choice(
            (
                "delete",
                "insert",
                "insert",
                "replace",
                "duplicate",
                "number",
                "number",
                "digits",
                "nest",
            )
        )
        at = rng.randint(0, n)
        if how == "delete" and n:
            length = rng.randint(1, 4)
            text = text[:at] + text[at + length :]
            done.append(f"delete {length}@{at}")
        elif how in ("insert", "delete"):
            token = rng.choice(tokens)
            text = text[:at] + token + text[at:]
            done.append(f"insert {token[:20]!r}@{at}")
        elif how == "replace" and n:
            token = rng.choice(tokens)
            text = text[:at] + token + text[at + 1 :]
            done.append(f"replace@{at} {token[:20]!r}")
        elif how == "duplicate" and n:
            start = rng.randrange(n)
            piece = text[start : start + rng.randint(1, 12)]
            text = text[:at] + piece + text[at:]
            done.append(f"duplicate {piece!r}@{at}")
        elif how == "number":  # the text stays well formed; a value changes
            numbers = list(re.finditer(r"\d+(?:\.\d+)?", text))
            if numbers:
                m = rng.choice(numbers)
                number = rng.choice(_NUMBERS)
                text = text[: m.start()] + number + text[m.end() :]
                done.append(f"number@{m.start()} = {number}")
        elif how == "digits":
            numbers = list(re.finditer(r"\d+", text))
            if numbers:
                m = rng.choice(numbers)
                digits = rng.choice(("9" * 5000, "1" + "0" * 400, "0" * 300 + "1", "4294967296"))
                text = text[: m.start()] + digits + text[m.end() :]
                done.append(f"number@{m.start()} = {digits[:8]}...({len(digits)} digits)")
        else:
            depth = rng.choice((30, 300, 3000))
            start = rng.randint(0, n)
            end = rng.randint(start, n)
            text = text[:start] + "(" * depth + text[start:end] + ")" * depth + text[end:]
            done.append(f"parentheses x{depth} around [{start}:{end}]")
    return text, "; ".join(done)


# ---------------------------------------------------------------- the runner (parent side)


def _limits(memory_bytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_cases(
    cases: list[dict],
    folder: Path,
    *,
    case_seconds: float = 5.0,
    watchdog_seconds: float = 20.0,
    memory_bytes: int = 3 << 30,
    growth_bytes: int = 512 << 20,
    start_seconds: float = 120.0,
) -> list[dict]:
    """Run ``cases`` in a child process, one result dict per case, in order.

    ``case_seconds``: the alarm each case runs under (a Python-level hang); the watchdog
    (a hang in C code, past the alarm) kills the child after ``watchdog_seconds``.
    ``memory_bytes``: the child's address space limit; ``growth_bytes``: the most its
    peak memory may grow during one case.
    """
    folder.mkdir(parents=True, exist_ok=True)
    cases_file = folder / "cases.json"
    cases_file.write_text(json.dumps(cases))
    settings = {"case_seconds": case_seconds, "growth_bytes": growth_bytes}
    (folder / "settings.json").write_text(json.dumps(settings))
    results: dict[int, dict] = {}
    first = 0
    while first < len(cases):
        log = folder / f"child-{first}.log"
        with open(log, "wb") as errors:
            child = subprocess.Popen(
                [sys.executable, __file__, str(cases_file), str(first)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                preexec_fn=_limits(memory_bytes),
                text=True,
            )
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_reader, args=(child.stdout, lines), daemon=True).start()
        current: int | None = None
        started = False
        while True:
            wait = watchdog_seconds if started else start_seconds
            try:
                line = lines.get(timeout=wait)
            except queue.Empty:
                child.kill()
                child.wait()
                if current is None:
                    raise RuntimeError(
                        f"the fuzz child did not start or stalled; see {log}"
                    ) from None
                results[current] = _result(cases[current], "hang", f"killed after {wait:g} s")
                first = current + 1
                break
            if line is None:  # the child has exited
                code = child.wait()
                if current is not None:
                    tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
                    results[current] = _result(
                        cases[current], "crash", f"exit status {code}: {tail[0][-200:]}"
                    )
                    first = current + 1
                elif code != 0:
                    raise RuntimeError(f"the fuzz child failed (status {code}); see {log}")
                else:  # done, or ended after a hang or memory outcome: on from the next
                    first = max(results, default=-1) + 1
                break
            message = json.loads(line)
            started = True
            if "start" in message:
                current = message["start"]
            else:
                results[message["index"]] = message
                current = None
    return [results[k] for k in range(len(cases))]


def _result(case: dict, outcome: str, detail: str, seconds: float = 0.0) -> dict:
    return {
        "index": case["index"],
        "id": case["id"],
        "kind": case["kind"],
        "outcome": outcome,
        "detail": shortened(detail),
        "seconds": round(seconds, 3),
    }


def shortened(text: str) -> str:
    """Runs of one character (300 x's, 5000 nines) shown as "xxx...(300)"."""
    return re.sub(r"(.)\1{19,}", lambda m: f"{m[1] * 3}...({len(m[0])})", text)


def signature(result: dict) -> str:
    """What tells one finding from another: its outcome, its exception and where."""
    detail = re.sub(r"^exit \d+: ", "", result["detail"])
    where = re.search(r"\(at ([^)]*)\)$", detail)
    kind = detail.split(":", 1)[0] if result["outcome"] == "traceback" else ""
    return f"{result['outcome']} {kind} {where[1] if where else ''}".strip()


# ---------------------------------------------------------------- the child side


class CaseTimeout(BaseException):
    """The alarm went off: a BaseException, so no ``except Exception`` swallows it."""


def _on_alarm(signum, frame):
    raise CaseTimeout()


def _last_line(exc: BaseException) -> str:
    """The traceback's last line, and where: its deepest frame in renderer/ and its last."""
    frames = [f"{_short(f.filename)}:{f.lineno}" for f in traceback.extract_tb(exc.__traceback__)]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {shortened(text[0])[:300] if text else ''}{_where(frames)}"


def _short(filename: str) -> str:
    parts = Path(filename).parts
    return "/".join(parts[parts.index("renderer") :]) if "renderer" in parts else parts[-1]


def _where(frames: list[str]) -> str:
    ours = [f for f in frames if f.startswith("renderer/")]
    shown = [*ours[-1:], *[f for f in frames[-1:] if f not in ours[-1:]]]
    return f" (at {' > '.join(shown)})" if shown else ""


def _threads() -> int:
    """Threads of this process (decoders start their own): 0 where /proc cannot say."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def _peak() -> int:
    """This process's peak resident memory, in bytes. /proc's VmHWM is this program's
    own: ru_maxrss keeps the high-water mark of the process it was forked from (a pytest
    with TensorFlow loaded), which would hide a case's growth below it."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


MAX_CLAIMED_FRAMES = 2_000  # the seeds have 8: a claim this far past its packets is a bug


def _probe(case: dict) -> str:
    from renderer.media import probe

    facts = probe(case["path"])
    return f"{facts['frames']} frames of {facts['width']}x{facts['height']}"


def _read_clip(case: dict) -> str:
    from renderer.media import open_video

    with open_video(case["path"], max_pixels=1_000_000, **case.get("options", {})) as clip:
        if clip.frame_count > MAX_CLAIMED_FRAMES:
            return f"overclaim:{clip.frame_count} frames"
        count = 0
        for frame in clip.frames():
            assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype.name == "uint8"
            count += 1
        if clip.frame_count > 1:  # a resume: a seek to the middle, where the index allows
            for _ in clip.frames(first=clip.frame_count // 2):
                pass
        sound = ""
        if clip.audio is not None:
            sound = f", sound {_carry_sound(clip, Path(case['path']).with_suffix('.sound.mp4'))}"
        return f"{count} frames of {clip.width}x{clip.height} at {clip.fps:.4g} fps{sound}"


def _carry_sound(clip, target: Path) -> str:
    """The clip's sound through the MP4 writer's sound path, frame by frame."""
    import av

    from renderer.media.audio import AudioTrack, has_sound

    if not has_sound(clip.audio):
        return "none"
    try:
        with av.open(str(target), "w") as output:
            track = AudioTrack(output, clip.audio)
            for k in range(1, clip.frame_count + 1):
                track.advance_to(k / clip.fps)
            track.finish(clip.frame_count / clip.fps)
    finally:
        target.unlink(missing_ok=True)
    return "carried"


def _read_track(case: dict) -> str:
    """A music track as audio-reactive schedules read it: decoded whole, features."""
    from renderer.schedules.audio_features import load_features

    features = load_features(case["path"], 12.0)
    return f"{features.frames} frames of features"


def _read_image(case: dict) -> str:
    from renderer.media.images import read_image

    image = read_image(case["path"], max_pixels=1_000_000)
    return f"{image.shape[1]}x{image.shape[0]}"


def _schedule(case: dict) -> str:
    from renderer.schedules.keyframe_parser import parse_schedule

    schedule = parse_schedule(case["text"], key="zoom.scale", fps=12.0)
    if schedule.follows_audio:
        return "follows audio"
    schedule.check_frames(48)
    values = schedule.values(48)
    return f"{values[0]:.4g}..{values[-1]:.4g}"


def _objective(case: dict) -> str:
    from renderer.engine.objective_parser import parse_objective

    value = case["text"] if "text" in case else case["table"]
    return str(parse_objective(value))[:80]


def _command(case: dict) -> tuple[str, str]:
    from renderer.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    before = os.getcwd()
    os.chdir(case["cwd"])
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(case["argv"])
    finally:
        os.chdir(before)
    lines = err.getvalue().strip().splitlines()
    if code == 0:
        return "ok", f"exit 0, {len(out.getvalue())} chars out"
    # 2 usage, 3 refused, 4 an input that cannot be decoded (renderer/runtime/errors.py)
    if code in (2, 3, 4) and len(lines) == 1 and lines[0].startswith("dreamreel: error: "):
        return "error", lines[0][len("dreamreel: error: ") :]
    if lines and lines[-1].startswith("MemoryError"):
        return "memory", lines[-1]
    shown = lines[-1] if lines else ""
    frames = [
        f"{_short(m[1])}:{m[2]}"
        for m in (re.match(r'\s*File "([^"]+)", line (\d+)', line) for line in lines)
        if m
    ]
    return "traceback", f"exit {code}: {shortened(shown)[:300]}{_where(frames)}"


def _not_rendered(jobs, specs, **kwargs):  # batch: everything up to the first render
    return []


def _selftest(case: dict) -> str:
    """The runner's own check: each way a case can go wrong, on purpose."""
    op = case["op"]
    if op == "sleep":  # a hang the alarm ends
        time.sleep(60)
    elif op == "stop":  # a hang no alarm ends (as in C code): the watchdog's
        os.kill(os.getpid(), signal.SIGSTOP)
    elif op == "allocate":  # memory past the growth bound, under the address space limit
        block = bytearray(case["bytes"])
        block[::4096] = b"x" * len(block[::4096])
    elif op == "exhaust":  # past the address space limit
        return str(len(bytearray(case["bytes"])))
    elif op == "threads":  # threads left running (as an unfreed decoder leaves them)
        for _ in range(60):
            threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
    elif op == "abort":
        os.abort()
    elif op == "raise":
        raise KeyError("a bug")
    elif op == "refuse":
        from renderer.runtime.errors import DreamreelError

        raise DreamreelError("one line")
    return "ok"


_HANDLERS = {
    "selftest": _selftest,
    "clip": _read_clip,
    "probe": _probe,
    "image": _read_image,
    "track": _read_track,
    "schedule": _schedule,
    "objective": _objective,
}


def _run(case: dict, settings: dict) -> dict:
    from renderer.runtime.errors import DreamreelError

    started = time.monotonic()
    peak = _peak()
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, settings["case_seconds"])
    try:
        if case["kind"] == "command":
            outcome, detail = _command(case)
        else:
            detail = _HANDLERS[case["kind"]](case)
            outcome = "ok"
            if detail.startswith("overclaim:"):
                outcome, detail = "overclaim", detail.split(":", 1)[1]
        signal.setitimer(signal.ITIMER_REAL, 0)
    except CaseTimeout:
        outcome, detail = "hang", f"past {settings['case_seconds']:g} s"
    except MemoryError as exc:
        outcome, detail = "memory", _last_line(exc)
    except DreamreelError as exc:
        message = str(exc)
        outcome = "error" if message.strip() and "\n" not in message else "multiline"
        detail = message[:300]
    except BaseException as exc:  # what the battery looks for
        outcome, detail = "traceback", _last_line(exc)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    grew = _peak() - peak
    if grew > settings["growth_bytes"] and outcome != "memory":
        outcome, detail = "memory", f"peak memory grew {grew >> 20} MB; {detail}"
    threads = _threads()
    if threads > settings["threads"] + 48 and outcome in EXPECTED:  # ~11 a decoder here
        outcome, detail = "leak", f"{threads} threads alive after the case; {detail}"
    if "tensorflow" in sys.modules and outcome != "tensorflow":
        outcome, detail = "tensorflow", f"TensorFlow imported; {detail}"
    return _result(case, outcome, detail, time.monotonic() - started)


def _child(cases_file: str, first: int) -> int:
    # The protocol goes to the real stdout; what the code under test prints (FFmpeg's C
    # logging, print()) goes nowhere.
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")
    cases = json.loads(Path(cases_file).read_text())
    settings = json.loads((Path(cases_file).parent / "settings.json").read_text())
    if any(case["kind"] != "selftest" for case in cases[first:]):
        import av

        av.logging.set_level(None)
        import renderer.cli.commands as commands
        import renderer.cli.main  # noqa: F401 - imported once, before the first case's clock

        commands.run_one_by_one = _not_rendered  # batch: checked, not rendered
        commands.run_on_ray = _not_rendered
    settings["threads"] = _threads()
    for case in cases[first:]:
        protocol.write(json.dumps({"start": case["index"]}) + "\n")
        result = _run(case, settings)
        protocol.write(json.dumps(result) + "\n")
        if result["outcome"] in ("hang", "memory", "tensorflow", "leak"):
            return 0  # a fresh process for the next case: nothing half-done carries over
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2])))
