"""Tests for the Deferred callback chain: firing, results, chaining and pausing.

Behaviour pinned here is Twisted's (``twisted.internet.defer.Deferred``),
observed on Twisted 26.10 where in doubt.
"""

from __future__ import annotations

import warnings
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torsion.defer import AlreadyCalledError, Deferred, fail, succeed
from torsion.failure import Failure, NoCurrentExceptionError
from torsion.testing import assert_no_result, failure_result_of, success_result_of


class Boom(Exception):
    """A recognisable application error."""


def _record(log: list[object], tag: str) -> Any:
    """Return a callback that logs ``(tag, result)`` and passes the result on."""

    def record(result: object) -> object:
        log.append((tag, result))
        return result

    return record


# ---------------------------------------------------------------------------
# Arguments given to callbacks and errbacks


class TestCallbackArguments:
    def test_add_callback_passes_extra_args_and_kwargs(self) -> None:
        """addCallback(f, *a, **kw) calls f(result, *a, **kw) and passes its return on."""
        seen: list[tuple[object, ...]] = []

        def cb(result: object, a: object, b: object, *, key: object) -> str:
            seen.append((result, a, b, key))
            return "next"

        d: Deferred[str] = Deferred()
        d.addCallback(cb, 1, 2, key="k")
        d.callback("first")
        assert seen == [("first", 1, 2, "k")]
        assert success_result_of(d) == "next"

    def test_add_errback_passes_extra_args_and_kwargs(self) -> None:
        """addErrback(f, *a, **kw) calls f(failure, *a, **kw); its return value recovers."""
        seen: list[tuple[object, ...]] = []

        def eb(failure: Failure, a: object, *, key: object) -> str:
            seen.append((failure.type, a, key))
            return "recovered"

        d: Deferred[str] = Deferred()
        d.addErrback(eb, "a", key="k")
        d.errback(Boom("x"))
        assert seen == [(Boom, "a", "k")]
        assert success_result_of(d) == "recovered"

    def test_add_both_passes_extra_args_to_either_path(self) -> None:
        """addBoth(f, *a, **kw) runs f with the extra arguments for a success and a failure."""
        seen: list[tuple[object, ...]] = []

        def both(result: object, a: object, *, key: object) -> None:
            seen.append((type(result).__name__, a, key))

        ok: Deferred[int] = Deferred()
        ok.addBoth(both, 1, key=2)
        ok.callback(5)
        bad: Deferred[int] = Deferred()
        bad.addBoth(both, 3, key=4)
        bad.errback(Boom())
        assert seen == [("int", 1, 2), ("Failure", 3, 4)]
        # addBoth returning None recovered the failure.
        assert success_result_of(bad) is None

    def test_add_callbacks_passes_each_side_its_own_args(self) -> None:
        """addCallbacks gives callbackArgs/Keywords to the callback and errbackArgs/Keywords
        to the errback, never mixing them."""
        seen: list[tuple[object, ...]] = []

        def cb(result: object, *a: object, **kw: object) -> None:
            seen.append(("cb", result, a, kw))

        def eb(failure: Failure, *a: object, **kw: object) -> None:
            seen.append(("eb", failure.type, a, kw))

        for fire in ("callback", "errback"):
            d: Deferred[str] = Deferred()
            d.addCallbacks(
                cb,
                eb,
                callbackArgs=(1, 2),
                callbackKeywords={"x": 3},
                errbackArgs=(4,),
                errbackKeywords={"y": 5},
            )
            if fire == "callback":
                d.callback("R")
            else:
                d.errback(Boom())
        assert seen == [("cb", "R", (1, 2), {"x": 3}), ("eb", Boom, (4,), {"y": 5})]

    def test_add_callbacks_without_errback_passes_failure_through(self) -> None:
        """addCallbacks(cb) with no errback lets a failure pass by to the next errback."""
        calls: list[object] = []
        d: Deferred[int] = Deferred()
        d.addCallbacks(calls.append)
        d.errback(Boom("through"))
        assert calls == []
        assert failure_result_of(d, Boom).getErrorMessage() == "through"

    def test_add_methods_return_the_same_deferred(self) -> None:
        """addCallback, addErrback, addBoth and addCallbacks all return the Deferred itself."""
        d: Deferred[int] = Deferred()
        assert d.addCallback(lambda r: r) is d
        assert d.addErrback(lambda f: f) is d
        assert d.addBoth(lambda r: r) is d
        assert d.addCallbacks(lambda r: r, lambda f: f) is d


