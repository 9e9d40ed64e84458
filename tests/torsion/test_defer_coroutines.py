"""Tests for generators and coroutines over Deferreds: inlineCallbacks, ensureDeferred,
Deferred.fromCoroutine, contextvars, and the asyncio bridges asFuture/fromFuture."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import warnings
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from torsion.defer import (
    Deferred,
    DeferredLock,
    NotACoroutineError,
    ensureDeferred,
    fail,
    inlineCallbacks,
    returnValue,
    succeed,
)
from torsion.failure import Failure
from torsion.testing import assert_no_result, failure_result_of, success_result_of


class Boom(Exception):
    """A recognisable application error."""


N = 10_000


class TestInlineCallbacks:
    def test_plain_return_value(self) -> None:
        """The Deferred fires with the generator's ``return`` value."""

        @inlineCallbacks
        def work() -> Generator[Any, Any, str]:
            yield None
            return "returned"

        assert success_result_of(work()) == "returned"

    def test_arguments_are_passed(self) -> None:
        """The decorated function receives its positional and keyword arguments."""

        @inlineCallbacks
        def work(a: int, *, b: int) -> Generator[Any, Any, int]:
            yield None
            return a * b

        assert success_result_of(work(6, b=7)) == 42

    def test_decorated_function_keeps_name_and_doc(self) -> None:
        """The wrapper keeps the generator function's __name__, __doc__ and __wrapped__."""

        def named() -> Generator[Any, Any, None]:
            """The docstring."""
            yield None

        wrapped = inlineCallbacks(named)
        assert wrapped.__name__ == "named"
        assert wrapped.__doc__ == "The docstring."
        assert wrapped.__wrapped__ is named  # type: ignore[attr-defined]

    def test_yield_of_plain_values_sends_them_back(self) -> None:
        """Yielding a non-Deferred value resumes the generator at once with that value."""

        @inlineCallbacks
        def work() -> Generator[Any, Any, tuple[object, ...]]:
            a = yield 1
            b = yield [2]
            c = yield None
            return (a, b, c)

        assert success_result_of(work()) == (1, [2], None)

    def test_yield_of_fired_deferred(self) -> None:
        """Yielding an already-fired Deferred resumes synchronously with its result."""

        @inlineCallbacks
        def work() -> Generator[Deferred[int], int, int]:
            x = yield succeed(20)
            y = yield succeed(22)
            return x + y

        assert success_result_of(work()) == 42

    def test_yield_of_unfired_deferred_waits(self) -> None:
        """Yielding an unfired Deferred suspends the generator until it fires; the
        yielded Deferred's result is consumed (it holds None afterwards)."""
        waiting: Deferred[str] = Deferred()
        log: list[str] = []

        @inlineCallbacks
        def work() -> Generator[Deferred[str], str, str]:
            log.append("before")
            value = yield waiting
            log.append("after")
            return value.upper()

        d = work()
        assert log == ["before"]
        assert_no_result(d)
        waiting.callback("later")
        assert log == ["before", "after"]
        assert success_result_of(d) == "LATER"
        assert success_result_of(waiting) is None

    def test_failed_deferred_raises_at_yield_and_can_be_caught(self) -> None:
        """Yielding a failed Deferred raises its exception at the yield; the generator
        may catch it and go on."""

        @inlineCallbacks
        def work() -> Generator[Deferred[Any], Any, str]:
            try:
                yield fail(Boom("at yield"))
            except Boom as e:
                caught = str(e)
            value = yield succeed("!")
            return caught + value

        assert success_result_of(work()) == "at yield!"

    def test_pending_failure_raises_at_yield(self) -> None:
        """A Deferred that fails later raises its exception into the suspended generator."""
        waiting: Deferred[int] = Deferred()

        @inlineCallbacks
        def work() -> Generator[Deferred[int], int, str]:
            try:
                yield waiting
            except Boom as e:
                return f"caught {e}"
            return "not caught"

        d = work()
        waiting.errback(Boom("late"))
        assert success_result_of(d) == "caught late"

    def test_uncaught_exception_fails_the_deferred(self) -> None:
        """An exception escaping the generator fails its Deferred (never raises to the
        caller), including before the first yield."""

        @inlineCallbacks
        def early() -> Generator[Any, Any, None]:
            raise Boom("early")
            yield None  # pragma: no cover

        @inlineCallbacks
        def late() -> Generator[Any, Any, None]:
            yield fail(Boom("late"))

        assert failure_result_of(early(), Boom).getErrorMessage() == "early"
        assert failure_result_of(late(), Boom).getErrorMessage() == "late"

    def test_non_generator_function_raises_type_error(self) -> None:
        """Calling a decorated function that does not return a generator raises TypeError
        at call time."""

        def not_a_generator() -> int:
            return 1

        with pytest.raises(TypeError, match="inlineCallbacks requires"):
            inlineCallbacks(not_a_generator)()  # type: ignore[arg-type]

    def test_coroutine_function_raises_type_error(self) -> None:
        """An ``async def`` function is not a generator: TypeError."""

        async def coro() -> int:
            return 1

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the coroutine never awaited
            with pytest.raises(TypeError):
                inlineCallbacks(coro)()  # type: ignore[arg-type]

    def test_return_value_is_deprecated_but_works(self) -> None:
        """returnValue(x) still ends the generator with x, warning DeprecationWarning."""

        @inlineCallbacks
        def work() -> Generator[Any, Any, None]:
            yield None
            returnValue("via returnValue")

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            d = work()
        assert [w.category for w in caught] == [DeprecationWarning]
        assert success_result_of(d) == "via returnValue"

    def test_return_value_in_non_generator_is_type_error(self) -> None:
        """returnValue in a decorated non-generator function raises TypeError."""

        def not_a_generator() -> None:
            returnValue(1)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with pytest.raises(TypeError):
                inlineCallbacks(not_a_generator)()  # type: ignore[arg-type]

    def test_yield_of_coroutine_awaits_it(self) -> None:
        """Yielding a coroutine object runs it and resumes with its return value."""

        async def co() -> int:
            return await succeed(3)

        @inlineCallbacks
        def work() -> Generator[Any, Any, int]:
            value = yield co()
            return value + 1

        assert success_result_of(work()) == 4

    def test_yield_of_paused_fired_deferred_waits_for_unpause(self) -> None:
        """A fired but paused Deferred suspends the generator until it is unpaused."""
        d = succeed(2)
        d.pause()

        @inlineCallbacks
        def work() -> Generator[Deferred[int], int, int]:
            value = yield d
            return value

        result = work()
        assert_no_result(result)
        d.unpause()
        assert success_result_of(result) == 2

    def test_yield_of_deferred_running_its_callbacks(self) -> None:
        """A generator started from inside a callback of the Deferred it yields gets that
        Deferred's result after the callbacks queued before it, and consumes it."""
        d: Deferred[int] = Deferred()
        started: list[Deferred[tuple[str, int]]] = []

        @inlineCallbacks
        def work() -> Generator[Deferred[int], int, tuple[str, int]]:
            value = yield d
            return ("got", value)

        def start_generator(result: int) -> int:
            started.append(work())
            return result + 1

        d.addCallback(start_generator)
        d.addCallback(lambda r: r * 10)
        d.callback(1)
        assert success_result_of(started[0]) == ("got", 20)
        assert success_result_of(d) is None

    def test_ten_thousand_fired_yields(self) -> None:
        """10,000 yields of already-fired Deferreds complete without RecursionError."""

        @inlineCallbacks
        def work() -> Generator[Deferred[int], int, int]:
            total = 0
            for i in range(N):
                total += yield succeed(i)
            return total

        assert success_result_of(work()) == sum(range(N))

    def test_ten_thousand_yields_of_finished_coroutines(self) -> None:
        """10,000 yields of Deferreds from coroutines that finish at once (each one a
        nested driver) complete without RecursionError."""

        async def co(i: int) -> int:
            return await succeed(i)

        @inlineCallbacks
        def work() -> Generator[Deferred[int], int, int]:
            total = 0
            for i in range(N):
                total += yield ensureDeferred(co(i))
            return total

        assert success_result_of(work()) == sum(range(N))

    def test_yields_of_pending_deferreds_fired_later(self) -> None:
        """A generator waiting on 10,000 pending Deferreds in turn gets each result as it
        is fired later, one by one."""
        pending: list[Deferred[int]] = [Deferred() for _ in range(N)]

        @inlineCallbacks
        def work() -> Generator[Deferred[int], int, int]:
            total = 0
            for d in pending:
                total += yield d
            return total

        result = work()
        for i, d in enumerate(pending):
            assert_no_result(result)
            d.callback(i)
        assert success_result_of(result) == sum(range(N))


