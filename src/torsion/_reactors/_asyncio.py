"""A reactor running on an asyncio event loop (uvloop included).

TCP maps straight onto the loop's native transports: the loop (C code, on
uvloop) reads and writes the sockets, and torsion protocols are called from
the loop's protocol callbacks with no extra copy and no select loop of ours.
Everything built on file descriptors (UDP, UNIX sockets, processes) goes
through ``loop.add_reader``/``add_writer``, so it works unchanged.

Two ways to use it:

* ``torsion.reactor.install("asyncio")`` (or ``"uvloop"``) and
  ``reactor.run()``: the reactor owns a new loop and runs it;
* inside a running asyncio application, ``AsyncioReactor(loop)`` then
  ``reactor.startRunning()``: torsion code runs on the application's loop,
  and ``stop()`` runs the shutdown triggers without stopping that loop.
"""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import Callable
from typing import Any

from torsion import error
from torsion._delayedcall import DelayedCall
from torsion._logging import log_failure
from torsion._reactors._asyncio_ports import AsyncioConnector, AsyncioPort
from torsion._reactors._asyncio_tcp import AsyncioTCPTransport
from torsion._reactors._fdtable import find_fd
from torsion._reactors._posix import PosixReactorBase
from torsion.failure import Failure

__all__ = ["AsyncioReactor"]


