"""The workers ahead of and behind the dream (renderer/rendering/pipelining.py): order, bounded
queues, errors where they belong; threaded and in line give the same calls."""

from __future__ import annotations

import threading
import time

import pytest

from renderer.rendering.pipelining import Ahead, Behind


def wait_until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.mark.parametrize("threaded", [True, False])
def test_ahead_yields_every_result_in_order(threaded):
    ahead = Ahead(lambda i: i * i, range(3, 9), threaded=threaded)
    assert list(ahead) == [i * i for i in range(3, 9)]
    assert list(ahead) == []  # stays ended
    ahead.close()


def test_ahead_runs_at_most_depth_results_ahead():
    produced = []
    ahead = Ahead(lambda i: produced.append(i) or i, range(100), depth=3)
    wait_until(lambda: len(produced) >= 4)
    time.sleep(0.2)
    # depth results wait in the queue, one more is made and waits to be put
    assert len(produced) == 4
    assert next(ahead) == 0
    wait_until(lambda: len(produced) >= 5)
    time.sleep(0.2)
    assert len(produced) == 5
    ahead.close()


def test_ahead_raises_the_error_where_its_result_would_be():
    def produce(i):
        if i == 2:
            raise ValueError("frame 2 is damaged")
        return i

    ahead = Ahead(produce, range(5))
    assert next(ahead) == 0 and next(ahead) == 1
    with pytest.raises(ValueError, match="frame 2 is damaged"):
        next(ahead)
    with pytest.raises(StopIteration):
        next(ahead)
    ahead.close()


def test_closing_ahead_early_stops_its_worker():
    ahead = Ahead(lambda i: i, range(10**9), depth=2)
    assert next(ahead) == 0
    ahead.close()
    assert not any(t.name == "dreamreel-ahead" for t in threading.enumerate())


def test_the_workers_run_on_their_own_threads():
    main = threading.get_ident()
    seen = []
    ahead = Ahead(lambda i: threading.get_ident(), range(2))
    behind = Behind(lambda item: seen.append(threading.get_ident()))
    behind.put(1)
    behind.close()
    assert main not in list(ahead) and seen and main not in seen
    ahead.close()


@pytest.mark.parametrize("threaded", [True, False])
def test_behind_consumes_every_item_in_order_before_close_returns(threaded):
    consumed = []

    def slow(item):
        time.sleep(0.01)
        consumed.append(item)

    behind = Behind(slow, depth=2, threaded=threaded)
    for item in range(10):
        behind.put(item)
    behind.close()
    assert consumed == list(range(10))


def test_behind_blocks_put_while_depth_items_wait():
    gate = threading.Event()
    behind = Behind(lambda item: gate.wait(), depth=2)
    for item in range(3):  # one being consumed, two waiting
        behind.put(item)
    blocked = threading.Thread(target=behind.put, args=(3,))
    blocked.start()
    time.sleep(0.3)
    assert blocked.is_alive()
    gate.set()
    blocked.join(5)
    assert not blocked.is_alive()
    behind.close()


def test_a_failing_consumer_raises_in_the_thread_that_puts_and_stops_there():
    consumed = []

    def consume(item):
        if item == 1:
            raise OSError("disk full")
        consumed.append(item)

    behind = Behind(consume, depth=1)
    with pytest.raises(OSError, match="disk full"):
        for item in range(100):
            behind.put(item)
            time.sleep(0.01)
    behind.close()  # the error was raised once: close is quiet now
    assert consumed == [0]


def test_close_raises_the_error_unless_told_not_to():
    def consume(item):
        raise RuntimeError("encoder broke")

    behind = Behind(consume)
    behind.put(0)
    with pytest.raises(RuntimeError, match="encoder broke"):
        behind.close()
    quiet = Behind(consume)
    quiet.put(0)
    quiet.close(raise_error=False)
