"""`dreamreel batch` running (issue 12, items 1 and 4): the jobs' frames are those of the
same renders run one by one, one after another or on a local Ray with 2 CPUs; a batch
killed midway and run again finishes with the same frames; a failing job is a summary
row and a non-zero exit while the others finish; without Ray the jobs run one after
another."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import dreamreel_argv, frame_bytes, png_claiming, process_tree, set_args

from renderer.cli.main import main
from renderer.distributed import batch_run
from renderer.distributed.batch_jobs import Job
from renderer.runtime.errors import DreamreelError

pytestmark = pytest.mark.usefixtures("embedded_cache")

SEEDS = (1, 2, 3)
FRAMES = 16  # ~30 ms a frame at 64 px: a kill after the first PNG lands mid-batch
TINY = [
    "width=64",
    "height=64",
    f"frames={FRAMES}",
    "dream.steps=2",
    "zoom.first_steps=2",
    "zoom.first_octaves=1",
]
JOBS = f"""
set = {TINY!r}
[[job]]
name = "zoom"
preset = "noise-zoom"
seed = {list(SEEDS)!r}
"""
NAMES = [f"zoom-seed{seed}" for seed in SEEDS]


@pytest.fixture(scope="module")
def jobs_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("batch") / "jobs.toml"
    path.write_text(JOBS)
    return path


@pytest.fixture(scope="module")
def one_by_one(tmp_path_factory, embedded_cache) -> dict[str, list[bytes]]:
    """Each job's frames from its own `dreamreel render`: what every batch must match."""
    root = tmp_path_factory.mktemp("one-by-one")
    frames = {}
    for seed, name in zip(SEEDS, NAMES):
        argv = [
            "render",
            "noise-zoom",
            *set_args([*TINY, f"seed={seed}"]),
            "--out",
            str(root / name),
            "--quiet",
        ]
        assert main(argv) == 0
        frames[name] = frame_bytes(root / name)
        assert len(frames[name]) == FRAMES
    return frames


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with 2 CPUs for the module: `batch` runs on the Ray it finds."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


def batch_frames(out: Path) -> dict[str, list[bytes]]:
    return {name: frame_bytes(out / name) for name in NAMES}


def test_one_after_another_the_frames_are_those_of_each_render_alone(
    jobs_file, one_by_one, tmp_path, capsys
):
    assert main(["batch", str(jobs_file), "--no-ray", "--out", str(tmp_path), "--quiet"]) == 0
    assert batch_frames(tmp_path) == one_by_one
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["job", "frames", "s", "outcome", "output"]
    assert [row.split()[0::4] for row in table[1:]] == [
        [name, str(tmp_path / name)] for name in NAMES
    ]
    assert all(row.split()[1] == str(FRAMES) and row.split()[3] == "done" for row in table[1:])


def test_on_a_local_ray_the_frames_are_those_of_each_render_alone(
    jobs_file, one_by_one, local_ray, tmp_path, capsys
):
    assert main(["batch", str(jobs_file), "--ray", "--out", str(tmp_path)]) == 0
    assert batch_frames(tmp_path) == one_by_one
    out, err = capsys.readouterr()
    assert out.count(" done ") == len(NAMES)
    # One bar for the batch: every job's frames, and the jobs done.
    assert f"{FRAMES * len(NAMES)}/{FRAMES * len(NAMES)}" in err and "jobs 3/3" in err
    assert local_ray.is_initialized()  # a Ray it found is left running for its owner


def test_a_ray_worker_sends_its_frame_counts_now_and_then_and_the_last_one(monkeypatch, tmp_path):
    """What a worker tells the board: at most one count every POLL_S, and the last."""
    import renderer.distributed.batch_run as batch_run

    sent = []

    class Board:  # the actor handle's shape: board.update.remote(...)
        class update:
            remote = staticmethod(lambda *count: sent.append(count))

    def fake_render(job, spec, restart, progress):
        for done in range(1, 101):
            progress(done, 100, None)
        return type("Result", (), {"frames": 100, "rendered": 100})()

    monkeypatch.setattr(batch_run, "_render", fake_render)
    clock = iter(range(1000))
    monkeypatch.setattr(batch_run.time, "monotonic", lambda: next(clock) * 0.1)
    outcome = batch_run._ray_job(Job("j", "noise-zoom", None, (), tmp_path), None, False, Board())
    assert outcome.frames == 100 and sent[-1] == ("j", 100, 100)
    assert 10 <= len(sent) <= 30  # every ~5 counts at 0.1 s a count, not all 100


