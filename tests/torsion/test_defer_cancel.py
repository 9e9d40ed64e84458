"""Tests for cancelling Deferreds: cancellers, chains, timeouts, lists and coroutines."""

from __future__ import annotations

import builtins
from collections.abc import Generator
from contextlib import suppress
from typing import Any

import pytest

from torsion.defer import (
    AlreadyCalledError,
    CancelledError,
    Deferred,
    DeferredList,
    FirstError,
    TimeoutError,
    ensureDeferred,
    gatherResults,
    inlineCallbacks,
    succeed,
)
from torsion.failure import Failure
from torsion.task import Clock
from torsion.testing import assert_no_result, failure_result_of, success_result_of


class Boom(Exception):
    """A recognisable application error."""


class TestCancel:
    def test_cancel_without_canceller_fails_with_cancelled_error(self) -> None:
        """cancel() on an unfired Deferred with no canceller errbacks it with CancelledError."""
        d: Deferred[int] = Deferred()
        d.cancel()
        assert d.called
        failure = failure_result_of(d, CancelledError)
        assert failure.type is CancelledError

    def test_cancelled_error_is_an_exception(self) -> None:
        """CancelledError derives from Exception."""
        assert issubclass(CancelledError, Exception)

    def test_canceller_is_called_with_the_deferred(self) -> None:
        """The canceller receives the Deferred being cancelled, exactly once."""
        seen: list[Deferred[Any]] = []
        d: Deferred[int] = Deferred(seen.append)
        d.cancel()
        assert seen == [d]
        failure_result_of(d, CancelledError)
        d.cancel()
        assert seen == [d]

    def test_canceller_that_fires_the_deferred_decides_the_result(self) -> None:
        """A canceller that fires the Deferred itself sets the result; no CancelledError."""
        d: Deferred[str] = Deferred(lambda d: d.callback("cancelled politely"))
        d.cancel()
        assert success_result_of(d) == "cancelled politely"

    def test_canceller_that_errbacks_decides_the_failure(self) -> None:
        """A canceller may errback with its own exception, which replaces CancelledError."""
        d: Deferred[str] = Deferred(lambda d: d.errback(Boom("own reason")))
        d.cancel()
        assert failure_result_of(d, Boom).getErrorMessage() == "own reason"

    def test_canceller_that_does_not_fire_gives_cancelled_error(self) -> None:
        """A canceller that leaves the Deferred unfired: cancel() errbacks with
        CancelledError; a later callback then raises AlreadyCalledError (no suppression,
        unlike the canceller-less case)."""
        d: Deferred[str] = Deferred(lambda d: None)
        d.cancel()
        failure_result_of(d, CancelledError)
        with pytest.raises(AlreadyCalledError):
            d.callback("late")

    def test_canceller_that_fired_then_callback_raises(self) -> None:
        """After a canceller fired the Deferred, a further callback raises AlreadyCalledError."""
        d: Deferred[str] = Deferred(lambda d: d.callback("x"))
        d.cancel()
        with pytest.raises(AlreadyCalledError):
            d.callback("y")
        assert success_result_of(d) == "x"

    def test_callback_after_cancel_without_canceller_is_ignored_once(self) -> None:
        """With no canceller, the owner's first later callback/errback after cancel() is
        silently ignored (the owner did not know), the second raises AlreadyCalledError."""
        d: Deferred[str] = Deferred()
        d.cancel()
        d.callback("owner fires late")
        with pytest.raises(AlreadyCalledError):
            d.callback("again")
        failure_result_of(d, CancelledError)

    def test_errback_after_cancel_without_canceller_is_ignored_once(self) -> None:
        """The one suppressed late firing may also be an errback."""
        d: Deferred[str] = Deferred()
        d.cancel()
        d.errback(Boom())
        with pytest.raises(AlreadyCalledError):
            d.errback(Boom())
        failure_result_of(d, CancelledError)

    def test_cancel_on_fired_deferred_is_a_no_op(self) -> None:
        """cancel() on a fired Deferred changes nothing and calls no canceller."""
        calls: list[object] = []
        d: Deferred[int] = Deferred(calls.append)
        d.callback(5)
        d.cancel()
        assert calls == []
        assert success_result_of(d) == 5

    def test_cancel_on_failed_deferred_keeps_failure(self) -> None:
        """cancel() on a Deferred that already failed leaves its failure unchanged."""
        d: Deferred[int] = Deferred()
        d.errback(Boom("first"))
        d.cancel()
        assert failure_result_of(d, Boom).getErrorMessage() == "first"

    def test_cancel_outer_waiting_on_inner_cancels_inner(self) -> None:
        """Cancelling an outer Deferred waiting on an inner one cancels the inner (whose
        canceller runs, not the outer's), and the CancelledError reaches the outer chain."""
        order: list[str] = []
        inner: Deferred[int] = Deferred(lambda _: order.append("inner"))
        outer: Deferred[int] = Deferred(lambda _: order.append("outer"))
        outer.addCallback(lambda _: inner)
        outer.callback(0)
        outer.cancel()
        assert order == ["inner"]
        failure_result_of(outer, CancelledError)
        assert inner.result is None

    def test_cancel_outer_inner_canceller_recovers(self) -> None:
        """If the inner's canceller fires it with a value, the outer continues with that."""
        inner: Deferred[str] = Deferred(lambda d: d.callback("inner gave up"))
        outer: Deferred[str] = Deferred()
        outer.addCallback(lambda _: inner)
        outer.callback("start")
        outer.cancel()
        assert success_result_of(outer) == "inner gave up"

    def test_cancel_propagates_through_several_levels(self) -> None:
        """Cancel on the outermost of three nested Deferreds cancels the innermost."""
        cancelled: list[str] = []
        innermost: Deferred[str] = Deferred(lambda _: cancelled.append("innermost"))
        middle: Deferred[str] = Deferred(lambda _: cancelled.append("middle"))
        outer: Deferred[str] = Deferred(lambda _: cancelled.append("outer"))
        middle.addCallback(lambda _: innermost)
        outer.addCallback(lambda _: middle)
        middle.callback("m")
        outer.callback("o")
        outer.cancel()
        assert cancelled == ["innermost"]
        failure_result_of(outer, CancelledError)

    def test_cancel_callbacks_see_cancelled_error_in_order(self) -> None:
        """Errbacks added before cancel() see CancelledError; the canceller runs first."""
        log: list[str] = []
        d: Deferred[int] = Deferred(lambda _: log.append("canceller"))
        d.addErrback(lambda f: log.append(f"errback:{f.type.__name__}"))
        d.cancel()
        assert log == ["canceller", "errback:CancelledError"]


