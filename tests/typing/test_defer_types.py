"""Static typing checks for torsion.defer, run by ``mypy --strict tests/typing``.

Each ``check_*`` function is only type-checked, never called: pytest may import this
module (it defines no tests), and mypy verifies that each ``assert_type`` holds.
``tests/torsion/test_typing.py`` runs mypy on this directory.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, assert_type

from torsion.defer import (
    Deferred,
    DeferredLock,
    DeferredQueue,
    DeferredSemaphore,
    ensureDeferred,
    execute,
    fail,
    gatherResults,
    inlineCallbacks,
    maybeDeferred,
    race,
    succeed,
)
from torsion.failure import Failure


def check_callback_chain() -> None:
    """addCallback changes the result type to the callback's return type."""
    d: Deferred[int] = Deferred()
    assert_type(d, Deferred[int])
    as_text = d.addCallback(lambda x: str(x))  # noqa: PLW0108 - inference through a lambda
    assert_type(as_text, Deferred[str])

    def double(x: int) -> float:
        return x * 2.0

    assert_type(d.addCallback(double), Deferred[float])


def check_callback_extra_arguments() -> None:
    """Extra positional and keyword arguments are checked against the callback."""

    def scale(x: int, factor: int, *, label: str) -> tuple[str, int]:
        return (label, x * factor)

    d: Deferred[int] = Deferred()
    assert_type(d.addCallback(scale, 3, label="x"), Deferred[tuple[str, int]])


def check_callback_returning_deferred() -> None:
    """A callback returning Deferred[T] makes the chain Deferred[T], not nested."""

    def later(x: int) -> Deferred[bytes]:
        return succeed(b"%d" % x)

    d: Deferred[int] = Deferred()
    assert_type(d.addCallback(later), Deferred[bytes])


def check_helpers() -> None:
    """succeed/execute/maybeDeferred/fail keep or erase the result type as documented."""
    assert_type(succeed(1), Deferred[int])
    assert_type(succeed("a"), Deferred[str])
    assert_type(execute(lambda: 1.5), Deferred[float])
    assert_type(maybeDeferred(lambda: b"x"), Deferred[bytes])
    assert_type(fail(ValueError()), Deferred[Any])

    async def coro() -> int:
        return 1

    assert_type(maybeDeferred(coro), Deferred[int])

    def deferred_int() -> Deferred[int]:
        return succeed(1)

    assert_type(maybeDeferred(deferred_int), Deferred[int])


def check_gather_and_race() -> None:
    """gatherResults gives a list of the member type; race an (index, result) tuple."""
    assert_type(gatherResults([succeed(1)]), Deferred[list[int]])
    assert_type(race([succeed("a"), succeed("b")]), Deferred[tuple[int, str]])


async def _fetch(n: int) -> str:
    return str(n)


def check_ensure_deferred() -> None:
    """ensureDeferred of a coroutine returning T is Deferred[T]; of a Deferred, itself."""
    assert_type(ensureDeferred(_fetch(1)), Deferred[str])
    d: Deferred[bytes] = Deferred()
    assert_type(ensureDeferred(d), Deferred[bytes])
    assert_type(Deferred.fromCoroutine(_fetch(2)), Deferred[str])


async def check_await() -> None:
    """Awaiting a Deferred[T] gives a T."""
    d: Deferred[int] = Deferred()
    value = await d
    assert_type(value, int)


@inlineCallbacks
def _generator(x: int) -> Generator[Deferred[int], int, str]:
    y = yield succeed(x)
    return str(y)


def check_inline_callbacks() -> None:
    """An inlineCallbacks function keeps its parameters and returns Deferred[T] for a
    generator returning T."""
    assert_type(_generator(1), Deferred[str])


def check_errback_and_failure() -> None:
    """Errbacks receive a Failure."""

    def handle(f: Failure) -> None:
        f.trap(ValueError)

    d: Deferred[int] = Deferred()
    d.addErrback(handle)


def check_sync_primitives() -> None:
    """Locks and semaphores fire with themselves; a DeferredQueue[T] gives T."""
    lock = DeferredLock()
    assert_type(lock.acquire(), Deferred[DeferredLock])
    sem = DeferredSemaphore(2)
    assert_type(sem.acquire(), Deferred[DeferredSemaphore])
    queue: DeferredQueue[str] = DeferredQueue()
    assert_type(queue.get(), Deferred[str])


def check_lock_run() -> None:
    """run(f) fires with f's result type, whether f returns a value, a Deferred or a
    coroutine (as maybeDeferred does)."""

    def plain(a: int, *, b: str) -> float:
        return 1.0

    def deferred() -> Deferred[str]:
        return succeed("x")

    async def coroutine() -> bytes:
        return b"x"

    lock = DeferredLock()
    assert_type(lock.run(plain, 1, b="x"), Deferred[float])
    assert_type(lock.run(deferred), Deferred[str])
    assert_type(lock.run(coroutine), Deferred[bytes])
    assert_type(DeferredSemaphore(1).run(deferred), Deferred[str])
