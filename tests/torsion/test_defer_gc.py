"""Tests for Deferreds and garbage collection: unhandled-error reports, cleaned
failures, and no reference cycles keeping finished Deferreds alive."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from torsion.defer import Deferred, ensureDeferred, inlineCallbacks, succeed
from torsion.failure import Failure
from torsion.testing import failure_result_of, success_result_of


class Boom(Exception):
    """A recognisable application error."""


@pytest.fixture
def no_gc() -> Iterator[None]:
    """Disable the cycle collector for one test: only reference counting frees objects."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _raise_boom(message: str) -> None:
    raise Boom(message)


def _failing_deferred(message: str) -> Deferred[None]:
    """A Deferred whose callback raised Boom(message) in ``_raise_boom``."""
    d: Deferred[None] = Deferred()
    d.addCallback(lambda _: _raise_boom(message))
    d.callback(None)
    return d


class TestUnhandledErrors:
    def test_unhandled_failure_is_logged_when_collected(self, logged_failures: Any) -> None:
        """A Deferred left failing with nobody handling it reports the failure when it is
        garbage-collected (not before)."""
        d = _failing_deferred("nobody cares")
        assert logged_failures.flush() == []
        del d
        failures = logged_failures.flush(Boom)
        assert [f.getErrorMessage() for f in failures] == ["nobody cares"]

    def test_unhandled_report_text(self, logged_failures: Any, caplog: Any) -> None:
        """torsion-specific: the report is logged on "torsion.defer" at ERROR, reads
        "Unhandled error in Deferred:" and carries the traceback (the raising function and
        the exception line), with the Failure as ``record.failure``."""
        with caplog.at_level(logging.ERROR, logger="torsion.defer"):
            d = _failing_deferred("with traceback")
            del d
            logged = logged_failures.flush(Boom)
        records = [r for r in caplog.records if r.name == "torsion.defer"]
        assert len(records) == 1
        record = records[0]
        assert record.levelno == logging.ERROR
        assert record.failure is logged[0]
        text = record.getMessage()
        assert text.startswith("Unhandled error in Deferred:")
        assert "Traceback (most recent call last):" in text
        assert "in _raise_boom" in text
        assert "raise Boom(message)" in text
        assert "test_defer_gc.Boom: with traceback" in text

    def test_handled_failure_is_not_logged(self, logged_failures: Any) -> None:
        """A failure handled by an errback is not reported when the Deferred is collected."""
        d = _failing_deferred("handled")
        d.addErrback(lambda f: None)
        del d
        assert logged_failures.flush() == []

    def test_failure_handled_late_is_not_logged(self, logged_failures: Any) -> None:
        """An errback added long after the chain stopped still counts as handling it."""
        d = _failing_deferred("handled late")
        gc.collect()
        d.addErrback(lambda f: "ok")
        assert success_result_of(d) == "ok"
        del d
        assert logged_failures.flush() == []

    def test_failure_passed_to_outer_is_reported_once(self, logged_failures: Any) -> None:
        """A failing inner Deferred whose failure moved to an outer Deferred is reported
        only by the outer (once), not by the inner."""
        inner: Deferred[None] = Deferred()
        outer: Deferred[None] = Deferred()
        outer.addCallback(lambda _, inner=inner: inner)
        outer.callback(None)
        inner.errback(Boom("moved"))
        del inner
        assert logged_failures.flush() == []
        del outer
        assert [f.getErrorMessage() for f in logged_failures.flush(Boom)] == ["moved"]

    def test_failure_in_cycle_is_logged_when_collected(self, logged_failures: Any) -> None:
        """A failing Deferred caught in a reference cycle is still collected by the cycle
        collector, and its unhandled failure reported."""
        d = _failing_deferred("in a cycle")
        ref = weakref.ref(d)
        d.me = d  # type: ignore[attr-defined]
        del d
        gc.collect()
        assert ref() is None
        assert [f.getErrorMessage() for f in logged_failures.flush(Boom)] == ["in a cycle"]

    def test_failure_recovered_then_failed_again(self, logged_failures: Any) -> None:
        """Only the failure standing at the end of the chain is reported."""
        d = _failing_deferred("first")
        d.addErrback(lambda f: None)
        d.addCallback(lambda _: _raise_boom("second"))
        del d
        assert [f.getErrorMessage() for f in logged_failures.flush(Boom)] == ["second"]

    def test_unhandled_failure_in_coroutine_is_logged(self, logged_failures: Any) -> None:
        """A coroutine that raises, whose Deferred nobody handles, is reported."""

        async def work() -> None:
            raise Boom("coroutine")

        d = ensureDeferred(work())
        del d
        assert [f.getErrorMessage() for f in logged_failures.flush(Boom)] == ["coroutine"]


