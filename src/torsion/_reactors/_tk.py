"""A reactor driven by Tk's event loop: torsion networking inside a tkinter application.

Tk's own loop (``Tcl_DoOneEvent``) does all the waiting; the reactor never
polls.  Three kinds of Tcl event source carry everything:

* every watched descriptor has one Tcl file handler
  (``tkapp.createfilehandler``) whose mask combines reading and writing
  interest; it is deleted and created anew when the interest changes;
* the timer heap of :class:`~torsion._reactors._base.ReactorBase` is served by
  a single Tcl timer armed for the earliest due call (see below);
* ``callFromThread`` and ``stop`` write to the reactor's waker, a descriptor
  with its own file handler, so another thread wakes Tk at once.

Two ways to use it:

* ``TkReactor(root)`` (or ``TkReactor()``, which makes a withdrawn root of its
  own, available as :attr:`TkReactor.root`), then ``reactor.run()``: startup
  triggers fire and ``root.mainloop()`` runs until ``reactor.stop()`` (the
  shutdown event runs, then the loop quits).  Closing the main window stops
  the reactor cleanly and then destroys the window; destroying the window or
  quitting Tk's loop some other way stops the reactor too.
* An application that runs ``root.mainloop()`` itself: ``reactor =
  TkReactor(root); reactor.startRunning(); root.mainloop()``.  ``stop()`` then
  runs the shutdown event and leaves the application's loop alone; closing the
  main window still runs the shutdown event before the window goes.  Destroy
  the root only after the reactor stopped (a shutdown trigger is a good place):
  without a window, the application's ``mainloop()`` returns and nothing runs
  the shutdown event any more.

Design choices:

* **One Tcl timer, not one per call.**  The heap already orders calls (ties by
  scheduling order, moved and delayed calls, lazy cancellation); Tcl timers
  count whole milliseconds, so one per call would lose that order.  The timer
  is re-armed when a call earlier than the armed deadline is scheduled (or
  moved earlier) and after each run of due calls.  Cancelling the earliest
  call does not re-arm: the timer then fires once for nothing and re-arms for
  the next call, which costs less than a Tcl call per ``cancel()``.  It is a
  ``tkapp.createtimerhandler`` timer, what ``widget.after`` creates too, minus
  the Tcl command ``after`` registers per call.
* Timers and thread calls run only while the reactor is started (``run()`` or
  ``startRunning()`` until ``stop()``/``crash()``), as on every backend, even
  if the application pumps Tk events meanwhile.  Descriptors are served
  whenever Tk's loop runs: a ready descriptor left unserved would make Tcl's
  level-triggered notifier report it again and again.

Hard-won facts (Tcl/Tk 8.6, threaded, as Debian ships it):

* Tcl's Unix notifier waits in ``select()``: a descriptor at or above
  ``FD_SETSIZE`` (1024) aborts the whole process (glibc's "bit out of range 0 -
  FD_SETSIZE on fd_set").  ``addReader``/``addWriter`` refuse such descriptors
  with ``ValueError`` instead, as the select backend does.
* A descriptor closed while its file handler is still registered makes that
  ``select()`` fail with EBADF in Tcl's notifier thread, which retries at
  once: one core at 100% and no I/O on any descriptor until the handler goes.
  Remove a selectable from the reactor *before* closing it (torsion's
  transports do).
* tkinter keeps a Python exception raised in a file or timer handler until the
  next ``mainloop()`` call re-raises it; so the reactor's handlers catch every
  ``Exception`` (logging it) and let the rest (``KeyboardInterrupt``,
  ``SystemExit``, a test runner's timeout) end ``run()`` that way.
* tkinter hands an exception raised in a Tcl command callback (``after``, a
  button's ``command``, the window manager's ``WM_DELETE_WINDOW``) to
  ``root.report_callback_exception``, which prints it to stderr and carries
  on: the error is lost to logging and to tests.  The reactor replaces it on
  its root: an ``Exception`` is logged as a failure, anything else quits Tk's
  loop and is raised from ``run()``.
* Idle callbacks belong to the thread, not to the Tk that queued them: a root
  destroyed before its pending idle work ran (ttk schedules some in every new
  ``Tk()``) makes the next Tk loop in the thread print "can't invoke "event"
  command: application has been destroyed".  The reactor runs idle work before
  it destroys a root.
* Creating a file handler again for a descriptor that has one leaks tkinter's
  record of the old one: the reactor deletes it first.
* Python runs signal handlers only when the main thread runs Python code,
  which an idle ``mainloop()`` does not do.  ``run()`` in the main thread
  points ``signal.set_wakeup_fd`` at a pipe with a file handler (unless
  someone else's wakeup descriptor is set), so a signal's Python handler runs
  at once: SIGINT and SIGTERM stop an idle reactor, and a test runner's alarm
  (pytest-timeout) interrupts a hung one, with or without the reactor's own
  signal handlers.
* The first ``Tk()`` in a process opens the X connection and Tcl's notifier
  pipe; both stay open for the life of the process, whatever is destroyed.
* Tcl 8.6 timers follow the wall clock, the reactor's ``seconds()`` the
  monotonic one: the armed timer may fire a little early (the reactor re-arms
  for the remainder) or, if the wall clock jumps back, late.

The methods mirror Twisted's reactor interfaces, hence their camelCase names.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from torsion._delayedcall import DelayedCall
from torsion._logging import log_failure
from torsion._reactors._fdtable import DescriptorTableReactor
from torsion.failure import Failure

if TYPE_CHECKING:
    import _tkinter
    import tkinter

__all__ = ["FD_SETSIZE", "TkReactor", "TkUnavailableError"]

_log = logging.getLogger("torsion.reactor")

#: Descriptors must be below this for Tcl's select()-based notifier (glibc's value).
FD_SETSIZE = 1024

# tkinter's constants, repeated so that this module imports without tkinter.
_READABLE = 2
_WRITABLE = 4
_DONT_WAIT = 2

# Tcl timers take a C int of milliseconds; a longer wait is re-armed when it ends.
_MAX_TIMER_MS = 24 * 3600 * 1000

_INFINITY = math.inf


class TkUnavailableError(RuntimeError):
    """The tk reactor cannot run here: no tkinter, or no display to open."""


class TkReactor(DescriptorTableReactor):
    """A torsion reactor on Tk's event loop.

    Args:
        root: the application's ``tkinter.Tk``; when omitted the reactor
            creates one, withdraws it and destroys it in :meth:`close`.

    Tk must only be called from the thread that created its root: use the
    reactor from that thread (``run()`` there too); other threads reach it
    through ``callFromThread`` only, which makes no Tk call.  ``addReader``
    and ``addWriter`` raise ``ValueError`` for a descriptor that is not below
    FD_SETSIZE (1024).

    Attributes:
        root: the ``tkinter.Tk`` whose loop runs the reactor.

    Raises:
        TkUnavailableError: when tkinter is missing or Tk cannot open a
            display (no ``DISPLAY``; run under ``xvfb-run`` for tests).
    """

    def __init__(self, root: tkinter.Tk | None = None) -> None:
        self._owns_root = root is None
        self.root: tkinter.Tk = root if root is not None else _new_root()
        self._tk: _tkinter.TkappType = self.root.tk
        self._timer: _tkinter.TkttType | None = None
        self._armed_at = _INFINITY
        self._in_tick = False
        self._owns_loop = False
        self._close_window_after_shutdown = False
        self._signal_pipe: tuple[int, int] | None = None
        self._fatal: BaseException | None = None
        self._iteration_served: set[int] | None = None
        self._iteration_repeat = False
        super().__init__()
        self.addSystemEventTrigger("after", "shutdown", self._after_shutdown)
        self.root.protocol("WM_DELETE_WINDOW", self._window_closed)
        self._previous_report = self.root.__dict__.get("report_callback_exception")
        self.root.report_callback_exception = self._callback_failed

    # -- IReactorFDSet ------------------------------------------------------------
    _READ_MASK = _READABLE
    _WRITE_MASK = _WRITABLE

    def _add(self, table: dict[int, Any], xer: Any) -> None:
        # addReader and addWriter: ValueError for a descriptor Tk can't watch.
        fd = xer.fileno()
        if table.get(fd) is not xer:
            _check_fd(fd)
            self._watch(table, fd, xer)

    def _set_mask(self, fd: int, old: int, new: int) -> None:
        """Make Tk's file handler for ``fd`` watch ``new``."""
        # Always delete first: creating over an existing handler leaks tkinter's record.
        self._tk.deletefilehandler(fd)
        if new:
            self._tk.createfilehandler(fd, new, self._fd_ready)

    def _fd_ready(self, fd: int, mask: int) -> None:
        """Tk's file handler: dispatch readiness of ``fd`` to its selectable(s)."""
        selectable: Any = self._selectables.get(fd)
        if selectable is None:
            return
        if selectable is self._waker:
            self._waker.doRead()
            self._tick()
            return
        served = self._iteration_served
        if served is not None:
            # iterate(): one round of readiness.  Tcl's notifier is level
            # triggered, so a descriptor still ready comes round again: that
            # is the next round, left for the next iteration.
            if fd in served:
                self._iteration_repeat = True
                return
            served.add(fd)
        why: BaseException | Failure | None = None
        is_read = False
        try:
            if mask & _READABLE and fd in self._reads:
                is_read = True
                why = selectable.doRead()
            # Unless doRead removed it (or a new selectable took the number).
            writing = fd in self._writes and self._writes[fd] is selectable
            if not why and mask & _WRITABLE and writing:
                is_read = False
                why = selectable.doWrite()
        except Exception:
            why = self._dispatch_failed(selectable)
        if why:
            self._disconnectSelectable(selectable, why, is_read)

    # -- time ------------------------------------------------------------------------
    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall:
        """Call ``callable(*args, **kw)`` ``delay`` seconds from now (>= 0)."""
        call = super().callLater(delay, callable, *args, **kw)
        if call.time < self._armed_at and self._started and not self._in_tick:
            self._arm()
        return call

    def _moveCallEarlier(self, call: DelayedCall) -> None:
        super()._moveCallEarlier(call)
        if call.time < self._armed_at and self._started and not self._in_tick:
            self._arm()

    def _arm(self) -> None:
        """(Re)arm the Tcl timer for the earliest due call, or disarm it if there is none."""
        if self._timer is not None:
            self._timer.deletetimerhandler()
            self._timer = None
            self._armed_at = _INFINITY
        timeout = self.timeout()
        if timeout is None:
            return
        # Round up: a timer firing before the call is due would only re-arm.
        ms = min(math.ceil(timeout * 1000), _MAX_TIMER_MS)
        self._armed_at = self.seconds() + timeout
        self._timer = self._tk.createtimerhandler(ms, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self._armed_at = _INFINITY
        self._tick()

    def _tick(self) -> None:
        """Run the thread calls and timers that are due, then re-arm the timer."""
        if not self._started:
            return
        self._in_tick = True
        try:
            self.runUntilCurrent()
        except Exception:
            log_failure(Failure(), "Unexpected error in the main loop:", "torsion.reactor")
        finally:
            self._in_tick = False
        if self._started:
            self._arm()

    # -- running ----------------------------------------------------------------------
    def startRunning(self) -> None:
        """Fire the startup event and serve timers from Tk's loop (whoever runs it).

        Call it before ``root.mainloop()`` in an application that runs Tk's
        loop itself; ``run()`` calls it for you.

        Raises:
            ReactorAlreadyRunning: when it is running.
            ReactorNotRestartable: when it has run before.
        """
        super().startRunning()
        if self._started:
            self._arm()

    def mainLoop(self) -> None:
        """Run ``root.mainloop()`` until the reactor is stopped or crashed.

        If Tk's loop ends first (the application quit it, or destroyed the
        root window), the reactor stops: the shutdown event runs, with Tk's
        loop still serving it, and then this returns.
        """
        self._owns_loop = True
        self._watch_signals()
        # While the root window exists, mainloop(0) returns once it is gone;
        # after that, -1 keeps the loop going with no window at all.
        threshold = 0
        try:
            while self._started:
                try:
                    self.root.mainloop(threshold)
                except Exception:
                    log_failure(Failure(), "Unexpected error in the main loop:", "torsion.reactor")
                    continue
                self._raise_fatal()
                threshold = -1
                if self._started and not self._stopped:
                    _log.info("Tk's main loop ended: stopping the reactor.")
                    self.stop()
        finally:
            self._owns_loop = False
            self._unwatch_signals()
            # Also when an exception that is no Exception (KeyboardInterrupt, a
            # test runner's timeout) ends run(), as crash() would.
            self.running = False
            if self._started:
                self._started = False
                self._addStartTrigger()
                self._disarm()

    def _callback_failed(
        self, exc_type: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        """``root.report_callback_exception``: see the module's notes."""
        if isinstance(value, Exception):
            log_failure(Failure(value, exc_type, tb), "Unhandled error in a Tk callback:",
                        "torsion.reactor")
            return
        self._fatal = value
        self._tk.quit()  # mainloop() returns; mainLoop or doIteration raises it

    def _raise_fatal(self) -> None:
        fatal, self._fatal = self._fatal, None
        if fatal is not None:
            raise fatal

    def crash(self) -> None:
        """Stop at once, without the shutdown event; quit Tk's loop if ``run()`` runs it."""
        super().crash()
        self._disarm()
        if self._owns_loop:
            self._tk.quit()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.deletetimerhandler()
            self._timer = None
            self._armed_at = _INFINITY

    def doIteration(self, timeout: float | None) -> None:
        """Wait at most ``timeout`` seconds (None: forever) for a Tk event, handle what is ready."""
        guard = None
        self._iteration_served = set()
        self._iteration_repeat = False
        try:
            if timeout is None:
                self._tk.dooneevent(0)
            elif timeout > 0:
                ms = min(math.ceil(timeout * 1000), _MAX_TIMER_MS)
                guard = self._tk.createtimerhandler(ms, _noop)
                self._tk.dooneevent(0)
            # Then whatever else is ready, without waiting, until a descriptor
            # comes round a second time (bounded: Tk may keep finding work).
            for _ in range(1000):
                if self._iteration_repeat or not self._tk.dooneevent(_DONT_WAIT):
                    break
        finally:
            self._iteration_served = None
            if guard is not None:
                guard.deletetimerhandler()
        self._raise_fatal()

    def _window_closed(self) -> None:
        """WM_DELETE_WINDOW: stop the reactor, then destroy the window after shutdown."""
        self._close_window_after_shutdown = True
        if self._started and not self._stopped:
            self.stop()
        elif not self._started:
            self._destroy_root()
        # else: stopping already; the "after shutdown" trigger destroys it.

    def _after_shutdown(self) -> None:
        if self._close_window_after_shutdown:
            self._destroy_root()

    def _destroy_root(self) -> None:
        try:
            # Idle callbacks left pending (ttk's theme set-up after Tk()) would
            # run in the next loop of any Tk in this thread and fail noisily.
            self.root.update_idletasks()
            self.root.destroy()
        except Exception:  # destroyed already (its Tk commands are gone)
            pass

    # -- signals ------------------------------------------------------------------------
    def _watch_signals(self) -> None:
        """Wake Tk when a signal arrives, so its Python handler runs now (see the notes)."""
        if self._signal_pipe is not None:
            return
        if threading.current_thread() is not threading.main_thread():
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.set_blocking(write_fd, False)
        previous = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        if previous != -1:  # someone else's (an asyncio loop?): leave it in place
            signal.set_wakeup_fd(previous)
            os.close(read_fd)
            os.close(write_fd)
            return
        self._signal_pipe = (read_fd, write_fd)
        self._tk.createfilehandler(read_fd, _READABLE, self._signal_arrived)

    def _signal_arrived(self, fd: int, mask: int) -> None:
        # Running this Python code is the point: Python runs the signal handlers now.
        try:
            os.read(fd, 512)
        except BlockingIOError:
            pass

    def _unwatch_signals(self) -> None:
        pipe, self._signal_pipe = self._signal_pipe, None
        if pipe is not None:
            signal.set_wakeup_fd(-1)
            self._tk.deletefilehandler(pipe[0])
            os.close(pipe[0])
            os.close(pipe[1])

    # -- closing ---------------------------------------------------------------------------
    def _close_poller(self) -> None:
        """Drop the timer and file handlers; destroy the root if the reactor made it."""
        if self._timer is not None:
            self._timer.deletetimerhandler()
            self._timer = None
        for fd in list(self._selectables):
            self._tk.deletefilehandler(fd)
        self._reads.clear()
        self._writes.clear()
        self._selectables.clear()
        if self._owns_root:
            self._destroy_root()
        else:
            try:
                self.root.protocol("WM_DELETE_WINDOW", self.root.destroy)
            except Exception:  # the window is gone
                pass
            # The application's root gets its own error reporting back.
            if self._previous_report is None:
                self.root.__dict__.pop("report_callback_exception", None)
            else:
                self.root.report_callback_exception = (
                    self._previous_report
                )


def _new_root() -> tkinter.Tk:
    """A withdrawn ``tkinter.Tk`` for a reactor created without one."""
    try:
        import tkinter  # noqa: PLC0415 - tkinter is optional: imported when a Tk reactor is made
    except ImportError as exc:
        raise TkUnavailableError(
            f"the tk reactor needs tkinter (Debian: apt-get install python3-tk): {exc}"
        ) from exc
    try:
        root = tkinter.Tk()
    except tkinter.TclError as exc:
        raise TkUnavailableError(
            f"the tk reactor needs a display: {exc} (set DISPLAY, or run under xvfb-run)"
        ) from exc
    root.withdraw()
    return root


def _check_fd(fd: int) -> None:
    if not 0 <= fd < FD_SETSIZE:
        raise ValueError(
            f"descriptor {fd} can't be watched by Tk: it must be >= 0 and < {FD_SETSIZE}"
            " (Tcl's notifier uses select())"
        )


def _noop() -> None:
    pass