class TestAddTimeout:
    def test_fires_in_time_no_timeout(self, clock: Clock) -> None:
        """A Deferred that fires before the timeout keeps its result; the timer is gone."""
        d: Deferred[str] = Deferred()
        assert d.addTimeout(10, clock) is d
        assert len(clock.getDelayedCalls()) == 1
        clock.advance(9)
        d.callback("in time")
        assert clock.getDelayedCalls() == []
        clock.advance(5)
        assert success_result_of(d) == "in time"

    def test_add_timeout_to_fired_deferred(self, clock: Clock) -> None:
        """addTimeout on an already-fired Deferred leaves no timer and keeps the result."""
        d = succeed("already")
        d.addTimeout(5, clock)
        assert clock.getDelayedCalls() == []
        assert success_result_of(d) == "already"

    def test_failure_before_timeout_is_unchanged(self, clock: Clock) -> None:
        """A failure before the timeout passes through unchanged and cancels the timer."""
        d: Deferred[str] = Deferred()
        d.addTimeout(10, clock)
        d.errback(Boom("early"))
        assert clock.getDelayedCalls() == []
        assert failure_result_of(d, Boom).getErrorMessage() == "early"

    def test_timeout_gives_timeout_error(self, clock: Clock) -> None:
        """When the time is up the Deferred is cancelled and fails with
        ``TimeoutError(timeout, "Deferred")``, exactly at the timeout, not before."""
        cancelled: list[object] = []
        d: Deferred[str] = Deferred(cancelled.append)
        d.addTimeout(5, clock)
        clock.advance(4.999)
        assert_no_result(d)
        clock.advance(0.001)
        assert cancelled == [d]
        failure = failure_result_of(d, TimeoutError)
        assert failure.value.args == (5, "Deferred")

    def test_timeout_error_is_torsions_own(self) -> None:
        """torsion.defer.TimeoutError is an Exception distinct from the builtin one."""
        assert issubclass(TimeoutError, Exception)
        assert TimeoutError is not builtins.TimeoutError

    def test_on_timeout_cancel_replaces_result(self, clock: Clock) -> None:
        """onTimeoutCancel(result, timeout) is called with the CancelledError failure and
        the timeout; its return value becomes the result."""
        calls: list[tuple[object, float]] = []

        def on_timeout(result: object, timeout: float) -> str:
            assert isinstance(result, Failure)
            calls.append((result.type, timeout))
            return "replacement"

        d: Deferred[str] = Deferred()
        d.addTimeout(2, clock, onTimeoutCancel=on_timeout)
        clock.advance(2)
        assert calls == [(CancelledError, 2)]
        assert success_result_of(d) == "replacement"

    def test_on_timeout_cancel_not_called_when_in_time(self, clock: Clock) -> None:
        """onTimeoutCancel is not called when the Deferred fires before the timeout."""
        calls: list[object] = []
        d: Deferred[str] = Deferred()
        d.addTimeout(2, clock, onTimeoutCancel=lambda r, t: calls.append(r))
        d.callback("ok")
        clock.advance(3)
        assert calls == []
        assert success_result_of(d) == "ok"

    def test_canceller_recovering_on_timeout_keeps_value(self, clock: Clock) -> None:
        """If the canceller fires with a value on timeout, that value is kept (not a
        TimeoutError): only a CancelledError becomes TimeoutError."""
        d: Deferred[str] = Deferred(lambda d: d.callback("canceller value"))
        d.addTimeout(1, clock)
        clock.advance(1)
        assert success_result_of(d) == "canceller value"

    def test_canceller_failing_otherwise_on_timeout_keeps_failure(self, clock: Clock) -> None:
        """A canceller that errbacks with another exception on timeout: that exception
        is kept."""
        d: Deferred[str] = Deferred(lambda d: d.errback(Boom("other")))
        d.addTimeout(1, clock)
        clock.advance(1)
        failure_result_of(d, Boom)

    def test_user_cancel_before_timeout_stays_cancelled_error(self, clock: Clock) -> None:
        """Cancelling by hand before the timeout gives CancelledError, not TimeoutError,
        and removes the timer."""
        d: Deferred[str] = Deferred()
        d.addTimeout(10, clock)
        d.cancel()
        assert clock.getDelayedCalls() == []
        failure_result_of(d, CancelledError)

    def test_timeout_applies_at_its_point_in_chain(self, clock: Clock) -> None:
        """Callbacks added before addTimeout see the result before conversion; those added
        after see TimeoutError."""
        log: list[str] = []
        d: Deferred[str] = Deferred()
        d.addErrback(lambda f: log.append(f"before:{f.type.__name__}") or f)
        d.addTimeout(1, clock)
        d.addErrback(lambda f: log.append(f"after:{f.type.__name__}"))
        clock.advance(1)
        assert log == ["before:CancelledError", "after:TimeoutError"]

    def test_timeout_while_waiting_on_inner_cancels_inner(self, clock: Clock) -> None:
        """A timed-out Deferred waiting on an inner Deferred cancels the inner one."""
        inner_cancelled: list[object] = []
        inner: Deferred[str] = Deferred(inner_cancelled.append)
        d: Deferred[str] = Deferred()
        d.addCallback(lambda _: inner)
        d.addTimeout(3, clock)
        d.callback("go")
        clock.advance(3)
        assert inner_cancelled == [inner]
        failure_result_of(d, TimeoutError)


