"""Tests for torsion.threadpool.ThreadPool: sizing, ordering, stopping, errors, contexts."""

from __future__ import annotations

import contextvars
import logging
import pickle
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from torsion.failure import Failure
from torsion.testing.plugin import LoggedFailures
from torsion.threadpool import ThreadPool, ThreadPoolStatistics

# Generous: only reached when something is broken.
WAIT = 10.0

# ---------------------------------------------------------------------------
# Helpers


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    """Every test must leave exactly the threads it found."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before]
    assert not left, f"threads left running: {left}"


@pytest.fixture
def pools() -> Iterator[Callable[..., ThreadPool]]:
    """Make pools that are stopped (and so joined) at the end of the test."""
    made: list[ThreadPool] = []

    def make(*args: Any, **kwargs: Any) -> ThreadPool:
        pool = ThreadPool(*args, **kwargs)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.stop()


def eventually(predicate: Callable[[], bool]) -> None:
    """Wait until ``predicate()`` holds, for states no event reports."""
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.001)


class Blocker:
    """Work that reports it started, then waits for the test to open the gate."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.gate = threading.Event()

    def __call__(self) -> None:
        self.started.release()
        assert self.gate.wait(WAIT)

    def wait_started(self, count: int) -> None:
        for _ in range(count):
            assert self.started.acquire(timeout=WAIT), "work did not start"


class Boom(Exception):
    """A recognisable application error."""


def raise_boom() -> None:
    raise Boom("boom")


# ---------------------------------------------------------------------------
# Construction and attributes


def test_defaults_and_attributes() -> None:
    """A new pool has Twisted's defaults (5, 20), is not started and has no threads."""
    pool = ThreadPool()
    assert (pool.min, pool.max, pool.name) == (5, 20, None)
    assert (pool.started, pool.joined) == (False, False)
    assert pool.threads == []
    assert pool.workers == 0
    assert pool.threadFactory is threading.Thread
    assert pool.currentThread() is threading.current_thread()


@pytest.mark.parametrize(("minthreads", "maxthreads"), [(-1, 5), (3, 2)])
def test_invalid_sizes_rejected(minthreads: int, maxthreads: int) -> None:
    """Sizes must satisfy 0 <= min <= max, in the constructor and in adjustPoolsize."""
    with pytest.raises(ValueError, match="minthreads"):
        ThreadPool(minthreads, maxthreads)
    pool = ThreadPool(1, 4)
    with pytest.raises(ValueError, match="minthreads"):
        pool.adjustPoolsize(minthreads, maxthreads)
    assert (pool.min, pool.max) == (1, 4)


def test_adjust_rejects_max_below_current_min() -> None:
    """Lowering only max below the current min is refused and changes nothing."""
    pool = ThreadPool(2, 4)
    with pytest.raises(ValueError, match="maxthreads"):
        pool.adjustPoolsize(maxthreads=1)
    assert (pool.min, pool.max) == (2, 4)


def test_pickle_keeps_sizes_only() -> None:
    """A pickled pool comes back with its sizes, stopped and without threads."""
    pool = ThreadPool(2, 7, name="p")
    copy = pickle.loads(pickle.dumps(pool))
    assert (copy.min, copy.max, copy.started, copy.threads) == (2, 7, False, [])


# ---------------------------------------------------------------------------
# Starting and growing


def test_start_starts_min_named_non_daemon_workers(pools: Callable[..., ThreadPool]) -> None:
    """start() starts min workers at once, named after the pool, not daemon threads."""
    pool = pools(2, 4, name="mypool")
    pool.start()
    assert pool.started and not pool.joined
    assert pool.workers == 2
    assert [t.name for t in pool.threads] == ["PoolThread-mypool-0", "PoolThread-mypool-1"]
    assert all(t.is_alive() and not t.daemon for t in pool.threads)


def test_unnamed_pool_names_threads_by_id(pools: Callable[..., ThreadPool]) -> None:
    """Without a name, thread names carry the pool's id."""
    pool = pools(1, 1)
    pool.start()
    assert pool.threads[0].name == f"PoolThread-{id(pool)}-0"


def test_min_zero_starts_threads_only_for_work(pools: Callable[..., ThreadPool]) -> None:
    """With min 0 a started pool has no thread until work arrives."""
    pool = pools(0, 4)
    pool.start()
    assert pool.workers == 0
    done = threading.Event()
    pool.callInThread(done.set)
    assert done.wait(WAIT)
    assert pool.workers == 1


def test_work_queued_before_start_runs_at_start(pools: Callable[..., ThreadPool]) -> None:
    """Work queued before start() waits, then runs when the pool starts."""
    pool = pools(0, 2)
    ran = threading.Event()
    pool.callInThread(ran.set)
    assert pool.statistics() == ThreadPoolStatistics(queued=1, idle=0, busy=0)
    assert not ran.is_set()
    pool.start()
    assert ran.wait(WAIT)


