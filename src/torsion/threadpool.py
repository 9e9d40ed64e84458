"""A pool of worker threads that runs blocking calls away from the reactor.

This module mirrors ``twisted.python.threadpool``: ``ThreadPool`` keeps its
Twisted name, constructor, camelCase methods and attributes (``started``,
``joined``, ``min``, ``max``, ``threads``, ``workers``), so code written for
Twisted's pool works unchanged::

    from torsion.threadpool import ThreadPool

    pool = ThreadPool(minthreads=0, maxthreads=4, name="hashing")
    pool.start()
    pool.callInThreadWithCallback(print, sum, [1, 2, 3])  # prints "True 6"
    pool.stop()                                            # waits for it

Behaviour, as pinned down by the tests:

* ``start()`` starts ``min`` idle workers at once; more start as work arrives,
  one per waiting call, never more than ``max``.  Idle workers stay until
  ``stop()`` or until ``adjustPoolsize`` lowers ``max`` below the count.
* Work runs first in, first out.  Each call runs in a copy of the
  :mod:`contextvars` context taken when it was queued, so a worker sees the
  caller's context variables and its own changes stay with that call.
  (Twisted 26.10 runs work in the worker thread's own, shared context.)
* An exception from the work, or from ``onResult``, is logged with its
  traceback under the ``torsion.threadpool`` logger; the worker carries on.
* Work queued before ``start()`` waits for it; work queued after ``stop()``
  is dropped silently, as in Twisted.  ``stop()`` lets the work already
  queued run, then joins the workers.

Hard-won facts kept here:

* Workers are not daemon threads (a daemon thread can be killed half way
  through writing a file at interpreter exit).  Twisted's pool then hangs
  exit when nobody stops it; torsion's does not: at interpreter shutdown,
  before the non-daemon threads are joined, every running pool is stopped.
  The hook is ``threading._register_atexit``, the one ``concurrent.futures``
  relies on; ``atexit`` would run too late, after the join.  Exit still
  waits for work that is running or queued, as ``concurrent.futures`` does.
* The pool counts its busy workers instead of its idle ones: a new worker
  counts as idle from the moment it is created, before its thread runs, so
  a burst of calls never starts more threads than there are calls waiting.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from torsion._logging import log_failure
from torsion.failure import Failure

__all__ = ["ThreadPool", "ThreadPoolStatistics"]

_T = TypeVar("_T")
_P = ParamSpec("_P")

_LOGGER = "torsion.threadpool"

# A queued call: its context, its result handler, the callable and arguments.
_Work = tuple[
    contextvars.Context,
    Callable[[bool, Any], object] | None,
    Callable[..., object],
    tuple[object, ...],
    dict[str, object],
]


@dataclass(frozen=True, slots=True)
class ThreadPoolStatistics:
    """A snapshot of a pool's load, from :meth:`ThreadPool.statistics`.

    Attributes:
        queued: Calls waiting for a worker.
        idle: Workers waiting for a call.
        busy: Workers running a call.
    """

    queued: int
    idle: int
    busy: int

    @property
    def workers(self) -> int:
        """All the pool's worker threads, idle or busy."""
        return self.idle + self.busy


