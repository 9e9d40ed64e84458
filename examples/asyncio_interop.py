"""torsion inside an asyncio application, and asyncio inside torsion code.

    python examples/asyncio_interop.py

An asyncio program embeds a torsion reactor on its own running loop, then:

1. starts a torsion TCP echo server and talks to it with asyncio's own streams;
2. awaits a Deferred (a torsion timer) straight from an asyncio coroutine;
3. runs torsion code (a coroutine driven by ``ensureDeferred``) that awaits an
   asyncio coroutine in turn;
4. cancels across the boundary both ways.

With uvloop installed, ``--uvloop`` runs the same on a uvloop loop.
"""

from __future__ import annotations

import asyncio
import sys

from torsion._reactors._asyncio import AsyncioReactor
from torsion.defer import Deferred, ensureDeferred
from torsion.protocol import Factory, Protocol
from torsion.task import deferLater


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


async def main() -> None:
    reactor = AsyncioReactor(asyncio.get_running_loop())
    reactor.startRunning()

    # 1. A torsion server, an asyncio client.
    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    reader, writer = await asyncio.open_connection("127.0.0.1", port.getHost().port)
    writer.write(b"hello from asyncio streams\n")
    print("1.", (await reader.readline()).decode().strip())
    writer.close()
    await writer.wait_closed()

    # 2. asyncio awaits a Deferred.
    answer = await deferLater(reactor, 0.05, lambda: 42)
    print("2. a Deferred awaited from asyncio gave", answer)

    # 3. torsion code awaits asyncio.
    async def torsion_side() -> str:
        await asyncio.sleep(0.05)
        return "an asyncio sleep awaited from torsion code"

    print("3.", await ensureDeferred(torsion_side()))

    # 4. Cancellation crosses the boundary, both ways.
    cancelled: list[str] = []
    pending: Deferred[None] = Deferred(lambda _: cancelled.append("Deferred's canceller ran"))

    async def waits() -> None:
        await pending

    task = asyncio.ensure_future(waits())
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print("4a. asyncio task cancelled:", cancelled[0])

    async def sleeps() -> None:
        await asyncio.sleep(60)

    d = ensureDeferred(sleeps())
    await asyncio.sleep(0.01)
    d.cancel()
    failures: list[str] = []
    d.addErrback(lambda f: failures.append(f.type.__name__))
    await asyncio.sleep(0.01)
    print("4b. torsion Deferred cancelled: the asyncio sleep ended with", failures[0])

    await port.stopListening()
    reactor.stop()
    await asyncio.sleep(0.01)


if __name__ == "__main__":
    if "--uvloop" in sys.argv:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())
