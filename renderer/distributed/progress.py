"""What a batch or a chunked render reports while it runs: an interface its caller fills
(the CLI with a progress bar), so this wing never imports the CLI."""

from __future__ import annotations

from typing import Protocol


class JobsProgress(Protocol):
    """Many renders at once: their frames added up, and how many jobs are done."""

    jobs: int

    def frames(self, name: str, done: int, total: int) -> None: ...

    def say(self, line: str) -> None: ...

    def job_done(self) -> None: ...