# ---------------------------------------------------------------------------
# Results and firing


class TestResultSemantics:
    def test_unfired_has_no_result_attribute(self) -> None:
        """A new Deferred has no ``result`` attribute, ``called`` False, ``paused`` 0."""
        d: Deferred[int] = Deferred()
        assert not hasattr(d, "result")
        assert d.called is False
        assert d.paused == 0

    def test_callback_sets_result_and_called(self) -> None:
        """callback(x) sets ``called`` True and ``result`` to x when no callbacks exist."""
        d: Deferred[str] = Deferred()
        d.callback("value")
        assert d.called is True
        assert d.result == "value"

    def test_callbacks_run_in_order_each_getting_previous_result(self) -> None:
        """Each callback receives the return value of the one before, in the order added."""
        d: Deferred[int] = Deferred()
        d.addCallback(lambda r: r + 1)
        d.addCallback(lambda r: r * 10)
        d.addCallback(lambda r: [r])
        d.callback(1)
        assert d.result == [20]

    def test_callbacks_added_after_firing_run_at_once(self) -> None:
        """A callback added to a fired Deferred runs immediately, with the current result."""
        d = succeed(3)
        seen: list[int] = []
        d.addCallback(seen.append)
        assert seen == [3]
        assert d.result is None

    def test_exception_in_callback_becomes_failure_for_next_errback(self) -> None:
        """An exception raised by a callback skips later callbacks and reaches the next
        errback as a Failure of that exception (with a live traceback)."""
        log: list[object] = []

        def explode(result: object) -> None:
            raise Boom("from callback")

        def eb(failure: Failure) -> str:
            log.append(("eb", failure.type, failure.getErrorMessage(), failure.tb is not None))
            return "handled"

        d: Deferred[int] = Deferred()
        d.addCallback(explode)
        d.addCallback(_record(log, "skipped"))
        d.addErrback(eb)
        d.addCallback(_record(log, "after"))
        d.callback(1)
        assert log == [("eb", Boom, "from callback", True), ("after", "handled")]

    def test_returning_failure_from_callback_switches_to_errback_path(self) -> None:
        """A callback that returns a Failure (not raising) sends the chain down errbacks."""
        log: list[object] = []
        d: Deferred[int] = Deferred()
        d.addCallback(lambda r: Failure(Boom("returned")))
        d.addCallback(_record(log, "skipped"))
        d.addErrback(lambda f: log.append(("eb", f.getErrorMessage())))
        d.callback(1)
        assert log == [("eb", "returned")]

    def test_error_raised_inside_errback_goes_to_next_errback(self) -> None:
        """An errback that raises replaces the failure with the new exception."""
        log: list[object] = []

        def reraise(failure: Failure) -> None:
            raise KeyError("second")

        d: Deferred[int] = Deferred()
        d.addErrback(reraise)
        d.addErrback(lambda f: log.append((f.type, f.value.args)))
        d.errback(Boom("first"))
        assert log == [(KeyError, ("second",))]

    def test_errback_returning_value_goes_back_to_callbacks(self) -> None:
        """An errback that returns a non-Failure value resumes the callback path with it."""
        log: list[object] = []
        d: Deferred[int] = Deferred()
        d.addCallback(_record(log, "cb-skipped"))
        d.addErrback(lambda f: 42)
        d.addCallbacks(_record(log, "cb"), _record(log, "eb-skipped"))
        d.errback(Boom())
        assert log == [("cb", 42)]

    def test_errback_returning_failure_keeps_failing(self) -> None:
        """An errback that returns its Failure keeps the chain on the errback path."""
        log: list[object] = []
        d: Deferred[int] = Deferred()
        d.addErrback(lambda f: f)
        d.addCallback(_record(log, "cb-skipped"))
        d.addErrback(lambda f: log.append(("eb", f.type)))
        d.errback(Boom())
        assert log == [("eb", Boom)]

    def test_callback_with_failure_runs_errbacks(self) -> None:
        """callback(aFailure) behaves like errback(aFailure)."""
        d: Deferred[int] = Deferred()
        d.callback(Failure(Boom("via callback")))
        assert failure_result_of(d, Boom).getErrorMessage() == "via callback"

    def test_errback_wraps_exception_instances(self) -> None:
        """errback(exc) wraps the exception in a Failure whose value is that instance."""
        error = Boom("wrapped")
        d: Deferred[int] = Deferred()
        d.errback(error)
        failure = failure_result_of(d, Boom)
        assert failure.value is error
        assert failure.type is Boom

    def test_errback_without_argument_uses_current_exception(self) -> None:
        """errback() inside an ``except`` block captures the exception being handled."""
        d: Deferred[int] = Deferred()
        try:
            raise Boom("current")
        except Boom:
            d.errback()
        failure = failure_result_of(d, Boom)
        assert failure.getErrorMessage() == "current"
        assert failure.frames[-1][0] == "test_errback_without_argument_uses_current_exception"

    def test_errback_without_argument_outside_except_raises(self) -> None:
        """errback() with no exception being handled raises NoCurrentExceptionError."""
        d: Deferred[int] = Deferred()
        with pytest.raises(NoCurrentExceptionError):
            d.errback()
        assert not d.called

    def test_second_callback_raises_already_called(self) -> None:
        """Firing twice (any mix of callback/errback) raises AlreadyCalledError and keeps
        the first result."""
        d: Deferred[int] = Deferred()
        d.callback(1)
        with pytest.raises(AlreadyCalledError):
            d.callback(2)
        with pytest.raises(AlreadyCalledError):
            d.errback(Boom())
        assert success_result_of(d) == 1

    def test_callback_after_errback_raises_already_called(self) -> None:
        """callback after errback raises AlreadyCalledError; the failure stays."""
        d: Deferred[int] = Deferred()
        d.errback(Boom())
        with pytest.raises(AlreadyCalledError):
            d.callback(1)
        failure_result_of(d, Boom)

    def test_already_called_error_is_an_exception(self) -> None:
        """AlreadyCalledError derives from Exception (caught by ``except Exception``)."""
        assert issubclass(AlreadyCalledError, Exception)

    def test_callback_with_deferred_raises_assertion_error(self) -> None:
        """callback(aDeferred) is refused with AssertionError and leaves the Deferred unfired.

        (Twisted 26.10 dropped this assertion; torsion keeps the older, stricter check.)
        """
        d: Deferred[object] = Deferred()
        with pytest.raises(AssertionError):
            d.callback(Deferred())
        assert not d.called

    def test_callback_returning_own_deferred_warns(self) -> None:
        """A callback that returns the Deferred it is attached to gets a DeprecationWarning,
        and that Deferred becomes its own result."""
        d: Deferred[object] = Deferred()
        d.addCallback(lambda _: d)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            d.callback(1)
        assert [w.category for w in caught] == [DeprecationWarning]
        assert "Callback returned the Deferred it was attached to" in str(caught[0].message)
        assert d.result is d


