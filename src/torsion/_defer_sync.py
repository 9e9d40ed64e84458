"""Coordination with Deferreds: locks, semaphores, queues and a filesystem lock.

Re-exported by :mod:`torsion.defer` (mirrors ``twisted.internet.defer``).
Waiters are served first come, first served; a waiter's Deferred can be
cancelled, which takes it out of the line.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, Self, TypeVar, cast, overload

from torsion._defer_core import Deferred, TimeoutError, fail, maybeDeferred, succeed
from torsion._globalreactor import defaultReactor
from torsion.failure import Failure
from torsion.lockfile import FilesystemLock

if TYPE_CHECKING:
    from torsion.interfaces import IDelayedCall, IReactorTime

__all__ = [
    "AlreadyTryingToLockError",
    "DeferredFilesystemLock",
    "DeferredLock",
    "DeferredQueue",
    "DeferredSemaphore",
    "QueueOverflow",
    "QueueUnderflow",
]

_T = TypeVar("_T")
_P = ParamSpec("_P")


class QueueOverflow(Exception):
    """A DeferredQueue already holds ``size`` items."""


class QueueUnderflow(Exception):
    """A DeferredQueue already has ``backlog`` getters waiting."""


class AlreadyTryingToLockError(Exception):
    """``deferUntilLocked`` was called while an earlier call is still trying."""


class _ConcurrencyPrimitive:
    """What locks and semaphores share: a line of waiters and ``run``."""

    def __init__(self) -> None:
        self.waiting: list[Deferred[Self]] = []

    def acquire(self) -> Deferred[Self]:  # pragma: no cover - abstract
        raise NotImplementedError

    def release(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _cancelAcquire(self, d: Deferred[Self]) -> None:
        self.waiting.remove(d)

    def _releaseAndReturn(self, r: _T) -> _T:
        self.release()
        return r

    # Like maybeDeferred: the result type is unwrapped from a Deferred or a
    # coroutine, so the order of these overloads matters.
    @overload
    def run(
        self, f: Callable[_P, Deferred[_T]], *args: _P.args, **kwargs: _P.kwargs
    ) -> Deferred[_T]: ...

    @overload
    def run(
        self, f: Callable[_P, Coroutine[Any, Any, _T]], *args: _P.args, **kwargs: _P.kwargs
    ) -> Deferred[_T]: ...

    @overload
    def run(self, f: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> Deferred[_T]: ...

    def run(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Acquire, call ``f(*args, **kwargs)``, and release once its result is in.

        Returns a Deferred with ``f``'s result (or failure); a Deferred or a
        coroutine returned by ``f`` is waited for, as by ``maybeDeferred``.
        """

        def execute(_: object) -> Deferred[Any]:
            d: Deferred[Any] = maybeDeferred(f, *args, **kwargs)
            d.addBoth(self._releaseAndReturn)
            return d

        return self.acquire().addCallback(execute)

    async def __aenter__(self) -> Self:
        """``async with lock:`` acquires it for the block."""
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool:
        self.release()
        return False


class DeferredLock(_ConcurrencyPrimitive):
    """A lock for code running on one reactor thread.

    Example::

        lock = DeferredLock()
        d = lock.run(write_record, record)   # runs when no one else holds it
    """

    locked = False

    def acquire(self) -> Deferred[Self]:
        """Return a Deferred that fires with this lock once it is ours."""
        d: Deferred[Self] = Deferred(canceller=self._cancelAcquire)
        if self.locked:
            self.waiting.append(d)
        else:
            self.locked = True
            d.callback(self)
        return d

    def release(self) -> None:
        """Release the lock, handing it to the next waiter if there is one.

        Raises:
            AssertionError: when the lock is not held.
        """
        if not self.locked:
            raise AssertionError("Tried to release an unlocked lock")
        self.locked = False
        if self.waiting:
            self.locked = True
            self.waiting.pop(0).callback(cast(Self, self))


