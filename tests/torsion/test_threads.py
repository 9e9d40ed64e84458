"""Tests for torsion.threads: results crossing threads, and calls back into the reactor."""

from __future__ import annotations

import contextvars
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from torsion import threads
from torsion.defer import CancelledError, Deferred
from torsion.failure import Failure
from torsion.testing.plugin import LoggedFailures
from torsion.threadpool import ThreadPool

WAIT = 10.0

# ---------------------------------------------------------------------------
# Helpers


class FakeReactor:
    """Just enough reactor: ``callFromThread`` queues, and the test pumps the queue.

    The thread that made it is its reactor thread.
    """

    def __init__(self, pool: ThreadPool | None = None) -> None:
        self.calls: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
        self.calls = queue.SimpleQueue()
        self.thread = threading.current_thread()
        self.pool = pool

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        self.calls.put((f, args, kw))

    def isInIOThread(self) -> bool:
        return threading.current_thread() is self.thread

    def getThreadPool(self) -> ThreadPool:
        assert self.pool is not None
        return self.pool

    def callInThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        self.getThreadPool().callInThread(f, *args, **kw)

    def pump_once(self) -> None:
        """Run the next thread call, waiting for one to arrive."""
        f, args, kw = self.calls.get(timeout=WAIT)
        f(*args, **kw)

    def pump_until(self, done: Callable[[], bool]) -> None:
        """Run thread calls as they arrive until ``done()`` holds."""
        while not done():
            try:
                f, args, kw = self.calls.get(timeout=0.01)
            except queue.Empty:
                continue
            f(*args, **kw)


def fired(d: Deferred[Any]) -> Callable[[], bool]:
    """A predicate: has ``d`` fired?"""
    results: list[object] = []

    def record(result: object) -> object:
        results.append(result)
        return result

    d.addBoth(record)
    return lambda: bool(results)


def result_of(d: Deferred[Any]) -> Any:
    """The result ``d`` has fired with (not a failure)."""
    results: list[object] = []
    d.addBoth(results.append)
    assert results, f"{d!r} has not fired"
    assert not isinstance(results[0], Failure), results[0]
    return results[0]


def failure_of(d: Deferred[Any]) -> Failure:
    """The Failure ``d`` has failed with, consumed."""
    results: list[object] = []
    d.addBoth(results.append)
    assert results, f"{d!r} has not fired"
    assert isinstance(results[0], Failure), results[0]
    return results[0]


class Boom(Exception):
    """A recognisable application error."""