# ---------------------------------------------------------------------------
# Callbacks added while callbacks run


class TestReentrancy:
    def test_callback_added_during_callback_runs_after_the_others(self) -> None:
        """A callback added by a running callback runs too, after those already queued."""
        log: list[str] = []
        d: Deferred[None] = Deferred()

        def first(result: None) -> None:
            log.append("first")
            d.addCallback(lambda _: log.append("added"))

        d.addCallback(first)
        d.addCallback(lambda _: log.append("second"))
        d.callback(None)
        assert log == ["first", "second", "added"]

    def test_callback_added_during_last_callback_runs(self) -> None:
        """A callback added by the last running callback still runs, with its result."""
        log: list[object] = []
        d: Deferred[int] = Deferred()

        def last(result: int) -> int:
            d.addCallback(log.append)
            return result + 1

        d.addCallback(last)
        d.callback(1)
        assert log == [2]

    def test_nested_add_callback_sees_result_at_its_point(self) -> None:
        """Callbacks added during a callback get the result as it stands at the end of the
        chain, not the value the running callback received."""
        log: list[object] = []
        d: Deferred[int] = Deferred()

        def grow(result: int) -> int:
            d.addCallback(lambda r: log.append(("nested", r)))
            return result * 2

        d.addCallback(grow)
        d.addCallback(lambda r: r + 1)
        d.callback(5)
        assert log == [("nested", 11)]


