"""Timers on every backend: order, cancel, reset and delay, errors, scale, the clock."""

from __future__ import annotations

import gc
import itertools
import time
from typing import Any

import pytest
from reactor_support import run_for, run_until, sleep

from torsion.defer import Deferred
from torsion.error import AlreadyCalled, AlreadyCancelled


def test_calls_run_in_time_order(reactor: Any) -> None:
    """Calls run in the order of their due times, whatever the order they were scheduled in."""
    ran: list[float] = []
    for delay in (0.03, 0.01, 0.02, 0.0):
        reactor.callLater(delay, ran.append, delay)
    run_for(reactor, 0.1)
    assert ran == [0.0, 0.01, 0.02, 0.03]


def test_equal_times_run_in_scheduling_order(reactor: Any) -> None:
    """Calls due at exactly the same time run in the order they were scheduled."""
    real = reactor.seconds
    frozen = real()
    reactor.seconds = lambda: frozen
    ran: list[int] = []
    try:
        for i in range(200):
            reactor.callLater(0.01, ran.append, i)
    finally:
        reactor.seconds = real
    run_for(reactor, 0.05)
    assert ran == list(range(200))


def test_zero_delay_calls_run_on_the_next_iteration(reactor: Any) -> None:
    """``callLater(0, f)`` runs f soon, in order, and a call scheduled from a timer waits a turn."""
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        reactor.callLater(0, ran.append, "scheduled by first")

    reactor.callLater(0, first)
    reactor.callLater(0, ran.append, "second")
    run_for(reactor, 0.05)
    assert ran == ["first", "second", "scheduled by first"]


def test_call_never_runs_early(reactor: Any) -> None:
    """A call runs no earlier than its due time, on the reactor's clock."""
    early: list[float] = []

    def check(call: list[Any]) -> None:
        early.append(call[0].getTime() - reactor.seconds())

    for delay in (0.001, 0.0015, 0.02, 0.05):
        holder: list[Any] = []
        holder.append(reactor.callLater(delay, check, holder))
    run_for(reactor, 0.1)
    assert len(early) == 4
    assert max(early) <= 0, f"a call ran {max(early)} s before its time"


def test_negative_delay_is_refused(reactor: Any) -> None:
    """``callLater`` with a negative delay raises ValueError."""
    with pytest.raises(ValueError, match="delay"):
        reactor.callLater(-1, lambda: None)


def test_arguments_are_passed(reactor: Any) -> None:
    """Positional and keyword arguments reach the callable."""
    seen: list[object] = []
    reactor.callLater(0, lambda *a, **k: seen.append((a, k)), 1, 2, x=3)
    run_for(reactor, 0.02)
    assert seen == [((1, 2), {"x": 3})]


def test_cancelled_call_never_runs(reactor: Any) -> None:
    """A cancelled call does not run, is inactive, and cannot be cancelled or reset again."""
    ran: list[int] = []
    call = reactor.callLater(0.01, ran.append, 1)
    kept = reactor.callLater(0.01, ran.append, 2)
    call.cancel()
    assert not call.active()
    with pytest.raises(AlreadyCancelled):
        call.cancel()
    with pytest.raises(AlreadyCancelled):
        call.reset(1)
    run_for(reactor, 0.05)
    assert ran == [2]
    assert not kept.active()
    with pytest.raises(AlreadyCalled):
        kept.cancel()


def test_cancel_from_an_earlier_call_in_the_same_iteration(reactor: Any) -> None:
    """A call cancelled by another call due at the same moment does not run."""
    ran: list[str] = []
    real = reactor.seconds
    frozen = real()
    reactor.seconds = lambda: frozen
    try:
        reactor.callLater(0.01, lambda: (ran.append("first"), victim.cancel()))
        victim = reactor.callLater(0.01, ran.append, "victim")
    finally:
        reactor.seconds = real
    run_for(reactor, 0.05)
    assert ran == ["first"]


def test_reset_later_and_earlier(reactor: Any) -> None:
    """``reset`` moves a call later or earlier; it runs once, at the new time."""
    ran: list[tuple[str, float]] = []
    start = reactor.seconds()
    later = reactor.callLater(0.01, lambda: ran.append(("later", reactor.seconds() - start)))
    earlier = reactor.callLater(5, lambda: ran.append(("earlier", reactor.seconds() - start)))
    later.reset(0.08)
    earlier.reset(0.02)
    assert later.getTime() == pytest.approx(start + 0.08, abs=0.01)
    run_for(reactor, 0.15)
    assert [name for name, _ in ran] == ["earlier", "later"]
    assert ran[0][1] >= 0.02 - 1e-9  # float rounding of (start + d) - start
    assert ran[1][1] >= 0.08 - 1e-9


