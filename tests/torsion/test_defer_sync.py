"""Tests for coordination with Deferreds: DeferredLock, DeferredSemaphore,
DeferredQueue, DeferredFilesystemLock and torsion.lockfile.FilesystemLock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from torsion import lockfile
from torsion.defer import (
    AlreadyTryingToLockError,
    CancelledError,
    Deferred,
    DeferredFilesystemLock,
    DeferredLock,
    DeferredQueue,
    DeferredSemaphore,
    QueueOverflow,
    QueueUnderflow,
    TimeoutError,
    fail,
)
from torsion.task import Clock
from torsion.testing import assert_no_result, failure_result_of, success_result_of


class Boom(Exception):
    """A recognisable application error."""


def _outcome(d: Deferred[object]) -> object:
    """Return d's current result (a value or a Failure), handling a failure so that a
    failing assertion does not also leave an unhandled error for a later test."""
    seen: list[object] = []
    d.addBoth(seen.append)
    assert seen, f"{d!r} has no result"
    return seen[0]


class TestDeferredLock:
    def test_acquire_free_lock_fires_with_lock(self) -> None:
        """Acquiring a free lock fires at once with the lock itself and locks it."""
        lock = DeferredLock()
        assert lock.locked is False
        d = lock.acquire()
        assert success_result_of(d) is lock
        assert lock.locked is True

    def test_waiters_are_served_first_in_first_out(self) -> None:
        """Waiters get the lock one at a time, in the order they asked."""
        lock = DeferredLock()
        order: list[int] = []
        lock.acquire()
        waiters = [lock.acquire() for _ in range(3)]
        for i, w in enumerate(waiters):
            w.addCallback(lambda _, i=i: order.append(i))
        assert order == []
        assert len(lock.waiting) == 3
        lock.release()
        assert order == [0]
        assert lock.locked
        lock.release()
        lock.release()
        assert order == [0, 1, 2]
        lock.release()
        assert lock.locked is False
        assert lock.waiting == []

    def test_release_unlocked_raises_assertion_error(self) -> None:
        """Releasing a lock that is not held raises AssertionError."""
        with pytest.raises(AssertionError):
            DeferredLock().release()

    def test_run_releases_after_success(self) -> None:
        """run(f, *a, **kw) calls f with the lock held, fires with f's result, and releases
        the lock after."""
        lock = DeferredLock()
        seen: list[object] = []

        def f(a: int, *, b: int) -> int:
            seen.append(lock.locked)
            return a + b

        d = lock.run(f, 1, b=2)
        assert seen == [True]
        assert success_result_of(d) == 3
        assert lock.locked is False

    def test_run_releases_after_failure(self) -> None:
        """run fails with f's exception and still releases the lock."""
        lock = DeferredLock()

        def f() -> None:
            raise Boom("in run")

        d = lock.run(f)
        assert failure_result_of(d, Boom).getErrorMessage() == "in run"
        assert lock.locked is False

    def test_run_waits_for_returned_deferred(self) -> None:
        """If f returns a Deferred, the lock is held until that Deferred fires."""
        lock = DeferredLock()
        inner: Deferred[str] = Deferred()
        d = lock.run(lambda: inner)
        assert lock.locked
        assert_no_result(d)
        inner.callback("finished")
        assert success_result_of(d) == "finished"
        assert lock.locked is False

    def test_run_waits_for_lock(self) -> None:
        """run on a held lock calls f only once the lock is released to it."""
        lock = DeferredLock()
        calls: list[str] = []
        lock.acquire()
        d = lock.run(lambda: calls.append("ran") or "result")
        assert calls == []
        lock.release()
        assert calls == ["ran"]
        assert success_result_of(d) == "result"
        assert lock.locked is False

    def test_run_with_coroutine_function(self) -> None:
        """run accepts an async function; its coroutine is run under the lock."""
        lock = DeferredLock()
        inner: Deferred[int] = Deferred()

        async def job() -> int:
            return (await inner) * 2

        d = lock.run(job)
        assert lock.locked
        inner.callback(21)
        assert success_result_of(d) == 42
        assert lock.locked is False

    def test_cancel_waiting_acquire(self) -> None:
        """Cancelling a waiting acquire takes it out of the line with CancelledError;
        the next waiter gets the lock instead."""
        lock = DeferredLock()
        lock.acquire()
        first = lock.acquire()
        second = lock.acquire()
        first.cancel()
        failure_result_of(first, CancelledError)
        assert lock.waiting == [second]
        lock.release()
        assert success_result_of(second) is lock

    def test_cancel_granted_acquire_is_no_op(self) -> None:
        """Cancelling an acquire that already got the lock changes nothing."""
        lock = DeferredLock()
        d = lock.acquire()
        d.cancel()
        assert success_result_of(d) is lock
        assert lock.locked