class TestCoroutines:
    def test_ensure_deferred_runs_coroutine(self) -> None:
        """ensureDeferred(coro) runs the coroutine and fires with its return value."""

        async def work() -> int:
            a = await succeed(1)
            b = await succeed(2)
            return a + b

        d = ensureDeferred(work())
        assert isinstance(d, Deferred)
        assert success_result_of(d) == 3

    def test_await_pending_deferred(self) -> None:
        """Awaiting an unfired Deferred suspends the coroutine until it fires."""
        waiting: Deferred[str] = Deferred()

        async def work() -> str:
            return (await waiting) * 2

        d = ensureDeferred(work())
        assert_no_result(d)
        waiting.callback("ab")
        assert success_result_of(d) == "abab"

    def test_await_fired_deferred_does_not_consume(self) -> None:
        """Awaiting an already-fired Deferred leaves its result in place."""
        fired = succeed(5)

        async def work() -> int:
            return await fired

        assert success_result_of(ensureDeferred(work())) == 5
        assert success_result_of(fired) == 5

    def test_await_failing_deferred_raises(self) -> None:
        """Awaiting a failed Deferred raises its exception in the coroutine, where it can
        be caught."""

        async def work() -> tuple[str, tuple[object, ...]]:
            try:
                await fail(KeyError("z"))
            except KeyError as e:
                return ("caught", e.args)
            return ("not caught", ())

        assert success_result_of(ensureDeferred(work())) == ("caught", ("z",))

    def test_await_later_failure_raises(self) -> None:
        """A pending Deferred that fails later raises into the awaiting coroutine;
        uncaught, it fails the coroutine's Deferred with the same exception."""
        waiting: Deferred[int] = Deferred()

        async def work() -> int:
            return await waiting

        d = ensureDeferred(work())
        error = Boom("later")
        waiting.errback(error)
        assert failure_result_of(d, Boom).value is error

    def test_await_nested_coroutines(self) -> None:
        """A coroutine awaiting another coroutine that awaits a pending Deferred."""
        waiting: Deferred[int] = Deferred()

        async def inner() -> int:
            return await waiting

        async def outer() -> int:
            return (await inner()) + 1

        d = ensureDeferred(outer())
        waiting.callback(1)
        assert success_result_of(d) == 2

    def test_from_coroutine(self) -> None:
        """Deferred.fromCoroutine(coro) behaves like ensureDeferred for coroutines."""

        async def work() -> str:
            return "from coroutine"

        d = Deferred.fromCoroutine(work())
        assert success_result_of(d) == "from coroutine"

    def test_from_coroutine_accepts_generator(self) -> None:
        """Deferred.fromCoroutine also drives a plain generator yielding Deferreds."""

        def gen() -> Generator[Deferred[int], int, int]:
            x = yield succeed(1)
            return x + 1

        assert success_result_of(Deferred.fromCoroutine(gen())) == 2

    def test_ensure_deferred_passes_deferred_through(self) -> None:
        """ensureDeferred(d) returns the Deferred (or subclass instance) itself."""

        class Sub(Deferred[int]):
            pass

        d: Deferred[int] = Deferred()
        s = Sub()
        assert ensureDeferred(d) is d
        assert ensureDeferred(s) is s

    def test_not_a_coroutine_error(self) -> None:
        """ensureDeferred and fromCoroutine refuse other objects with NotACoroutineError,
        a TypeError; ensureDeferred's message says it is neither kind."""
        assert issubclass(NotACoroutineError, TypeError)
        with pytest.raises(NotACoroutineError, match="is not a coroutine or a Deferred"):
            ensureDeferred(5)  # type: ignore[arg-type]
        with pytest.raises(NotACoroutineError):
            Deferred.fromCoroutine(lambda: 1)  # type: ignore[arg-type]

    def test_await_same_pending_deferred_twice(self) -> None:
        """Two coroutines awaiting one pending Deferred: the first consumes the result,
        the second receives None."""
        shared: Deferred[int] = Deferred()

        async def work() -> int:
            return await shared

        first = ensureDeferred(work())
        second = ensureDeferred(work())
        shared.callback(7)
        assert success_result_of(first) == 7
        assert success_result_of(second) is None

    def test_await_deferred_running_its_callbacks(self) -> None:
        """As in Twisted, awaiting a fired Deferred from inside one of its own callbacks
        returns its result as it stands at that moment, without waiting or consuming."""
        d: Deferred[int] = Deferred()
        started: list[Deferred[int]] = []

        async def work() -> int:
            return await d

        def start_coroutine(result: int) -> int:
            started.append(ensureDeferred(work()))
            return result + 1

        d.addCallback(start_coroutine)
        d.addCallback(lambda r: r * 10)
        d.callback(1)
        assert success_result_of(started[0]) == 1
        assert success_result_of(d) == 20

    def test_coroutine_raising_fails_deferred(self) -> None:
        """An exception from the coroutine fails the Deferred and carries its frames."""

        async def work() -> None:
            raise Boom("raised in coroutine")

        failure = failure_result_of(ensureDeferred(work()), Boom)
        assert failure.frames[-1][0] == "work"


