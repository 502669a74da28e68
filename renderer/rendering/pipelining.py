"""Work ahead of the dream and behind it, on threads, through bounded queues.

The dream holds the cores (or the GPU) and each frame's dream needs the one before, so
it is the critical path. Decoding and optical flow of the next frames depend only on the
clip: `Ahead` runs them on a worker thread, a few frames ahead. Writing, measuring and
encoding a finished frame are needed by nothing that follows: `Behind` runs them on a
worker thread after it. Both queues are bounded, so memory stays flat however long the
render; both workers lower their own CPU priority, so on a machine whose cores the dream
fills they use what the dream leaves idle instead of slowing it down.

``threaded=False`` runs the very same calls inline, in the same order: the sequential
reference loop (``pipeline = false``). Work on either thread never changes pixels, so the
two give byte-identical frames.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_POLL_SECONDS = 0.1  # how often a blocked worker looks whether it was told to stop
_NICE = 19  # niceness of worker threads: the dream first, the rest in its gaps


def lower_this_threads_priority() -> None:
    """Make the calling thread yield the CPU to the rest of the process (Linux: threads
    have their own scheduling policy). Where that is not possible, nothing changes."""
    tid = threading.get_native_id()
    try:
        os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, tid, _NICE)
    except (AttributeError, OSError):
        pass


class _Failure:
    """What a worker hands over instead of a result when its call raised."""

    def __init__(self, error: BaseException):
        self.error = error


_END = object()


class Ahead(Generic[T]):
    """``produce(i)`` for each ``i`` of ``indices``, in order, at most ``depth`` results
    ahead of whoever iterates; iterating yields the results in order.

    A call that raises ends the iteration with that error, where the result would have
    been. ``close()`` stops the worker (call it when leaving early).
    """

    def __init__(
        self,
        produce: Callable[[int], T],
        indices: Iterable[int],
        *,
        depth: int = 2,
        threaded: bool = True,
        name: str = "ahead",
    ):
        self._produce = produce
        self._indices = iter(indices)
        self._threaded = threaded
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name=f"dreamreel-{name}", daemon=True)
            self._thread.start()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if not self._threaded:
            return self._produce(next(self._indices))
        item = self._queue.get()
        if item is _END:
            self._queue.put(_END)  # later calls end too
            raise StopIteration
        if isinstance(item, _Failure):
            self._queue.put(_END)
            raise item.error
        return item

    def _run(self) -> None:
        lower_this_threads_priority()
        for index in self._indices:
            try:
                item: Any = self._produce(index)
            except BaseException as error:  # handed to the consumer, raised there
                self._put(_Failure(error))
                return
            if not self._put(item):
                return
        self._put(_END)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        """Stop producing; results not taken yet are dropped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class Behind(Generic[T]):
    """``consume(item)`` for each item given to ``put``, in order, on a worker thread;
    ``put`` blocks while ``depth`` items wait.

    The first error ``consume`` raises is raised again by the next ``put`` or by
    ``close``; the items after it are not consumed.
    """

    def __init__(
        self,
        consume: Callable[[T], None],
        *,
        depth: int = 2,
        threaded: bool = True,
        name: str = "behind",
    ):
        self._consume = consume
        self._threaded = threaded
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._thread = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name=f"dreamreel-{name}", daemon=True)
            self._thread.start()

    def put(self, item: T) -> None:
        self._raise_error()
        if not self._threaded:
            self._consume(item)
            return
        while True:  # a timeout, so a worker that failed meanwhile cannot block us
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                self._raise_error()

    def close(self, *, raise_error: bool = True) -> None:
        """Wait until every item put so far is consumed (or the worker failed); then
        raise the worker's error, unless ``raise_error`` is False (already failing)."""
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_END)  # never blocks for long: the worker is taking items
            self._thread.join()
        if raise_error:
            self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _run(self) -> None:
        lower_this_threads_priority()
        while True:
            item = self._queue.get()
            if item is _END:
                return
            try:
                self._consume(item)
            except BaseException as error:  # raised again in the thread that puts
                self._error = error
                self._drain()
                return

    def _drain(self) -> None:
        """After a failure: take what waits (so put and close never block) until the end."""
        while True:
            if self._queue.get() is _END:
                return