class DeferredSemaphore(_ConcurrencyPrimitive):
    """A semaphore: at most ``tokens`` holders at once.

    Raises:
        ValueError: when ``tokens`` is below 1.
    """

    def __init__(self, tokens: int) -> None:
        if tokens < 1:
            raise ValueError("DeferredSemaphore requires tokens >= 1")
        super().__init__()
        self.tokens = tokens
        self.limit = tokens

    def acquire(self) -> Deferred[Self]:
        """Return a Deferred that fires with this semaphore once a token is ours."""
        d: Deferred[Self] = Deferred(canceller=self._cancelAcquire)
        if self.tokens <= 0:
            self.waiting.append(d)
        else:
            self.tokens -= 1
            d.callback(self)
        return d

    def release(self) -> None:
        """Give a token back, handing it to the next waiter if there is one.

        Raises:
            AssertionError: when more tokens are released than were acquired.
        """
        if self.tokens >= self.limit:
            raise AssertionError("Someone released me too many times: too many tokens!")
        self.tokens += 1
        if self.waiting:
            self.tokens -= 1
            self.waiting.pop(0).callback(cast(Self, self))


class DeferredQueue(Generic[_T]):
    """A queue whose ``get`` returns a Deferred.

    Args:
        size: the most items held waiting for a getter (None: no limit).
        backlog: the most getters waiting for an item (None: no limit).
    """

    def __init__(self, size: int | None = None, backlog: int | None = None) -> None:
        self.waiting: list[Deferred[_T]] = []
        self.pending: list[_T] = []
        self.size = size
        self.backlog = backlog

    def _cancelGet(self, d: Deferred[_T]) -> None:
        self.waiting.remove(d)

    def put(self, obj: _T) -> None:
        """Give ``obj`` to the first waiting getter, or keep it.

        Raises:
            QueueOverflow: when ``size`` items are already kept.
        """
        if self.waiting:
            self.waiting.pop(0).callback(obj)
        elif self.size is None or len(self.pending) < self.size:
            self.pending.append(obj)
        else:
            raise QueueOverflow()

    def get(self) -> Deferred[_T]:
        """Return a Deferred for the next item (already fired if one is kept).

        Raises:
            QueueUnderflow: when ``backlog`` getters are already waiting.
        """
        if self.pending:
            return succeed(self.pending.pop(0))
        if self.backlog is None or len(self.waiting) < self.backlog:
            d: Deferred[_T] = Deferred(canceller=self._cancelGet)
            self.waiting.append(d)
            return d
        raise QueueUnderflow()


class DeferredFilesystemLock(FilesystemLock):
    """A :class:`~torsion.lockfile.FilesystemLock` you can wait for.

    Args:
        name: the lock's path.
        scheduler: what schedules retries (a reactor or a ``task.Clock``);
            the default reactor when omitted.
    """

    _interval = 1.0

    def __init__(self, name: str, scheduler: IReactorTime | None = None) -> None:
        super().__init__(name)
        if scheduler is None:
            scheduler = cast("IReactorTime", defaultReactor("pass a scheduler"))
        self._scheduler = scheduler
        self._tryLockCall: IDelayedCall | None = None
        self._timeoutCall: IDelayedCall | None = None

    def deferUntilLocked(self, timeout: float | None = None) -> Deferred[None]:
        """Return a Deferred that fires once the lock is ours, retrying every second.

        Args:
            timeout: give up after this many seconds, failing with
                :class:`~torsion.defer.TimeoutError`.

        Raises:
            AlreadyTryingToLockError: while an earlier call is still trying.
        """
        if self._tryLockCall is not None:
            return fail(AlreadyTryingToLockError("deferUntilLocked isn't safe for concurrent use"))

        def stop_trying() -> None:
            if self._tryLockCall is not None:
                self._tryLockCall.cancel()
                self._tryLockCall = None
            if self._timeoutCall is not None:
                self._timeoutCall.cancel()
                self._timeoutCall = None

        def cancel(_: Deferred[None]) -> None:
            # One last attempt, as Twisted does: a lock freed since the last
            # retry is taken and the Deferred succeeds instead of cancelling.
            stop_trying()
            if self.lock():
                d.callback(None)

        d: Deferred[None] = Deferred(cancel)

        def try_lock() -> None:
            self._tryLockCall = None  # this call, if scheduled, is running now
            if self.lock():
                stop_trying()
                d.callback(None)
                return
            if timeout is not None and self._timeoutCall is None:
                self._timeoutCall = self._scheduler.callLater(timeout, time_out)
            self._tryLockCall = self._scheduler.callLater(self._interval, try_lock)

        def time_out() -> None:
            self._timeoutCall = None
            stop_trying()
            # One last attempt, as for cancel: the lock may have been freed
            # since the last retry.
            if self.lock():
                d.callback(None)
                return
            message = f"Timed out acquiring lock: {self.name} after {timeout:f}s"
            d.errback(Failure(TimeoutError(message)))

        try_lock()
        return d