class ThreadPool:
    """Runs callables in up to ``maxthreads`` worker threads.

    Args:
        minthreads: Workers to keep even when idle, once started.
        maxthreads: The most workers to run at once.
        name: Included in the worker thread names (``PoolThread-<name>-<n>``).

    Raises:
        ValueError: ``minthreads`` is negative or greater than ``maxthreads``.
            (Twisted raises AssertionError.)

    Attributes:
        min: The current ``minthreads``.
        max: The current ``maxthreads``.
        name: The pool's name, or None.
        started: True between ``start()`` and ``stop()``.
        joined: True once ``stop()`` has been called (until a new ``start()``).
        threads: The live worker threads.  Read it, don't change it.
        threadFactory: Makes the worker threads; called like
            :class:`threading.Thread` with ``name`` and ``target``.
        currentThread: Returns the calling thread (:func:`threading.current_thread`).
    """

    threadFactory: Callable[..., threading.Thread] = threading.Thread
    currentThread = staticmethod(threading.current_thread)

    def __init__(self, minthreads: int = 5, maxthreads: int = 20, name: str | None = None) -> None:
        _check_sizes(minthreads, maxthreads)
        self.min = minthreads
        self.max = maxthreads
        self.name = name
        self.started = False
        self.joined = False
        self.threads: list[threading.Thread] = []
        self._pending: deque[_Work] = deque()
        self._busy = 0
        self._created = 0
        self._cond = threading.Condition(threading.Lock())

    def __repr__(self) -> str:
        stats = self.statistics()
        return (
            f"<ThreadPool {self.name!r} min={self.min} max={self.max} "
            f"busy={stats.busy} idle={stats.idle} queued={stats.queued}>"
        )

    # Twisted pickles a pool as its sizes; a restored pool is new and stopped.
    def __getstate__(self) -> dict[str, int]:
        return {"min": self.min, "max": self.max}

    def __setstate__(self, state: dict[str, int]) -> None:
        ThreadPool.__init__(self, state["min"], state["max"])

    @property
    def workers(self) -> int:
        """How many worker threads are alive, idle or busy."""
        with self._cond:
            return len(self.threads)

    def statistics(self) -> ThreadPoolStatistics:
        """Return a snapshot of the queued calls and the idle and busy workers."""
        with self._cond:
            return ThreadPoolStatistics(
                queued=len(self._pending), idle=len(self.threads) - self._busy, busy=self._busy
            )

    def dumpStats(self) -> None:
        """Log the pool's load at INFO level, under ``torsion.threadpool``."""
        stats = self.statistics()
        logging.getLogger(_LOGGER).info(
            "thread pool %r: %d queued, %d idle, %d busy",
            self.name,
            stats.queued,
            stats.idle,
            stats.busy,
        )

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        """Start ``min`` workers, and enough more for the work already queued.

        Calling it on a started pool does nothing more; a stopped pool can be
        started again.
        """
        with self._cond:
            self.joined = False
            self.started = True
            self._grow_locked()
        _running_pools.add(self)
        _register_exit_hook()

    def stop(self) -> None:
        """Run the work already queued, then end and join every worker.

        Work queued later is dropped.  Stopping a pool that was never started
        drops its queued work; stopping twice does nothing the second time
        (Twisted raises ``AlreadyQuit``).  Called from one of the pool's own
        workers, it joins the others only.
        """
        with self._cond:
            if self.joined:
                return
            self.joined = True
            self.started = False
            if not self.threads:
                self._pending.clear()
            workers = list(self.threads)
            self._cond.notify_all()
        _running_pools.discard(self)
        me = threading.current_thread()
        for worker in workers:
            if worker is not me:
                worker.join()

    def adjustPoolsize(self, minthreads: int | None = None, maxthreads: int | None = None) -> None:
        """Change the pool's sizes; None keeps a size as it is.

        On a started pool, new workers start to reach the new ``min`` (and
        to take queued work a larger ``max`` allows); if ``max`` went below
        the worker count, idle workers end now and busy ones when their
        call returns.

        Raises:
            ValueError: The new sizes break ``0 <= min <= max``; nothing changed.
        """
        with self._cond:
            newmin = self.min if minthreads is None else minthreads
            newmax = self.max if maxthreads is None else maxthreads
            _check_sizes(newmin, newmax)
            self.min, self.max = newmin, newmax
            if self.started:
                self._grow_locked()
                self._cond.notify_all()

    # -- work ------------------------------------------------------------------

    def callInThread(self, func: Callable[_P, object], *args: _P.args, **kw: _P.kwargs) -> None:
        """Run ``func(*args, **kw)`` in a worker; its exceptions are logged.

        Example:
            >>> pool = ThreadPool(0, 1)
            >>> pool.callInThread(print, "from a worker")
            >>> pool.start(); pool.stop()
            from a worker
        """
        self._queue(None, func, args, kw)

    def callInThreadWithCallback(
        self,
        onResult: Callable[[bool, _T | Failure], object] | None,
        func: Callable[_P, _T],
        *args: _P.args,
        **kw: _P.kwargs,
    ) -> None:
        """Run ``func(*args, **kw)`` in a worker, then pass its outcome to ``onResult``.

        ``onResult(True, result)`` or ``onResult(False, failure)`` is called
        in the same worker thread, right after ``func``.  An exception from
        ``onResult`` itself is logged.  With ``onResult`` None this is
        ``callInThread``.

        Example:
            >>> pool = ThreadPool(0, 1)
            >>> pool.callInThreadWithCallback(lambda ok, r: print(ok, r), divmod, 7, 2)
            >>> pool.start(); pool.stop()
            True (3, 1)
        """
        self._queue(onResult, func, args, kw)

    def _queue(
        self,
        onResult: Callable[[bool, Any], object] | None,
        func: Callable[..., object],
        args: tuple[object, ...],
        kw: dict[str, object],
    ) -> None:
        work: _Work = (contextvars.copy_context(), onResult, func, args, kw)
        with self._cond:
            if self.joined:
                return
            self._pending.append(work)
            if self.started:
                if len(self._pending) > len(self.threads) - self._busy:
                    self._grow_locked()
                self._cond.notify()

    def _grow_locked(self) -> None:
        """Start the workers that ``min``, ``max`` and the queue call for."""
        wanted = max(self.min, min(self.max, self._busy + len(self._pending)))
        for _ in range(wanted - len(self.threads)):
            thread = self.threadFactory(name=self._generateName(), target=self._worker)
            self.threads.append(thread)
            try:
                thread.start()
            except BaseException:
                self.threads.remove(thread)
                raise

    def _generateName(self) -> str:
        """Name the next worker thread: ``PoolThread-<pool name or id>-<n>``."""
        label = self.name if self.name is not None else id(self)
        name = f"PoolThread-{label}-{self._created}"
        self._created += 1
        return name

    def _worker(self) -> None:
        me = threading.current_thread()
        work = self._next_work(me, finished=False)
        while work is not None:
            context, onResult, func, args, kw = work
            context.run(_run, onResult, func, args, kw)
            # Drop the call and its arguments before waiting for the next one.
            del work, context, onResult, func, args, kw
            work = self._next_work(me, finished=True)

    def _next_work(self, me: threading.Thread, finished: bool) -> _Work | None:
        """Wait for a call to run; None when this worker should end."""
        with self._cond:
            if finished:
                self._busy -= 1
            while True:
                stopping = self.joined and not self._pending
                if stopping or len(self.threads) > self.max:
                    self.threads.remove(me)
                    return None
                if self._pending:
                    self._busy += 1
                    return self._pending.popleft()
                self._cond.wait()


