"""Running a batch's jobs: one after another in this process, or as Ray tasks.

Either way a job is `renderer.render(spec, out=...)`, the call `dreamreel render` makes,
so a job's frames are those of the same render run alone, and a job run again resumes
from its folder's frames (the frame store's own resume): a batch killed midway and run
again finishes every unfinished render.

On Ray each job is a task in a fresh worker process (max_calls=1): Keras picks its
backend once per process, and TensorFlow and PyTorch must not share one. A user's
mistake (DreamreelError) comes back as the job's failure, never retried; anything else
(a crash, a lost worker) is retried ``retries`` times, each retry resuming the frames
the last attempt stored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .batch_jobs import Job
from .errors import DreamreelError
from .interrupts import HANDLED, as_interrupted

RETRIES = 2
BUSY_WAIT_S = 60  # a killed batch's Ray workers die a few seconds after it: wait for their locks


@dataclass(frozen=True)
class JobOutcome:
    name: str
    out: Path
    frames: int = 0       # frames in the folder at the end
    rendered: int = 0     # frames this run dreamed (the rest were resumed)
    seconds: float = 0.0
    error: str | None = None  # one line: why the job failed

    @property
    def outcome(self) -> str:
        if self.error is not None:
            return f"failed: {self.error}"
        return "resumed" if self.rendered < self.frames else "done"


def run_job(job: Job, spec, restart: bool = False) -> JobOutcome:
    """Render one job here and now. A DreamreelError is the job's failed outcome; other
    exceptions propagate (they are the ones worth retrying)."""
    from .render_lock import FolderBusy

    started = time.monotonic()
    while True:
        try:
            result = _render(job, spec, restart)
            break
        except FolderBusy as exc:
            if time.monotonic() - started > BUSY_WAIT_S:
                return JobOutcome(job.name, job.out, error=str(exc))
            time.sleep(1)
        except DreamreelError as exc:
            return JobOutcome(job.name, job.out, error=str(exc))
    return JobOutcome(job.name, job.out, result.frames, result.rendered,
                      time.monotonic() - started)


def _render(job: Job, spec, restart: bool):
    from .pipeline import render
    from .quiet_tf import use_backend_quietly

    # TensorFlow's C++ start-up chatter would interleave with the batch's progress bar.
    use_backend_quietly(spec.backend)
    return render(spec, out=job.out, restart=restart)


def run_one_by_one(jobs: list[Job], specs: list, *, restart: bool = False,
                   retries: int = RETRIES,
                   finished: Callable[[JobOutcome], None] = lambda outcome: None
                   ) -> list[JobOutcome]:
    """The jobs in this process, in order (no Ray, or --no-ray)."""
    outcomes = []
    for job, spec in zip(jobs, specs):
        for attempt in range(retries + 1):
            try:
                outcome = run_job(job, spec, restart and attempt == 0)
                break
            except (Exception, MemoryError) as exc:  # KeyboardInterrupt ends the batch
                outcome = JobOutcome(job.name, job.out, error=_one_line(exc))
        outcomes.append(outcome)
        finished(outcome)
    return outcomes


def run_on_ray(jobs: list[Job], specs: list, *, restart: bool = False,
               retries: int = RETRIES, address: str | None = None,
               finished: Callable[[JobOutcome], None] = lambda outcome: None
               ) -> list[JobOutcome]:
    """The jobs as Ray tasks: on the Ray this process already joined, else on the
    cluster at ``address`` (or RAY_ADDRESS), else on a local Ray started here with
    this machine's cores and shut down at the end (Ctrl-C included)."""
    import ray

    started_here = _join_ray(address)
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(max_calls=1, max_retries=retries, retry_exceptions=True)(run_job)
        pending = {}
        for job, spec in zip(jobs, specs):
            options = {"num_gpus": gpus, "num_cpus": 0} if gpus else {"num_cpus": job.cpus}
            pending[task.options(**options, name=f"dreamreel:{job.name}")
                     .remote(job, spec, restart)] = job
        outcomes: dict[str, JobOutcome] = {}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(done[0])
                try:
                    outcome = ray.get(done[0])
                except Exception as exc:  # retries spent: the task's error, or a lost worker
                    outcome = JobOutcome(job.name, job.out, error=_ray_error_line(exc))
                outcomes[job.name] = outcome
                finished(outcome)
        except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM: their stored frames stay
            for ref in pending:
                ray.cancel(ref, force=True)
            raise as_interrupted(exc) from None
        return [outcomes[job.name] for job in jobs]
    finally:
        if started_here:
            ray.shutdown()


def _join_ray(address: str | None) -> bool:
    """Connect to Ray unless already connected; True when a local Ray was started here."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    quiet = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": False,
             "configure_logging": True}
    if address:
        with _signal_handlers_kept():
            ray.init(address=address, **quiet)
        return False
    # "local": a new instance even where `ray start` left one (that one is --address's).
    with _signal_handlers_kept():
        ray.init(address="local", num_cpus=os.cpu_count(), **quiet)
    return True


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
    rows += [(o.name, str(o.frames) if o.error is None else "-",
              f"{o.seconds:.1f}" if o.error is None else "-", o.outcome, str(o.out))
             for o in outcomes]
    return rows
