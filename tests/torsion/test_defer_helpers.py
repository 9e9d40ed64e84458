"""Tests for the module-level helpers of torsion.defer: succeed, fail, execute,
maybeDeferred, passthru, timeout, logError and the debugging switch."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from torsion.defer import (
    AlreadyCalledError,
    Deferred,
    TimeoutError,
    execute,
    fail,
    getDebugging,
    logError,
    maybeDeferred,
    passthru,
    setDebugging,
    succeed,
    timeout,
)
from torsion.failure import Failure, NoCurrentExceptionError
from torsion.testing import failure_result_of, success_result_of


class Boom(Exception):
    """A recognisable application error."""


@pytest.fixture
def debugging() -> Iterator[None]:
    """Turn Deferred debugging on for one test, restoring the previous setting after."""
    before = getDebugging()
    setDebugging(True)
    try:
        yield
    finally:
        setDebugging(before)


class TestSucceedFail:
    def test_succeed_is_fired_with_value(self) -> None:
        """succeed(x) returns a Deferred already fired with x (the same object)."""
        value = object()
        d = succeed(value)
        assert isinstance(d, Deferred)
        assert d.called
        assert d.result is value
        assert success_result_of(d) is value

    def test_succeed_none(self) -> None:
        """succeed(None) fires with None."""
        assert success_result_of(succeed(None)) is None

    def test_fail_with_exception(self) -> None:
        """fail(exc) returns a fired Deferred failing with a Failure wrapping exc itself."""
        error = Boom("bad")
        d = fail(error)
        assert d.called
        failure = failure_result_of(d, Boom)
        assert failure.value is error

    def test_fail_with_failure_uses_it(self) -> None:
        """fail(aFailure) fails with that very Failure object."""
        f = Failure(Boom("given"))
        d = fail(f)
        assert failure_result_of(d) is f

    def test_fail_without_argument_inside_except(self) -> None:
        """fail() inside an ``except`` block wraps the exception being handled, with its
        traceback frames."""
        try:
            raise Boom("current")
        except Boom:
            d = fail()
        failure = failure_result_of(d, Boom)
        assert failure.getErrorMessage() == "current"
        assert failure.frames[-1][0] == "test_fail_without_argument_inside_except"

    def test_fail_without_argument_outside_except_raises(self) -> None:
        """fail() with no exception being handled raises NoCurrentExceptionError."""
        with pytest.raises(NoCurrentExceptionError):
            fail()


class TestExecute:
    def test_execute_success(self) -> None:
        """execute(f, *a, **kw) calls f at once and returns a Deferred fired with its value."""
        calls: list[tuple[object, ...]] = []

        def f(a: int, *, b: int) -> int:
            calls.append((a, b))
            return a + b

        d = execute(f, 1, b=2)
        assert calls == [(1, 2)]
        assert success_result_of(d) == 3

    def test_execute_failure(self) -> None:
        """execute(f) returns a failed Deferred when f raises; the exception does not
        escape."""

        def f() -> None:
            raise Boom("executed")

        failure = failure_result_of(execute(f), Boom)
        assert failure.getErrorMessage() == "executed"
        assert failure.frames[-1][0] == "f"


class TestMaybeDeferred:
    def test_plain_value(self) -> None:
        """maybeDeferred(f, *a, **kw) wraps a plain return value in a fired Deferred."""
        d = maybeDeferred(lambda a, b: (a, b), 1, b=2)
        assert success_result_of(d) == (1, 2)

    def test_returned_deferred_is_passed_through(self) -> None:
        """A Deferred returned by f is returned itself, not wrapped."""
        inner: Deferred[int] = Deferred()
        assert maybeDeferred(lambda: inner) is inner

    def test_returned_failure_gives_failed_deferred(self) -> None:
        """A Failure returned by f gives a Deferred failing with that Failure."""
        f = Failure(Boom("returned"))
        d = maybeDeferred(lambda: f)
        assert failure_result_of(d, Boom) is f

    def test_raised_exception_gives_failed_deferred(self) -> None:
        """An exception raised by f gives a failed Deferred (never raises), with frames."""

        def raiser() -> None:
            raise Boom("raised")

        d = maybeDeferred(raiser)
        failure = failure_result_of(d, Boom)
        assert failure.getErrorMessage() == "raised"
        assert failure.frames[-1][0] == "raiser"

    def test_coroutine_is_run(self) -> None:
        """A coroutine returned by f is run; the Deferred fires with its return value."""

        async def co(x: int) -> int:
            return x * 2

        d = maybeDeferred(co, 21)
        assert success_result_of(d) == 42

    def test_coroutine_awaiting_pending_deferred(self) -> None:
        """A coroutine from f awaiting an unfired Deferred: the result comes when it fires."""
        waiting: Deferred[int] = Deferred()

        async def co() -> int:
            return (await waiting) + 1

        d = maybeDeferred(co)
        assert not d.called
        waiting.callback(1)
        assert success_result_of(d) == 2

    def test_failing_coroutine(self) -> None:
        """A coroutine from f that raises gives a failed Deferred."""

        async def co() -> None:
            raise Boom("in coroutine")

        failure_result_of(maybeDeferred(co), Boom)


def test_passthru_returns_argument() -> None:
    """passthru(x) returns x itself (for values and Failures)."""
    value = object()
    assert passthru(value) is value
    f = Failure(Boom())
    assert passthru(f) is f


def test_timeout_is_deprecated_and_errbacks() -> None:
    """timeout(d) warns DeprecationWarning (pointing at the caller) and errbacks d with
    TimeoutError("Callback timed out")."""
    d: Deferred[int] = Deferred()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        timeout(d)
    assert [w.category for w in caught] == [DeprecationWarning]
    assert caught[0].filename == __file__
    failure = failure_result_of(d, TimeoutError)
    assert failure.value.args == ("Callback timed out",)


class TestLogError:
    def test_log_error_returns_failure_and_logs_it(self, logged_failures: Any) -> None:
        """logError(f) logs f (as an unhandled-error report) and returns f unchanged, so
        it can sit in an errback chain."""
        d = fail(Boom("logged"))
        d.addErrback(logError)
        failure = failure_result_of(d, Boom)
        assert failure.getErrorMessage() == "logged"
        assert logged_failures.flush(Boom) == [failure]

    def test_log_error_record(self, logged_failures: Any, caplog: Any) -> None:
        """torsion-specific: logError logs at ERROR on logger "torsion.defer", with the
        Failure as ``record.failure`` and its traceback in the message."""
        f = Failure(Boom("recorded"))
        with caplog.at_level(logging.ERROR, logger="torsion.defer"):
            assert logError(f) is f
        records = [r for r in caplog.records if r.name == "torsion.defer"]
        assert len(records) == 1
        assert records[0].levelno == logging.ERROR
        assert records[0].failure is f
        assert "Boom: recorded" in records[0].getMessage()
        logged_failures.flush(Boom)


class TestDebugging:
    def test_debugging_off_by_default(self) -> None:
        """Debugging is off unless turned on."""
        assert getDebugging() is False
        assert Deferred.debug is False

    def test_set_and_get_debugging(self, debugging: None) -> None:
        """setDebugging(True) turns it on (getDebugging and Deferred.debug agree);
        setDebugging(False) turns it off; any truthy value is coerced to a bool."""
        assert getDebugging() is True
        assert Deferred.debug is True
        setDebugging(False)
        assert getDebugging() is False
        setDebugging(1)  # type: ignore[arg-type]
        assert getDebugging() is True

    def test_already_called_error_includes_stacks(self, debugging: None) -> None:
        """With debugging on, AlreadyCalledError's message shows where the Deferred was
        created ("C:" lines) and first fired ("I:" lines), naming this test's frames."""

        def make() -> Deferred[int]:
            return Deferred()

        def first_fire(d: Deferred[int]) -> None:
            d.callback(1)

        d = make()
        first_fire(d)
        with pytest.raises(AlreadyCalledError) as info:
            d.callback(2)
        message = str(info.value)
        created = message.index("C: Deferred was created:")
        invoked = message.index("I: First Invoker was:")
        assert created < invoked
        assert "in make" in message[created:invoked]
        assert "in first_fire" in message[invoked:]

    def test_debugging_captures_vars_of_callback_errors(self, debugging: None) -> None:
        """With debugging on, the Failure for an exception raised by a callback captures
        the frames' variables (captureVars); with it off, it does not."""

        def explode(result: object) -> None:
            marker = "seen in locals"  # noqa: F841 - read back through captureVars
            raise Boom("debug vars")

        d: Deferred[None] = Deferred()
        d.addCallback(explode)
        d.callback(None)
        failure = failure_result_of(d, Boom)
        assert failure.captureVars is True
        assert "marker" in [name for name, _ in failure.frames[-1][3]]
        setDebugging(False)
        plain: Deferred[None] = Deferred()
        plain.addCallback(explode)
        plain.callback(None)
        assert failure_result_of(plain, Boom).captureVars is False

    def test_already_called_error_without_debugging_is_bare(self) -> None:
        """With debugging off, AlreadyCalledError carries no stack information."""
        d = succeed(1)
        with pytest.raises(AlreadyCalledError) as info:
            d.callback(2)
        assert "Deferred was created" not in str(info.value)

    def test_unhandled_error_log_includes_debug_info(
        self, debugging: None, logged_failures: Any, caplog: Any
    ) -> None:
        """With debugging on, the "Unhandled error in Deferred" report also shows the
        creation and invocation stacks."""

        def creator() -> Deferred[int]:
            return Deferred()

        with caplog.at_level(logging.ERROR, logger="torsion.defer"):
            d = creator()
            d.errback(Boom("debugged"))
            del d
            assert [f.type for f in logged_failures.flush(Boom)] == [Boom]
        messages = [r.getMessage() for r in caplog.records if r.name == "torsion.defer"]
        assert len(messages) == 1
        text = messages[0]
        assert text.startswith("Unhandled error in Deferred:")
        assert "(debug:" in text
        assert "C: Deferred was created:" in text
        assert "in creator" in text
        assert "I: First Invoker was:" in text
        assert "Boom: debugged" in text