def test_fifo_order_with_one_thread(pools: Callable[..., ThreadPool]) -> None:
    """With maxthreads=1, calls run one at a time in the order they were made."""
    pool = pools(0, 1)
    pool.start()
    order: list[int] = []
    for i in range(50):
        pool.callInThread(order.append, i)
    pool.stop()
    assert order == list(range(50))


def test_grows_up_to_max_and_not_beyond(pools: Callable[..., ThreadPool]) -> None:
    """Waiting work starts new workers up to max; the rest queues until one is free."""
    pool = pools(0, 3)
    pool.start()
    blocker = Blocker()
    for _ in range(5):
        pool.callInThread(blocker)
    blocker.wait_started(3)
    assert pool.workers == 3
    assert pool.statistics() == ThreadPoolStatistics(queued=2, idle=0, busy=3)
    blocker.gate.set()
    blocker.wait_started(2)
    pool.stop()
    assert pool.workers == 0


def test_idle_worker_is_reused(pools: Callable[..., ThreadPool]) -> None:
    """A call made while a worker is idle goes to it instead of a new thread."""
    pool = pools(0, 5)
    pool.start()
    names: list[str] = []

    def record(done: threading.Event) -> None:
        names.append(threading.current_thread().name)
        done.set()

    for _ in range(3):
        done = threading.Event()
        pool.callInThread(record, done)
        assert done.wait(WAIT)
        eventually(lambda: pool.statistics().busy == 0)
    assert pool.workers == 1
    assert len(set(names)) == 1


def test_burst_starts_one_thread_per_waiting_call(pools: Callable[..., ThreadPool]) -> None:
    """A burst of calls on a pool of idle workers starts only the threads it needs."""
    pool = pools(2, 10)
    pool.start()
    blocker = Blocker()
    for _ in range(4):
        pool.callInThread(blocker)
    blocker.wait_started(4)
    assert pool.workers == 4
    blocker.gate.set()


