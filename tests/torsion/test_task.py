"""Tests for torsion.task: Clock, LoopingCall, deferLater, Cooperator and react."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from torsion import error, task
from torsion.defer import CancelledError, Deferred, fail, succeed
from torsion.failure import Failure
from torsion.interfaces import IDelayedCall, IReactorTime
from torsion.testing.plugin import LoggedFailures

# ---------------------------------------------------------------------------
# Helpers


def resultOf(d: Deferred[Any]) -> Any:
    """Return the result a Deferred has already fired with (not a failure)."""
    results: list[object] = []
    d.addBoth(results.append)
    assert results, f"{d!r} has not fired"
    assert not isinstance(results[0], Failure), results[0]
    return results[0]


def failureOf(d: Deferred[Any], *expected: type[BaseException]) -> Failure:
    """Return (and consume) the Failure a Deferred has already failed with."""
    results: list[object] = []
    d.addBoth(results.append)
    assert results, f"{d!r} has not fired"
    failure = results[0]
    assert isinstance(failure, Failure), f"expected a failure, got {failure!r}"
    if expected:
        assert failure.check(*expected), failure
    return failure


def assertNoResult(d: Deferred[Any]) -> None:
    """Assert a Deferred has not fired, leaving its future result untouched."""
    results: list[object] = []

    def record(result: object) -> object:
        results.append(result)
        return result

    d.addBoth(record)
    assert not results, f"{d!r} fired with {results[0]!r}"


class Boom(Exception):
    """A recognisable application error."""


# ---------------------------------------------------------------------------
# Clock


class TestClock:
    def test_startsAtZero(self) -> None:
        """A new Clock reads 0.0 and advance() moves it by the given amount."""
        clock = task.Clock()
        assert clock.seconds() == 0.0
        clock.advance(1.5)
        clock.advance(2)
        assert clock.seconds() == 3.5
        assert clock.rightNow == 3.5

    def test_providesIReactorTime(self) -> None:
        """Clock satisfies IReactorTime and its calls satisfy IDelayedCall."""
        clock = task.Clock()
        assert isinstance(clock, IReactorTime)
        assert isinstance(clock.callLater(1, print), IDelayedCall)

    def test_callLaterRunsWhenDue(self) -> None:
        """A call runs with its arguments once time reaches its due time, not before."""
        clock = task.Clock()
        seen: list[tuple[object, ...]] = []
        call = clock.callLater(2, lambda *a, **k: seen.append((a, k)), 1, x=2)
        assert call.getTime() == 2
        clock.advance(1.999)
        assert seen == []
        assert call.active()
        clock.advance(0.001)
        assert seen == [((1,), {"x": 2})]
        assert call.called
        assert not call.active()
        assert clock.getDelayedCalls() == []

    def test_zeroDelayNeedsAdvance(self) -> None:
        """callLater(0, f) never runs f synchronously; advance(0) runs it."""
        clock = task.Clock()
        seen: list[int] = []
        clock.callLater(0, seen.append, 1)
        assert seen == []
        clock.advance(0)
        assert seen == [1]

    def test_sameTimeRunsInSchedulingOrder(self) -> None:
        """Calls due at the same time run in the order they were scheduled."""
        clock = task.Clock()
        seen: list[int] = []
        for i in range(20):
            clock.callLater(1, seen.append, i)
        clock.callLater(0.5, seen.append, -1)
        clock.advance(1)
        assert seen == [-1, *range(20)]

    def test_ordersByDueTime(self) -> None:
        """Calls scheduled out of order run in due-time order within one advance."""
        clock = task.Clock()
        seen: list[str] = []
        clock.callLater(3, seen.append, "c")
        clock.callLater(1, seen.append, "a")
        clock.callLater(2, seen.append, "b")
        clock.advance(10)
        assert seen == ["a", "b", "c"]

    def test_callAddedDuringAdvanceRunsIfDue(self) -> None:
        """A call scheduled during advance for a time <= now runs in that same advance."""
        clock = task.Clock()
        seen: list[str] = []

        def first() -> None:
            seen.append("first")
            clock.callLater(0, seen.append, "zero")
            clock.callLater(1, seen.append, "later")

        clock.callLater(1, first)
        clock.advance(1)
        assert seen == ["first", "zero"]
        clock.advance(1)
        assert seen == ["first", "zero", "later"]

    def test_advanceSeesFinalTime(self) -> None:
        """All calls made by one advance see the clock already at its new time."""
        clock = task.Clock()
        seen: list[float] = []
        clock.callLater(1, lambda: seen.append(clock.seconds()))
        clock.callLater(2, lambda: seen.append(clock.seconds()))
        clock.advance(5)
        assert seen == [5, 5]

    def test_cancelledCallDoesNotRun(self) -> None:
        """A cancelled call is dropped from getDelayedCalls and never runs."""
        clock = task.Clock()
        seen: list[int] = []
        call = clock.callLater(1, seen.append, 1)
        keep = clock.callLater(1, seen.append, 2)
        call.cancel()
        assert clock.getDelayedCalls() == [keep]
        clock.advance(1)
        assert seen == [2]

    def test_cancelInsideOwnCall(self) -> None:
        """A call is marked called before it runs: cancelling itself raises AlreadyCalled."""
        clock = task.Clock()
        errors: list[BaseException] = []
        calls: list[IDelayedCall] = []

        def selfCancel() -> None:
            try:
                calls[0].cancel()
            except error.AlreadyCalled as e:
                errors.append(e)

        calls.append(clock.callLater(1, selfCancel))
        clock.advance(1)
        assert len(errors) == 1

    def test_delayMovesCallLater(self) -> None:
        """delay() postpones a call by the given amount."""
        clock = task.Clock()
        seen: list[float] = []
        call = clock.callLater(1, lambda: seen.append(clock.seconds()))
        call.delay(2)
        clock.pump([1, 1])
        assert seen == []
        clock.advance(1)
        assert seen == [3]

    def test_resetSooner(self) -> None:
        """reset() can bring a call forward; it is measured from the current time."""
        clock = task.Clock()
        seen: list[float] = []
        call = clock.callLater(10, lambda: seen.append(clock.seconds()))
        clock.advance(1)
        call.reset(2)
        clock.pump([1, 1])
        assert seen == [3]

    def test_resetThenScheduleKeepsOrder(self) -> None:
        """A call reset to later than a call scheduled afterwards runs after it."""
        clock = task.Clock()
        seen: list[tuple[str, float]] = []
        a = clock.callLater(1.0, lambda: seen.append(("a", clock.seconds())))
        a.reset(3.0)
        clock.callLater(2.0, lambda: seen.append(("b", clock.seconds())))
        clock.pump([1, 1, 1])
        assert seen == [("b", 2.0), ("a", 3.0)]

    def test_resetPastLaterCallKeepsOrder(self) -> None:
        """Resetting a call past another pending call makes it run after that call."""
        clock = task.Clock()
        seen: list[tuple[str, float]] = []
        a = clock.callLater(1.0, lambda: seen.append(("a", clock.seconds())))
        clock.callLater(2.0, lambda: seen.append(("b", clock.seconds())))
        a.reset(3.0)
        clock.pump([1, 1, 1])
        assert seen == [("b", 2.0), ("a", 3.0)]

    def test_resetInsideCallKeepsOrder(self) -> None:
        """A reset made by a running call is honoured by the same and later advances."""
        clock = task.Clock()
        seen: list[tuple[str, float]] = []
        b = clock.callLater(2.0, lambda: seen.append(("b", clock.seconds())))
        clock.callLater(1.0, lambda: b.reset(3.0))
        clock.callLater(3.0, lambda: seen.append(("c", clock.seconds())))
        clock.pump([0.5] * 10)
        assert seen == [("c", 3.0), ("b", 4.0)]

    def test_getDelayedCallsSorted(self) -> None:
        """getDelayedCalls lists pending calls (sorted by due time), none once run."""
        clock = task.Clock()
        assert list(clock.getDelayedCalls()) == []
        late = clock.callLater(2, print)
        early = clock.callLater(1, print)
        assert list(clock.getDelayedCalls()) == [early, late]
        assert clock.calls == [early, late]
        clock.advance(1)
        assert list(clock.getDelayedCalls()) == [late]

    def test_pump(self) -> None:
        """pump() advances once per amount, running due calls after each step."""
        clock = task.Clock()
        seen: list[float] = []
        for when in (1, 2, 3):
            clock.callLater(when, lambda: seen.append(clock.seconds()))
        clock.pump([1.5, 0.5, 2])
        assert seen == [1.5, 2.0, 4.0]
        assert clock.seconds() == 4.0

    def test_errorPropagatesAndLeavesRest(self) -> None:
        """An exception from a call escapes advance(); later calls stay pending."""
        clock = task.Clock()
        seen: list[int] = []

        def explode() -> None:
            raise Boom()

        clock.callLater(1, explode)
        clock.callLater(1, seen.append, 1)
        with pytest.raises(Boom):
            clock.advance(1)
        assert seen == []
        assert len(clock.getDelayedCalls()) == 1
        clock.advance(0)
        assert seen == [1]


# ---------------------------------------------------------------------------
# LoopingCall


def makeLoop(
    f: Callable[..., object], *a: object, **kw: object
) -> tuple[task.LoopingCall, task.Clock]:
    loop = task.LoopingCall(f, *a, **kw)
    clock = task.Clock()
    loop.clock = clock
    return loop, clock


class TestLoopingCall:
    def test_basicCounts(self) -> None:
        """With now=True the function runs at once and then at each interval, with its args."""
        seen: list[tuple[object, ...]] = []
        loop, clock = makeLoop(lambda *a, **k: seen.append((a, k)), "a", "b", d="d")
        d = loop.start(0.1)
        assert loop.running
        assert len(seen) == 1
        clock.pump([0.05, 0.1, 0.1])
        assert seen == [(("a", "b"), {"d": "d"})] * 3
        assert loop.interval == 0.1
        assert loop.starttime == 0.0
        assertNoResult(d)
        loop.stop()
        assert not loop.running
        assert resultOf(d) is loop
        assert clock.calls == []

    def test_startNotNow(self) -> None:
        """With now=False the first call waits one interval."""
        seen: list[float] = []
        loop, clock = makeLoop(lambda: seen.append(clock.seconds()))
        loop.start(1, now=False)
        assert seen == []
        clock.pump([0.5, 0.5, 1])
        assert seen == [1.0, 2.0]
        loop.stop()

    def test_callsAlignedToStart(self) -> None:
        """A late run does not shift the schedule: calls stay on start + n * interval."""
        seen: list[float] = []
        loop, clock = makeLoop(lambda: seen.append(clock.seconds()))
        loop.start(1)
        clock.advance(1.25)
        clock.advance(0.75)
        assert seen == [0.0, 1.25, 2.0]
        loop.stop()

    def test_negativeInterval(self) -> None:
        """start() with a negative interval raises ValueError and leaves the loop stopped."""
        loop, _ = makeLoop(lambda: None)
        with pytest.raises(ValueError):
            loop.start(-1)
        assert not loop.running

    def test_startTwice(self) -> None:
        """start() on a running loop is refused."""
        loop, _ = makeLoop(lambda: None)
        loop.start(1)
        with pytest.raises(AssertionError):
            loop.start(1)
        loop.stop()

    def test_stopWhenNotRunning(self) -> None:
        """stop() and reset() on a loop that is not running are refused."""
        loop, _ = makeLoop(lambda: None)
        with pytest.raises(AssertionError):
            loop.stop()
        with pytest.raises(AssertionError):
            loop.reset()

    @pytest.mark.parametrize("interval", [0, 10])
    def test_stopBeforeFirstCall(self, interval: float) -> None:
        """Stopping before a delayed first call cancels it; the Deferred fires with the loop."""
        seen: list[None] = []
        loop, clock = makeLoop(seen.append, None)
        d = loop.start(interval, now=False)
        loop.stop()
        assert resultOf(d) is loop
        assert clock.calls == []
        clock.advance(20)
        assert seen == []

    def test_restartAfterStop(self) -> None:
        """A stopped loop can be started again, with a new Deferred and start time."""
        seen: list[float] = []
        loop, clock = makeLoop(lambda: seen.append(clock.seconds()))
        first = loop.start(1)
        loop.stop()
        clock.advance(0.5)
        second = loop.start(1)
        assert first is not second
        assert loop.starttime == 0.5
        clock.advance(1)
        assert seen == [0.0, 0.5, 1.5]
        loop.stop()
        assert resultOf(second) is loop

    def test_reset(self) -> None:
        """reset() drops the pending call and restarts the interval from now."""
        seen: list[float] = []
        loop, clock = makeLoop(lambda: seen.append(clock.seconds()))
        loop.start(2, now=False)
        clock.advance(1)
        loop.reset()
        assert loop.starttime == 1
        clock.advance(1)
        assert seen == []
        clock.advance(1)
        assert seen == [3.0]
        loop.stop()

    def test_reactorTimeSkips(self) -> None:
        """When the clock jumps past several intervals, missed calls are skipped, not replayed."""
        seen: list[float] = []
        loop, clock = makeLoop(lambda: seen.append(clock.seconds()))
        loop.start(0.5)
        clock.advance(2)
        assert seen == [0, 2]
        clock.advance(1)
        assert seen == [0, 2, 3]
        clock.advance(0)
        assert seen == [0, 2, 3]
        loop.stop()

    def test_callbackTimeSkips(self) -> None:
        """A call that runs past the next slot makes the loop wait for the next future slot."""
        seen: list[float] = []
        duration = [2.0]

        def slow() -> None:
            seen.append(clock.seconds())
            clock.advance(duration[0])

        loop, clock = makeLoop(slow)
        loop.start(0.5)
        assert seen == [0]
        assert clock.seconds() == 2
        clock.advance(0)
        assert seen == [0]
        duration[0] = 1
        clock.advance(0.5)
        assert seen == [0, 2.5]
        clock.advance(0)
        assert seen == [0, 2.5]
        duration[0] = 0
        clock.advance(0.5)
        assert seen == [0, 2.5, 4]
        loop.stop()

    def test_withCountSkips(self) -> None:
        """withCount passes the number of intervals elapsed since the last call."""
        seen: list[tuple[float, int]] = []
        loop = task.LoopingCall.withCount(lambda n: seen.append((clock.seconds(), n)))
        clock = task.Clock()
        loop.clock = clock
        loop.start(0.5)
        clock.advance(0.51)
        clock.advance(1.51)
        clock.advance(0)
        assert seen == [(0, 1), (0.51, 1), (2.02, 3)]
        loop.stop()

    def test_withCountLateButNotSkipped(self) -> None:
        """A call late by less than an interval still counts 1."""
        seen: list[tuple[float, int]] = []
        loop = task.LoopingCall.withCount(lambda n: seen.append((clock.seconds(), n)))
        clock = task.Clock()
        loop.clock = clock
        loop.start(0.5)
        clock.advance(0.51)
        clock.advance(0.875)
        clock.advance(0.125)
        assert [n for _, n in seen] == [1, 1, 1, 1]
        assert seen[-1][0] == pytest.approx(1.51)
        loop.stop()

    def test_withCountNotNow(self) -> None:
        """With now=False the first count covers the first interval only."""
        counts: list[int] = []
        loop = task.LoopingCall.withCount(counts.append)
        clock = task.Clock()
        loop.clock = clock
        loop.start(1, now=False)
        clock.advance(1)
        clock.advance(3)
        assert counts == [1, 3]
        loop.stop()

    def test_withCountFloatBoundary(self) -> None:
        """With an inexact interval (0.1) no count is 0 and the counts sum to the slots elapsed."""
        counts: list[int] = []
        loop = task.LoopingCall.withCount(counts.append)
        clock = task.Clock()
        loop.clock = clock
        interval = 1.0 / 10
        loop.start(interval, now=False)
        for _ in range(10):
            clock.advance(interval)
        total = 0.0
        for _ in range(10):
            total += interval
        clock.advance(1.0 - total)
        assert clock.seconds() >= 1.0
        assert 0 not in counts
        assert sum(counts) == 10

    def test_withCountIntervalZero(self) -> None:
        """With interval 0, withCount always passes 1."""
        counts: list[int] = []

        def count(n: int) -> None:
            counts.append(n)
            if len(counts) == 5:
                loop.stop()

        loop = task.LoopingCall.withCount(count)
        clock = task.Clock()
        loop.clock = clock
        d = loop.start(0, now=False)
        clock.pump([0] * 5)
        assert resultOf(d) is loop
        assert counts == [1] * 5

    def test_withCountAfterDeferredWait(self) -> None:
        """After waiting on a Deferred, withCount counts the intervals that passed meanwhile."""
        counts: list[int] = []
        waiting: Deferred[None] = Deferred()

        def count(n: int) -> Deferred[None] | None:
            counts.append(n)
            return waiting if len(counts) == 1 else None

        loop = task.LoopingCall.withCount(count)
        clock = task.Clock()
        loop.clock = clock
        loop.start(1)
        clock.advance(3.5)
        assert counts == [1]
        waiting.callback(None)
        clock.advance(0.5)
        assert counts == [1, 4]
        loop.stop()

    def test_intervalZeroRunsUntilStopped(self) -> None:
        """With interval 0 on a Clock, one advance keeps calling until the loop stops.

        Each call is scheduled for "now", and Clock.advance runs calls that
        become due while it runs, as Twisted's Clock does.
        """
        seen: list[float] = []

        def tick() -> None:
            seen.append(clock.seconds())
            if len(seen) == 5:
                loop.stop()

        loop, clock = makeLoop(tick)
        d = loop.start(0)
        assert len(seen) == 1
        assert clock.calls[0].getTime() == 0
        clock.advance(0)
        assert seen == [0] * 5
        assert resultOf(d) is loop
        assert clock.calls == []

    def test_intervalZeroWaitsForDeferred(self) -> None:
        """With interval 0, a returned Deferred still holds the next call until it fires."""
        waiting: Deferred[None] = Deferred()
        seen: list[float] = []

        def tick() -> Deferred[None] | None:
            seen.append(clock.seconds())
            if len(seen) == 2:
                return waiting
            if len(seen) == 4:
                loop.stop()
            return None

        loop, clock = makeLoop(tick)
        d = loop.start(0, now=False)
        clock.pump([0, 1, 1])
        assert seen == [0, 0]
        waiting.callback(None)
        clock.advance(0)
        assert seen == [0, 0, 2, 2]
        assert resultOf(d) is loop

    def test_errorStopsLoop(self) -> None:
        """An exception from the function stops the loop and fails the Deferred with it."""

        def explode(x: str) -> None:
            raise Boom(x)

        loop, clock = makeLoop(explode, "bar")
        d = loop.start(1)
        failure = failureOf(d, Boom)
        assert failure.value.args == ("bar",)
        assert not loop.running
        assert clock.calls == []

    def test_laterErrorStopsLoop(self) -> None:
        """An exception on a later call fails the Deferred and cancels nothing left over."""
        runs: list[None] = []

        def maybeExplode() -> None:
            runs.append(None)
            if len(runs) == 3:
                raise Boom()

        loop, clock = makeLoop(maybeExplode)
        d = loop.start(1)
        clock.pump([1, 1])
        failureOf(d, Boom)
        assert not loop.running
        assert clock.calls == []
        clock.advance(5)
        assert len(runs) == 3

    def test_errorAfterStop(self) -> None:
        """A function that stops the loop and then raises fails the Deferred."""

        def stopAndExplode() -> None:
            loop.stop()
            raise Boom()

        loop, _ = makeLoop(stopAndExplode)
        failureOf(loop.start(1), Boom)
        assert not loop.running

    def test_stopInsideCall(self) -> None:
        """stop() from inside the function fires the Deferred once the call returns."""
        seen: list[str] = []

        def stopping() -> None:
            loop.stop()
            seen.append("called")
            assertNoResult(d)

        loop, clock = makeLoop(stopping)
        d = loop.start(1, now=False)
        clock.advance(1)
        assert seen == ["called"]
        assert resultOf(d) is loop
        assert clock.calls == []

    def test_stopInsideFirstCall(self) -> None:
        """stop() inside the immediate first call: start returns an already-fired Deferred."""

        def stopNow() -> None:
            loop.stop()

        loop, clock = makeLoop(stopNow)
        d = loop.start(1)
        assert resultOf(d) is loop
        assert clock.calls == []

    def test_deferredDelaysNextCall(self) -> None:
        """A Deferred returned by the function holds the next call until it fires."""
        pending: list[Deferred[None]] = []
        times: list[float] = []

        def waiting() -> Deferred[None]:
            times.append(clock.seconds())
            pending.append(Deferred())
            return pending[-1]

        loop, clock = makeLoop(waiting)
        loop.start(1)
        clock.pump([1, 1, 1])
        assert times == [0]
        assert clock.calls == []
        clock.advance(0.5)
        pending[0].callback(None)
        # The next call goes to the next slot still in the future (4.0).
        clock.advance(0.4)
        assert times == [0]
        clock.advance(0.1)
        assert times == [0, 4.0]
        loop.stop()
        pending[1].callback(None)

    def test_stopWhileWaiting(self) -> None:
        """stop() while a returned Deferred is pending fires the loop's Deferred when it fires."""
        waiting: Deferred[None] = Deferred()
        loop, clock = makeLoop(lambda: waiting)
        d = loop.start(1)
        loop.stop()
        assertNoResult(d)
        waiting.callback(None)
        assert resultOf(d) is loop
        assert clock.calls == []

    def test_failingDeferredStopsLoop(self) -> None:
        """A Deferred returned by the function that fails stops the loop with that failure."""
        waiting: Deferred[None] = Deferred()
        loop, clock = makeLoop(lambda: waiting)
        d = loop.start(1)
        waiting.errback(Boom())
        failureOf(d, Boom)
        assert not loop.running
        assert clock.calls == []

    def test_succeededDeferredCountsAsDone(self) -> None:
        """An already-fired Deferred from the function lets the loop continue normally."""
        seen: list[float] = []

        def quick() -> Deferred[None]:
            seen.append(clock.seconds())
            return succeed(None)

        loop, clock = makeLoop(quick)
        loop.start(1)
        clock.pump([1, 1])
        assert seen == [0, 1, 2]
        loop.stop()

    def test_failedDeferredImmediately(self) -> None:
        """An already-failed Deferred from the first call fails start()'s Deferred at once."""
        loop, _ = makeLoop(lambda: fail(Boom()))
        failureOf(loop.start(1), Boom)
        assert not loop.running

    def test_attributes(self) -> None:
        """f, a, kw are kept; call is the pending delayed call while scheduled."""
        loop, _ = makeLoop(print, 1, sep="")
        assert (loop.f, loop.a, loop.kw) == (print, (1,), {"sep": ""})
        assert loop.call is None
        assert loop.interval is None
        assert loop.starttime is None
        loop.start(1, now=False)
        assert loop.call is not None
        assert loop.call.getTime() == 1
        loop.stop()
        assert loop.call is None

    def test_repr(self) -> None:
        """repr shows the interval, the function's qualified name, args and kwargs."""
        loop = task.LoopingCall(makeLoop, 1, key=2)
        assert repr(loop) == "LoopingCall<None>(makeLoop, *(1,), **{'key': 2})"
        method = task.LoopingCall(TestLoopingCall.test_repr)
        assert repr(method) == "LoopingCall<None>(TestLoopingCall.test_repr, *(), **{})"

    def test_deferredDeprecated(self) -> None:
        """The deferred attribute still works but warns with DeprecationWarning."""
        loop, _ = makeLoop(lambda: None)
        d = loop.start(1)
        with pytest.warns(DeprecationWarning, match="deferred returned by start"):
            assert loop.deferred is d
        loop.stop()

    def test_noDefaultReactor(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without .clock or a default reactor, start() fails clearly; __init__ does not."""
        monkeypatch.setitem(sys.modules, "torsion.reactor", None)
        loop = task.LoopingCall(lambda: None)
        with pytest.raises(RuntimeError, match=r"LoopingCall\.clock"):
            loop.start(1)
        assert not loop.running

    def test_defaultClockIsReactor(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The default clock is torsion.reactor.reactor, looked up when first needed."""
        fake = types.ModuleType("torsion.reactor")
        clock = task.Clock()
        fake.reactor = clock  # type: ignore[attr-defined]
        loop = task.LoopingCall(lambda: None)
        monkeypatch.setitem(sys.modules, "torsion.reactor", fake)
        assert loop.clock is clock
        loop.start(1)
        assert len(clock.calls) == 1
        loop.stop()


# ---------------------------------------------------------------------------
# deferLater


class TestDeferLater:
    def test_result(self) -> None:
        """The Deferred fires with the callable's result once the delay has passed."""
        clock = task.Clock()
        d = task.deferLater(clock, 3, lambda a, b=0: a + b, 1, b=2)
        clock.advance(2.9)
        assertNoResult(d)
        clock.advance(0.1)
        assert resultOf(d) == 3

    def test_noCallable(self) -> None:
        """Without a callable the Deferred fires with None."""
        clock = task.Clock()
        d = task.deferLater(clock, 2.0)
        assertNoResult(d)
        clock.advance(2.0)
        assert resultOf(d) is None

    def test_error(self) -> None:
        """An exception from the callable fails the Deferred."""
        clock = task.Clock()

        def explode() -> None:
            raise Boom()

        d = task.deferLater(clock, 1, explode)
        clock.advance(1)
        failureOf(d, Boom)

    def test_callableReturnsDeferred(self) -> None:
        """A Deferred returned by the callable is chained: its result is the result."""
        clock = task.Clock()
        inner: Deferred[str] = Deferred()
        d = task.deferLater(clock, 1, lambda: inner)
        clock.advance(1)
        assertNoResult(d)
        inner.callback("ok")
        assert resultOf(d) == "ok"

    def test_cancel(self) -> None:
        """Cancelling cancels the delayed call and fails with CancelledError; f never runs."""
        clock = task.Clock()
        seen: list[None] = []
        d = task.deferLater(clock, 1, seen.append, None)
        assert len(clock.getDelayedCalls()) == 1
        d.cancel()
        failureOf(d, CancelledError)
        assert clock.getDelayedCalls() == []
        clock.advance(2)
        assert seen == []

    def test_cancelAfterFiring(self) -> None:
        """Cancelling after the Deferred fired changes nothing."""
        clock = task.Clock()
        d = task.deferLater(clock, 1, lambda: "x")
        clock.advance(1)
        d.cancel()
        assert resultOf(d) == "x"


# ---------------------------------------------------------------------------
# Cooperator


class FakeCall:
    """A scheduled tick, as FakeScheduler hands out."""

    def __init__(self, func: Callable[[], None]) -> None:
        self.func = func
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    # The rest of IDelayedCall, unused by the Cooperator.
    def getTime(self) -> float:
        return 0.0

    def delay(self, secondsLater: float) -> None:
        raise NotImplementedError

    def reset(self, secondsFromNow: float) -> None:
        raise NotImplementedError

    def active(self) -> bool:
        return not self.cancelled


class FakeScheduler:
    """Collects ticks; pump() runs the ones not cancelled."""

    def __init__(self) -> None:
        self.work: list[FakeCall] = []

    def __call__(self, func: Callable[[], None]) -> FakeCall:
        call = FakeCall(func)
        self.work.append(call)
        return call

    def pump(self) -> None:
        work, self.work = self.work, []
        for call in work:
            if not call.cancelled:
                call.func()

    def pumpUntilIdle(self, limit: int = 100) -> None:
        for _ in range(limit):
            if not self.work:
                return
            self.pump()
        raise AssertionError("cooperator never went idle")


def stepsPerTick(n: int) -> Callable[[], Callable[[], bool]]:
    """A termination predicate factory allowing ``n`` steps per tick."""

    def factory() -> Callable[[], bool]:
        left = [n]

        def done() -> bool:
            left[0] -= 1
            return left[0] <= 0

        return done

    return factory


def makeCooperator(
    steps: int = 1000, started: bool = True
) -> tuple[task.Cooperator, FakeScheduler]:
    scheduler = FakeScheduler()
    coop = task.Cooperator(stepsPerTick(steps), scheduler, started=started)
    return coop, scheduler


def recorder(log: list[object], items: Iterator[object]) -> Generator[None, None, None]:
    for item in items:
        log.append(item)
        yield None


class TestCooperator:
    def test_roundRobin(self) -> None:
        """Tasks take turns one step each, in the order they were added."""
        log: list[object] = []
        coop, scheduler = makeCooperator()
        groups = ["abc", (1, 2, 3), "def"]
        done = [coop.coiterate(recorder(log, iter(group))) for group in groups]
        assert log == []
        scheduler.pumpUntilIdle()
        assert log == ["a", 1, "d", "b", 2, "e", "c", 3, "f"]
        for d in done:
            resultOf(d)

    def test_terminationPredicateEndsTick(self) -> None:
        """A tick runs steps until the predicate is true, then schedules another tick."""
        log: list[object] = []
        coop, scheduler = makeCooperator(steps=2)
        coop.cooperate(recorder(log, iter(range(5))))
        scheduler.pump()
        assert log == [0, 1]
        assert len(scheduler.work) == 1
        scheduler.pump()
        assert log == [0, 1, 2, 3]

    def test_oneTickScheduledAtATime(self) -> None:
        """Adding several tasks schedules a single tick."""
        coop, scheduler = makeCooperator()
        for _ in range(3):
            coop.cooperate(iter([1, 2]))
        assert len(scheduler.work) == 1

    def test_whenDoneFiresWithIterator(self) -> None:
        """whenDone fires with the iterator once exhausted; later calls fire at once."""
        coop, scheduler = makeCooperator()
        iterator = iter([1, 2, 3])
        t = coop.cooperate(iterator)
        first = t.whenDone()
        assertNoResult(first)
        scheduler.pumpUntilIdle()
        assert resultOf(first) is iterator
        assert resultOf(t.whenDone()) is iterator

    def test_coiterateDoneDeferred(self) -> None:
        """coiterate fires the given doneDeferred and returns it."""
        coop, scheduler = makeCooperator()
        mine: Deferred[Iterator[int]] = Deferred()
        iterator = iter([1])
        assert coop.coiterate(iterator, mine) is mine
        scheduler.pumpUntilIdle()
        assert resultOf(mine) is iterator

    def test_pauseResume(self) -> None:
        """A paused task takes no steps until resumed."""
        log: list[object] = []
        coop, scheduler = makeCooperator()
        t = coop.cooperate(recorder(log, iter(range(3))))
        t.pause()
        scheduler.pumpUntilIdle()
        assert log == []
        t.resume()
        scheduler.pumpUntilIdle()
        assert log == [0, 1, 2]

    def test_pauseTwice(self) -> None:
        """Two pauses need two resumes."""
        log: list[object] = []
        coop, scheduler = makeCooperator()
        t = coop.cooperate(recorder(log, iter(range(3))))
        t.pause()
        t.pause()
        t.resume()
        scheduler.pumpUntilIdle()
        assert log == []
        t.resume()
        scheduler.pumpUntilIdle()
        assert log == [0, 1, 2]

    def test_resumeNotPaused(self) -> None:
        """resume() on a task that is not paused raises NotPaused."""
        coop, _ = makeCooperator()
        t = coop.cooperate(iter([1]))
        with pytest.raises(task.NotPaused):
            t.resume()

    def test_pauseFinished(self) -> None:
        """pause() and stop() on a completed task raise TaskDone."""
        coop, scheduler = makeCooperator()
        t = coop.cooperate(iter(list[int]()))
        scheduler.pumpUntilIdle()
        with pytest.raises(task.TaskDone):
            t.pause()
        with pytest.raises(task.TaskDone):
            t.stop()

    def test_stop(self) -> None:
        """stop() ends the task: no more steps, whenDone fails with TaskStopped."""
        log: list[object] = []
        coop, scheduler = makeCooperator(steps=1)
        t = coop.cooperate(recorder(log, iter(range(5))))
        d = t.whenDone()
        scheduler.pump()
        t.stop()
        scheduler.pumpUntilIdle()
        assert log == [0]
        failureOf(d, task.TaskStopped)
        failureOf(t.whenDone(), task.TaskStopped)
        with pytest.raises(task.TaskStopped):
            t.stop()
        with pytest.raises(task.TaskStopped):
            t.pause()

    def test_stopWhilePaused(self) -> None:
        """A task stopped while paused stays finished when resumed."""
        log: list[object] = []
        coop, scheduler = makeCooperator()
        t = coop.cooperate(recorder(log, iter(range(3))))
        t.pause()
        t.stop()
        t.resume()
        scheduler.pumpUntilIdle()
        assert log == []
        assert coop._tasks == []

    def test_errorFailsTask(self) -> None:
        """An exception from the iterator fails whenDone with it; later ops raise TaskFailed."""

        def broken() -> Generator[None, None, None]:
            yield None
            raise Boom("x")

        coop, scheduler = makeCooperator()
        t = coop.cooperate(broken())
        d = t.whenDone()
        scheduler.pumpUntilIdle()
        failure = failureOf(d, Boom)
        assert failure.value.args == ("x",)
        with pytest.raises(task.TaskFailed):
            t.stop()
        failureOf(t.whenDone(), Boom)

    def test_finishedErrorsHierarchy(self) -> None:
        """The scheduler errors form Twisted's hierarchy."""
        assert issubclass(task.TaskDone, task.TaskFinished)
        assert issubclass(task.TaskStopped, task.TaskFinished)
        assert issubclass(task.TaskFailed, task.TaskFinished)
        assert issubclass(task.TaskFinished, task.SchedulerError)
        assert issubclass(task.SchedulerStopped, task.SchedulerError)
        assert issubclass(task.NotPaused, task.SchedulerError)
        assert issubclass(task.SchedulerError, Exception)

    def test_yieldedDeferredPauses(self) -> None:
        """A yielded Deferred pauses the task until it fires, other tasks keep running."""
        waiting: Deferred[None] = Deferred()
        log: list[object] = []

        def first() -> Generator[object, None, None]:
            log.append("first-1")
            yield waiting
            log.append("first-2")

        coop, scheduler = makeCooperator()
        coop.cooperate(first())
        coop.cooperate(recorder(log, iter(["other-1", "other-2"])))
        scheduler.pumpUntilIdle()
        assert log == ["first-1", "other-1", "other-2"]
        waiting.callback(None)
        scheduler.pumpUntilIdle()
        assert log[-1] == "first-2"

    @pytest.mark.parametrize("already", [True, False])
    def test_yieldedFailingDeferred(self, already: bool) -> None:
        """A yielded Deferred that fails (now or later) fails the task with its error."""
        waiting: Deferred[None] = fail(Boom()) if already else Deferred()

        def gen() -> Generator[object, None, None]:
            yield waiting

        coop, scheduler = makeCooperator()
        d = coop.coiterate(gen())
        scheduler.pumpUntilIdle()
        if not already:
            assertNoResult(d)
            waiting.errback(Boom())
        failureOf(d, Boom)

    def test_cooperatorStop(self) -> None:
        """Cooperator.stop fails every task with SchedulerStopped and cancels the tick."""
        log: list[object] = []
        coop, scheduler = makeCooperator()
        d = coop.coiterate(recorder(log, iter(range(3))))
        tick = scheduler.work[0]
        coop.stop()
        assert tick.cancelled
        failureOf(d, task.SchedulerStopped)
        scheduler.pumpUntilIdle()
        assert log == []
        assert not coop.running

    def test_stopWhileWaitingOnDeferred(self) -> None:
        """A task paused on a yielded Deferred fails with SchedulerStopped once it fires.

        It is not resumed: the step after the yield never runs.
        """
        waiting: Deferred[str] = Deferred()
        steps: list[str] = []

        def gen() -> Generator[object, None, None]:
            steps.append("before")
            yield waiting
            steps.append("after")

        coop, scheduler = makeCooperator()
        d = coop.coiterate(gen())
        scheduler.pump()
        coop.stop()
        assertNoResult(d)
        waiting.callback("late")
        failureOf(d, task.SchedulerStopped)
        scheduler.pumpUntilIdle()
        assert steps == ["before"]

    def test_stoppedRejectsNewTasks(self) -> None:
        """After stop, new tasks fail at once with SchedulerStopped; start() accepts again."""
        coop, scheduler = makeCooperator()
        coop.stop()
        failureOf(coop.coiterate(iter([1])), task.SchedulerStopped)
        assert scheduler.work == []
        coop.start()
        d = coop.coiterate(iter([1]))
        scheduler.pumpUntilIdle()
        resultOf(d)

    def test_stopFromCallback(self) -> None:
        """Stopping the cooperator from a whenDone callback is safe."""
        coop, scheduler = makeCooperator()
        d = coop.coiterate(iter([1]))
        other = coop.coiterate(iter(range(10)))
        d.addCallback(lambda _: coop.stop())
        scheduler.pumpUntilIdle()
        resultOf(d)
        failureOf(other, task.SchedulerStopped)

    def test_recoiterateFromCallback(self) -> None:
        """A whenDone callback that adds a task gets it run, with one tick pending at most."""
        coop, scheduler = makeCooperator()
        done: list[object] = []
        first = coop.coiterate(iter(()))
        first.addCallback(lambda _: coop.coiterate(iter(())).addBoth(done.append))
        for _ in range(10):
            assert len(scheduler.work) <= 1
            scheduler.pump()
        assert len(done) == 1

    def test_lastTaskRemovedCancelsTick(self) -> None:
        """Removing the last task cancels the pending tick; a new task schedules one."""
        coop, scheduler = makeCooperator()
        one = coop.cooperate(iter([1, 2]))
        two = coop.cooperate(iter([1, 2]))
        tick = scheduler.work[0]
        one.stop()
        assert not tick.cancelled
        two.stop()
        assert tick.cancelled
        assert coop._delayedCall is None
        coop.cooperate(iter([1]))
        assert len(scheduler.work) == 2
        assert not scheduler.work[-1].cancelled

    def test_notStarted(self) -> None:
        """started=False queues tasks without scheduling until start()."""
        log: list[object] = []
        coop, scheduler = makeCooperator(started=False)
        assert not coop.running
        coop.cooperate(recorder(log, iter([1])))
        assert scheduler.work == []
        coop.start()
        assert coop.running
        scheduler.pumpUntilIdle()
        assert log == [1]

    def test_runningStates(self) -> None:
        """running is True when started and not stopped."""
        coop, _ = makeCooperator()
        assert coop.running
        coop.stop()
        assert not coop.running
        coop.start()
        assert coop.running

    def test_defaultTimerSlice(self) -> None:
        """The default predicate allows many cheap steps in one tick."""
        scheduler = FakeScheduler()
        coop = task.Cooperator(scheduler=scheduler)
        d = coop.coiterate(iter(range(100)))
        scheduler.pump()
        resultOf(d)

    def test_globalFunctions(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """task.cooperate and task.coiterate use the module's global Cooperator."""
        coop, scheduler = makeCooperator()
        monkeypatch.setattr(task, "_theCooperator", coop)
        t = task.cooperate(iter([1]))
        assert t in coop._tasks
        d = task.coiterate(iter([2]))
        scheduler.pumpUntilIdle()
        resultOf(d)
        resultOf(t.whenDone())

    def test_defaultSchedulerNeedsReactor(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without a default reactor the default scheduler fails with a clear RuntimeError."""
        monkeypatch.setitem(sys.modules, "torsion.reactor", None)
        coop = task.Cooperator()
        with pytest.raises(RuntimeError, match="no default reactor"):
            coop.cooperate(iter([1]))


# ---------------------------------------------------------------------------
# react


class ReactorNotRunning(Exception):
    """Raised by FakeReactor.stop when not running."""


class FakeReactor:
    """Just enough of a reactor for react(): a Clock, startup and shutdown triggers."""

    def __init__(self) -> None:
        self.clock = task.Clock()
        self.running = False
        self.stops = 0
        self.whenRunning: list[tuple[Callable[..., object], tuple[object, ...]]] | None = []
        self.triggers: dict[str, list[tuple[Callable[..., object], tuple[object, ...]]]] = {
            "before": [],
            "during": [],
        }

    def seconds(self) -> float:
        return self.clock.seconds()

    def callLater(self, delay: float, f: Callable[..., object], *args: object) -> IDelayedCall:
        return self.clock.callLater(delay, f, *args)

    def callWhenRunning(self, f: Callable[..., object], *args: object) -> None:
        if self.whenRunning is None:
            f(*args)
        else:
            self.whenRunning.append((f, args))

    def addSystemEventTrigger(
        self, phase: str, event: str, f: Callable[..., object], *args: object
    ) -> None:
        assert event == "shutdown"
        self.triggers[phase].append((f, args))

    def run(self) -> None:
        self.running = True
        pending, self.whenRunning = self.whenRunning or [], None
        for f, args in pending:
            f(*args)
        while self.running:
            calls = self.clock.getDelayedCalls()
            if not calls:
                raise RuntimeError("reactor would wait forever")
            self.clock.advance(calls[0].getTime() - self.clock.seconds())
        for phase in ("before", "during"):
            for f, args in self.triggers[phase]:
                f(*args)

    def stop(self) -> None:
        if not self.running:
            raise ReactorNotRunning()
        self.stops += 1
        self.running = False


def runReact(main: Callable[..., Any], *argv: object) -> tuple[int | str | None, FakeReactor]:
    reactor = FakeReactor()
    with pytest.raises(SystemExit) as exited:
        task.react(main, argv, _reactor=reactor)
    return exited.value.code, reactor


class TestReact:
    def test_syncSuccess(self) -> None:
        """An already-fired Deferred exits 0 at once, stopping the reactor once."""
        code, reactor = runReact(lambda r: succeed(None))
        assert code == 0
        assert reactor.seconds() == 0
        assert reactor.stops == 1

    def test_asyncSuccess(self) -> None:
        """The reactor runs until main's Deferred fires, then stops; exit code 0."""
        ticks: list[bool] = []

        def main(reactor: FakeReactor) -> Deferred[None]:
            finished: Deferred[None] = Deferred()
            reactor.callLater(1, ticks.append, True)
            reactor.callLater(2, finished.callback, None)
            return finished

        code, reactor = runReact(main)
        assert code == 0
        assert ticks == [True]
        assert reactor.seconds() == 2
        assert reactor.stops == 1

    @pytest.mark.parametrize("later", [False, True])
    def test_failureExitsOneAndLogs(self, later: bool, logged_failures: LoggedFailures) -> None:
        """A failed Deferred exits 1 and logs the failure, once, as an error."""

        def main(reactor: FakeReactor) -> Deferred[None]:
            if not later:
                return fail(Boom("bad"))
            finished: Deferred[None] = Deferred()
            reactor.callLater(1, finished.errback, Boom("bad"))
            return finished

        code, reactor = runReact(main)
        assert code == 1
        assert reactor.seconds() == (1 if later else 0)
        assert [message.splitlines()[0] for _, message in logged_failures.failures] == [
            "main function encountered error"
        ]
        assert len(logged_failures.flush(Boom)) == 1

    def test_systemExitCode(self, logged_failures: LoggedFailures) -> None:
        """A SystemExit failure exits with its code, without logging it as an error."""
        code, _ = runReact(lambda r: fail(SystemExit(23)))
        assert code == 23
        assert logged_failures.flush() == []

    def test_arguments(self) -> None:
        """main receives the reactor, then the elements of argv."""
        got: list[object] = []

        def main(reactor: FakeReactor, x: int, y: int) -> Deferred[None]:
            got.extend((reactor, x, y))
            return succeed(None)

        reactor = FakeReactor()
        with pytest.raises(SystemExit):
            task.react(main, [1, 2], _reactor=reactor)
        assert got == [reactor, 1, 2]

    def test_coroutine(self) -> None:
        """main may be a coroutine function; its return ends the run with code 0."""

        async def main(reactor: FakeReactor) -> str:
            await task.deferLater(reactor.clock, 1)
            return "ok"

        code, reactor = runReact(main)
        assert code == 0
        assert reactor.seconds() == 1

    @pytest.mark.parametrize("succeeds", [True, False])
    def test_noStopWhenAlreadyStopping(
        self, succeeds: bool, logged_failures: LoggedFailures
    ) -> None:
        """If the reactor is shutting down when main's Deferred fires, react does not stop it."""

        def main(reactor: FakeReactor) -> Deferred[None]:
            reactor.callLater(1, reactor.stop)
            finished: Deferred[None] = Deferred()
            if succeeds:
                reactor.addSystemEventTrigger("during", "shutdown", finished.callback, None)
            else:
                reactor.addSystemEventTrigger("during", "shutdown", finished.errback, Boom())
            return finished

        code, reactor = runReact(main)
        assert code == (0 if succeeds else 1)
        assert reactor.seconds() == 1
        assert reactor.stops == 1
        assert len(logged_failures.flush(Boom)) == (0 if succeeds else 1)

    def test_stoppedJustBeforeFiring(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A reactor stopped just before the Deferred fires is not stopped again (no error)."""
        monkeypatch.setattr(error, "ReactorNotRunning", ReactorNotRunning, raising=False)
        returned: list[Deferred[None]] = []

        def main(reactor: FakeReactor) -> Deferred[None]:
            d: Deferred[None] = Deferred()

            def stopThenFire() -> None:
                reactor.stop()
                d.callback(None)

            reactor.callWhenRunning(stopThenFire)
            returned.append(d)
            return d

        code, reactor = runReact(main)
        assert code == 0
        assert reactor.stops == 1
        # A ReactorNotRunning escaping react's own callback would be left in the chain.
        assert resultOf(returned[0]) is None

    def test_stoppedWithoutFiring(self) -> None:
        """If something else stops the reactor and the Deferred never fires, exit 0."""

        def main(reactor: FakeReactor) -> Deferred[None]:
            reactor.callLater(1, reactor.stop)
            return Deferred()

        code, _ = runReact(main)
        assert code == 0

    def test_noDefaultReactor(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without _reactor and without a default reactor, react fails clearly, calling nothing."""
        monkeypatch.setitem(sys.modules, "torsion.reactor", None)
        called: list[object] = []

        def main(reactor: object) -> Deferred[None]:
            called.append(reactor)
            return succeed(None)

        with pytest.raises(RuntimeError, match="_reactor"):
            task.react(main)
        assert called == []


def test_publicNames() -> None:
    """task exports Twisted's public names and the Cooperator vocabulary."""
    for name in (
        "LoopingCall",
        "Clock",
        "SchedulerStopped",
        "Cooperator",
        "coiterate",
        "deferLater",
        "react",
        "CooperativeTask",
        "cooperate",
        "TaskDone",
        "TaskStopped",
        "TaskFailed",
        "TaskFinished",
        "NotPaused",
        "SchedulerError",
    ):
        assert name in task.__all__
        assert hasattr(task, name)