@pytest.mark.skipif(os.name == "nt", reason="POSIX signals")
def test_a_batch_killed_midway_finishes_with_the_same_frames_when_run_again(
    jobs_file, one_by_one, tmp_path, capsys
):
    """SIGKILL the `dreamreel batch` process (on Ray when installed) once a frame is on
    disk; run again, the unfinished renders resume to the same bytes. The run again is
    one after another here, in this process (its TensorFlow is loaded): the frames and
    the resume are the frame store's whichever runner ran them. Ray's workers outlive a
    killed driver by a few seconds, holding their folders' locks: the run again waits."""
    child = subprocess.Popen(
        dreamreel_argv("batch", str(jobs_file), "--out", str(tmp_path), "--quiet"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    tree = []
    try:
        while not list(tmp_path.glob("*/frames/*.png")):
            assert child.poll() is None, child.stderr.read().decode(errors="replace")
            time.sleep(0.02)
        tree = process_tree(child.pid)
        child.kill()
        child.wait(timeout=60)
        stored = {name: len(frames) for name, frames in batch_frames(tmp_path).items()}
        assert sum(stored.values()) < len(NAMES) * FRAMES  # it was stopped midway
        assert main(["batch", str(jobs_file), "--no-ray", "--out", str(tmp_path), "--quiet"]) == 0
    finally:
        for pid in tree[1:]:  # what a local Ray leaves behind when its driver dies
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if child.poll() is None:
            child.kill()
            child.wait()
    assert batch_frames(tmp_path) == one_by_one
    outcomes = {row.split()[0]: row.split()[3] for row in capsys.readouterr().out.splitlines()[1:]}
    for name, count in stored.items():  # a job with frames on disk resumed them (one
        if count:  # without may have got some from a late worker)
            assert outcomes[name] == "resumed"


def test_a_failing_job_is_a_row_with_its_reason_and_the_others_finish(tmp_path, capsys):
    """An input that passes the checks before TensorFlow (a PNG header) but cannot be
    decoded fails its job at render time; the next job still renders; exit 1."""
    png_claiming(tmp_path / "broken.png", 64, 64)
    path = tmp_path / "jobs.toml"
    path.write_text(
        f"set = {[*TINY[:2], 'frames=2', *TINY[3:]]!r}\n"
        '[[job]]\nname = "broken"\npreset = "noise-zoom"\ninput = "broken.png"\n'
        '[[job]]\nname = "fine"\npreset = "noise-zoom"\n'
    )
    assert main(["batch", str(path), "--no-ray", "--out", str(tmp_path / "out"), "--quiet"]) == 1
    out, err = capsys.readouterr()
    rows = {row.split()[0]: row for row in out.splitlines()[1:]}
    assert "failed: cannot read image" in rows["broken"] and "broken.png" in rows["broken"]
    assert rows["fine"].split()[1:4:2] == ["2", "done"]
    assert "1 of 2 jobs failed; run the same command again" in err
    assert len(frame_bytes(tmp_path / "out" / "fine")) == 2


def test_crashes_are_retried_and_mistakes_are_not(tmp_path, monkeypatch):
    calls = []

    def render(job, spec, restart, progress):
        calls.append(job.name)
        if job.name == "mistake":
            raise DreamreelError("bad input")
        if calls.count(job.name) < 3:
            raise RuntimeError("worker crashed\nsecond line")
        return type("Result", (), {"frames": 4, "rendered": 4})()

    monkeypatch.setattr(batch_run, "_render", render)
    jobs = [
        Job("mistake", "noise-zoom", None, (), tmp_path / "a"),
        Job("crashes", "noise-zoom", None, (), tmp_path / "b"),
        Job("always", "noise-zoom", None, (), tmp_path / "c"),
    ]
    outcomes = batch_run.run_one_by_one(jobs[:2], [None, None], retries=2)
    assert calls == ["mistake", "crashes", "crashes", "crashes"]
    assert [o.outcome for o in outcomes] == ["failed: bad input", "done"]
    calls.clear()
    (outcome,) = batch_run.run_one_by_one(jobs[2:], [None], retries=1)
    assert calls == ["always", "always"]
    assert outcome.outcome == "failed: RuntimeError: worker crashed"


FINISHED_WITHOUT_TENSORFLOW = (
    "code = main(sys.argv[1:]); print('tensorflow:', 'tensorflow' in sys.modules); sys.exit(code)"
)


def test_without_ray_the_jobs_run_one_after_another(jobs_file, one_by_one, tmp_path):
    """`import ray` failing (as where it is not installed): one line saying so, then the
    same frames."""
    probe = (
        "import sys; sys.modules['ray'] = None; from renderer.cli.main import main; "
        "sys.exit(main(sys.argv[1:]))"
    )

    def batch_without_ray(code):
        argv = [sys.executable, "-c", code, "batch", str(jobs_file), "--out", str(tmp_path)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=300)

    proc = batch_without_ray(probe)
    assert proc.returncode == 0, proc.stderr
    assert (
        "Ray is not installed: the jobs run one after another (pip install "
        "'dreamreel[ray]' to run them in parallel)"
    ) in proc.stderr
    assert f"3 jobs from {jobs_file}, one after another" in proc.stderr
    assert batch_frames(tmp_path) == one_by_one
    # Run again, every job finished already: answered from the manifests, no TensorFlow.
    again = probe.replace("sys.exit(main(sys.argv[1:]))", FINISHED_WITHOUT_TENSORFLOW)
    proc = batch_without_ray(again)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "tensorflow: False", proc.stdout
    assert batch_frames(tmp_path) == one_by_one
    argv = [sys.executable, "-c", probe, "batch", str(jobs_file), "--ray"]
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "dreamreel: error: --ray needs Ray: pip install 'dreamreel[ray]'"
    )


def test_a_signal_a_library_turned_into_a_plain_keyboard_interrupt_keeps_its_name():
    """Ray's waits catch our Interrupted and raise KeyboardInterrupt: the batch gives it
    back its signal, so SIGTERM still exits 143."""
    from renderer.runtime.interrupts import Interrupted, as_interrupted, signals_interrupt

    with pytest.raises(KeyboardInterrupt) as caught:
        with signals_interrupt():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except Interrupted:
                raise KeyboardInterrupt from None  # what the library does
    assert as_interrupted(caught.value).exit_code == 143