def test_concurrent_callers_lose_nothing_and_respect_max(
    pools: Callable[..., ThreadPool],
) -> None:
    """Calls made from several threads at once each run exactly once, never over max at once."""
    pool = pools(0, 3)
    pool.start()
    lock = threading.Lock()
    active = peak = 0
    ran: list[int] = []

    def work(i: int) -> None:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0)
        with lock:
            active -= 1
            ran.append(i)

    def submit(base: int) -> None:
        for i in range(base, base + 50):
            pool.callInThread(work, i)

    callers = [threading.Thread(target=submit, args=(k * 50,)) for k in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    pool.stop()
    assert sorted(ran) == list(range(200))
    assert 1 <= peak <= 3


def test_start_twice_and_restart(pools: Callable[..., ThreadPool]) -> None:
    """start() on a started pool adds nothing; a stopped pool can start again."""
    pool = pools(1, 2)
    pool.start()
    pool.start()
    assert pool.workers == 1
    pool.stop()
    pool.start()
    assert pool.started and not pool.joined and pool.workers == 1
    ran = threading.Event()
    pool.callInThread(ran.set)
    assert ran.wait(WAIT)


def test_custom_thread_factory(pools: Callable[..., ThreadPool]) -> None:
    """Workers are made by threadFactory, which a subclass may replace."""
    made: list[threading.Thread] = []

    def factory(**kwargs: Any) -> threading.Thread:
        thread = threading.Thread(**kwargs)
        made.append(thread)
        return thread

    class MyPool(ThreadPool):
        threadFactory = staticmethod(factory)

    pool = MyPool(1, 1)
    try:
        pool.start()
        assert made == pool.threads
    finally:
        pool.stop()


# ---------------------------------------------------------------------------
# Stopping


def test_stop_runs_queued_work_then_joins(pools: Callable[..., ThreadPool]) -> None:
    """stop() lets already queued work run, then returns with every worker ended."""
    pool = pools(0, 1)
    pool.start()
    blocker = Blocker()
    results: list[int] = []
    pool.callInThread(blocker)
    for i in range(3):
        pool.callInThread(results.append, i)
    blocker.wait_started(1)
    workers = list(pool.threads)
    stopper = threading.Thread(target=pool.stop)
    stopper.start()
    eventually(lambda: pool.joined)
    assert pool.statistics().queued == 3
    blocker.gate.set()
    stopper.join(WAIT)
    assert not stopper.is_alive()
    assert results == [0, 1, 2]
    assert not any(t.is_alive() for t in workers)
    assert (pool.started, pool.joined, pool.threads) == (False, True, [])


def test_work_after_stop_is_dropped(pools: Callable[..., ThreadPool]) -> None:
    """Calls made after stop() are silently dropped, as in Twisted."""
    pool = pools(1, 2)
    pool.start()
    pool.stop()
    ran: list[int] = []
    pool.callInThread(ran.append, 1)
    assert pool.statistics() == ThreadPoolStatistics(queued=0, idle=0, busy=0)
    assert ran == []


def test_stop_twice_and_stop_unstarted(pools: Callable[..., ThreadPool]) -> None:
    """A second stop() does nothing; stopping an unstarted pool drops its queue."""
    pool = pools(1, 2)
    pool.callInThread(raise_boom)
    pool.stop()
    assert pool.joined and not pool.started
    assert pool.statistics().queued == 0
    pool.stop()


def test_stop_from_a_worker(pools: Callable[..., ThreadPool]) -> None:
    """stop() called by one of the pool's own workers ends the pool without deadlock."""
    pool = pools(2, 2)
    pool.start()
    workers = list(pool.threads)
    stopped = threading.Event()

    def stop_from_inside() -> None:
        pool.stop()
        stopped.set()

    pool.callInThread(stop_from_inside)
    assert stopped.wait(WAIT)
    for worker in workers:
        worker.join(WAIT)
        assert not worker.is_alive()
    assert pool.threads == []


def test_unstopped_pool_does_not_hang_exit() -> None:
    """A started pool nobody stops lets the interpreter exit, after its queued work."""
    script = textwrap.dedent(
        """
        import time
        from torsion.threadpool import ThreadPool
        pool = ThreadPool(2, 4, name="forgotten")
        pool.start()
        pool.callInThread(time.sleep, 0.05)
        pool.callInThread(print, "queued work ran")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT, check=True
    )
    assert done.stdout == "queued work ran\n"


# ---------------------------------------------------------------------------
# Resizing


def test_adjust_raises_min_starts_workers(pools: Callable[..., ThreadPool]) -> None:
    """Raising min on a started pool starts workers to reach it; lowering it stops none."""
    pool = pools(0, 5)
    pool.start()
    pool.adjustPoolsize(minthreads=3)
    assert pool.workers == 3
    pool.adjustPoolsize(minthreads=0)
    assert pool.workers == 3


def test_adjust_on_unstarted_pool_starts_nothing(pools: Callable[..., ThreadPool]) -> None:
    """Sizes changed before start() take effect at start()."""
    pool = pools(0, 5)
    pool.adjustPoolsize(2, 3)
    assert pool.workers == 0
    pool.start()
    assert pool.workers == 2


def test_adjust_lower_max_ends_idle_workers(pools: Callable[..., ThreadPool]) -> None:
    """Lowering max below the worker count ends idle workers until max remain."""
    pool = pools(3, 5)
    pool.start()
    before = list(pool.threads)
    pool.adjustPoolsize(0, 1)
    eventually(lambda: pool.workers == 1)
    for thread in before:
        if thread not in pool.threads:
            thread.join(WAIT)
            assert not thread.is_alive()


def test_adjust_lower_max_ends_busy_workers_after_work(pools: Callable[..., ThreadPool]) -> None:
    """Busy workers over a lowered max finish their call and then end; work still runs."""
    pool = pools(0, 3)
    pool.start()
    blocker = Blocker()
    for _ in range(3):
        pool.callInThread(blocker)
    blocker.wait_started(3)
    pool.adjustPoolsize(maxthreads=1)
    assert pool.workers == 3
    ran = threading.Event()
    pool.callInThread(ran.set)
    blocker.gate.set()
    assert ran.wait(WAIT)
    eventually(lambda: pool.workers == 1)


def test_adjust_raise_max_takes_queued_work(pools: Callable[..., ThreadPool]) -> None:
    """Raising max starts workers for work already waiting in the queue."""
    pool = pools(0, 1)
    pool.start()
    blocker = Blocker()
    for _ in range(3):
        pool.callInThread(blocker)
    blocker.wait_started(1)
    assert pool.statistics().queued == 2
    pool.adjustPoolsize(maxthreads=3)
    blocker.wait_started(2)
    assert pool.workers == 3
    blocker.gate.set()


# ---------------------------------------------------------------------------
# Results, errors, contexts


def test_callback_gets_result_in_worker_thread(pools: Callable[..., ThreadPool]) -> None:
    """onResult(True, result) is called in the worker thread that ran the call."""
    pool = pools(0, 1, name="cb")
    pool.start()
    seen: list[tuple[bool, object, str]] = []

    def onResult(ok: bool, result: object) -> None:
        seen.append((ok, result, threading.current_thread().name))

    pool.callInThreadWithCallback(onResult, divmod, 7, 2)
    pool.callInThreadWithCallback(onResult, sorted, [3, 1], reverse=True)
    pool.stop()
    assert seen == [(True, (3, 1), "PoolThread-cb-0"), (True, [3, 1], "PoolThread-cb-0")]


def test_callback_gets_failure(pools: Callable[..., ThreadPool]) -> None:
    """onResult(False, Failure) carries the exception the call raised, traceback included."""
    pool = pools(0, 1)
    pool.start()
    seen: list[tuple[bool, object]] = []
    pool.callInThreadWithCallback(lambda ok, r: seen.append((ok, r)), raise_boom)
    pool.stop()
    [(ok, failure)] = seen
    assert ok is False
    assert isinstance(failure, Failure) and failure.check(Boom)
    assert "raise_boom" in failure.getTraceback()


def test_errors_are_logged_and_worker_survives(
    pools: Callable[..., ThreadPool], logged_failures: LoggedFailures
) -> None:
    """An exception from callInThread work is logged; the same worker runs the next call."""
    pool = pools(0, 1)
    pool.start()
    names: list[str] = []
    pool.callInThread(raise_boom)
    pool.callInThread(lambda: names.append(threading.current_thread().name))
    worker = pool.threads[0]
    pool.stop()
    assert names == [worker.name]
    [failure] = logged_failures.flush(Boom)
    assert failure.check(Boom)


def test_onresult_errors_are_logged(
    pools: Callable[..., ThreadPool], logged_failures: LoggedFailures
) -> None:
    """An exception from onResult itself is logged and does not end the worker."""
    pool = pools(0, 1)
    pool.start()

    def onResult(ok: bool, result: object) -> None:
        raise Boom(result)

    after = threading.Event()
    pool.callInThreadWithCallback(onResult, int, "5")
    pool.callInThread(after.set)
    assert after.wait(WAIT)
    pool.stop()
    [failure] = logged_failures.flush(Boom)
    assert failure.value.args == (5,)


def test_base_exceptions_are_caught(pools: Callable[..., ThreadPool]) -> None:
    """Even SystemExit from work becomes a failure for onResult, not a dead worker."""
    pool = pools(0, 1)
    pool.start()
    seen: list[object] = []
    pool.callInThreadWithCallback(lambda ok, r: seen.append(r), sys.exit, 3)
    pool.callInThreadWithCallback(lambda ok, r: seen.append(r), int, "4")
    pool.stop()
    assert isinstance(seen[0], Failure) and seen[0].check(SystemExit)
    assert seen[1] == 4


_var: contextvars.ContextVar[str] = contextvars.ContextVar("_var", default="unset")


def test_context_copied_at_call_time(pools: Callable[..., ThreadPool]) -> None:
    """Work sees the caller's context vars as they were at callInThread time."""
    pool = pools(0, 1)
    seen: list[str] = []
    token = _var.set("first")
    try:
        pool.callInThread(lambda: seen.append(_var.get()))
        _var.set("second")
        pool.callInThread(lambda: seen.append(_var.get()))
    finally:
        _var.reset(token)
    pool.start()
    pool.stop()
    assert seen == ["first", "second"]


def test_context_changes_stay_in_their_call(pools: Callable[..., ThreadPool]) -> None:
    """A call's changes to context vars reach neither the caller nor later calls."""
    pool = pools(0, 1)
    pool.start()
    seen: list[str] = []

    def change() -> None:
        seen.append(_var.get())
        _var.set("changed in worker")

    pool.callInThread(change)
    pool.callInThread(change)
    pool.stop()
    assert seen == ["unset", "unset"]
    assert _var.get() == "unset"


def test_callback_runs_in_the_call_context(pools: Callable[..., ThreadPool]) -> None:
    """onResult runs in the same copied context as the call, seeing its changes."""
    pool = pools(0, 1)
    pool.start()
    seen: list[str] = []

    def work() -> None:
        _var.set("set by work")

    pool.callInThreadWithCallback(lambda ok, r: seen.append(_var.get()), work)
    pool.stop()
    assert seen == ["set by work"]


# ---------------------------------------------------------------------------
# Reporting


def test_statistics_repr_and_dumpstats(
    pools: Callable[..., ThreadPool], caplog: pytest.LogCaptureFixture
) -> None:
    """statistics() counts queued, idle and busy; repr and dumpStats show them."""
    pool = pools(1, 2, name="stats")
    pool.start()
    blocker = Blocker()
    pool.callInThread(blocker)
    blocker.wait_started(1)
    stats = pool.statistics()
    assert stats == ThreadPoolStatistics(queued=0, idle=0, busy=1)
    assert stats.workers == 1
    assert repr(pool) == "<ThreadPool 'stats' min=1 max=2 busy=1 idle=0 queued=0>"
    with caplog.at_level(logging.INFO, logger="torsion.threadpool"):
        pool.dumpStats()
    assert "0 queued, 0 idle, 1 busy" in caplog.text
    blocker.gate.set()