# ---------------------------------------------------------------------------
# chainDeferred


class TestChainDeferred:
    def test_chain_deferred_passes_result_and_continues_with_none(self) -> None:
        """a.chainDeferred(b) fires b with a's result; a's chain then goes on with None."""
        a: Deferred[int] = Deferred()
        b: Deferred[int] = Deferred()
        returned = a.chainDeferred(b)
        assert returned is a
        a.callback(5)
        assert success_result_of(b) == 5
        assert success_result_of(a) is None

    def test_chain_deferred_passes_failure(self) -> None:
        """A failure reaches the chained Deferred's errbacks; the source then holds None."""
        a: Deferred[int] = Deferred()
        b: Deferred[int] = Deferred()
        a.chainDeferred(b)
        a.errback(Boom("chained"))
        assert failure_result_of(b, Boom).getErrorMessage() == "chained"
        assert success_result_of(a) is None

    def test_chained_deferred_reports_waiting_until_fired(self) -> None:
        """The chained-to Deferred's repr says it is waiting on the source until it fires."""
        a: Deferred[int] = Deferred()
        b: Deferred[int] = Deferred()
        a.chainDeferred(b)
        assert b._chainedTo is a
        assert f"waiting on Deferred at 0x{id(a):x}" in repr(b)
        a.callback(1)
        assert b._chainedTo is None
        assert "waiting on" not in repr(b)

    def test_chain_deferred_point_in_chain(self) -> None:
        """chainDeferred hands over the result as it is at the point it was added."""
        a: Deferred[int] = Deferred()
        b: Deferred[int] = Deferred()
        a.addCallback(lambda r: r + 1)
        a.chainDeferred(b)
        a.addCallback(lambda r: "after" if r is None else "bad")
        a.callback(1)
        assert success_result_of(b) == 2
        assert success_result_of(a) == "after"


# ---------------------------------------------------------------------------
# pause / unpause