def _run(
    onResult: Callable[[bool, Any], object] | None,
    func: Callable[..., object],
    args: tuple[object, ...],
    kw: dict[str, object],
) -> None:
    """Run one call and report its outcome; never raises."""
    try:
        result = func(*args, **kw)
    except BaseException:
        failure = Failure()
        if onResult is None:
            log_failure(failure, f"Unhandled error in thread pool call {func!r}:", _LOGGER)
        else:
            _report(onResult, False, failure)
    else:
        if onResult is not None:
            _report(onResult, True, result)


def _report(onResult: Callable[[bool, Any], object], success: bool, result: object) -> None:
    try:
        onResult(success, result)
    except BaseException:
        log_failure(Failure(), f"Unhandled error in onResult {onResult!r}:", _LOGGER)


def _check_sizes(minthreads: int, maxthreads: int) -> None:
    if minthreads < 0:
        raise ValueError(f"minthreads must be >= 0, not {minthreads}")
    if minthreads > maxthreads:
        raise ValueError(f"minthreads ({minthreads}) must be <= maxthreads ({maxthreads})")


# -- interpreter exit ----------------------------------------------------------

_running_pools: weakref.WeakSet[ThreadPool] = weakref.WeakSet()
_exit_hook_lock = threading.Lock()
_exit_hook_registered = False


def _stop_running_pools() -> None:
    for pool in list(_running_pools):
        pool.stop()


def _register_exit_hook() -> None:
    """Have interpreter shutdown stop the running pools before joining threads."""
    global _exit_hook_registered
    with _exit_hook_lock:
        if _exit_hook_registered:
            return
        register: Callable[[Callable[[], object]], None] | None = getattr(
            threading, "_register_atexit", None
        )
        if register is None:  # pragma: no cover - present since Python 3.9
            return
        try:
            register(_stop_running_pools)
        except RuntimeError:  # pragma: no cover - the interpreter is already shutting down
            return
        _exit_hook_registered = True
