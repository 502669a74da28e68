"""Ctrl-C and SIGTERM: stop cleanly, exit as the shell expects, say how to resume.

Python runs signal handlers in the main thread, between bytecodes: a render's worker
threads (renderer/rendering/pipelining.py) and TensorFlow's thread pools never see the signal. The
handler raises `Interrupted` there, and the render's own cleanup does the rest: the frame
being dreamed is dropped, the frames already handed to the writer are finished, the
MP4/GIF being encoded and every temp file are deleted (renderer/rendering/frame_loop.py, files.py).
A dream inside one compiled TensorFlow call stops when that call returns.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import threading
from collections.abc import Iterator, Sequence

HANDLED = (signal.SIGINT, signal.SIGTERM)

# Signals that arrived inside signals_held(): raised when the outermost held section ends.
_held_depth = 0
_pending: list[int] = []
# The signal the latest signals_interrupt() raised Interrupted for (at most one).
_fired: list[int] = []


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; a KeyboardInterrupt, so what handles Ctrl-C handles both."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports a command the signal ended:
        130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While inside, SIGINT and SIGTERM raise Interrupted in the main thread.

    Only the first signal raises. Later ones, while the interrupted work cleans up (finishes
    the frames being written, deletes temp files), are ignored, so the cleanup is never cut
    short and leaves nothing half-written. A signal ignored when we started (a job started
    with nohup or in the background) stays ignored. Outside the main thread, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _fired.clear()  # this context's signals only (as_interrupted reads them afterwards)

    def handler(signum, frame):
        if not _fired:
            _fired.append(signum)
            if _held_depth:  # a frame's files are being written: finish them first
                _pending.append(signum)
                return
            raise Interrupted(signum)

    previous = {}
    for signum in HANDLED:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        _pending.clear()


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Writes that belong together (a frame's PNG and its losses.csv row): a signal that
    arrives inside is raised when the section ends, so the frame is either done or absent.

    Only the main thread can be interrupted, so elsewhere this does nothing. If the section
    fails on its own, that error goes on and the signal is dropped: the render ends anyway.
    """
    global _held_depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _held_depth += 1
    try:
        yield
    finally:
        _held_depth -= 1
    if not _held_depth and _pending:
        raise Interrupted(_pending.pop())


def as_interrupted(exc: KeyboardInterrupt) -> KeyboardInterrupt:
    """Interrupted again, for a library that caught ours and raised a plain
    KeyboardInterrupt instead (Ray's waits do): the exit code still names the signal."""
    if isinstance(exc, Interrupted) or not _fired:
        return exc
    return Interrupted(_fired[-1])


def resume_command(argv: Sequence[str], program: str = "dreamreel") -> str:
    """The command line that resumes an interrupted render: the same arguments, without
    --restart (which would throw away the frames kept), quoted for a POSIX shell."""
    return shlex.join([program, *(arg for arg in argv if not _is_restart(arg))])


def _is_restart(arg: str) -> bool:
    # argparse also takes an unambiguous abbreviation: --rest, --resta...
    return len(arg) >= 3 and "--restart".startswith(arg)
