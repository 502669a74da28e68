"""The render queue: one job at a time, each a ``dreamreel render`` subprocess (the CLI
itself, so the folder, identity and frames are the CLI's), watched through its folder:
frames/ and losses.csv for the progress and the loss curve, latest.jpg for the live
frame. Stop sends SIGTERM: the CLI keeps the finished frames (renderer/runtime/
interrupts.py) and the same job again resumes them. (SIGTERM, not SIGINT: a process
started in the background of a shell ignores SIGINT, and so would its children.)"""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .form import cli_line, subprocess_argv

MAX_LOG_LINES = 40  # of a job's stderr, kept for the page
FINISHED_STATES = ("done", "failed", "stopped")


@dataclass
class Job:
    id: int
    name: str
    out: Path
    args: list[str]  # dreamreel's arguments (render ...)
    frames: int | None = None  # the render's frame count, when known
    state: str = "queued"  # queued, running, done, failed, stopped
    error: str = ""  # the CLI's one line when it failed
    result: dict[str, Any] = field(default_factory=dict)  # render --json's document
    log: deque = field(default_factory=lambda: deque(maxlen=MAX_LOG_LINES))
    process: subprocess.Popen | None = None
    stop_asked: bool = False

    def to_json(self) -> dict[str, Any]:
        losses = read_losses(self.out)
        return {
            "id": self.id,
            "name": self.name,
            "out": str(self.out),
            "folder": self.out.name,
            "state": self.state,
            "error": self.error,
            "done": len(losses),
            "frames": self.frames,
            "losses": losses,
            "latest": (self.out / "latest.jpg").is_file(),
            "command": cli_line(self.args),
            "log": list(self.log)[-6:],
            "result": self.result,
        }


def read_losses(out: Path) -> list[float]:
    """Each stored frame's final loss, in order (losses.csv: a row per finished frame)."""
    try:
        with open(out / "losses.csv", newline="") as file:
            return [float(row["final_loss"]) for row in csv.DictReader(file)]
    except (OSError, ValueError, KeyError, csv.Error):  # not there yet, or a row half written
        return []


class JobQueue:
    """Jobs in order; a worker thread runs them one after another."""

    def __init__(self, cwd: Path | None = None) -> None:
        self.jobs: list[Job] = []
        self.cwd = cwd
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="dreamreel-ui-jobs", daemon=True)
        self._worker.start()

    def add(self, name: str, out: Path, args: list[str], frames: int | None) -> Job:
        with self._wake:
            for job in self.jobs:  # the same folder twice would be refused by its lock
                if job.out == out and job.state in ("queued", "running"):
                    return job
            job = Job(next(self._ids), name, out, args, frames)
            self.jobs.append(job)
            self._wake.notify()
            return job

    def resume(self, job_id: int) -> Job | None:
        """A stopped or failed job's command again, a new job (the CLI resumes its frames);
        a job still queued or running, or done, is itself."""
        with self._lock:
            job = next((j for j in self.jobs if j.id == job_id), None)
        if job is None or job.state not in ("stopped", "failed"):
            return job
        return self.add(job.name, job.out, job.args, job.frames)

    def live_folders(self) -> set[Path]:
        """The folders of the jobs queued or running."""
        with self._lock:
            return {j.out for j in self.jobs if j.state in ("queued", "running")}

    def stop(self, job_id: int) -> Job | None:
        """A queued job leaves the queue; a running one gets SIGTERM and keeps its frames."""
        with self._lock:
            job = next((j for j in self.jobs if j.id == job_id), None)
            if job is None or job.state in FINISHED_STATES:
                return job
            job.stop_asked = True
            if job.state == "queued":
                job.state = "stopped"
            elif job.process is not None and job.process.poll() is None:
                job.process.send_signal(signal.SIGTERM)
            return job

    def close(self) -> None:
        """Stop the running job (its frames kept) and the worker."""
        with self._wake:
            self._closed = True
            running = [j.id for j in self.jobs if j.state in ("queued", "running")]
            self._wake.notify()
        for job_id in running:
            self.stop(job_id)
        self._worker.join(timeout=30)

    def _next(self) -> Job | None:
        with self._wake:
            while not self._closed:
                job = next((j for j in self.jobs if j.state == "queued"), None)
                if job is not None:
                    job.state = "running"
                    return job
                self._wake.wait()
            return None

    def _run(self) -> None:
        while (job := self._next()) is not None:
            self._render(job)

    def _render(self, job: Job) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with self._lock:
            if job.stop_asked:
                job.state = "stopped"
                return
            job.process = subprocess.Popen(
                subprocess_argv(job.args),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                cwd=self.cwd,
                env=env,
            )
        process = job.process
        assert process.stderr is not None and process.stdout is not None
        for line in process.stderr:  # the CLI's progress and info lines, as they come
            job.log.append(line.rstrip())
        stdout = process.stdout.read()
        code = process.wait()
        try:
            document = json.loads(stdout) if stdout.strip() else {}
        except ValueError:
            document = {}
        with self._lock:
            job.result = document if isinstance(document, dict) else {}
            if code == 0:
                job.state = "done"
                job.frames = job.result.get("frames", job.frames)
            elif job.stop_asked:
                job.state = "stopped"
            else:
                job.state = "failed"
                job.error = str(job.result.get("error") or (job.log[-1] if job.log else code))