class TestContextVars:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("test_defer_var", default="unset")

    def test_each_coroutine_keeps_its_own_context(self) -> None:
        """A value set inside a coroutine is seen by it after each await even when other
        coroutines set their own in between, and never leaks to the caller."""
        var = self.var
        token = var.set("outer")
        try:
            waits: list[Deferred[None]] = [Deferred(), Deferred()]
            seen: list[tuple[str, str, str]] = []

            async def worker(name: str, w: Deferred[None]) -> None:
                before = var.get()
                var.set(name)
                await w
                seen.append((name, before, var.get()))

            ensureDeferred(worker("a", waits[0]))
            ensureDeferred(worker("b", waits[1]))
            assert var.get() == "outer"
            waits[1].callback(None)
            waits[0].callback(None)
            assert seen == [("b", "outer", "b"), ("a", "outer", "a")]
            assert var.get() == "outer"
        finally:
            var.reset(token)

    def test_inline_callbacks_keep_their_own_context(self) -> None:
        """inlineCallbacks generators, too, run in their own copy of the context."""
        var = self.var
        waits: list[Deferred[None]] = [Deferred(), Deferred()]
        seen: list[tuple[str, str]] = []

        @inlineCallbacks
        def worker(name: str, w: Deferred[None]) -> Generator[Deferred[None], None, None]:
            var.set(name)
            yield w
            seen.append((name, var.get()))

        worker("x", waits[0])
        worker("y", waits[1])
        waits[0].callback(None)
        waits[1].callback(None)
        assert seen == [("x", "x"), ("y", "y")]
        assert var.get() == "unset"

    def test_context_is_copied_at_start(self) -> None:
        """A coroutine sees the caller's values as they were when it started, not later
        changes."""
        var = self.var
        token = var.set("at start")
        try:
            w: Deferred[None] = Deferred()
            seen: list[str] = []

            async def worker() -> None:
                await w
                seen.append(var.get())

            ensureDeferred(worker())
            var.set("changed later")
            w.callback(None)
            assert seen == ["at start"]
        finally:
            var.reset(token)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh asyncio event loop, closed after the test."""
    event_loop = asyncio.new_event_loop()
    try:
        yield event_loop
    finally:
        event_loop.close()


def _spin(loop: asyncio.AbstractEventLoop) -> None:
    """Let the loop run the callbacks that are ready (a few iterations)."""
    for _ in range(3):
        loop.run_until_complete(asyncio.sleep(0))


class TestAsFuture:
    def test_result(self, loop: asyncio.AbstractEventLoop) -> None:
        """asFuture gives a Future on the loop that gets the Deferred's result; the
        Deferred's chain then goes on with None."""
        d: Deferred[int] = Deferred()
        future = d.asFuture(loop)
        assert future.get_loop() is loop
        assert not future.done()
        d.callback(4)
        assert future.result() == 4
        assert success_result_of(d) is None

    def test_already_fired(self, loop: asyncio.AbstractEventLoop) -> None:
        """asFuture of a fired Deferred is already done."""
        future = succeed("x").asFuture(loop)
        assert future.done()
        assert future.result() == "x"

    def test_exception(self, loop: asyncio.AbstractEventLoop) -> None:
        """A failure sets the same exception instance on the Future and is consumed."""
        d: Deferred[int] = Deferred()
        future = d.asFuture(loop)
        error = Boom("to future")
        d.errback(error)
        assert future.exception() is error
        assert success_result_of(d) is None

    def test_awaited_by_asyncio(self, loop: asyncio.AbstractEventLoop) -> None:
        """An asyncio coroutine awaiting the Future gets the result fired later."""
        d: Deferred[str] = Deferred()

        async def main() -> str:
            loop.call_soon(d.callback, "from loop")
            return await d.asFuture(loop)

        assert loop.run_until_complete(main()) == "from loop"

    def test_cancelling_future_cancels_deferred(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancelling the Future cancels the Deferred (calling its canceller) once the
        loop runs the Future's done callbacks; the CancelledError is consumed."""
        cancelled: list[object] = []
        d: Deferred[int] = Deferred(cancelled.append)
        future = d.asFuture(loop)
        future.cancel()
        assert cancelled == []
        _spin(loop)
        assert cancelled == [d]
        assert d.called
        assert success_result_of(d) is None


class TestFromFuture:
    def test_result(self, loop: asyncio.AbstractEventLoop) -> None:
        """fromFuture fires with the Future's result once the loop runs its callbacks."""
        future: asyncio.Future[int] = loop.create_future()
        d = Deferred.fromFuture(future)
        future.set_result(3)
        assert_no_result(d)
        _spin(loop)
        assert success_result_of(d) == 3

    def test_exception(self, loop: asyncio.AbstractEventLoop) -> None:
        """A Future's exception becomes the Deferred's Failure (same instance)."""
        future: asyncio.Future[int] = loop.create_future()
        d = Deferred.fromFuture(future)
        error = Boom("from future")
        future.set_exception(error)
        _spin(loop)
        assert failure_result_of(d, Boom).value is error

    def test_cancelling_future_fails_deferred(self, loop: asyncio.AbstractEventLoop) -> None:
        """A cancelled Future makes the Deferred fail with asyncio.CancelledError."""
        future: asyncio.Future[int] = loop.create_future()
        d = Deferred.fromFuture(future)
        future.cancel()
        _spin(loop)
        failure_result_of(d, asyncio.CancelledError)

    def test_cancelling_deferred_cancels_future(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancelling the Deferred cancels the Future at once; as in Twisted, the Deferred
        has no result until the loop runs, then fails with asyncio.CancelledError."""
        future: asyncio.Future[int] = loop.create_future()
        d = Deferred.fromFuture(future)
        d.cancel()
        assert future.cancelled()
        assert_no_result(d)
        _spin(loop)
        failure = failure_result_of(d, asyncio.CancelledError)
        assert failure.type is asyncio.CancelledError

    def test_awaiting_task(self, loop: asyncio.AbstractEventLoop) -> None:
        """fromFuture works on an asyncio Task, firing with its return value."""

        async def job() -> str:
            await asyncio.sleep(0)
            return "task done"

        task = loop.create_task(job())
        d = Deferred.fromFuture(task)
        loop.run_until_complete(task)
        _spin(loop)
        assert success_result_of(d) == "task done"


class TestPluginAsync:
    @pytest.mark.torsion_asyncio
    async def test_async_test_awaits_deferred(self) -> None:
        """The torsion pytest plugin runs ``async def`` tests: a Deferred fired later from
        the event loop can be awaited."""
        d: Deferred[int] = Deferred()
        asyncio.get_running_loop().call_later(0.01, d.callback, 41)
        assert (await d) + 1 == 42

    @pytest.mark.torsion_asyncio
    async def test_async_test_awaits_future_via_from_future(self) -> None:
        """Inside an async test, an asyncio coroutine can be awaited via fromFuture."""
        task = asyncio.ensure_future(asyncio.sleep(0.01, result="slept"))
        assert await Deferred.fromFuture(task) == "slept"

    async def test_async_test_runs_on_a_reactor(self, reactor: Any) -> None:
        """By default an async test runs on the ``reactor`` fixture's reactor: a
        delayed call of that reactor fires a Deferred the test awaits."""
        d: Deferred[int] = Deferred()
        reactor.callLater(0.01, d.callback, 41)
        assert reactor.running
        assert (await d) + 1 == 42

    def test_returning_deferred_is_waited_for(self) -> Deferred[None]:
        """A test returning a Deferred is run until that Deferred fires (here from another
        thread, shortly after the test function has returned)."""
        d: Deferred[str] = Deferred()
        threading.Timer(0.01, d.callback, ("fired",)).start()

        def check(result: str) -> None:
            assert result == "fired"

        return d.addCallback(check)

    async def test_async_with_deferred_lock(self) -> None:
        """``async with DeferredLock()`` holds the lock for the block and releases it
        after, also when the block raises; a second user waits its turn."""
        lock = DeferredLock()
        order: list[str] = []
        async with lock as held:
            assert held is lock
            assert lock.locked
            waiter = lock.acquire()
            waiter.addCallback(lambda _: order.append("waiter"))
            order.append("block")
        assert order == ["block", "waiter"]
        assert lock.locked  # handed to the waiter
        lock.release()
        assert not lock.locked
        with pytest.raises(Boom):
            async with lock:
                raise Boom("inside")
        assert not lock.locked

    @pytest.mark.torsion_asyncio
    async def test_await_failure_in_async_test(self) -> None:
        """In an async test, awaiting a Deferred failed from the loop raises there."""
        d: Deferred[int] = Deferred()
        asyncio.get_running_loop().call_soon(d.errback, Failure(Boom("async")))
        with pytest.raises(Boom, match="async"):
            await d