class TestCleanedFailures:
    def test_failure_at_end_of_chain_is_cleaned(self) -> None:
        """A Failure the chain stopped on holds no live traceback (``tb`` None, the
        exception's ``__traceback__`` None) but keeps its frames for reporting.

        (torsion cleans, as Twisted did before 26.x; Twisted 26.10 keeps ``tb``.)"""
        d = _failing_deferred("cleaned")
        failure = d.result
        assert isinstance(failure, Failure)
        assert failure.tb is None
        assert failure.value.__traceback__ is None
        assert [frame[0] for frame in failure.frames][-1] == "_raise_boom"
        text = failure.getTraceback()
        assert "in _raise_boom" in text
        assert "test_defer_gc.Boom: cleaned" in text
        failure_result_of(d, Boom)

    def test_failure_passed_to_errback_is_live(self) -> None:
        """While errbacks run, the Failure from a raising callback still has its live
        traceback (so an errback can re-raise with it)."""
        seen: list[bool] = []
        d: Deferred[None] = Deferred()
        d.addCallback(lambda _: _raise_boom("live"))
        d.addErrback(lambda f: seen.append(f.tb is not None))
        d.callback(None)
        assert seen == [True]

    def test_cleaned_failure_does_not_pin_locals(self, no_gc: None) -> None:
        """A failing chain's cleaned Failure keeps no frame alive, so the raising
        function's locals are freed by reference counting alone."""

        class Marker:
            pass

        marker_ref: list[weakref.ref[Marker]] = []

        def raise_with_local(_: object) -> None:
            local = Marker()
            marker_ref.append(weakref.ref(local))
            raise Boom("locals")

        d: Deferred[None] = Deferred()
        d.addCallback(raise_with_local)
        d.callback(None)
        assert marker_ref[0]() is None
        failure_result_of(d, Boom)


class TestNoCycles:
    def test_fired_deferred_with_canceller_is_freed(self, no_gc: None) -> None:
        """A canceller that refers back to its Deferred (a bound method of its owner)
        does not keep the fired Deferred alive: refcounting alone frees it."""

        class Owner:
            def __init__(self) -> None:
                self.d: Deferred[int] = Deferred(self.cancel)

            def cancel(self, d: Deferred[int]) -> None:
                pass

        owner = Owner()
        ref = weakref.ref(owner.d)
        owner.d.callback(1)
        del owner
        assert ref() is None

    def test_succeed_is_freed(self, no_gc: None) -> None:
        """A fired Deferred with callbacks run is freed once dropped."""
        d = succeed(1)
        d.addCallback(lambda r: r + 1)
        ref = weakref.ref(d)
        del d
        assert ref() is None

    def test_chained_deferreds_are_freed(self, no_gc: None) -> None:
        """Outer and inner Deferreds of a finished chain are freed by refcounting."""
        inner: Deferred[int] = Deferred()
        outer: Deferred[int] = Deferred()
        outer.addCallback(lambda _, inner=inner: inner)
        outer.callback(0)
        inner.callback(1)
        refs = [weakref.ref(inner), weakref.ref(outer)]
        del inner, outer
        assert [r() for r in refs] == [None, None]

    def test_coroutine_deferred_is_freed(self, no_gc: None) -> None:
        """The Deferred of a finished coroutine (and the one it awaited) is freed once
        dropped, without the cycle collector."""
        waiting: Deferred[int] = Deferred()

        async def work(w: Deferred[int]) -> int:
            return await w

        d = ensureDeferred(work(waiting))
        waiting.callback(5)
        assert success_result_of(d) == 5
        refs = [weakref.ref(d), weakref.ref(waiting)]
        del d, waiting
        assert [r() for r in refs] == [None, None]

    def test_failed_coroutine_deferred_is_freed(self, no_gc: None) -> None:
        """The Deferred of a coroutine that failed (failure handled) is freed too."""

        async def work() -> None:
            raise Boom("freed")

        d = ensureDeferred(work())
        failure_result_of(d, Boom)
        ref = weakref.ref(d)
        del d
        assert ref() is None

    def test_inline_callbacks_deferred_is_freed(self, no_gc: None) -> None:
        """The Deferred of a finished inlineCallbacks generator is freed once dropped."""
        waiting: Deferred[int] = Deferred()

        @inlineCallbacks
        def work() -> Generator[Deferred[int], int, int]:
            value = yield waiting
            return value

        d = work()
        waiting.callback(3)
        assert success_result_of(d) == 3
        ref = weakref.ref(d)
        del d
        assert ref() is None

    def test_cancelled_coroutine_deferred_is_freed(self, no_gc: None) -> None:
        """A coroutine's Deferred that was cancelled (and handled) is freed (stricter than
        Twisted 26.10, which needs the cycle collector here)."""

        async def work() -> int:
            return await Deferred()

        d = ensureDeferred(work())
        d.cancel()
        d.addErrback(lambda f: None)
        ref = weakref.ref(d)
        del d
        assert ref() is None