def raise_boom() -> None:
    raise Boom("boom")


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    """Every test must leave exactly the threads it found."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before]
    assert not left, f"threads left running: {left}"


@pytest.fixture
def pool() -> Iterator[ThreadPool]:
    """A started pool of up to 2 workers, stopped after the test."""
    pool = ThreadPool(0, 2, name="test")
    pool.start()
    yield pool
    pool.stop()


@pytest.fixture
def reactor(pool: ThreadPool) -> FakeReactor:
    return FakeReactor(pool)


def in_thread(f: Callable[[], object]) -> tuple[threading.Thread, queue.SimpleQueue[object]]:
    """Run ``f`` in a new thread; its result or exception arrives in the queue."""
    box: queue.SimpleQueue[object] = queue.SimpleQueue()

    def run() -> None:
        try:
            box.put(f())
        except BaseException as e:
            box.put(e)

    thread = threading.Thread(target=run, name="test-caller")
    thread.start()
    return thread, box


def finish(reactor: FakeReactor, thread: threading.Thread) -> None:
    """Pump the reactor until ``thread`` is done, then join it."""
    reactor.pump_until(lambda: not thread.is_alive())
    thread.join()


# ---------------------------------------------------------------------------
# deferToThreadPool and deferToThread


def test_result_arrives_through_call_from_thread(reactor: FakeReactor, pool: ThreadPool) -> None:
    """The Deferred fires only when the reactor runs the call the worker queued."""
    ran_in: list[str] = []

    def work(a: int, b: int = 0) -> int:
        ran_in.append(threading.current_thread().name)
        return a + b

    d = threads.deferToThreadPool(reactor, pool, work, 40, b=2)
    assert not fired(d)()
    reactor.pump_once()
    assert result_of(d) == 42
    assert ran_in == ["PoolThread-test-0"]


def test_callbacks_run_in_reactor_thread(reactor: FakeReactor, pool: ThreadPool) -> None:
    """Callbacks on the Deferred run in the reactor thread, not the worker."""
    callback_thread: list[threading.Thread] = []
    d = threads.deferToThreadPool(reactor, pool, int, "7")
    d.addCallback(lambda _: callback_thread.append(threading.current_thread()))
    reactor.pump_once()
    assert callback_thread == [threading.current_thread()]


def test_exception_becomes_failure(reactor: FakeReactor, pool: ThreadPool) -> None:
    """An exception raised in the worker fails the Deferred with a Failure of it."""
    d = threads.deferToThreadPool(reactor, pool, raise_boom)
    reactor.pump_once()
    failure = failure_of(d)
    assert failure.check(Boom)
    assert "raise_boom" in failure.getTraceback()


def test_many_calls_each_get_their_result(reactor: FakeReactor, pool: ThreadPool) -> None:
    """Concurrent calls on several workers each fire their own Deferred."""
    ds = [threads.deferToThreadPool(reactor, pool, pow, i, 2) for i in range(20)]
    for _ in ds:
        reactor.pump_once()
    assert [result_of(d) for d in ds] == [i * i for i in range(20)]


def test_cancel_does_not_stop_the_call(reactor: FakeReactor, pool: ThreadPool) -> None:
    """Cancelling fails the Deferred at once; the call still runs, its result is ignored."""
    gate = threading.Event()
    d = threads.deferToThreadPool(reactor, pool, gate.wait, WAIT)
    d.cancel()
    assert failure_of(d).check(CancelledError)
    gate.set()
    reactor.pump_once()


_var: contextvars.ContextVar[str] = contextvars.ContextVar("_var", default="unset")


def test_context_reaches_the_worker(reactor: FakeReactor, pool: ThreadPool) -> None:
    """The function sees the caller's context vars (a copy)."""
    token = _var.set("caller")
    try:
        d = threads.deferToThreadPool(reactor, pool, _var.get)
    finally:
        _var.reset(token)
    reactor.pump_once()
    assert result_of(d) == "caller"


