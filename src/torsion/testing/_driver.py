"""Run a test's Deferred or coroutine to completion.

Two drivers: :func:`run_on_reactor` runs a torsion reactor (the test's own,
fresh one) until the Deferred fires, then stops it, so its shutdown closes
what the test left open; :func:`run_to_completion` runs a fresh asyncio event
loop instead, for tests of asyncio interplay.  Either way Deferreds fired
from other threads wake the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from torsion.defer import Deferred, ensureDeferred
from torsion.failure import Failure

__all__ = ["DeferredTimeoutError", "run_on_reactor", "run_to_completion"]


class DeferredTimeoutError(AssertionError):
    """A test's Deferred or coroutine did not finish in time."""


def run_to_completion(
    start: Callable[[], Deferred[Any] | Coroutine[Any, Any, Any]], timeout: float
) -> object:
    """Call ``start`` inside a running loop and wait for its outcome.

    Args:
        start: returns the Deferred (or coroutine) to wait for.
        timeout: seconds to wait before cancelling it and failing.

    Returns:
        The Deferred's result.

    Raises:
        BaseException: the exception it failed with.
        DeferredTimeoutError: when it did not fire in time.
    """
    loop = asyncio.new_event_loop()
    try:
        outcome: asyncio.Future[object] = loop.create_future()
        started: list[Deferred[Any]] = []

        def deliver(result: object) -> None:
            if not outcome.done():
                outcome.set_result(result)

        def on_fire(result: object) -> None:
            # Deferreds may fire on any thread; the future belongs to the loop.
            loop.call_soon_threadsafe(deliver, result)

        def begin() -> None:
            try:
                d = ensureDeferred(start())
            except BaseException:
                deliver(Failure())
                return
            started.append(d)
            d.addBoth(on_fire)

        loop.call_soon(begin)
        try:
            result = loop.run_until_complete(asyncio.wait_for(outcome, timeout))
        except TimeoutError:
            for d in started:
                d.cancel()
            raise DeferredTimeoutError(
                f"the test's Deferred did not fire within {timeout} seconds"
            ) from None
    finally:
        _close(loop)
    if isinstance(result, Failure):
        result.raiseException()
    return result


def run_on_reactor(
    reactor: Any,
    start: Callable[[], Deferred[Any] | Coroutine[Any, Any, Any]],
    timeout: float,
) -> object:
    """Run ``reactor`` until what ``start`` returns has fired; then stop it.

    ``start`` is called once the reactor runs.  The reactor is stopped
    (shutdown triggers and all) when the outcome is known, or after
    ``timeout`` seconds, when the Deferred is cancelled and the test fails.

    Raises:
        BaseException: the exception the Deferred failed with.
        DeferredTimeoutError: when it did not fire in time.
    """
    outcome: list[object] = []
    started: list[Deferred[Any]] = []
    timed_out = False

    def finish() -> None:
        if reactor.running and not reactor._stopped:
            reactor.stop()

    def on_fire(result: object) -> None:
        outcome.append(result)
        # Deferreds may fire on any thread: stop from the reactor's own.
        reactor.callFromThread(finish)

    def begin() -> None:
        try:
            d = ensureDeferred(start())
        except BaseException:
            on_fire(Failure())
            return
        started.append(d)
        d.addBoth(on_fire)

    def give_up() -> None:
        nonlocal timed_out
        timed_out = True
        for d in started:
            d.cancel()
        finish()

    timer = reactor.callLater(timeout, give_up)
    reactor.callWhenRunning(begin)
    reactor.run(installSignalHandlers=False)
    if timer.active():
        timer.cancel()
    if timed_out:
        raise DeferredTimeoutError(f"the test's Deferred did not fire within {timeout} seconds")
    if not outcome:
        raise DeferredTimeoutError("the reactor stopped before the test's Deferred fired")
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def _close(loop: asyncio.AbstractEventLoop) -> None:
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