class TestPause:
    def test_pause_before_firing_holds_callbacks(self) -> None:
        """A paused Deferred records its result on callback() but runs no callbacks until
        unpaused."""
        log: list[object] = []
        d: Deferred[int] = Deferred()
        d.addCallback(_record(log, "cb"))
        d.pause()
        d.callback(1)
        assert d.called
        assert log == []
        d.unpause()
        assert log == [("cb", 1)]

    def test_pause_after_firing_holds_new_callbacks(self) -> None:
        """Callbacks added to a fired but paused Deferred wait for unpause."""
        log: list[object] = []
        d = succeed("x")
        d.pause()
        d.addCallback(_record(log, "cb"))
        assert log == []
        d.unpause()
        assert log == [("cb", "x")]

    def test_nested_pauses_need_as_many_unpauses(self) -> None:
        """Two pauses need two unpauses before callbacks run; ``paused`` counts them."""
        log: list[object] = []
        d: Deferred[int] = Deferred()
        d.addCallback(_record(log, "cb"))
        d.pause()
        d.pause()
        assert d.paused == 2
        d.callback(1)
        d.unpause()
        assert d.paused == 1
        assert log == []
        d.unpause()
        assert d.paused == 0
        assert log == [("cb", 1)]

    def test_pause_inside_callback_holds_later_additions(self) -> None:
        """As in Twisted, a callback pausing its own Deferred does not stop the callbacks
        already queued behind it, but the Deferred stays paused: callbacks added afterwards
        wait for unpause."""
        log: list[object] = []
        d: Deferred[int] = Deferred()

        def pausing(result: int) -> int:
            d.pause()
            log.append("paused")
            return result + 1

        d.addCallback(pausing)
        d.addCallback(_record(log, "after"))
        d.callback(1)
        assert log == ["paused", ("after", 2)]
        assert d.paused == 1
        d.addCallback(_record(log, "late"))
        assert log == ["paused", ("after", 2)]
        d.unpause()
        assert log == ["paused", ("after", 2), ("late", 2)]
        assert d.paused == 0

    def test_pause_inside_callback_returning_deferred(self) -> None:
        """A callback that pauses its Deferred and returns an unfired one: the inner firing
        alone does not resume the chain; the matching unpause does."""
        log: list[object] = []
        d: Deferred[int] = Deferred()
        inner: Deferred[int] = Deferred()

        def pausing(result: int) -> Deferred[int]:
            d.pause()
            return inner

        d.addCallback(pausing)
        d.addCallback(_record(log, "after"))
        d.callback(1)
        inner.callback(2)
        assert log == []
        assert d.paused == 1
        d.unpause()
        assert log == [("after", 2)]

    def test_unpause_inside_callback_is_picked_up(self) -> None:
        """Pausing and unpausing from inside the same callback lets the chain continue."""
        log: list[object] = []
        d: Deferred[int] = Deferred()

        def toggle(result: int) -> int:
            d.pause()
            d.unpause()
            return result

        d.addCallback(toggle)
        d.addCallback(_record(log, "after"))
        d.callback(7)
        assert log == [("after", 7)]

    def test_unpause_unfired_runs_nothing(self) -> None:
        """Unpausing an unfired Deferred runs no callbacks."""
        log: list[object] = []
        d: Deferred[int] = Deferred()
        d.addCallback(_record(log, "cb"))
        d.pause()
        d.unpause()
        assert log == []
        assert_no_result(d)


# ---------------------------------------------------------------------------
# A callback returning a Deferred