class TestCancelLists:
    def test_cancel_deferred_list_cancels_members(self) -> None:
        """Cancelling a DeferredList cancels each unfired member (in order); the list then
        fires with their CancelledError results."""
        order: list[str] = []
        a: Deferred[int] = Deferred(lambda _: order.append("a"))
        b: Deferred[int] = Deferred(lambda _: order.append("b"))
        dl = DeferredList([a, b], consumeErrors=True)
        dl.cancel()
        assert order == ["a", "b"]
        result = success_result_of(dl)
        assert [ok for ok, _ in result] == [False, False]
        assert all(f.check(CancelledError) for _, f in result)

    def test_cancel_deferred_list_skips_fired_members(self) -> None:
        """Members already fired are not cancelled; their results stay in the list."""
        a = succeed("done")
        b: Deferred[str] = Deferred()
        dl = DeferredList([a, b], consumeErrors=True)
        dl.cancel()
        result = success_result_of(dl)
        assert result[0] == (True, "done")
        assert result[1][0] is False
        assert result[1][1].check(CancelledError)

    def test_cancel_fired_deferred_list_does_nothing(self) -> None:
        """Cancelling a DeferredList that already fired (fireOnOneCallback) leaves the
        remaining members alone."""
        a: Deferred[str] = Deferred()
        b: Deferred[str] = Deferred()
        dl = DeferredList([a, b], fireOnOneCallback=True)
        a.callback("first")
        dl.cancel()
        assert_no_result(b)
        assert success_result_of(dl) == ("first", 0)

    def test_cancel_deferred_list_canceller_raising_is_logged(self, logged_failures: Any) -> None:
        """A member canceller that raises does not stop the others being cancelled; the
        error is logged."""

        def bad(_: Deferred[Any]) -> None:
            raise Boom("canceller broke")

        a: Deferred[int] = Deferred(bad)
        b: Deferred[int] = Deferred()
        dl = DeferredList([a, b], consumeErrors=True)
        dl.cancel()
        assert b.called
        assert [f.type for f in logged_failures.flush(Boom)] == [Boom]
        a.callback(1)
        assert success_result_of(dl)[0] == (True, 1)

    def test_cancel_gather_results_fails_with_first_error(self) -> None:
        """Cancelling gatherResults cancels its members; it fails with a FirstError whose
        subFailure is the first CancelledError (index 0)."""
        a: Deferred[int] = Deferred()
        b: Deferred[int] = Deferred()
        g = gatherResults([a, b], consumeErrors=True)
        g.cancel()
        failure = failure_result_of(g, FirstError)
        assert failure.value.index == 0
        assert failure.value.subFailure.check(CancelledError)
        assert b.called


