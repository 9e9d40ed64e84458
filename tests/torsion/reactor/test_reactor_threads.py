"""Threads and the reactor on every backend: callFromThread, the pool, resolving names."""

from __future__ import annotations

import os
import select
import threading
import time
from typing import Any

import pytest
from reactor_support import run_until, wait_for

from torsion.defer import Deferred
from torsion.error import DNSLookupError

threads = pytest.importorskip("torsion.threads", reason="torsion.threads is not written yet")
pytest.importorskip("torsion.threadpool", reason="torsion.threadpool is not written yet")


def test_call_from_thread_wakes_a_sleeping_reactor(reactor: Any) -> None:
    """A call from another thread wakes a reactor waiting with no timer, within milliseconds."""
    latencies: list[float] = []
    for _ in range(5):
        arrived: Deferred[float] = Deferred()

        def poke(d: Deferred[float] = arrived) -> None:
            time.sleep(0.02)  # let the reactor go to sleep
            sent = time.monotonic()
            reactor.callFromThread(lambda: d.callback(time.monotonic() - sent))

        worker = threading.Thread(target=poke)
        worker.start()
        # Nothing else is scheduled but run_until's own 10 s guard.
        latencies.append(run_until(reactor, arrived))
        worker.join()
    assert max(latencies) < 0.5, f"wake-up latencies: {latencies}"


def test_call_from_thread_preserves_order(reactor: Any) -> None:
    """Calls from several threads all run, each thread's in the order it made them."""
    per_thread = 2000
    received: dict[int, list[int]] = {n: [] for n in range(4)}

    def producer(n: int) -> None:
        for i in range(per_thread):
            reactor.callFromThread(received[n].append, i)
            if i % 200 == 0:
                time.sleep(0.001)

    workers = [threading.Thread(target=producer, args=(n,)) for n in received]
    for worker in workers:
        worker.start()
    wait_for(reactor, lambda: all(len(v) == per_thread for v in received.values()))
    for worker in workers:
        worker.join()
    for values in received.values():
        assert values == list(range(per_thread))


def test_call_from_thread_before_run(reactor: Any) -> None:
    """Calls made before ``run()`` wait for it, then run in order, with their arguments."""
    seen: list[object] = []
    reactor.callFromThread(seen.append, 1)
    reactor.callFromThread(lambda **kw: seen.append(kw), key="value")
    assert seen == []
    wait_for(reactor, lambda: len(seen) == 2)
    assert seen == [1, {"key": "value"}]


def test_call_from_thread_refuses_non_callables(reactor: Any) -> None:
    """``callFromThread`` with something not callable raises TypeError at once."""
    with pytest.raises(TypeError):
        reactor.callFromThread(42)


def test_error_in_thread_call_is_logged(reactor: Any, logged_failures: Any) -> None:
    """An exception from a call made from a thread is logged; the reactor goes on."""
    seen: list[int] = []

    def boom() -> None:
        raise ZeroDivisionError("from a thread call")

    reactor.callFromThread(boom)
    reactor.callFromThread(seen.append, 1)
    wait_for(reactor, lambda: seen == [1])
    assert len(logged_failures.flush(ZeroDivisionError)) == 1


def test_stop_from_another_thread(reactor: Any) -> None:
    """``callFromThread(reactor.stop)`` from a thread stops a sleeping reactor promptly."""
    stopped_at: list[float] = []

    def stopper() -> None:
        time.sleep(0.05)
        stopped_at.append(time.monotonic())
        reactor.callFromThread(reactor.stop)

    worker = threading.Thread(target=stopper)
    reactor.callWhenRunning(worker.start)
    guard = reactor.callLater(10, reactor.crash)
    reactor.run(installSignalHandlers=False)
    worker.join()
    assert guard.cancelled or not guard.called
    assert time.monotonic() - stopped_at[0] < 1