def test_delay_moves_a_call(reactor: Any) -> None:
    """``delay(+s)`` postpones a call and ``delay(-s)`` brings it forward."""
    ran: list[str] = []
    a = reactor.callLater(0.01, ran.append, "a")
    b = reactor.callLater(0.06, ran.append, "b")
    a.delay(0.08)
    b.delay(-0.05)
    run_for(reactor, 0.15)
    assert ran == ["b", "a"]


def test_reset_earlier_many_times_runs_once(reactor: Any) -> None:
    """A call moved earlier repeatedly (a stale heap entry each time) runs exactly once."""
    ran: list[int] = []
    call = reactor.callLater(10, ran.append, 1)
    for delay in (5, 2, 1, 0.5, 0.01):
        call.reset(delay)
    run_for(reactor, 0.05)
    assert ran == [1]
    assert reactor.getDelayedCalls() == []


def test_get_delayed_calls(reactor: Any) -> None:
    """``getDelayedCalls`` lists pending calls once each; not cancelled or finished ones."""
    a = reactor.callLater(10, lambda: None)
    b = reactor.callLater(20, lambda: None)
    c = reactor.callLater(0, lambda: None)
    b.reset(1)  # moved earlier: a second heap entry, still one call
    b.cancel()
    a.reset(30)
    assert {id(x) for x in reactor.getDelayedCalls()} == {id(a), id(c)}
    assert len(reactor.getDelayedCalls()) == 2
    run_for(reactor, 0.02)
    assert reactor.getDelayedCalls() == [a]
    a.cancel()
    assert reactor.getDelayedCalls() == []


def test_exception_in_a_call_is_logged_and_the_loop_goes_on(
    reactor: Any, logged_failures: Any
) -> None:
    """An exception raised by a timed call is logged; later calls still run."""
    ran: list[str] = []

    def boom() -> None:
        raise ZeroDivisionError("boom")

    reactor.callLater(0, boom)
    reactor.callLater(0.01, ran.append, "after")
    run_for(reactor, 0.05)
    assert ran == ["after"]
    [failure] = logged_failures.flush(ZeroDivisionError)
    assert "boom" in str(failure.value)


def test_a_million_cancelled_calls_keep_the_loop_fast(reactor: Any) -> None:
    """Cancelling 1,000,000 timers costs O(n) once: the heap is compacted, the loop stays fast."""
    # The cyclic collector would spend seconds walking a million new objects:
    # that cost belongs to the allocation, not to the reactor under test.
    gc.disable()
    try:
        calls = [reactor.callLater(1e6, int) for _ in range(1_000_000)]
        for call in calls:
            call.cancel()
        del calls
    finally:
        gc.enable()
    done: Deferred[None] = Deferred()
    remaining = [1000]

    def tick() -> None:
        remaining[0] -= 1
        if remaining[0]:
            reactor.callLater(0, tick)
        else:
            done.callback(None)

    reactor.callLater(0, tick)
    start = time.perf_counter()
    run_until(reactor, done, timeout=30)
    elapsed = time.perf_counter() - start
    assert len(reactor._heap) < 100, "the cancelled entries were not purged"
    # 1,000 iterations cost a few milliseconds once compacted; without the
    # purge each iteration would pop through cancelled entries (or worse).
    assert elapsed < 3.0, f"1,000 iterations took {elapsed:.2f} s"
    assert reactor.getDelayedCalls() == []


def test_many_live_timers_with_cancellations_stay_correct(reactor: Any) -> None:
    """Interleaved scheduling and cancelling across purges runs exactly the live calls, in order."""
    ran: list[int] = []
    live: list[int] = []
    real = reactor.seconds
    frozen = real()
    reactor.seconds = lambda: frozen
    try:
        for i in range(5000):
            call = reactor.callLater(0.001 * (i % 50), ran.append, i)
            if i % 3:
                call.cancel()
            else:
                live.append(i)
    finally:
        reactor.seconds = real
    run_for(reactor, 0.1)
    assert sorted(ran) == live
    expected = sorted(live, key=lambda i: (i % 50, i))
    assert ran == expected


def test_seconds_is_monotonic(reactor: Any) -> None:
    """``seconds()`` never goes backwards, and timers use it (not the wall clock)."""
    samples = [reactor.seconds() for _ in range(20000)]
    assert all(b >= a for a, b in itertools.pairwise(samples))
    before = reactor.seconds()
    call = reactor.callLater(2.5, lambda: None)
    assert before + 2.5 <= call.getTime() <= reactor.seconds() + 2.5
    assert abs(reactor.seconds() - time.monotonic()) < 1
    call.cancel()


def test_timers_during_a_long_sleep(reactor: Any) -> None:
    """A reactor with nothing to do sleeps until its next timer, then runs it on time."""
    start = time.monotonic()
    run_until(reactor, sleep(reactor, 0.1))
    elapsed = time.monotonic() - start
    assert 0.1 <= elapsed < 1.0
