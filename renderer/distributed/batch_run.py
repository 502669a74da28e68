"""Running a batch's jobs: one after another in this process, or as Ray tasks.

Either way a job is `renderer.render(spec, out=...)`, the call `dreamreel render` makes,
so a job's frames are those of the same render run alone, and a job run again resumes
from its folder's frames (the frame store's own resume): a batch killed midway and run
again finishes every unfinished render.

On Ray each job is a task in a fresh worker process (max_calls=1): Keras picks its
backend once per process, and TensorFlow and PyTorch must not share one. A user's
mistake (DreamreelError) comes back as the job's failure, never retried; anything else
(a crash, a lost worker) is retried ``retries`` times, each retry resuming the frames
the last attempt stored: only a job's first attempt restarts (--restart), on Ray too.

A local Ray started here listens on loopback only and only with its token (see
_loopback_with_token); a cluster at --address is the user's to trust: results come
back from it pickled.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..runtime.errors import DreamreelError
from ..runtime.interrupts import HANDLED, as_interrupted
from ..store.render_lock import FolderBusy
from .batch_jobs import Job

RETRIES = 2
POLL_S = 0.5  # how often a Ray batch's frame counts are sent and read
BUSY_WAIT_S = 60  # a killed batch's Ray workers die a few seconds after it: wait for their locks
AUTH_MODE_VARIABLE = "RAY_AUTH_MODE"  # Ray's: "token" or "disabled"


@dataclass(frozen=True)
class JobOutcome:
    name: str
    out: Path
    frames: int = 0  # frames in the folder at the end
    rendered: int = 0  # frames this run dreamed (the rest were resumed)
    seconds: float = 0.0
    error: str | None = None  # one line: why the job failed

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return f"failed: {self.error}"
        return "resumed" if self.rendered < self.frames else "done"


# Called as report(job name, frames done, frames in the job) while jobs render.
FrameReport = Callable[[str, int, int], None]


def run_job(job: Job, spec, restart: bool = False, report: FrameReport | None = None) -> JobOutcome:
    """Render one job here and now. A DreamreelError is the job's failed outcome; other
    exceptions propagate (they are the ones worth retrying). ``report`` hears the job's
    frames as they are stored."""
    started = time.monotonic()
    progress = None if report is None else (lambda done, total, loss: report(job.name, done, total))
    while True:
        try:
            result = _render(job, spec, restart, progress)
            break
        except FolderBusy as exc:
            if time.monotonic() - started > BUSY_WAIT_S:
                return JobOutcome(job.name, job.out, error=str(exc))
            time.sleep(1)
        except DreamreelError as exc:
            return JobOutcome(job.name, job.out, error=str(exc))
    return JobOutcome(job.name, job.out, result.frames, result.rendered, time.monotonic() - started)


def _render(job: Job, spec, restart: bool, progress):
    from ..rendering.render_preset import render  # lazy: loads OpenCV, Pillow, numpy

    # render() imports the backend quietly (TensorFlow's C++ start-up chatter would
    # interleave with the batch's bar), and only for a job not finished already.
    return render(spec, out=job.out, restart=restart, progress=progress, then=job.after)


def run_one_by_one(
    jobs: list[Job],
    specs: list,
    *,
    restart: bool = False,
    retries: int = RETRIES,
    finished: Callable[[JobOutcome], None] = lambda outcome: None,
    report: FrameReport | None = None,
) -> list[JobOutcome]:
    """The jobs in this process, in order (no Ray, or --no-ray)."""
    outcomes = []
    for job, spec in zip(jobs, specs):
        for attempt in range(retries + 1):
            try:
                outcome = run_job(job, spec, restart and attempt == 0, report)
                break
            except (Exception, MemoryError) as exc:  # KeyboardInterrupt ends the batch
                outcome = JobOutcome(job.name, job.out, error=_one_line(exc))
        outcomes.append(outcome)
        finished(outcome)
    return outcomes


def run_on_ray(
    jobs: list[Job],
    specs: list,
    *,
    restart: bool = False,
    retries: int = RETRIES,
    address: str | None = None,
    finished: Callable[[JobOutcome], None] = lambda outcome: None,
    report: FrameReport | None = None,
) -> list[JobOutcome]:
    """The jobs as Ray tasks: on the Ray this process already joined, else on the
    cluster at ``address`` (or RAY_ADDRESS), else on a local Ray started here with
    this machine's cores and shut down at the end (Ctrl-C included). The workers'
    frame counts reach ``report`` through a small actor, polled here. A crashed task is
    submitted again from here, not by Ray (whose retries repeat the first call's
    arguments, --restart included): a retry resumes what the crashed attempt stored."""
    import ray

    with ray_joined(address):
        board = ray.remote(num_cpus=0)(FrameBoard).remote() if report else None
        submit = _ray_submitter(restart, board)
        pending = {submit(job, spec, 0): (job, spec, 0) for job, spec in zip(jobs, specs)}
        outcomes: dict[str, JobOutcome] = {}
        try:
            while pending:
                done, _ = ray.wait(
                    list(pending), num_returns=1, timeout=None if board is None else POLL_S
                )
                if board is not None:
                    for name, (frames, total) in ray.get(board.counts.remote()).items():
                        report(name, frames, total)
                if not done:
                    continue
                job, spec, attempt = pending.pop(done[0])
                try:
                    outcome = ray.get(done[0])
                except Exception as exc:  # the task's error, or a lost worker
                    if attempt < retries:
                        pending[submit(job, spec, attempt + 1)] = (job, spec, attempt + 1)
                        continue
                    outcome = JobOutcome(job.name, job.out, error=_ray_error_line(exc))
                outcomes[job.name] = outcome
                if report is not None and outcome.error is None:  # its last count, surely
                    report(job.name, outcome.frames, outcome.frames)
                finished(outcome)
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: their stored frames stay
            for ref in pending:
                ray.cancel(ref, force=True)
            raise as_interrupted(exc) from None
        return [outcomes[job.name] for job in jobs]


def _ray_submitter(restart: bool, board) -> Callable:
    """submit(job, spec, attempt) -> the Ray task's reference. Each task runs in a fresh
    worker (max_calls=1) with Ray's own retries off; only attempt 0 restarts."""
    import ray

    task = ray.remote(max_calls=1, max_retries=0)(_ray_job)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0

    def submit(job: Job, spec, attempt: int):
        options = {"num_gpus": gpus, "num_cpus": 0} if gpus else {"num_cpus": job.cpus}
        return task.options(**options, name=f"dreamreel:{job.name}").remote(
            job, spec, restart and attempt == 0, board
        )

    return submit


