"""The backend-independent reactor: time, triggers, threads and the main loop.

A backend subclasses :class:`ReactorBase` and implements ``doIteration``
(wait for I/O at most ``timeout`` seconds and dispatch it), ``wakeUp`` support
through :meth:`_installWaker`, and the ``IReactorFDSet`` methods.

Hard-won facts kept here:

* Timers live in a heap of ``(time, sequence, call)`` tuples, so heap
  operations compare floats in C, never DelayedCall methods.  A cancelled
  call stays in the heap (lazy deletion) and is skipped when it surfaces; once
  cancelled entries outnumber live ones the heap is rebuilt, so cancelling a
  million timers costs O(n) in total, not O(n log n) per iteration.  A call
  moved earlier gets a second entry; the stale one is skipped because its
  time no longer matches the call's.
* ``seconds()`` is ``time.monotonic()``: timers must not jump with the wall
  clock.  (Twisted's reactor uses wall-clock time.)
* ``callFromThread`` appends to a deque (atomic in CPython) and wakes the
  loop through the waker only when it may be sleeping.
"""

from __future__ import annotations

import builtins
import heapq
import logging
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from itertools import count
from typing import TYPE_CHECKING, Any

from torsion import error
from torsion._delayedcall import DelayedCall
from torsion._logging import log_failure
from torsion.defer import Deferred, DeferredList, maybeDeferred, succeed
from torsion.failure import Failure

if TYPE_CHECKING:
    from torsion.threadpool import ThreadPool

__all__ = ["ReactorBase"]

_log = logging.getLogger("torsion.reactor")

_PHASES = ("before", "during", "after")


