"""Run a test's Deferred or coroutine to completion.

Until a torsion reactor is available, tests are driven on a fresh asyncio
event loop per test: Deferreds fired from the loop, from asyncio futures
(``Deferred.fromFuture``) or from other threads all wake it up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from torsion.defer import Deferred, ensureDeferred
from torsion.failure import Failure

__all__ = ["DeferredTimeoutError", "run_to_completion"]


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


def _close(loop: asyncio.AbstractEventLoop) -> None:
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