def test_waker_keeps_a_wake_up_that_races_its_drain(reactor: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread's wake-up landing while the waker drains is not lost, nor are later ones."""
    waker = getattr(reactor, "_waker", None)
    if waker is None or not hasattr(waker, "doRead"):
        pytest.skip("this backend wakes up without a waker descriptor")
    real_read = os.read
    waker.wakeUp()

    def racing_read(fd: int, n: int) -> bytes:
        waker.wakeUp()  # another thread, between the flag reset and the read
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", racing_read)
    waker.doRead()
    monkeypatch.undo()
    waker.wakeUp()
    readable, _, _ = select.select([waker.fileno()], [], [], 0)
    assert readable, "the waker stayed silent: the loop would sleep through thread calls"
    waker.doRead()


def test_is_in_io_thread(reactor: Any) -> None:
    """``isInIOThread`` is True in the reactor's thread and False in a worker."""
    d: Deferred[tuple[bool, bool]] = Deferred()

    def start() -> None:
        here = reactor.isInIOThread()
        worker = threading.Thread(
            target=lambda: reactor.callFromThread(d.callback, (here, reactor.isInIOThread()))
        )
        worker.start()
        worker.join()

    reactor.callWhenRunning(start)
    assert run_until(reactor, d) == (True, False)


def test_call_in_thread_runs_in_a_worker(reactor: Any) -> None:
    """``callInThread`` runs the call in a pool thread, not the reactor's."""
    d: Deferred[int] = Deferred()
    main = threading.get_ident()
    reactor.callInThread(lambda: reactor.callFromThread(d.callback, threading.get_ident()))
    assert run_until(reactor, d) != main


def test_defer_to_thread_pool_results_and_errors(reactor: Any) -> None:
    """``deferToThreadPool`` on the reactor's pool delivers results and errors in the reactor."""
    pool = reactor.getThreadPool()
    ok = threads.deferToThreadPool(reactor, pool, sum, [1, 2, 3])
    assert run_until(reactor, ok) == 6

    def fails() -> None:
        raise ValueError("in a worker")

    bad = threads.deferToThreadPool(reactor, pool, fails)
    with pytest.raises(ValueError, match="in a worker"):
        run_until(reactor, bad)


def test_blocking_call_from_thread(reactor: Any) -> None:
    """A worker can wait for a result computed in the reactor thread."""
    d: Deferred[tuple[int, bool]] = Deferred()

    def worker() -> None:
        value = threads.blockingCallFromThread(reactor, lambda: (41 + 1, reactor.isInIOThread()))
        reactor.callFromThread(d.callback, value)

    reactor.callInThread(worker)
    assert run_until(reactor, d) == (42, True)


def test_suggest_thread_pool_size_limits_concurrency(reactor: Any) -> None:
    """``suggestThreadPoolSize(n)`` caps how many calls run at once."""
    reactor.suggestThreadPoolSize(2)
    lock = threading.Lock()
    running = [0]
    peak = [0]

    def work() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    pool = reactor.getThreadPool()
    ds = [threads.deferToThreadPool(reactor, pool, work) for _ in range(8)]
    from torsion.defer import gatherResults  # noqa: PLC0415

    run_until(reactor, gatherResults(ds))
    assert peak[0] == 2


def test_pool_stops_with_the_reactor(reactor: Any) -> None:
    """Stopping the reactor stops its pool: no worker thread is left afterwards."""
    before = set(threading.enumerate())
    d: Deferred[None] = Deferred()
    reactor.callInThread(lambda: reactor.callFromThread(d.callback, None))
    run_until(reactor, d)
    assert set(threading.enumerate()) - before, "the pool should have a worker by now"
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - before


def test_resolve_names_and_literals(reactor: Any) -> None:
    """``resolve`` returns IP literals as they are and looks names up in the pool."""
    assert run_until(reactor, reactor.resolve("127.0.0.1")) == "127.0.0.1"
    assert run_until(reactor, reactor.resolve("::1")) == "::1"
    assert run_until(reactor, reactor.resolve("localhost")) in ("127.0.0.1", "::1")


def test_resolve_failure_is_dns_lookup_error(reactor: Any) -> None:
    """A name that does not exist fails with DNSLookupError naming it."""
    with pytest.raises(DNSLookupError, match=r"nonexistent\.invalid"):
        run_until(reactor, reactor.resolve("nonexistent.invalid"), timeout=30)


def test_is_in_io_thread_before_run_is_false_for_other_threads(reactor: Any) -> None:
    """Before run(), the creating thread counts as the reactor's thread and a worker
    thread does not (so blockingCallFromThread from a worker is allowed)."""
    seen: list[bool] = []
    worker = threading.Thread(target=lambda: seen.append(reactor.isInIOThread()))
    worker.start()
    worker.join()
    assert reactor.isInIOThread() is True
    assert seen == [False]
