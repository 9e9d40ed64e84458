"""Deferreds that fire later: after a delay on the reactor, or when a blocking call
(a real peer program, a blocking client) returns in a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from torsion.defer import Deferred
from torsion.failure import Failure

_T = TypeVar("_T")


def sleep(reactor: Any, seconds: float) -> Deferred[None]:
    """A Deferred firing with None after ``seconds`` on ``reactor``."""
    d: Deferred[None] = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


def run_in_thread(reactor: Any, fn: Callable[[], _T]) -> Deferred[_T]:
    """Run blocking ``fn`` in a new thread; the Deferred fires on the reactor thread."""
    d: Deferred[_T] = Deferred()

    def target() -> None:
        try:
            result: Any = fn()
        except BaseException:
            result = Failure()
        reactor.callFromThread(_fire, d, result)

    threading.Thread(target=target, daemon=True).start()
    return d


def _fire(d: Deferred[Any], result: Any) -> None:
    if isinstance(result, Failure):
        d.errback(result)
    else:
        d.callback(result)