class _ThreePhaseEvent:
    """The triggers of one system event ("startup" or "shutdown")."""

    def __init__(self) -> None:
        self.before: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self.during: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self.after: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self.state = "BASE"
        self.finishedBefore: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []

    def addTrigger(
        self, phase: str, callable: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> tuple[str, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
        if phase not in _PHASES:
            raise KeyError(f"invalid phase {phase!r}: use 'before', 'during' or 'after'")
        entry = (callable, args, kwargs)
        getattr(self, phase).append(entry)
        return phase, entry

    def removeTrigger(
        self, handle: tuple[str, tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]
    ) -> None:
        phase, entry = handle
        if phase not in _PHASES:
            raise KeyError(f"invalid phase {phase!r}")
        if self.state == "BEFORE" and phase == "before":
            # Removing a "before" trigger while they run: it may have run.
            if entry in self.before:
                self.before.remove(entry)
            elif entry in self.finishedBefore:
                self.finishedBefore.remove(entry)
            else:
                raise ValueError("trigger not found")
            return
        getattr(self, phase).remove(entry)

    def fireEvent(self) -> None:
        """Run "before" triggers, wait for their Deferreds, then the other phases."""
        self.state = "BEFORE"
        self.finishedBefore = []
        waiting: list[Deferred[Any]] = []
        while self.before:
            entry = self.before.pop(0)
            self.finishedBefore.append(entry)
            callable, args, kwargs = entry
            result = maybeDeferred(callable, *args, **kwargs)
            if not (result.called and not isinstance(result.result, Failure)):
                result.addErrback(self._log_trigger_failure)
                waiting.append(result)
        DeferredList(waiting).addCallback(self._continueFiring)

    @staticmethod
    def _log_trigger_failure(failure: Failure) -> None:
        log_failure(failure, "Unhandled error in a system event trigger:", "torsion.reactor")

    def _continueFiring(self, _: object) -> None:
        self.state = "BASE"
        self.before = self.finishedBefore
        self.finishedBefore = []
        for phase in (self.during, self.after):
            while phase:
                callable, args, kwargs = phase.pop(0)
                try:
                    callable(*args, **kwargs)
                except BaseException:
                    self._log_trigger_failure(Failure())


class ReactorBase:
    """Timers, system events, thread calls and the main loop; no I/O.

    Attributes:
        running: True while ``run()`` is looping and not yet stopping.
    """

    # The names of the methods below mirror Twisted's reactor interfaces.
    installSignalHandlers_default = True

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, DelayedCall]] = []
        self._sequence = count()
        self._cancellations = 0
        self._eventTriggers: dict[str, _ThreePhaseEvent] = {}
        self.threadCallQueue: deque[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = (
            deque()
        )
        self.running = False
        self._started = False
        self._stopped = False
        self._justStopped = False
        self._startedBefore = False
        self._sleeping = False
        self._threadpool: ThreadPool | None = None
        self._pool_size: int | None = None
        # The creating thread until run() says otherwise: that is where it will run.
        self._thread_ident: int | None = threading.get_ident()
        self._signals_installed: dict[int, Any] = {}
        self.seconds: Callable[[], float] = time.monotonic
        # ``running`` turns True in the "during startup" phase, as in Twisted:
        # "before startup" triggers see False, callWhenRunning calls see True.
        self._start_trigger_pending = False
        self._addStartTrigger()
        self.addSystemEventTrigger("during", "shutdown", self.crash)
        self.addSystemEventTrigger("during", "shutdown", self.disconnectAll)
        self.addSystemEventTrigger("after", "shutdown", self._stopThreadPool)

    # -- IReactorTime ---------------------------------------------------------
    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall:
        """Call ``callable(*args, **kw)`` ``delay`` seconds from now (>= 0)."""
        if delay < 0:
            raise ValueError(f"delay must be >= 0, not {delay!r}")
        call = DelayedCall(
            self.seconds() + delay, callable, args, kw, self._cancelCall, self._moveCallEarlier,
            seconds=self.seconds,
        )
        heapq.heappush(self._heap, (call.time, next(self._sequence), call))
        return call

    def _cancelCall(self, call: DelayedCall) -> None:
        self._cancellations += 1

    def _moveCallEarlier(self, call: DelayedCall) -> None:
        heapq.heappush(self._heap, (call.time, next(self._sequence), call))

    def getDelayedCalls(self) -> list[DelayedCall]:
        """Every pending (not run, not cancelled) call."""
        seen: set[int] = set()
        calls = []
        for _, _, call in self._heap:
            if not call.cancelled and not call.called and id(call) not in seen:
                seen.add(id(call))
                calls.append(call)
        return calls

    def _purge(self) -> None:
        live: dict[int, tuple[float, int, DelayedCall]] = {}
        for entry in self._heap:
            call = entry[2]
            if not call.cancelled and not call.called and entry[0] == call.time:
                live.setdefault(id(call), entry)
        self._heap = list(live.values())
        heapq.heapify(self._heap)
        self._cancellations = 0

    def timeout(self) -> float | None:
        """Seconds until the next timer is due (0 with thread calls waiting; None: no timer)."""
        if self.threadCallQueue:
            return 0.0
        heap = self._heap
        while heap:
            when, _, call = heap[0]
            if call.cancelled or call.called or when != call.time:
                heapq.heappop(heap)
                if call.cancelled and self._cancellations > 0:
                    self._cancellations -= 1
                continue
            return max(0.0, when - self.seconds())
        return None

    def runUntilCurrent(self) -> None:
        """Run the thread calls waiting and every timer that is due.

        An Exception raised by a call is logged and the others still run;
        anything else (KeyboardInterrupt, SystemExit, a test runner's timeout)
        propagates and ends ``run()``.
        """
        queue = self.threadCallQueue
        if queue:
            for _ in range(len(queue)):
                f, args, kw = queue.popleft()
                try:
                    f(*args, **kw)
                except Exception:
                    log_failure(Failure(), "Unhandled error in a thread call:", "torsion.reactor")
        heap = self._heap
        if heap:
            now = self.seconds()
            pop = heapq.heappop
            while heap and heap[0][0] <= now:
                when, _, call = pop(heap)
                if call.cancelled:
                    if self._cancellations > 0:
                        self._cancellations -= 1
                    continue
                if call.called or when != call.time:
                    continue
                if call.delayed_time:
                    call.activate_delay()
                    heapq.heappush(heap, (call.time, next(self._sequence), call))
                    continue
                call.called = True
                try:
                    call.func(*call.args, **call.kw)
                except Exception:
                    log_failure(
                        Failure(), f"Unhandled error in a delayed call {call!r}:", "torsion.reactor"
                    )
            if self._cancellations > 50 and self._cancellations > len(heap) >> 1:
                self._purge()
        if self._justStopped:
            self._justStopped = False
            self.fireSystemEvent("shutdown")

    # -- IReactorCore -----------------------------------------------------------
    def addSystemEventTrigger(
        self, phase: str, eventType: str, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> tuple[str, Any]:
        """Call ``callable`` in ``phase`` of ``eventType``; returns a handle for removal.

        "before" triggers may return a Deferred: the event waits for it.
        """
        if not builtins.callable(callable):
            raise AssertionError(f"{callable!r} is not callable")
        event = self._eventTriggers.setdefault(eventType, _ThreePhaseEvent())
        return eventType, event.addTrigger(phase, callable, *args, **kw)

    def removeSystemEventTrigger(self, triggerID: tuple[str, Any]) -> None:
        """Remove a trigger added with :meth:`addSystemEventTrigger`."""
        eventType, handle = triggerID
        self._eventTriggers[eventType].removeTrigger(handle)

    def fireSystemEvent(self, eventType: str) -> None:
        """Run the triggers of ``eventType`` now."""
        event = self._eventTriggers.get(eventType)
        if event is not None:
            event.fireEvent()

    def callWhenRunning(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Call ``callable`` once the reactor runs; now if it already does."""
        if self.running:
            callable(*args, **kw)
            return None
        return self.addSystemEventTrigger("after", "startup", callable, *args, **kw)

    def startRunning(self) -> None:
        """Mark the reactor running and fire the startup event.

        Raises:
            ReactorAlreadyRunning: when it is running.
            ReactorNotRestartable: when it has run before.
        """
        if self._started:
            raise error.ReactorAlreadyRunning()
        if self._startedBefore:
            raise error.ReactorNotRestartable()
        self._started = True
        self._stopped = False
        self._thread_ident = threading.get_ident()
        self.fireSystemEvent("startup")

    def _addStartTrigger(self) -> None:
        if not self._start_trigger_pending:
            self._start_trigger_pending = True
            self.addSystemEventTrigger("during", "startup", self._reallyStartRunning)

    def _reallyStartRunning(self) -> None:
        self._start_trigger_pending = False
        self.running = True

    def run(self, installSignalHandlers: bool = True) -> None:
        """Run the loop until ``stop()`` (SIGINT/SIGTERM stop it when handlers are installed).

        The handlers are in place before the startup event fires, so a
        ``callWhenRunning`` that tells another process "ready" may be answered
        with a signal at once.
        """
        if self._started:
            raise error.ReactorAlreadyRunning()
        install = installSignalHandlers and threading.current_thread() is threading.main_thread()
        if install:
            self._installSignalHandlers()
        try:
            self.startRunning()
            self.mainLoop()
        finally:
            self._uninstallSignalHandlers()

    def mainLoop(self) -> None:
        """Iterate until the reactor is stopped or crashed."""
        try:
            while self._started:
                try:
                    while self._started:
                        self.runUntilCurrent()
                        if not self._started:
                            break
                        timeout = self.timeout()
                        self.doIteration(timeout)
                except Exception:
                    log_failure(Failure(), "Unexpected error in the main loop:", "torsion.reactor")
        finally:
            # Errors are logged and the loop goes on; anything else (KeyboardInterrupt,
            # SystemExit, a test runner's timeout) ends run() as crash() would.
            self.running = False
            if self._started:
                self._started = False
                self._addStartTrigger()

    def doIteration(self, timeout: float | None) -> None:  # pragma: no cover - abstract
        """Wait at most ``timeout`` seconds for I/O and dispatch it."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the reactor: the shutdown event runs, then the loop ends.

        Raises:
            ReactorNotRunning: when it is not running or already stopping.
        """
        if self._stopped:
            raise error.ReactorNotRunning("Can't stop reactor that isn't running.")
        if not self._started:
            raise error.ReactorNotRunning("Can't stop reactor that isn't running.")
        self._stopped = True
        self._justStopped = True
        self._startedBefore = True
        self.wakeUp()

    def crash(self) -> None:
        """Stop the loop at once, without the shutdown event."""
        self._started = False
        self.running = False
        self._addStartTrigger()  # the startup event consumed it: a later run() needs it again
        self.wakeUp()

    def iterate(self, delay: float = 0.0) -> None:
        """Run one iteration (for tests and GUI integration)."""
        self.runUntilCurrent()
        self.doIteration(delay)

    def disconnectAll(self) -> None:  # pragma: no cover - overridden by I/O reactors
        """Close every connection (part of shutdown)."""

    def wakeUp(self) -> None:  # pragma: no cover - overridden by backends
        """Interrupt a sleeping ``doIteration``."""

    # -- signals ----------------------------------------------------------------
    def _installSignalHandlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(signum)
            if signum == signal.SIGINT and current is not signal.default_int_handler:
                # Someone chose what SIGINT does (or a shell started us in the
                # background with SIGINT ignored): leave it, as Twisted does.
                continue
            try:
                previous = signal.signal(signum, self._handleSignal)
            except (ValueError, OSError):  # not the main thread, or not allowed
                continue
            self._signals_installed[signum] = previous

    def _uninstallSignalHandlers(self) -> None:
        for signum, previous in self._signals_installed.items():
            try:
                signal.signal(signum, previous)
            except (ValueError, OSError, TypeError):
                pass
        self._signals_installed.clear()

    def _handleSignal(self, signum: int, frame: object) -> None:
        _log.info("Received %s, shutting down.", signal.Signals(signum).name)
        self.callFromThread(self._stopIfRunning)

    def _stopIfRunning(self) -> None:
        if self._started and not self._stopped:
            self.stop()

    # -- IReactorThreads -------------------------------------------------------
    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Call ``f`` in the reactor thread soon; safe from any thread (and signal handlers)."""
        if not callable(f):
            raise TypeError(f"{f!r} is not callable")
        self.threadCallQueue.append((f, args, kw))
        self.wakeUp()

    def getThreadPool(self) -> ThreadPool:
        """The reactor's thread pool, created and started on first use."""
        if self._threadpool is None:
            from torsion.threadpool import ThreadPool  # noqa: PLC0415 - threads only when used

            pool = ThreadPool(0, self._pool_size or 10, name="torsion-reactor")
            pool.start()
            self._threadpool = pool
        return self._threadpool

    def callInThread(self, callable: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Run ``callable`` in the reactor's thread pool."""
        self.getThreadPool().callInThread(callable, *args, **kwargs)

    def suggestThreadPoolSize(self, size: int) -> None:
        """Set the most threads the pool may run."""
        self._pool_size = size
        if self._threadpool is not None:
            self._threadpool.adjustPoolsize(maxthreads=size)

    def _stopThreadPool(self) -> None:
        pool, self._threadpool = self._threadpool, None
        if pool is not None:
            pool.stop()

    def isInIOThread(self) -> bool:
        """Whether the caller runs in the reactor's thread."""
        return threading.get_ident() == self._thread_ident

    # -- name resolution ---------------------------------------------------------
    def resolve(self, name: str, timeout: Sequence[int] = (1, 3, 11, 45)) -> Deferred[str]:
        """Resolve a host name to one IP address, in the thread pool (getaddrinfo).

        Failures are :class:`~torsion.error.DNSLookupError`.
        """
        if not name:
            return succeed("0.0.0.0")
        if _is_ip_literal(name):
            return succeed(name)
        result: Deferred[str] = Deferred()

        def lookup() -> None:
            try:
                infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
                address: object = str(infos[0][4][0])
            except (OSError, IndexError, UnicodeError) as exc:
                address = Failure(error.DNSLookupError(f"address {name!r} not found: {exc}"))
            self.callFromThread(_fire, result, address)

        self.callInThread(lookup)
        return result


def _fire(d: Deferred[Any], result: object) -> None:
    if isinstance(result, Failure):
        d.errback(result)
    else:
        d.callback(result)


def _is_ip_literal(name: str) -> bool:
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, name.split("%", 1)[0])
        except (OSError, ValueError):
            continue
        return True
    return False