@contextlib.contextmanager
def ray_joined(address: str | None = None) -> Iterator[None]:
    """Ray joined for the block (see _join_ray); a local Ray started here is shut down at
    its end, Ctrl-C included."""
    import ray

    auth_mode = os.environ.get(AUTH_MODE_VARIABLE)  # a local start sets it to "token"
    started_here = False
    try:
        started_here = _join_ray(address)
        yield
    finally:
        if started_here:
            ray.shutdown()
        # The user's own setting again (also after a start refused): a later --address
        # join (a notebook's) must not send this Ray's token to another cluster.
        if auth_mode is None:
            os.environ.pop(AUTH_MODE_VARIABLE, None)
        else:
            os.environ[AUTH_MODE_VARIABLE] = auth_mode


def ray_workers() -> int:
    """How many renders the joined Ray runs at once: its GPUs, else its CPU cores."""
    import ray

    resources = ray.cluster_resources()
    return int(resources.get("GPU", 0)) or max(1, int(resources.get("CPU", 1)))


class FrameBoard:
    """A Ray actor: the frame counts the batch's workers report (job -> done, total)."""

    def __init__(self):
        self._counts: dict[str, tuple[int, int]] = {}

    def update(self, name: str, done: int, total: int) -> None:
        self._counts[name] = (done, total)

    def counts(self) -> dict[str, tuple[int, int]]:
        return dict(self._counts)