class TestChaining:
    def test_unfired_inner_pauses_outer_until_it_fires(self) -> None:
        """A callback returning an unfired Deferred pauses the outer chain; when the inner
        fires, the outer resumes with the inner's result."""
        log: list[object] = []
        inner: Deferred[str] = Deferred()
        outer: Deferred[int] = Deferred()
        outer.addCallback(lambda _: inner)
        outer.addCallback(_record(log, "outer"))
        outer.callback(0)
        assert log == []
        assert outer.paused == 1
        inner.callback("inner result")
        assert log == [("outer", "inner result")]
        assert outer.paused == 0
        assert outer.result == "inner result"

    def test_inner_result_is_consumed(self) -> None:
        """Once the outer Deferred takes the inner's result, the inner's result is None."""
        inner: Deferred[int] = Deferred()
        outer: Deferred[int] = Deferred()
        outer.addCallback(lambda _: inner)
        outer.callback(0)
        inner.callback(4)
        assert inner.result is None
        assert outer.result == 4

    def test_fired_inner_is_used_at_once(self) -> None:
        """A callback returning an already-fired Deferred continues synchronously with its
        result, and the inner's result becomes None."""
        log: list[object] = []
        inner = succeed(3)
        outer: Deferred[int] = Deferred()
        outer.addCallback(lambda _: inner)
        outer.addCallback(_record(log, "outer"))
        outer.callback(0)
        assert log == [("outer", 3)]
        assert outer.paused == 0
        assert inner.result is None

    def test_failing_inner_reaches_outer_errbacks(self) -> None:
        """An inner Deferred's failure continues down the outer chain's errbacks, and
        handling it there leaves no unhandled error on the inner."""
        inner: Deferred[int] = Deferred()
        outer: Deferred[int] = Deferred()
        outer.addCallback(lambda _: inner)
        outer.callback(0)
        inner.errback(Boom("inner failed"))
        assert failure_result_of(outer, Boom).getErrorMessage() == "inner failed"
        assert inner.result is None

    def test_errback_returning_deferred_also_chains(self) -> None:
        """An errback returning an unfired Deferred pauses the chain just like a callback."""
        inner: Deferred[str] = Deferred()
        outer: Deferred[str] = Deferred()
        outer.addErrback(lambda f: inner)
        outer.errback(Boom())
        assert_no_result(outer)
        inner.callback("recovered later")
        assert success_result_of(outer) == "recovered later"

    def test_outer_repr_shows_waiting_on_inner(self) -> None:
        """While waiting, the outer's ``_chainedTo`` is the inner and its repr says
        "waiting on Deferred at 0x..."; afterwards it shows the current result."""
        inner: Deferred[int] = Deferred()
        outer: Deferred[int] = Deferred()
        outer.addCallback(lambda _: inner)
        outer.callback(0)
        assert outer._chainedTo is inner
        assert repr(outer) == (
            f"<Deferred at 0x{id(outer):x} waiting on Deferred at 0x{id(inner):x}>"
        )
        inner.callback(9)
        assert outer._chainedTo is None
        assert repr(outer) == f"<Deferred at 0x{id(outer):x} current result: 9>"

    def test_repr_and_str_forms(self) -> None:
        """repr/str: no result shown before firing, ``current result: <repr>`` after;
        subclasses show their own class name."""
        d: Deferred[str] = Deferred()
        assert repr(d) == f"<Deferred at 0x{id(d):x}>"
        assert str(d) == repr(d)
        d.callback("x")
        assert repr(d) == f"<Deferred at 0x{id(d):x} current result: 'x'>"

        class MyDeferred(Deferred[int]):
            pass

        m = MyDeferred()
        assert repr(m) == f"<MyDeferred at 0x{id(m):x}>"

    def test_deferred_waiting_on_deferred_waiting_on_deferred(self) -> None:
        """Three levels: each waits on the next; firing the innermost completes all."""
        innermost: Deferred[str] = Deferred()
        middle: Deferred[str] = Deferred()
        outer: Deferred[str] = Deferred()
        middle.addCallback(lambda _: innermost)
        outer.addCallback(lambda _: middle)
        outer.callback("o")
        middle.callback("m")
        assert_no_result(outer)
        innermost.callback("deep")
        assert success_result_of(outer) == "deep"
        assert middle.result is None


# ---------------------------------------------------------------------------
# Long chains: iterative, never recursive


N = 10_000