class TestCancelCoroutines:
    def test_cancel_inline_callbacks_cancels_awaited(self) -> None:
        """Cancelling an inlineCallbacks Deferred cancels the Deferred it is waiting on;
        uncaught, the CancelledError fails the result."""
        cancelled: list[object] = []
        waiting: Deferred[int] = Deferred(cancelled.append)

        @inlineCallbacks
        def work() -> Generator[Deferred[int], int, int]:
            value = yield waiting
            return value

        d = work()
        d.cancel()
        assert cancelled == [waiting]
        failure_result_of(d, CancelledError)

    def test_inline_callbacks_catching_cancel_continues(self) -> None:
        """A generator catching CancelledError at its yield goes on; its later return value
        is the result (not CancelledError)."""
        log: list[str] = []
        waiting: Deferred[int] = Deferred()

        @inlineCallbacks
        def work() -> Generator[Deferred[Any], Any, str]:
            try:
                yield waiting
            except CancelledError:
                log.append("caught")
            value = yield succeed("after")
            return value + "!"

        d = work()
        d.cancel()
        assert log == ["caught"]
        assert success_result_of(d) == "after!"

    def test_inline_callbacks_catching_cancel_waits_again(self) -> None:
        """After catching CancelledError the generator may wait on another Deferred; the
        result arrives only when that one fires."""
        first: Deferred[str] = Deferred()
        second: Deferred[str] = Deferred()

        @inlineCallbacks
        def work() -> Generator[Deferred[str], str, str]:
            with suppress(CancelledError):
                yield first
            value = yield second
            return value

        d = work()
        d.cancel()
        assert_no_result(d)
        second.callback("late")
        assert success_result_of(d) == "late"

    def test_inline_callbacks_cancel_twice(self) -> None:
        """Cancelling again while the generator waits on its second Deferred cancels that
        one as well."""
        first: Deferred[str] = Deferred()
        second: Deferred[str] = Deferred()
        log: list[str] = []

        @inlineCallbacks
        def work() -> Generator[Deferred[str], str, str]:
            try:
                yield first
            except CancelledError:
                log.append("first")
            try:
                yield second
            except CancelledError:
                log.append("second")
            return "done"

        d = work()
        d.cancel()
        d.cancel()
        assert log == ["first", "second"]
        assert success_result_of(d) == "done"

    def test_cancel_coroutine_cancels_awaited(self) -> None:
        """Cancelling ensureDeferred(coro) cancels the Deferred it awaits; the coroutine
        may catch CancelledError and return a value."""
        cancelled: list[object] = []
        waiting: Deferred[str] = Deferred(cancelled.append)

        async def work() -> str:
            try:
                return await waiting
            except CancelledError:
                return "recovered"

        d = ensureDeferred(work())
        d.cancel()
        assert cancelled == [waiting]
        assert success_result_of(d) == "recovered"

    def test_cancel_coroutine_uncaught(self) -> None:
        """An awaiting coroutine not catching the cancellation fails with CancelledError."""

        async def work() -> str:
            return await Deferred()

        d = ensureDeferred(work())
        d.cancel()
        failure_result_of(d, CancelledError)

    def test_cancel_finished_coroutine_is_no_op(self) -> None:
        """Cancelling the Deferred of a finished coroutine changes nothing."""

        async def work() -> int:
            return 3

        d = ensureDeferred(work())
        d.cancel()
        assert success_result_of(d) == 3

    def test_cancel_coroutine_awaiting_nested_coroutine(self) -> None:
        """Cancellation reaches a Deferred awaited by a coroutine awaited by another."""
        cancelled: list[object] = []
        waiting: Deferred[str] = Deferred(cancelled.append)

        async def inner() -> str:
            return await waiting

        async def outer() -> str:
            return await ensureDeferred(inner())

        d = ensureDeferred(outer())
        d.cancel()
        assert cancelled == [waiting]
        failure_result_of(d, CancelledError)
