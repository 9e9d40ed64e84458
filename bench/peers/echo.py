"""TCP echo servers for the echo benchmark: ``python -m bench.peers.echo PEER``.

Each listens on 127.0.0.1 (port 0), sets TCP_NODELAY, prints ``ready PORT``,
and echoes every byte back, written the way a user of that library would.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any


def torsion_server(backend: str) -> None:
    import torsion.reactor  # noqa: PLC0415
    from torsion.protocol import Factory, Protocol  # noqa: PLC0415

    class Echo(Protocol):
        def connectionMade(self) -> None:
            self.transport.setTcpNoDelay(True)

        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    reactor = torsion.reactor.install(backend)
    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    reactor.callWhenRunning(print, f"ready {port.getHost().port}", flush=True)
    reactor.run()


def twisted_server() -> None:
    from twisted.internet import epollreactor  # noqa: PLC0415

    epollreactor.install()
    from twisted.internet import protocol, reactor  # noqa: PLC0415

    class Echo(protocol.Protocol):
        def connectionMade(self) -> None:
            self.transport.setTcpNoDelay(True)  # type: ignore[attr-defined]

        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)  # type: ignore[union-attr]

    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), interface="127.0.0.1")  # type: ignore[attr-defined]
    reactor.callWhenRunning(print, f"ready {port.getHost().port}", flush=True)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


class _AsyncioEcho(asyncio.Protocol):
    transport: Any

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


async def _asyncio_main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_AsyncioEcho, "127.0.0.1", 0)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


def main(peer: str) -> None:
    if peer.startswith("torsion"):
        torsion_server(peer.partition("-")[2] or "epoll")
    elif peer == "twisted":
        twisted_server()
    elif peer == "asyncio":
        asyncio.run(_asyncio_main())
    elif peer == "uvloop":
        import uvloop  # noqa: PLC0415

        uvloop.run(_asyncio_main())
    else:
        raise SystemExit(f"unknown peer {peer!r}")


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except KeyboardInterrupt:
        pass