class TestDeferredSemaphore:
    def test_tokens_and_limit(self) -> None:
        """A new semaphore has ``tokens`` == ``limit`` == the given count."""
        sem = DeferredSemaphore(3)
        assert sem.tokens == 3
        assert sem.limit == 3

    def test_tokens_below_one_is_value_error(self) -> None:
        """DeferredSemaphore(0) and negative counts raise ValueError."""
        with pytest.raises(ValueError):
            DeferredSemaphore(0)
        with pytest.raises(ValueError):
            DeferredSemaphore(-1)

    def test_acquire_up_to_limit_then_wait(self) -> None:
        """Up to ``limit`` acquires succeed at once (each taking a token); the next waits
        until a release, which hands the token straight to it."""
        sem = DeferredSemaphore(2)
        a = sem.acquire()
        b = sem.acquire()
        assert success_result_of(a) is sem
        assert success_result_of(b) is sem
        assert sem.tokens == 0
        c = sem.acquire()
        assert_no_result(c)
        sem.release()
        assert success_result_of(c) is sem
        assert sem.tokens == 0
        sem.release()
        sem.release()
        assert sem.tokens == 2

    def test_too_many_releases(self) -> None:
        """Releasing more often than acquired raises AssertionError."""
        sem = DeferredSemaphore(1)
        with pytest.raises(AssertionError):
            sem.release()
        sem.acquire()
        sem.release()
        with pytest.raises(AssertionError):
            sem.release()
        assert sem.tokens == 1

    def test_run_limits_concurrency(self) -> None:
        """run() lets at most ``limit`` calls be in progress; others start as earlier
        ones finish, in order."""
        sem = DeferredSemaphore(2)
        inners: list[Deferred[int]] = [Deferred() for _ in range(4)]
        started: list[int] = []

        def job(i: int) -> Deferred[int]:
            started.append(i)
            return inners[i]

        results = [sem.run(job, i) for i in range(4)]
        assert started == [0, 1]
        inners[1].callback(1)
        assert started == [0, 1, 2]
        inners[0].errback(Boom())
        assert started == [0, 1, 2, 3]
        inners[2].callback(2)
        inners[3].callback(3)
        assert sem.tokens == 2
        assert success_result_of(results[1]) == 1
        failure_result_of(results[0], Boom)

    def test_cancel_waiting_acquire(self) -> None:
        """Cancelling a waiting acquire removes it from the line."""
        sem = DeferredSemaphore(1)
        sem.acquire()
        waiting = sem.acquire()
        waiting.cancel()
        failure_result_of(waiting, CancelledError)
        assert sem.waiting == []
        sem.release()
        assert sem.tokens == 1


class TestDeferredQueue:
    def test_put_then_get(self) -> None:
        """Items put before a get are returned in order by already-fired Deferreds."""
        q: DeferredQueue[str] = DeferredQueue()
        q.put("a")
        q.put("b")
        assert q.pending == ["a", "b"]
        assert success_result_of(q.get()) == "a"
        assert success_result_of(q.get()) == "b"
        assert q.pending == []

    def test_get_then_put(self) -> None:
        """Gets made before any put wait; puts serve them in order."""
        q: DeferredQueue[int] = DeferredQueue()
        first = q.get()
        second = q.get()
        assert_no_result(first)
        q.put(1)
        assert success_result_of(first) == 1
        assert_no_result(second)
        q.put(2)
        assert success_result_of(second) == 2
        assert q.waiting == []

    def test_size_limit_overflow(self) -> None:
        """With ``size`` items kept, another put raises QueueOverflow (the item is not
        kept)."""
        q: DeferredQueue[int] = DeferredQueue(size=2)
        q.put(1)
        q.put(2)
        with pytest.raises(QueueOverflow):
            q.put(3)
        assert q.pending == [1, 2]

    def test_size_zero_only_serves_waiting_getters(self) -> None:
        """With size=0, a put succeeds only when a getter is waiting."""
        q: DeferredQueue[int] = DeferredQueue(size=0)
        with pytest.raises(QueueOverflow):
            q.put(1)
        d = q.get()
        q.put(2)
        assert success_result_of(d) == 2

    def test_backlog_limit_underflow(self) -> None:
        """With ``backlog`` getters waiting, another get raises QueueUnderflow."""
        q: DeferredQueue[int] = DeferredQueue(backlog=1)
        q.get()
        with pytest.raises(QueueUnderflow):
            q.get()
        assert len(q.waiting) == 1

    def test_backlog_does_not_limit_gets_with_items(self) -> None:
        """A get served from kept items is not limited by backlog."""
        q: DeferredQueue[int] = DeferredQueue(backlog=0)
        q.put(1)
        assert success_result_of(q.get()) == 1
        with pytest.raises(QueueUnderflow):
            q.get()

    def test_cancel_pending_get(self) -> None:
        """Cancelling a waiting get fails it with CancelledError and removes it, so the
        next put goes to the next getter (or is kept)."""
        q: DeferredQueue[str] = DeferredQueue()
        cancelled = q.get()
        cancelled.cancel()
        failure_result_of(cancelled, CancelledError)
        assert q.waiting == []
        q.put("kept")
        assert q.pending == ["kept"]

    def test_default_limits_are_none(self) -> None:
        """A DeferredQueue() has no size or backlog limit."""
        q: DeferredQueue[int] = DeferredQueue()
        assert q.size is None
        assert q.backlog is None
        for i in range(100):
            q.put(i)
        assert len(q.pending) == 100