class AsyncioReactor(PosixReactorBase):
    """A torsion reactor on an asyncio event loop.

    Args:
        eventloop: the loop to run on; a new one when omitted.
    """

    def __init__(self, eventloop: asyncio.AbstractEventLoop | None = None) -> None:
        self._asyncioEventloop = eventloop if eventloop is not None else asyncio.new_event_loop()
        self._owns_loop = eventloop is None
        self._readers: dict[int, Any] = {}
        self._writers: dict[int, Any] = {}
        self._armed: asyncio.TimerHandle | None = None
        self._armed_at = 0.0
        self._live_transports: set[AsyncioTCPTransport] = set()
        self._live_ports: set[AsyncioPort] = set()
        self._live_connectors: set[AsyncioConnector] = set()
        # While iterate() runs: the selectables served in this turn.
        self._iteration_served: set[tuple[int, bool]] | None = None
        self._iteration_ending = False
        self._owns_loop_run = False
        if eventloop is None:
            self._asyncioEventloop.set_exception_handler(self._loop_error)
        self._fatal: BaseException | None = None
        super().__init__()

    # -- time ---------------------------------------------------------------------
    # Timers live in the base class's heap, so calls due at the same time run
    # in the order they were scheduled (the loop's own heap does not promise
    # that) and cancelling many is cheap; one loop timer is armed for the
    # earliest.  The reactor's clock is ``time.monotonic()``, not the loop's:
    # uvloop's ``time()`` is libuv's cached, coarse loop time, which lags the
    # real one by up to a few milliseconds (a call scheduled between loop
    # turns would be due early).  The loop timer is armed with the delay, and
    # may still fire a little early (libuv counts whole milliseconds):
    # ``runUntilCurrent`` then finds nothing due and the timer is armed again,
    # so no call ever runs before its time.
    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall:
        call = super().callLater(delay, callable, *args, **kw)
        self._arm(call.time)
        return call

    def _moveCallEarlier(self, call: DelayedCall) -> None:
        super()._moveCallEarlier(call)
        self._arm(call.time)

    def _arm(self, when: float) -> None:
        """Have the loop run the timers at ``when`` (or earlier, if armed so already)."""
        armed = self._armed
        if armed is not None:
            if self._armed_at <= when:
                return
            armed.cancel()
        self._armed_at = when
        delay = max(0.0, when - self.seconds())
        self._armed = self._asyncioEventloop.call_later(delay, self._run_timers)

    def _run_timers(self) -> None:
        self._armed = None
        self._did_work()
        self.runUntilCurrent()
        wait = self.timeout()
        if wait is not None:
            self._arm(self.seconds() + wait)

    # -- threads --------------------------------------------------------------------
    def callFromThread(self, f: Any, *args: Any, **kw: Any) -> None:
        if not callable(f):
            raise TypeError(f"{f!r} is not callable")
        if kw:
            f = functools.partial(f, **kw)
        try:
            self._asyncioEventloop.call_soon_threadsafe(self._run_thread_call, f, args)
        except RuntimeError:  # the loop is closed: nothing will run any more
            pass

    def _run_thread_call(self, f: Any, args: tuple[Any, ...]) -> None:
        self._did_work()
        try:
            f(*args)
        except Exception:
            log_failure(Failure(), "Unhandled error in a thread call:", "torsion.reactor")

    def wakeUp(self) -> None:
        try:
            self._asyncioEventloop.call_soon_threadsafe(_noop)
        except RuntimeError:
            pass

    # -- running ----------------------------------------------------------------------
    def run(self, installSignalHandlers: bool = True) -> None:
        """Run the loop until ``stop()``."""
        loop = self._asyncioEventloop
        self.startRunning()
        if not self._started:  # crashed by a startup trigger: nothing to run
            self.running = False
            return
        self._owns_loop_run = True
        if installSignalHandlers:
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous = signal.getsignal(signum)
                if signum == signal.SIGINT and previous is not signal.default_int_handler:
                    continue  # someone chose what SIGINT does: leave it, as Twisted does
                try:
                    loop.add_signal_handler(signum, self._signal_stop, signum)
                except (ValueError, RuntimeError, NotImplementedError):
                    continue
                self._signals_installed[int(signum)] = previous
        try:
            loop.run_forever()
            fatal, self._fatal = self._fatal, None
            if fatal is not None:
                raise fatal
            if self._startedBefore:
                # Stopped: the shutdown event dropped every connection, and
                # the loop reports that (closing the sockets) on its next turns.
                for _ in range(3):
                    loop.call_soon(loop.stop)
                    loop.run_forever()
        finally:
            for installed, previous in self._signals_installed.items():
                loop.remove_signal_handler(installed)
                # The loop leaves its own idea of a default behind (uvloop
                # keeps its handler): put back what was there before run().
                try:
                    signal.signal(installed, previous)
                except (ValueError, OSError, TypeError):
                    pass
            self._signals_installed.clear()
            self._owns_loop_run = False
            self.running = False
            if self._started:  # run_forever() raised, or the loop was stopped under us
                self._started = False
                self._addStartTrigger()

    def _signal_stop(self, signum: int) -> None:
        self._handleSignal(signum, None)

    def stop(self) -> None:
        if self._stopped or not self._started:
            raise error.ReactorNotRunning("Can't stop reactor that isn't running.")
        self._stopped = True
        self._startedBefore = True
        self._asyncioEventloop.call_soon(self.fireSystemEvent, "shutdown")

    def crash(self) -> None:
        self._started = False
        self.running = False
        self._addStartTrigger()
        if self._owns_loop_run:
            self._asyncioEventloop.stop()

    def iterate(self, delay: float = 0.0) -> None:
        """Run one turn of the loop: wait at most ``delay`` seconds for work, do what is ready.

        The turn ends after the first batch of descriptor events, thread
        calls or timers the reactor dispatches (the loop finishes the
        callbacks of that batch), or after ``delay``.
        """
        loop = self._asyncioEventloop
        self._iteration_served = set()
        self._iteration_ending = False
        bound = loop.call_later(delay, loop.stop)
        try:
            loop.run_forever()
        finally:
            self._iteration_served = None
            bound.cancel()

    def _did_work(self) -> None:
        """End :meth:`iterate`'s turn once the loop has run what it has ready."""
        if self._iteration_served is not None and not self._iteration_ending:
            self._iteration_ending = True
            self._asyncioEventloop.stop()

    def _closing(self) -> None:
        # Connects still under way are cancelled before the loop finishes.
        if self._armed is not None:
            self._armed.cancel()
            self._armed = None
        for connector in list(self._live_connectors):
            connector._cancel()

    def _close_poller(self) -> None:
        """Close the loop if the reactor created it (a loop given to it is left as it is).

        The loop first finishes what it has started: it runs until its tasks
        are done and the callbacks already scheduled (the ``connection_lost``
        of connections closed at shutdown, which close their sockets) have
        run; the default executor's threads are joined.
        """
        loop = self._asyncioEventloop
        if self._owns_loop and not loop.is_running() and not loop.is_closed():
            _finish_loop(loop)

    # -- file descriptors ---------------------------------------------------------------
    def addReader(self, reader: Any) -> None:
        fd = reader.fileno()
        if self._readers.get(fd) is reader:
            return
        self._readers[fd] = reader
        self._asyncioEventloop.add_reader(fd, self._ready, reader, True)

    def addWriter(self, writer: Any) -> None:
        fd = writer.fileno()
        if self._writers.get(fd) is writer:
            return
        self._writers[fd] = writer
        self._asyncioEventloop.add_writer(fd, self._ready, writer, False)

    def removeReader(self, reader: Any) -> None:
        fd = find_fd(self._readers, reader)
        if fd in self._readers:
            del self._readers[fd]
            self._asyncioEventloop.remove_reader(fd)

    def removeWriter(self, writer: Any) -> None:
        fd = find_fd(self._writers, writer)
        if fd in self._writers:
            del self._writers[fd]
            self._asyncioEventloop.remove_writer(fd)

    def getReaders(self) -> list[Any]:
        return list(self._readers.values())

    def getWriters(self) -> list[Any]:
        return list(self._writers.values())

    def _ready(self, selectable: Any, is_read: bool) -> None:
        served = self._iteration_served
        if served is not None:
            # iterate(): each selectable once.  A loop may poll once more
            # while it stops (uvloop does); the loops' watches are level
            # triggered, so what is still ready is reported next time.
            key = (id(selectable), is_read)
            if key in served:
                return
            served.add(key)
            self._did_work()
        try:
            why = selectable.doRead() if is_read else selectable.doWrite()
        except Exception:
            # Anything else (KeyboardInterrupt, a test runner's timeout) goes
            # to the loop's exception handler, which ends run() with it.
            why = self._dispatch_failed(selectable)
        if why:
            self._disconnectSelectable(selectable, why, is_read)

    # -- TCP on native transports ------------------------------------------------------------
    def listenTCP(  # type: ignore[override]
        self, port: int, factory: Any, backlog: int = 50, interface: str = "",
        reusePort: bool = False,
    ) -> AsyncioPort:
        p = AsyncioPort(port, factory, backlog, interface, self, reusePort)
        p.startListening()
        return p

    def connectTCP(  # type: ignore[override]
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> AsyncioConnector:
        c = AsyncioConnector(host, port, factory, timeout, bindAddress, self)
        c.connect()
        return c

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The handler of a loop the reactor owns: errors are logged, other exceptions end run().

        A callback raising something that is not an Exception (KeyboardInterrupt
        aside, which the loop re-raises itself: a test runner's timeout,
        GeneratorExit...) would otherwise be logged and the loop would go on.
        """
        exc = context.get("exception")
        if isinstance(exc, BaseException) and not isinstance(exc, Exception):
            self._fatal = exc
            loop.stop()
            return
        _report_loop_error(loop, context)

    def disconnectAll(self) -> None:
        """Close every port, drop every connection (ConnectionLost) and stop every connect."""
        super().disconnectAll()
        for port in list(self._live_ports):
            port._close()
        for transport in list(self._live_transports):
            transport._drop()
        for connector in list(self._live_connectors):
            connector._cancel()


def _noop() -> None:
    pass


def _report_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Report what the loop caught like other backends report errors: logged as failures.

    A protocol callback that raised comes with its exception; a report
    without one (a task destroyed while pending, a transport never closed)
    is a leak, and is logged as a failure too, so that tests see it.
    """
    exc = context.get("exception")
    message = context.get("message", "Unhandled error in the event loop")
    if not isinstance(exc, BaseException):
        details = ", ".join(f"{k}={v!r}" for k, v in context.items() if k != "message")
        exc = RuntimeError(f"{message} ({details})" if details else message)
    log_failure(Failure(exc), f"{message}:", "torsion.reactor")


def _finish_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Let ``loop`` finish its tasks and scheduled callbacks, then close it."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    # Callbacks scheduled by the tasks' ends and by closed transports
    # (connection_lost closes the socket), and those they schedule in turn.
    for _ in range(_DRAIN_TURNS):
        loop.run_until_complete(asyncio.sleep(0))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


# Enough loop turns for a closed transport's callbacks to run (asyncio's
# TLS and pipe transports chain two or three call_soon steps).
_DRAIN_TURNS = 4
