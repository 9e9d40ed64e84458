"""Run one test on every reactor backend, and fail it when it leaks.

A conformance test takes a backend name, makes a fresh reactor with
:func:`checked_reactor`, drives it with :func:`run_until` (as many times as it
likes: the reactor is crashed, not stopped, between runs) and leaves the rest
to the context manager: the reactor is stopped (the shutdown event closes
ports and connections and stops the thread pool), closed, and the test fails
if a descriptor, a thread or (on request) a child process it started is still
there.

The helpers drive the reactor themselves with ``run()`` and ``crash()``;
they do not need the pytest plugin and work under any test runner.
:func:`backend_unavailable` says why a backend cannot run here (a missing
optional package, no display for Tk), so a runner can skip it with that reason.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from torsion._reactors import BACKENDS as _BACKEND_TABLE
from torsion._reactors import new_reactor
from torsion.defer import Deferred, ensureDeferred
from torsion.failure import Failure

__all__ = [
    "BACKENDS",
    "LeakError",
    "ReactorTimeout",
    "backend_unavailable",
    "checked_reactor",
    "open_fds",
    "run_for",
    "run_until",
    "unreaped_children",
]

_T = TypeVar("_T")

#: Every reactor backend's name, sorted: the parameters of a conformance suite.
BACKENDS: tuple[str, ...] = tuple(sorted(_BACKEND_TABLE))

# How long a stopping reactor may take to run its shutdown event, and threads
# to end, before the check gives up on them.
_SHUTDOWN_SECONDS = 10.0
_THREAD_GRACE_SECONDS = 5.0


class ReactorTimeout(AssertionError):
    """The reactor ran for the whole allowed time and the awaited result did not come."""


class LeakError(AssertionError):
    """A test left a descriptor open, a thread running or a child unreaped."""


def backend_unavailable(backend: str) -> str | None:
    """Why ``backend`` cannot run in this process, or None when it can.

    uvloop needs the ``uvloop`` package (extra ``torsion[uvloop]``); tk needs
    tkinter and an X display (``DISPLAY``: under a test runner, a private
    ``Xvfb``).  Unknown names are an error, not a reason to skip.

    Raises:
        ValueError: for a name that is not a backend.
    """
    if backend not in _BACKEND_TABLE:
        raise ValueError(f"unknown reactor {backend!r}: choose one of {', '.join(BACKENDS)}")
    if backend == "uvloop" and importlib.util.find_spec("uvloop") is None:
        return "uvloop is not installed (pip install 'torsion[uvloop]')"
    if backend == "tk":
        if importlib.util.find_spec("tkinter") is None:
            return "tkinter is not installed (Debian: python3-tk)"
        if not os.environ.get("DISPLAY"):
            return "no X display for Tk (set DISPLAY, or run under Xvfb)"
    return None


def open_fds() -> dict[int, str]:
    """This process's open descriptors and what each points to (Linux ``/proc/self/fd``)."""
    fds: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the listing's own descriptor, closed already
            pass
    return fds


def unreaped_children() -> set[int]:
    """This process's children that exited and were not reaped: zombies (Linux ``/proc``)."""
    me = os.getpid()
    found: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:  # exited and reaped meanwhile
            continue
        # The command name, in parentheses, may itself hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z" and int(fields[1]) == me:
            found.add(int(name))
    return found


_warmed: set[str] = set()


def _warm_up(backend: str) -> None:
    """Open what a backend keeps for the life of the process before anything is counted.

    libuv opens its signal pipe on first use; Tk opens the X connection and
    Tcl's notifier pipe with the first ``Tk()``.  Neither is a leak of a test.
    """
    if backend not in _warmed:
        new_reactor(backend).close()
        _warmed.add(backend)


def _shut_down(reactor: Any) -> None:
    """Stop ``reactor`` unless the test stopped it: the shutdown event closes what is left."""
    if getattr(reactor, "_startedBefore", False):
        return
    if reactor.running or getattr(reactor, "_started", False):
        reactor.crash()  # left running by a failed run_until: start over cleanly
    guard = reactor.callLater(_SHUTDOWN_SECONDS, reactor.crash)
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    if guard.active():
        guard.cancel()


@contextmanager
def checked_reactor(backend: str, *, children: bool = False) -> Iterator[Any]:
    """A new reactor of ``backend``; stopped, closed and checked for leaks on exit.

    On exit (also when the block raised) the reactor is stopped if the test
    did not stop it, then closed.  If the block succeeded, the check follows:
    every descriptor open now that was not open (or pointed elsewhere) before,
    and every thread started meanwhile and still alive after a short grace, is
    a leak; with ``children=True``, so is an exited child nobody reaped.

    Raises:
        LeakError: naming what leaked.
    """
    _warm_up(backend)
    fds_before = open_fds()
    threads_before = set(threading.enumerate())
    zombies_before = unreaped_children() if children else set()
    reactor = new_reactor(backend)
    try:
        yield reactor
    finally:
        try:
            _shut_down(reactor)
        finally:
            reactor.close()
    deadline = time.monotonic() + _THREAD_GRACE_SECONDS
    while True:
        extra = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.01)  # threads told to stop at shutdown take a moment to end
    leaked = {fd: target for fd, target in open_fds().items() if fds_before.get(fd) != target}
    problems = []
    if leaked:
        problems.append(f"descriptors left open by the test: {leaked}")
    if extra:
        problems.append(f"threads left running by the test: {extra}")
    if children:
        zombies = unreaped_children() - zombies_before
        if zombies:
            problems.append(f"children left unreaped (zombies): {sorted(zombies)}")
    if problems:
        raise LeakError("; ".join(problems))


def run_until(
    reactor: Any,
    awaited: Deferred[_T] | Coroutine[Any, Any, _T],
    timeout: float = 10.0,
) -> _T:
    """Run ``reactor`` until ``awaited`` has a result; return it, or raise its error.

    A coroutine is started on the reactor first (``ensureDeferred``).  Once
    the result is there the reactor is crashed, not stopped, so it can be run
    again.  When the awaited Deferred already has its result the reactor is
    not run at all.

    Raises:
        ReactorTimeout: after ``timeout`` seconds without a result (the
            Deferred is cancelled then).
        AssertionError: when the reactor stopped (or crashed) first.
    """
    d = ensureDeferred(awaited)
    outcome: list[object] = []

    def finish(result: object) -> None:
        outcome.append(result)
        if reactor.running or getattr(reactor, "_started", False):
            reactor.crash()

    d.addBoth(finish)
    if not outcome:
        expired: list[bool] = []

        def expire() -> None:
            expired.append(True)
            reactor.crash()

        guard = reactor.callLater(timeout, expire)
        try:
            reactor.run(installSignalHandlers=False)
        finally:
            if guard.active():
                guard.cancel()
        if not outcome:
            if expired:
                d.cancel()
                outcome.clear()  # the cancellation's CancelledError is not the story
                raise ReactorTimeout(f"nothing happened within {timeout} seconds")
            raise AssertionError("the reactor stopped before the awaited result came")
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result  # type: ignore[return-value]


def run_for(reactor: Any, seconds: float) -> None:
    """Run ``reactor`` for ``seconds`` seconds, then crash it."""
    d: Deferred[None] = Deferred()
    reactor.callLater(seconds, d.callback, None)
    run_until(reactor, d, timeout=seconds + 10)