def test_defer_to_thread_uses_default_reactor_pool(
    reactor: FakeReactor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deferToThread runs in the default reactor's pool and fires through it."""
    monkeypatch.setattr(threads, "defaultReactor", lambda hint: reactor)
    d = threads.deferToThread(lambda: threading.current_thread().name)
    reactor.pump_once()
    assert result_of(d) == "PoolThread-test-0"


def test_defer_to_thread_without_reactor(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no default reactor, deferToThread raises RuntimeError pointing at deferToThreadPool."""
    monkeypatch.setitem(sys.modules, "torsion.reactor", None)
    with pytest.raises(RuntimeError, match="deferToThreadPool"):
        threads.deferToThread(int)


# ---------------------------------------------------------------------------
# callMultipleInThread


def test_call_multiple_runs_in_order_in_one_thread(
    reactor: FakeReactor, pool: ThreadPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The calls run in order, with their args and kwargs, all in the same worker."""
    monkeypatch.setattr(threads, "defaultReactor", lambda hint: reactor)
    seen: list[tuple[str, object]] = []

    def record(value: object, *, tag: str = "") -> None:
        seen.append((threading.current_thread().name, (value, tag)))

    calls = [(record, (1,), {}), (record, (2,), {"tag": "x"}), (record, [3], {})]
    threads.callMultipleInThread(calls)
    calls.clear()  # read when called
    pool.stop()
    assert [v for _, v in seen] == [(1, ""), (2, "x"), (3, "")]
    assert len({name for name, _ in seen}) == 1


def test_call_multiple_stops_at_first_error(
    reactor: FakeReactor,
    pool: ThreadPool,
    monkeypatch: pytest.MonkeyPatch,
    logged_failures: LoggedFailures,
) -> None:
    """A call that raises is logged and the calls after it are skipped."""
    monkeypatch.setattr(threads, "defaultReactor", lambda hint: reactor)
    seen: list[int] = []
    threads.callMultipleInThread(
        [(seen.append, (1,), {}), (raise_boom, (), {}), (seen.append, (2,), {})]
    )
    pool.stop()
    assert seen == [1]
    assert len(logged_failures.flush(Boom)) == 1


# ---------------------------------------------------------------------------
# blockingCallFromThread


def test_blocking_call_returns_value(reactor: FakeReactor) -> None:
    """The function runs in the reactor thread; its value is returned to the caller."""
    ran_in: list[threading.Thread] = []

    def f(a: int, *, b: int) -> int:
        ran_in.append(threading.current_thread())
        return a * b

    thread, box = in_thread(lambda: threads.blockingCallFromThread(reactor, f, 6, b=7))
    finish(reactor, thread)
    assert box.get_nowait() == 42
    assert ran_in == [threading.current_thread()]


def test_blocking_call_waits_for_deferred(reactor: FakeReactor) -> None:
    """A returned Deferred is waited for; its result is returned to the caller."""
    pending: Deferred[str] = Deferred()
    thread, box = in_thread(lambda: threads.blockingCallFromThread(reactor, lambda: pending))
    reactor.pump_once()
    assert thread.is_alive()
    pending.callback("later")
    finish(reactor, thread)
    assert box.get_nowait() == "later"


def test_blocking_call_runs_coroutine(reactor: FakeReactor) -> None:
    """A coroutine function is run to completion in the reactor thread."""
    pending: Deferred[int] = Deferred()

    async def f(x: int) -> int:
        return x + await pending

    thread, box = in_thread(lambda: threads.blockingCallFromThread(reactor, f, 1))
    reactor.pump_once()
    pending.callback(41)
    finish(reactor, thread)
    assert box.get_nowait() == 42


def test_blocking_call_raises_exception(reactor: FakeReactor) -> None:
    """An exception raised by the function is raised again in the calling thread."""
    thread, box = in_thread(lambda: threads.blockingCallFromThread(reactor, raise_boom))
    finish(reactor, thread)
    error = box.get_nowait()
    assert isinstance(error, Boom)


def test_blocking_call_raises_deferred_failure(reactor: FakeReactor) -> None:
    """A Deferred that fails makes the call raise its exception, marked as handled."""
    pending: Deferred[None] = Deferred()
    thread, box = in_thread(lambda: threads.blockingCallFromThread(reactor, lambda: pending))
    reactor.pump_once()
    pending.errback(Boom("late"))
    finish(reactor, thread)
    error = box.get_nowait()
    assert isinstance(error, Boom) and error.args == ("late",)


def test_blocking_call_from_pool_worker(reactor: FakeReactor, pool: ThreadPool) -> None:
    """A pool worker can call into the reactor and use the answer in its own result."""

    def work() -> str:
        return threads.blockingCallFromThread(reactor, str.upper, "abc") + "!"

    d = threads.deferToThreadPool(reactor, pool, work)
    reactor.pump_until(fired(d))
    assert result_of(d) == "ABC!"


def test_blocking_call_in_reactor_thread_refused(reactor: FakeReactor) -> None:
    """Called in the reactor thread, it raises RuntimeError instead of deadlocking."""
    with pytest.raises(RuntimeError, match="reactor thread"):
        threads.blockingCallFromThread(reactor, int)
    assert reactor.calls.empty()


# ---------------------------------------------------------------------------
# With the real reactor, when there is one


def test_with_real_reactor() -> None:
    """On a real reactor: a worker's result fires the Deferred, and calls back in work."""
    reactormodule = pytest.importorskip("torsion.reactor")
    reactor = reactormodule.new_reactor()
    outcome: list[object] = []

    def work() -> str:
        inside = threads.blockingCallFromThread(reactor, reactor.isInIOThread)
        return f"worker saw isInIOThread()={inside}"

    def go() -> None:
        d = threads.deferToThreadPool(reactor, reactor.getThreadPool(), work)
        d.addBoth(outcome.append)
        d.addBoth(lambda _: reactor.stop())

    try:
        reactor.callWhenRunning(go)
        reactor.callLater(WAIT, reactor.stop)
        reactor.run(installSignalHandlers=False)
    finally:
        close = getattr(reactor, "close", None)
        if close is not None:
            close()
    assert outcome == ["worker saw isInIOThread()=True"]
