"""Scheduling helpers: a fake clock, looping calls, cooperative tasks, ``react``.

This module mirrors ``twisted.internet.task``: its public names, signatures
and observable behaviour (call order, when Deferreds fire and with what) are
the compatibility contract, so its API is camelCase.

Nothing here imports a reactor at import time.  Objects that need one and
were not given one (``LoopingCall.clock``, the global ``Cooperator``,
``react``) look up the default reactor when they first use it, through
``torsion._globalreactor.defaultReactor``.  The Cooperator lives in
``torsion._cooperator``; its names are re-exported here.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from typing import Any, NoReturn, Protocol, TypeVar, cast, overload

from torsion import error
from torsion._cooperator import (
    CooperativeTask,
    Cooperator,
    NotPaused,
    SchedulerError,
    SchedulerStopped,
    TaskDone,
    TaskFailed,
    TaskFinished,
    TaskStopped,
)
from torsion._delayedcall import DelayedCall, _callableName
from torsion._globalreactor import defaultReactor
from torsion._logging import log_failure
from torsion.defer import Deferred, ensureDeferred, maybeDeferred
from torsion.failure import Failure
from torsion.interfaces import IDelayedCall, IReactorTime

__all__ = [
    "Clock",
    "CooperativeTask",
    "Cooperator",
    "LoopingCall",
    "NotPaused",
    "SchedulerError",
    "SchedulerStopped",
    "TaskDone",
    "TaskFailed",
    "TaskFinished",
    "TaskStopped",
    "coiterate",
    "cooperate",
    "deferLater",
    "react",
]

_T = TypeVar("_T")
_TaskIteratorT = TypeVar("_TaskIteratorT", bound=Iterator[object])


def _reactorNotRunningErrors() -> tuple[type[BaseException], ...]:
    """Return the exception types meaning "stop() on a stopped reactor".

    ``torsion.error.ReactorNotRunning`` arrives with the reactor; until then
    nothing matches, and ``except ()`` catches nothing.
    """
    found: object = getattr(error, "ReactorNotRunning", None)
    if isinstance(found, type) and issubclass(found, BaseException):
        return (found,)
    return ()


# ---------------------------------------------------------------------------
# Clock


class Clock:
    """A deterministic ``IReactorTime`` for tests: time moves only when told to.

    Calls due at the same time run in the order they were scheduled.  A call
    that becomes due while ``advance`` runs (scheduled, reset or delayed by
    another call to a time not after the new "now") runs in that same
    ``advance``.  An exception raised by a call propagates out of ``advance``
    and leaves the remaining due calls pending.

    Attributes:
        rightNow: The current time, 0.0 at creation.
        calls: The pending calls, ordered by due time when read after
            ``callLater`` or ``advance``.
    """

    rightNow: float = 0.0

    def __init__(self) -> None:
        """Create a clock at time 0.0 with nothing scheduled."""
        self.calls: list[DelayedCall] = []

    def seconds(self) -> float:
        """Return the current fake time (``rightNow``)."""
        return self.rightNow

    def _sortCalls(self) -> None:
        # A stable sort on the due time: equal times keep scheduling order.
        self.calls.sort(key=DelayedCall.getTime)

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall:
        """Schedule ``callable(*args, **kw)`` for ``delay`` seconds after now.

        Args:
            delay: Seconds from ``seconds()``.
            callable: What to call.
            *args: Positional arguments for ``callable``.
            **kw: Keyword arguments for ``callable``.

        Returns:
            The pending call, which can be cancelled, delayed or reset.
        """
        call = DelayedCall(
            self.seconds() + delay,
            callable,
            args,
            kw,
            self.calls.remove,
            _ignoreReset,
            self.seconds,
        )
        self.calls.append(call)
        self._sortCalls()
        return call

    def getDelayedCalls(self) -> Sequence[DelayedCall]:
        """Return the pending calls (the live ``calls`` list: do not mutate it)."""
        return self.calls

    def advance(self, amount: float) -> None:
        """Move time forward by ``amount`` seconds and run every call now due.

        Args:
            amount: Seconds to add to the current time.
        """
        self.rightNow += amount
        self._sortCalls()
        while self.calls and self.calls[0].getTime() <= self.seconds():
            call = self.calls.pop(0)
            call.called = True
            call.func(*call.args, **call.kw)
            self._sortCalls()

    def pump(self, timings: Iterable[float]) -> None:
        """Call ``advance`` once for each amount in ``timings``, in order.

        Args:
            timings: Successive amounts of seconds to advance by.
        """
        for amount in timings:
            self.advance(amount)


def _ignoreReset(call: DelayedCall) -> None:
    """Clock re-sorts before every use, so a moved call needs no action."""


# ---------------------------------------------------------------------------
# LoopingCall


class LoopingCall:
    """Call a function every ``interval`` seconds.

    Calls are aligned on the start time: they are due at ``starttime + n *
    interval``.  When calls fall behind (the function, or the reactor, took
    longer than an interval), the missed slots are skipped and the next call
    is due at the next slot still in the future; ``withCount`` reports how
    many slots passed.  If the function returns a Deferred, the next call is
    scheduled only after it fires.

    Attributes:
        f: The function to call.
        a: Positional arguments for ``f``.
        kw: Keyword arguments for ``f``.
        running: True from ``start`` until ``stop``, or until ``f`` fails.
        interval: Seconds between calls, set by ``start``.
        starttime: ``clock.seconds()`` when started (or last ``reset``).
        call: The pending delayed call, if one is scheduled.
    """

    def __init__(self, f: Callable[..., object], *a: object, **kw: object) -> None:
        """Prepare to call ``f(*a, **kw)`` repeatedly; nothing runs until ``start``.

        Args:
            f: The function to call.
            *a: Positional arguments for ``f``.
            **kw: Keyword arguments for ``f``.
        """
        self.f = f
        self.a = a
        self.kw = kw
        self.call: IDelayedCall | None = None
        self.running = False
        self.interval: float | None = None
        self.starttime: float | None = None
        self._clock: IReactorTime | None = None
        self._deferred: Deferred[LoopingCall] | None = None
        self._runAtStart = False
        self._realLastTime: float | None = None

    @property
    def clock(self) -> IReactorTime:
        """The ``IReactorTime`` used for scheduling; the default reactor unless set.

        Set it before ``start``.  Reading it without having set it looks up the
        default reactor.

        Raises:
            RuntimeError: Not set, and there is no default reactor.
        """
        if self._clock is None:
            self._clock = cast(IReactorTime, defaultReactor("set LoopingCall.clock before start()"))
        return self._clock

    @clock.setter
    def clock(self, value: IReactorTime) -> None:
        self._clock = value

    @property
    def deferred(self) -> Deferred[LoopingCall] | None:
        """Deprecated: the Deferred returned by ``start``, while running."""
        warnings.warn(
            "torsion.task.LoopingCall.deferred is deprecated; "
            "please use the deferred returned by start() instead",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._deferred

    @classmethod
    def withCount(cls, countCallable: Callable[[int], object]) -> LoopingCall:
        """Make a LoopingCall that passes the number of elapsed intervals to its function.

        The count is normally 1; it is more when intervals were skipped (the
        reactor was busy, a Deferred returned by the function fired late, or
        the function itself ran longer than an interval).  With an interval of
        0 it is always 1.  If no interval boundary passed since the last call
        (possible with floating point rounding), the function is not called.

        Args:
            countCallable: Called with the count as its only argument.

        Returns:
            A LoopingCall, not yet started.
        """

        def counter() -> object:
            now = loop.clock.seconds()
            if loop.interval == 0:
                loop._realLastTime = now
                return countCallable(1)
            count = loop._intervalOf(now) - loop._intervalOf(loop._lastCountTime())
            if count > 0:
                loop._realLastTime = now
                return countCallable(count)
            return None

        loop = cls(counter)
        return loop

    def _lastCountTime(self) -> float:
        """When ``withCount`` last counted; before the first call, one slot before it."""
        if self._realLastTime is not None:
            return self._realLastTime
        assert self.starttime is not None and self.interval is not None
        if self._runAtStart:
            return self.starttime - self.interval
        return self.starttime

    def _intervalOf(self, t: float) -> int:
        """Return how many whole intervals separate ``starttime`` from ``t``."""
        assert self.starttime is not None and self.interval is not None
        return int((t - self.starttime) / self.interval)

    def start(self, interval: float, now: bool = True) -> Deferred[LoopingCall]:
        """Start calling the function every ``interval`` seconds.

        Args:
            interval: Seconds between calls; 0 means on every reactor turn
                (every ``advance`` of a Clock).
            now: Call the function at once (True) or one interval from now.

        Returns:
            A Deferred that fires with this LoopingCall when it is stopped, or
            fails with the function's error (raised, or from a returned
            Deferred), which also stops the loop.

        Raises:
            ValueError: ``interval`` is negative.
            AssertionError: Already running.
            RuntimeError: ``clock`` was not set and there is no default reactor.
        """
        assert not self.running, "Tried to start an already running LoopingCall."
        if interval < 0:
            raise ValueError("interval must be >= 0")
        clock = self.clock  # may look up the reactor, and fail: change nothing before
        self.running = True
        # A failing first call clears self._deferred before start() returns.
        deferred: Deferred[LoopingCall] = Deferred()
        self._deferred = deferred
        self.starttime = clock.seconds()
        self.interval = interval
        self._runAtStart = now
        if now:
            self()
        else:
            self._scheduleFrom(self.starttime)
        return deferred

    def stop(self) -> None:
        """Stop calling the function.

        If no call is in progress, the Deferred returned by ``start`` fires
        now; otherwise it fires when the call in progress (or the Deferred it
        returned) finishes.

        Raises:
            AssertionError: Not running.
        """
        assert self.running, "Tried to stop a LoopingCall that was not running."
        self.running = False
        if self.call is not None:
            self.call.cancel()
            self.call = None
            self._fire(self)

    def reset(self) -> None:
        """Skip the pending call and restart the interval timing from now.

        Does nothing while a call (or the Deferred it returned) is in progress.

        Raises:
            AssertionError: Not running.
        """
        assert self.running, "Tried to reset a LoopingCall that was not running."
        if self.call is not None:
            self.call.cancel()
            self.call = None
            self.starttime = self.clock.seconds()
            self._scheduleFrom(self.starttime)

    def __call__(self) -> None:
        """Run the function once and schedule the next run (used by the clock)."""
        self.call = None
        result = maybeDeferred(self.f, *self.a, **self.kw)
        result.addCallback(self._afterCall)
        result.addErrback(self._failed)

    def _afterCall(self, result: object) -> None:
        if self.running:
            self._scheduleFrom(self.clock.seconds())
        else:
            self._fire(self)

    def _failed(self, failure: Failure) -> None:
        self.running = False
        self._fire(failure)

    def _fire(self, result: LoopingCall | Failure) -> None:
        deferred, self._deferred = self._deferred, None
        assert deferred is not None
        if isinstance(result, Failure):
            deferred.errback(result)
        else:
            deferred.callback(result)

    def _scheduleFrom(self, when: float) -> None:
        """Schedule the next call at the first interval boundary after ``when``."""
        self.call = self.clock.callLater(self._delayFrom(when), self)

    def _delayFrom(self, when: float) -> float:
        interval = self.interval
        assert interval is not None and self.starttime is not None
        if interval == 0:
            return 0
        untilNext = interval - ((when - self.starttime) % interval)
        # At a large ``when`` a tiny remainder vanishes when added to it; the
        # call would be due "now" again, so wait for the following slot.
        if when == when + untilNext:
            return interval
        return untilNext

    def __repr__(self) -> str:
        return (
            f"LoopingCall<{self.interval!r}>({_callableName(self.f)}, *{self.a!r}, **{self.kw!r})"
        )


# ---------------------------------------------------------------------------
# The global Cooperator

# Named as in Twisted, whose tests reach for it.
_theCooperator = Cooperator()


def coiterate(iterator: _TaskIteratorT) -> Deferred[_TaskIteratorT]:
    """Run ``iterator`` on the global Cooperator; see ``Cooperator.coiterate``.

    Args:
        iterator: The task's iterator.

    Returns:
        A Deferred firing with ``iterator`` once it is exhausted.
    """
    return _theCooperator.coiterate(iterator)


def cooperate(iterator: _TaskIteratorT) -> CooperativeTask[_TaskIteratorT]:
    """Run ``iterator`` on the global Cooperator; see ``Cooperator.cooperate``.

    Args:
        iterator: The task's iterator.

    Returns:
        The task, to pause, resume, stop or wait for.
    """
    return _theCooperator.cooperate(iterator)


# ---------------------------------------------------------------------------
# deferLater


@overload
def deferLater(clock: IReactorTime, delay: float) -> Deferred[None]: ...


@overload
def deferLater(
    clock: IReactorTime,
    delay: float,
    callable: Callable[..., _T],
    *args: object,
    **kw: object,
) -> Deferred[_T]: ...


def deferLater(
    clock: IReactorTime,
    delay: float,
    callable: Callable[..., object] | None = None,
    *args: object,
    **kw: object,
) -> Deferred[Any]:  # Any: the overloads above give callers the precise type
    """Return a Deferred firing with ``callable(*args, **kw)`` after ``delay`` seconds.

    Cancelling the Deferred before then cancels the delayed call; the Deferred
    then fails with ``CancelledError`` and ``callable`` never runs.

    Args:
        clock: Schedules the call (a reactor, or a ``Clock``).
        delay: Seconds to wait.
        callable: What to call; None to fire with None.
        *args: Positional arguments for ``callable``.
        **kw: Keyword arguments for ``callable``.

    Returns:
        A Deferred with the callable's result (or its error).
    """

    def cancelCall(deferred: Deferred[Any]) -> None:
        delayedCall.cancel()

    def runCallable(ignored: object) -> object:
        if callable is None:
            return None
        return callable(*args, **kw)

    deferred: Deferred[Any] = Deferred(cancelCall)
    deferred.addCallback(runCallable)
    delayedCall = clock.callLater(delay, deferred.callback, None)
    return deferred


# ---------------------------------------------------------------------------
# react


class _ReactorCore(Protocol):
    """What ``react`` needs from a reactor (part of ``IReactorCore``)."""

    def callWhenRunning(self, callable: Callable[..., object], /, *args: object) -> object: ...

    def addSystemEventTrigger(
        self, phase: str, eventType: str, callable: Callable[..., object], /, *args: object
    ) -> object: ...

    def run(self) -> None: ...

    def stop(self) -> None: ...


def react(
    # Any: main's result is only inspected for failure, and Deferred is invariant.
    main: Callable[..., Deferred[Any] | Coroutine[Any, Any, Any]],
    argv: Iterable[object] = (),
    _reactor: _ReactorCore | None = None,
) -> NoReturn:
    """Run ``main(reactor, *argv)`` under the reactor, then exit the process.

    The reactor runs until the Deferred (or coroutine) returned by ``main``
    finishes; ``react`` then stops it, once, unless it is already stopping.
    It exits with code 0 on success; if ``main`` failed with ``SystemExit``,
    with that exit's code; on any other failure it logs the failure (at ERROR,
    on the ``torsion.task`` logger, which reaches stderr when logging is not
    configured) and exits with 1.

    Args:
        main: Takes the reactor, then the elements of ``argv``; returns a
            Deferred or a coroutine.
        argv: Extra positional arguments for ``main``.
        _reactor: The reactor to use (for tests); the default reactor otherwise.

    Raises:
        SystemExit: Always, once the reactor has stopped.
    """
    if _reactor is None:
        _reactor = cast(_ReactorCore, defaultReactor("pass _reactor to react()"))
    reactor = _reactor
    finished = ensureDeferred(main(reactor, *argv))
    exitCode: str | int | None = 0
    stopping = False

    def onShutdown() -> None:
        nonlocal stopping
        stopping = True

    reactor.addSystemEventTrigger("before", "shutdown", onShutdown)

    def stop(result: object, stopReactor: bool) -> None:
        nonlocal exitCode
        if stopReactor:
            try:
                reactor.stop()
            except _reactorNotRunningErrors():
                pass
        if isinstance(result, Failure):
            if result.check(SystemExit) is not None:
                exitCode = cast(SystemExit, result.value).code
            else:
                log_failure(result, "main function encountered error", "torsion.task")
                exitCode = 1

    def finish(result: object) -> None:
        if stopping:
            stop(result, False)
        else:
            reactor.callWhenRunning(stop, result, True)

    finished.addBoth(finish)
    reactor.run()
    sys.exit(exitCode)