class TestDeferredFilesystemLock:
    @pytest.fixture
    def name(self, tmp_path: Path) -> str:
        """The path of a lock in this test's own directory."""
        return str(tmp_path / "lock")

    def test_free_lock_fires_at_once(self, name: str, clock: Clock) -> None:
        """deferUntilLocked on a free lock fires with None and holds the lock; nothing
        stays scheduled."""
        lock = DeferredFilesystemLock(name, scheduler=clock)
        d = lock.deferUntilLocked()
        assert success_result_of(d) is None
        assert lock.locked
        assert clock.getDelayedCalls() == []
        assert lockfile.isLocked(name)
        lock.unlock()
        assert not lockfile.isLocked(name)

    def test_waits_while_held_and_retries_each_second(self, name: str, clock: Clock) -> None:
        """While another FilesystemLock holds it, it retries every second and fires as soon
        as a retry finds the lock free."""
        other = lockfile.FilesystemLock(name)
        assert other.lock()
        lock = DeferredFilesystemLock(name, scheduler=clock)
        d = lock.deferUntilLocked()
        assert_no_result(d)
        assert [c.getTime() for c in clock.getDelayedCalls()] == [1.0]
        clock.advance(1)
        assert_no_result(d)
        other.unlock()
        clock.advance(0.5)
        assert_no_result(d)
        clock.advance(0.5)
        assert success_result_of(d) is None
        assert lock.locked
        assert clock.getDelayedCalls() == []
        lock.unlock()

    def test_timeout(self, name: str, clock: Clock) -> None:
        """With a timeout and the lock held throughout, it fails with TimeoutError at the
        timeout and stops retrying."""
        other = lockfile.FilesystemLock(name)
        other.lock()
        lock = DeferredFilesystemLock(name, scheduler=clock)
        d = lock.deferUntilLocked(timeout=2.5)
        clock.advance(2)
        assert_no_result(d)
        clock.advance(0.5)
        failure_result_of(d, TimeoutError)
        assert clock.getDelayedCalls() == []
        assert not lock.locked
        other.unlock()

    def test_timeout_message(self, name: str, clock: Clock) -> None:
        """The TimeoutError message names the lock and the timeout as Twisted formats it
        ("Timed out acquiring lock: NAME after 2.000000s")."""
        other = lockfile.FilesystemLock(name)
        other.lock()
        lock = DeferredFilesystemLock(name, scheduler=clock)
        d = lock.deferUntilLocked(timeout=2)
        clock.advance(2)
        failure = failure_result_of(d, TimeoutError)
        assert failure.getErrorMessage() == f"Timed out acquiring lock: {name} after 2.000000s"
        other.unlock()

    def test_timeout_takes_lock_freed_since_last_retry(self, name: str, clock: Clock) -> None:
        """At the timeout, one last attempt is made: a lock freed since the last retry is
        taken and the Deferred succeeds (Twisted's behaviour)."""
        other = lockfile.FilesystemLock(name)
        other.lock()
        lock = DeferredFilesystemLock(name, scheduler=clock)
        d = lock.deferUntilLocked(timeout=0.5)
        other.unlock()
        clock.advance(0.5)
        assert _outcome(d) is None
        assert lock.locked
        assert clock.getDelayedCalls() == []
        lock.unlock()

    def test_concurrent_defer_until_locked(self, name: str, clock: Clock) -> None:
        """A second deferUntilLocked while the first is still trying fails at once with
        AlreadyTryingToLockError; the first is unaffected."""
        other = lockfile.FilesystemLock(name)
        other.lock()
        lock = DeferredFilesystemLock(name, scheduler=clock)
        first = lock.deferUntilLocked()
        second = lock.deferUntilLocked()
        failure_result_of(second, AlreadyTryingToLockError)
        assert_no_result(first)
        other.unlock()
        clock.advance(1)
        assert success_result_of(first) is None
        lock.unlock()

    def test_cancel_while_held(self, name: str, clock: Clock) -> None:
        """Cancelling while the lock is still held elsewhere fails with CancelledError and
        stops the retries (and any timeout)."""
        other = lockfile.FilesystemLock(name)
        other.lock()
        lock = DeferredFilesystemLock(name, scheduler=clock)
        d = lock.deferUntilLocked(timeout=10)
        d.cancel()
        failure_result_of(d, CancelledError)
        assert clock.getDelayedCalls() == []
        assert not lock.locked
        # A new attempt is allowed after cancelling.
        other.unlock()
        assert success_result_of(lock.deferUntilLocked()) is None
        lock.unlock()

    def test_cancel_takes_lock_freed_since_last_retry(self, name: str, clock: Clock) -> None:
        """Cancelling makes one last attempt: if the lock has become free, it is taken and
        the Deferred succeeds (Twisted's behaviour)."""
        other = lockfile.FilesystemLock(name)
        other.lock()
        lock = DeferredFilesystemLock(name, scheduler=clock)
        d = lock.deferUntilLocked()
        other.unlock()
        d.cancel()
        assert _outcome(d) is None
        assert lock.locked
        assert clock.getDelayedCalls() == []
        lock.unlock()


