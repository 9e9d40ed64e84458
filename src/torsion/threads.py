"""Running blocking code in threads, and reaching the reactor from them.

This module mirrors ``twisted.internet.threads``: the same names, arguments
and behaviour, camelCase included.  The Deferreds these functions return fire
in the reactor thread, like every Deferred result; the functions given to
them run in a worker thread, so they must not touch the reactor or other
Deferreds except through ``reactor.callFromThread`` or
``blockingCallFromThread``::

    from torsion.threads import deferToThread

    d = deferToThread(hashlib.sha256, data)   # runs in the reactor's pool
    d.addCallback(lambda digest: print(digest.hexdigest()))

``deferToThread`` and ``callMultipleInThread`` use the default reactor
(``torsion.reactor.reactor``), looked up when called, never at import.
Library code should take its reactor and pool as parameters and use
``deferToThreadPool``.
"""

from __future__ import annotations

import queue
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, ParamSpec, Protocol, TypeVar, cast, overload, runtime_checkable

from torsion._globalreactor import defaultReactor
from torsion.defer import Deferred, maybeDeferred
from torsion.failure import Failure
from torsion.interfaces import IReactorThreads

__all__ = [
    "blockingCallFromThread",
    "callMultipleInThread",
    "deferToThread",
    "deferToThreadPool",
]

_T = TypeVar("_T")
_P = ParamSpec("_P")


class _ReactorFromThreads(Protocol):
    """What these functions need of a reactor: ``callFromThread``.

    (``twisted.internet.interfaces.IReactorFromThreads``.)
    """

    def callFromThread(self, callable: Callable[..., Any], /, *args: Any, **kw: Any) -> None: ...


class _CallsInThreadWithCallback(Protocol):
    """What ``deferToThreadPool`` needs of a pool, such as a :class:`ThreadPool`."""

    def callInThreadWithCallback(
        self,
        onResult: Callable[[bool, _T | Failure], object] | None,
        func: Callable[_P, _T],
        *args: _P.args,
        **kw: _P.kwargs,
    ) -> None: ...


@runtime_checkable
class _KnowsItsThread(Protocol):
    def isInIOThread(self) -> bool: ...


def deferToThreadPool(
    reactor: _ReactorFromThreads,
    threadpool: _CallsInThreadWithCallback,
    f: Callable[_P, _T],
    *args: _P.args,
    **kwargs: _P.kwargs,
) -> Deferred[_T]:
    """Call ``f(*args, **kwargs)`` in ``threadpool``; get its outcome as a Deferred.

    The Deferred fires in the reactor thread (through
    ``reactor.callFromThread``) with what ``f`` returned, or fails with what
    it raised.  ``f`` runs in the caller's :mod:`contextvars` context (a
    copy) when the pool is a torsion :class:`~torsion.threadpool.ThreadPool`.

    Args:
        reactor: Delivers the result to the reactor thread.
        threadpool: Runs ``f``; anything with ``callInThreadWithCallback``.
        f: The blocking function.
        *args: Positional arguments for ``f``.
        **kwargs: Keyword arguments for ``f``.

    Returns:
        A Deferred that fires with ``f``'s result or fails with its exception.
        Cancelling it does not stop ``f``.

    Example:
        pool = ThreadPool(0, 4, name="files")
        pool.start()
        d = deferToThreadPool(reactor, pool, Path("big.log").read_bytes)
    """
    d: Deferred[_T] = Deferred()

    def onResult(success: bool, result: _T | Failure) -> None:
        if success:
            reactor.callFromThread(d.callback, result)
        else:
            reactor.callFromThread(d.errback, result)

    threadpool.callInThreadWithCallback(onResult, f, *args, **kwargs)
    return d


def deferToThread(f: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> Deferred[_T]:
    """Call ``f(*args, **kwargs)`` in the default reactor's thread pool.

    The same as ``deferToThreadPool(reactor, reactor.getThreadPool(), f,
    ...)`` with the default reactor.

    Returns:
        A Deferred that fires, in the reactor thread, with ``f``'s result or
        fails with its exception.

    Raises:
        RuntimeError: There is no default reactor.

    Example:
        d = deferToThread(socket.gethostbyname, "example.org")
        d.addCallback(print)
    """
    reactor = _default_reactor("deferToThread")
    return deferToThreadPool(reactor, reactor.getThreadPool(), f, *args, **kwargs)


_CallSpec = tuple[Callable[..., object], Sequence[object], Mapping[str, object]]


def callMultipleInThread(tupleList: Iterable[_CallSpec]) -> None:
    """Run several calls one after the other in one thread of the default pool.

    Each item is ``(function, args, kwargs)``.  The list is read when this
    is called.  If a call raises, its error is logged and the calls after it
    are skipped.

    Raises:
        RuntimeError: There is no default reactor.

    Example:
        callMultipleInThread([(os.remove, ("a.tmp",), {}), (os.remove, ("b.tmp",), {})])
    """
    calls = list(tupleList)
    _default_reactor("callMultipleInThread").callInThread(_runMultiple, calls)


def _runMultiple(tupleList: Iterable[_CallSpec]) -> None:
    for f, args, kwargs in tupleList:
        f(*args, **kwargs)


@overload
def blockingCallFromThread(
    reactor: _ReactorFromThreads,
    f: Callable[_P, Deferred[_T]],
    *a: _P.args,
    **kw: _P.kwargs,
) -> _T: ...


@overload
def blockingCallFromThread(
    reactor: _ReactorFromThreads,
    f: Callable[_P, Coroutine[Any, Any, _T]],
    *a: _P.args,
    **kw: _P.kwargs,
) -> _T: ...


@overload
def blockingCallFromThread(
    reactor: _ReactorFromThreads, f: Callable[_P, _T], *a: _P.args, **kw: _P.kwargs
) -> _T: ...


def blockingCallFromThread(
    reactor: _ReactorFromThreads, f: Callable[..., Any], *a: Any, **kw: Any
) -> Any:
    """Call ``f(*a, **kw)`` in the reactor thread and wait for its result.

    For use in a thread other than the reactor's (a pool worker, say).  If
    ``f`` returns a Deferred or a coroutine, this waits until it completes.
    An exception ``f`` raises, or the Deferred's failure, is raised here,
    in the calling thread.  It waits as long as it takes: the reactor must
    be running, or start later.

    Args:
        reactor: The reactor whose thread runs ``f``.
        f: The function to call there.
        *a: Positional arguments for ``f``.
        **kw: Keyword arguments for ``f``.

    Returns:
        ``f``'s result, or its Deferred's or coroutine's result.

    Raises:
        RuntimeError: Called from the reactor thread, which would wait for
            itself forever.  This needs a reactor with ``isInIOThread()``
            (torsion's have it); Twisted deadlocks instead.
        BaseException: Whatever ``f`` raised or its Deferred failed with.

    Example:
        def worker():   # running in a pool thread
            page = blockingCallFromThread(reactor, client.get, url)
            return parse(page)
    """
    if isinstance(reactor, _KnowsItsThread) and reactor.isInIOThread():
        raise RuntimeError("blockingCallFromThread must not be called from the reactor thread")
    outcome: queue.SimpleQueue[object] = queue.SimpleQueue()

    def call() -> None:
        maybeDeferred(f, *a, **kw).addBoth(outcome.put)

    reactor.callFromThread(call)
    result = outcome.get()
    if isinstance(result, Failure):
        result.raiseException()
    return result


def _default_reactor(caller: str) -> IReactorThreads:
    hint = f"use deferToThreadPool with an explicit reactor and pool instead of {caller}"
    return cast(IReactorThreads, defaultReactor(hint))
