"""torsion and asyncio in one program: awaiting across, cancelling across.

These run inside ``asyncio.run`` with an :class:`AsyncioReactor` on the
running loop, the way an asyncio application embeds torsion.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from torsion._reactors._asyncio import AsyncioReactor
from torsion.defer import CancelledError, Deferred, ensureDeferred
from torsion.failure import Failure
from torsion.protocol import ClientCreator, Factory, Protocol
from torsion.task import deferLater


def run_embedded(test: Callable[[AsyncioReactor], Awaitable[None]]) -> None:
    async def main() -> None:
        reactor = AsyncioReactor(asyncio.get_running_loop())
        reactor.startRunning()
        try:
            await test(reactor)
        finally:
            reactor.stop()
            await asyncio.sleep(0)
            reactor.disconnectAll()
            reactor.removeReader(reactor._waker)
            reactor._waker.close()

    asyncio.run(main())


def test_asyncio_task_awaits_a_deferred() -> None:
    """An asyncio coroutine awaits a Deferred that a torsion timer fires."""

    async def test(reactor: AsyncioReactor) -> None:
        assert await deferLater(reactor, 0.01, lambda: 42) == 42

    run_embedded(test)


def test_asyncio_task_sees_deferred_failure() -> None:
    """A Deferred failing raises its exception in the asyncio coroutine awaiting it."""

    async def test(reactor: AsyncioReactor) -> None:
        d: Deferred[int] = Deferred()
        reactor.callLater(0.01, d.errback, Failure(KeyError("gone")))
        with pytest.raises(KeyError, match="gone"):
            await d

    run_embedded(test)


def test_torsion_coroutine_awaits_asyncio() -> None:
    """A coroutine run by ensureDeferred awaits asyncio.sleep and an asyncio task."""

    async def test(reactor: AsyncioReactor) -> None:
        async def torsion_side() -> str:
            await asyncio.sleep(0.01)
            task = asyncio.ensure_future(asyncio.sleep(0.01, result="task"))
            return "slept " + await task

        assert await ensureDeferred(torsion_side()) == "slept task"

    run_embedded(test)


def test_cancelling_the_asyncio_task_cancels_the_deferred() -> None:
    """Task.cancel() on a task awaiting a Deferred calls the Deferred's canceller."""

    async def test(reactor: AsyncioReactor) -> None:
        cancelled: list[bool] = []
        d: Deferred[None] = Deferred(lambda _: cancelled.append(True))

        async def waiter() -> None:
            await d

        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cancelled == [True]
        d.addErrback(lambda f: f.trap(CancelledError))

    run_embedded(test)


def test_cancelling_the_deferred_cancels_the_asyncio_side() -> None:
    """Cancelling a torsion Deferred for a coroutine awaiting asyncio cancels that await."""

    async def test(reactor: AsyncioReactor) -> None:
        seen: list[str] = []

        async def torsion_side() -> None:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                seen.append("asyncio cancelled")
                raise

        d = ensureDeferred(torsion_side())
        await asyncio.sleep(0.01)
        d.cancel()
        failures: list[Failure] = []
        d.addErrback(failures.append)
        await asyncio.sleep(0.01)  # the Future's callbacks run on the next loop turns
        assert seen == ["asyncio cancelled"]
        assert failures and failures[0].check(asyncio.CancelledError, CancelledError)

    run_embedded(test)


def test_torsion_protocols_inside_an_asyncio_application() -> None:
    """A torsion echo server and client run on the application's loop."""

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    class Client(Protocol):
        def __init__(self) -> None:
            self.received: Deferred[bytes] = Deferred()

        def dataReceived(self, data: bytes) -> None:
            self.received.callback(data)

    async def test(reactor: AsyncioReactor) -> None:
        port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
        await asyncio.sleep(0)
        client: Any = await ClientCreator(reactor, Client).connectTCP(
            "127.0.0.1", port.getHost().port
        )
        client.transport.write(b"ping")
        assert await client.received == b"ping"
        client.transport.loseConnection()
        await port.stopListening()

    run_embedded(test)