def _ray_job(job: Job, spec, restart: bool, board) -> JobOutcome:
    """run_job in a Ray worker, its frame counts sent to ``board`` (at most every POLL_S
    seconds, and the last one)."""
    if board is None:
        return run_job(job, spec, restart)
    sent = [0.0]

    def report(name: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - sent[0] >= POLL_S:
            sent[0] = now
            board.update.remote(name, done, total)

    return run_job(job, spec, restart, report)


def _join_ray(address: str | None) -> bool:
    """Connect to Ray unless already connected; True when a local Ray was started here."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    quiet = {
        "include_dashboard": False,
        "logging_level": "ERROR",
        "log_to_driver": False,
        "configure_logging": True,
    }
    if address:
        with _signal_handlers_kept():
            ray.init(address=address, **quiet)
        return False
    # "local": a new instance even where `ray start` left one (that one is --address's).
    with _signal_handlers_kept(), _loopback_with_token():
        ray.init(address="local", num_cpus=os.cpu_count(), **quiet)
    _refuse_exposed_local_ray()
    return True


@contextlib.contextmanager
def _loopback_with_token() -> Iterator[None]:
    """While a local Ray starts: it listens on loopback only, and only with its token.

    Ray binds its GCS, raylet and workers to every interface unless the node's address is
    loopback, which it picks only where it supports no clusters (macOS, Windows): ask for
    that choice for the start alone (a later --address must find a reachable address).
    Token authentication is Ray's default for a new local cluster (2.59 on) unless
    RAY_AUTH_MODE says otherwise; this Ray is dreamreel's alone, so it always has one."""
    from ray._private import ray_constants

    if os.environ.get(AUTH_MODE_VARIABLE, "token").lower() != "token":
        del os.environ[AUTH_MODE_VARIABLE]  # Ray then turns token mode on for the start
    clusters = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = clusters


def _refuse_exposed_local_ray() -> None:
    """Shut the local Ray down, in one line, if it would answer beyond this machine or
    without its token (a Ray release that picks its address or auth another way)."""
    import ray

    address = ray.util.get_node_ip_address()
    token = os.environ.get(AUTH_MODE_VARIABLE, "").lower() == "token"
    if ipaddress.ip_address(address).is_loopback and token:
        return
    ray.shutdown()
    exposure = f"listen on {address}" if token else "run without token authentication"
    raise DreamreelError(
        f"the local Ray would {exposure}, open to other machines or users; run without "
        f"Ray (batch --no-ray, render without --ray) or pass --address of a cluster you trust"
    )


@contextlib.contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """Ray's core installs its own C-level SIGTERM handler on init (it dumps a stack and
    dies): put Python's back, so SIGTERM stops the batch as Ctrl-C does (cancel, shut
    down, say how to resume)."""
    handlers = {signum: signal.getsignal(signum) for signum in HANDLED}
    try:
        yield
    finally:
        if threading.current_thread() is threading.main_thread():
            for signum, handler in handlers.items():
                if handler is not None:
                    signal.signal(signum, handler)


def _ray_error_line(exc: BaseException) -> str:
    """A failed task's error, as one line: the original exception, not Ray's wrapper."""
    cause = getattr(exc, "cause", None)
    return _one_line(cause if isinstance(cause, BaseException) else exc)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def summary_rows(outcomes: list[JobOutcome]) -> list[tuple[str, ...]]:
    """The end-of-batch table: job, frames, s, outcome, output."""
    rows = [("job", "frames", "s", "outcome", "output")]
    rows += [
        (
            o.name,
            str(o.frames) if o.error is None else "-",
            f"{o.seconds:.1f}" if o.error is None else "-",
            o.outcome,
            str(o.out),
        )
        for o in outcomes
    ]
    return rows