class TestFilesystemLock:
    def test_lock_and_unlock(self, tmp_path: Path) -> None:
        """lock() takes a free lock (True, ``locked`` and ``clean`` True) as a symlink
        naming our pid; unlock() removes it."""
        name = str(tmp_path / "lock")
        lock = lockfile.FilesystemLock(name)
        assert lock.lock() is True
        assert lock.locked is True
        assert lock.clean is True
        assert os.readlink(name) == str(os.getpid())
        lock.unlock()
        assert lock.locked is False
        assert not os.path.lexists(name)

    def test_held_lock_is_not_taken(self, tmp_path: Path) -> None:
        """A lock held by a live process (here: ourselves, through another object) is not
        taken: lock() returns False."""
        name = str(tmp_path / "lock")
        first = lockfile.FilesystemLock(name)
        second = lockfile.FilesystemLock(name)
        assert first.lock()
        assert second.lock() is False
        assert second.locked is False
        first.unlock()
        assert second.lock() is True
        second.unlock()

    def test_stale_lock_from_dead_pid_is_broken(self, tmp_path: Path) -> None:
        """A lock left by a process that no longer exists is broken and taken; ``clean``
        is then False."""
        name = str(tmp_path / "lock")
        dead_pid = _dead_pid()
        os.symlink(str(dead_pid), name)
        lock = lockfile.FilesystemLock(name)
        assert lock.lock() is True
        assert lock.clean is False
        assert os.readlink(name) == str(os.getpid())
        lock.unlock()

    def test_is_locked(self, tmp_path: Path) -> None:
        """isLocked is True while a live process holds the lock, False when free or stale
        (and it leaves no lock behind)."""
        name = str(tmp_path / "lock")
        assert lockfile.isLocked(name) is False
        assert not os.path.lexists(name)
        lock = lockfile.FilesystemLock(name)
        lock.lock()
        assert lockfile.isLocked(name) is True
        lock.unlock()
        os.symlink(str(_dead_pid()), name)
        assert lockfile.isLocked(name) is False
        assert not os.path.lexists(name)

    def test_unlock_held_by_other_process_is_value_error(self, tmp_path: Path) -> None:
        """unlock() of a lock owned by another (live) process raises ValueError and leaves
        it in place."""
        name = str(tmp_path / "lock")
        os.symlink(str(os.getppid()), name)
        lock = lockfile.FilesystemLock(name)
        with pytest.raises(ValueError):
            lock.unlock()
        assert os.path.lexists(name)

    def test_unlock_missing_lock_is_os_error(self, tmp_path: Path) -> None:
        """unlock() when no lock exists raises the OSError of reading the link
        (FileNotFoundError), as Twisted documents."""
        lock = lockfile.FilesystemLock(str(tmp_path / "lock"))
        with pytest.raises(FileNotFoundError):
            lock.unlock()


def _dead_pid() -> int:
    """Return a process id that is not in use right now."""
    pid = 2**22 - 1  # above the default pid_max; fall back to scanning down if in use
    while pid > 1:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1
    raise AssertionError("no free pid found")


def test_fail_helper_with_lock_errors() -> None:
    """QueueOverflow, QueueUnderflow and AlreadyTryingToLockError are Exceptions that can
    travel in Deferreds."""
    for error in (QueueOverflow, QueueUnderflow, AlreadyTryingToLockError):
        assert issubclass(error, Exception)
        failure_result_of(fail(error()), error)