class TestLongChains:
    def _build(self) -> list[Deferred[object]]:
        """N Deferreds where Deferred i's callback returns Deferred i+1."""
        ds: list[Deferred[object]] = [Deferred() for _ in range(N)]
        for here, nxt in pairwise(ds):
            here.addCallback(lambda _, nxt=nxt: nxt)
        return ds

    def test_chain_fired_outer_first_completes(self) -> None:
        """10,000 Deferreds each waiting on the next, fired outermost first and the
        innermost last, unwind with no RecursionError and deliver the result to the top."""
        ds = self._build()
        for d in ds[:-1]:
            d.callback(None)
        assert_no_result(ds[0])
        ds[-1].callback("bottom")
        assert success_result_of(ds[0]) == "bottom"
        assert all(d.paused == 0 for d in ds)

    def test_chain_fired_inner_first_completes(self) -> None:
        """The same chain fired innermost first (each outer then finds its inner already
        fired) completes without RecursionError."""
        ds = self._build()
        ds[-1].callback("bottom")
        for d in reversed(ds[:-1]):
            d.callback(None)
        assert success_result_of(ds[0]) == "bottom"

    def test_chain_of_failures_unwinds(self) -> None:
        """A failure at the bottom of a 10,000-deep chain reaches the top's errback."""
        ds = self._build()
        for d in ds[:-1]:
            d.callback(None)
        ds[-1].errback(Boom("bottom"))
        assert failure_result_of(ds[0], Boom).getErrorMessage() == "bottom"

    def test_ten_thousand_callbacks_on_one_deferred(self) -> None:
        """10,000 callbacks on one Deferred run in order without recursion."""
        d: Deferred[int] = Deferred()
        for _ in range(N):
            d.addCallback(lambda r: r + 1)
        d.callback(0)
        assert success_result_of(d) == N

    def test_ten_thousand_alternating_errors(self) -> None:
        """Alternating raising callbacks and recovering errbacks, 10,000 deep, end where
        expected."""
        d: Deferred[int] = Deferred()

        def explode(r: int) -> int:
            raise Boom(r)

        for _ in range(N // 2):
            d.addCallback(explode)
            d.addErrback(lambda f: f.value.args[0] + 1)
        d.callback(0)
        assert success_result_of(d) == N // 2

    def test_ten_thousand_fired_inner_deferreds(self) -> None:
        """10,000 callbacks each returning an already-fired Deferred complete."""
        d: Deferred[int] = Deferred()
        for _ in range(N):
            d.addCallback(lambda r: succeed(r + 1))
        d.callback(0)
        assert success_result_of(d) == N


def test_fail_helper_result_is_failure() -> None:
    """fail(exc) gives a fired Deferred whose result is a Failure of exc."""
    d = fail(Boom("helper"))
    assert d.called
    assert isinstance(d.result, Failure)
    assert failure_result_of(d, Boom).getErrorMessage() == "helper"


# ---------------------------------------------------------------------------
# Random chains against a model

_KINDS = ("callback", "errback", "both")
_ACTIONS = ("inc", "raise", "pass", "inner_fired", "inner_failed", "inner_pending")


def _model(start: tuple[str, object], steps: list[tuple[str, str]]) -> tuple[str, object]:
    """The result a chain of ``steps`` should end with, computed without Deferreds."""
    state = start
    for index, (kind, action) in enumerate(steps):
        ok = state[0] == "ok"
        if (kind == "callback" and not ok) or (kind == "errback" and ok):
            continue
        if action == "pass":
            continue
        if action in ("raise", "inner_failed"):
            state = ("fail", f"{action}{index}")
        else:
            state = ("ok", state[1] + 1 if ok else 100)  # type: ignore[operator]
    return state


@given(
    fire_ok=st.booleans(),
    steps=st.lists(st.tuples(st.sampled_from(_KINDS), st.sampled_from(_ACTIONS)), max_size=12),
)
@settings(max_examples=150, deadline=None)
def test_random_chains_match_model(fire_ok: bool, steps: list[tuple[str, str]]) -> None:
    """Any chain of callbacks/errbacks/addBoth steps that increment, raise, pass the
    result through, or return fired, failed or later-fired Deferreds ends with the result
    a plain model of the callback rules predicts."""
    pending: list[tuple[Deferred[int], int]] = []

    def make(index: int, action: str) -> Any:
        def step(result: object) -> object:
            value = 100 if isinstance(result, Failure) else result + 1  # type: ignore[operator]
            if action == "pass":
                return result
            if action == "raise":
                raise Boom(f"raise{index}")
            if action == "inc":
                return value
            if action == "inner_fired":
                return succeed(value)
            if action == "inner_failed":
                return fail(Boom(f"inner_failed{index}"))
            inner: Deferred[int] = Deferred()
            pending.append((inner, value))
            return inner

        return step

    d: Deferred[int] = Deferred()
    for index, (kind, action) in enumerate(steps):
        fn = make(index, action)
        if kind == "callback":
            d.addCallback(fn)
        elif kind == "errback":
            d.addErrback(fn)
        else:
            d.addBoth(fn)
    start: tuple[str, object] = ("ok", 0) if fire_ok else ("fail", "start")
    if fire_ok:
        d.callback(0)
    else:
        d.errback(Boom("start"))
    while pending:
        inner, value = pending.pop(0)
        inner.callback(value)
    seen: list[object] = []
    d.addBoth(seen.append)
    assert len(seen) == 1
    outcome = seen[0]
    actual = (
        ("fail", outcome.getErrorMessage()) if isinstance(outcome, Failure) else ("ok", outcome)
    )
    assert actual == _model(start, steps)
