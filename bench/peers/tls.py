"""TLS bulk senders and receivers for the TLS benchmark.

Server: ``python -m bench.peers.tls serve PEER CERT KEY BYTES`` listens on 127.0.0.1
(port 0), prints ``ready PORT``, and on each connection sends BYTES bytes over TLS as
fast as flow control allows, then closes (close_notify).  :func:`receive` is the
client side: it connects with the same library, reads until the server closes and
returns the byte count and the seconds from the end of the handshake to the last byte.

Both ends use each library the way its users would: torsion's ``listenSSL`` with a
push producer and ``connectSSL``; asyncio's ``create_server(ssl=...)`` with
``pause_writing``/``resume_writing`` and ``create_connection(ssl=...)``.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from typing import Any

CHUNK = 256 * 1024
_BLOCK = bytes(range(256)) * (CHUNK // 256)


def server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_context(cafile: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    return ctx


# -- torsion ---------------------------------------------------------------------------

def torsion_serve(backend: str, cert: str, key: str, total: int) -> None:
    import torsion.reactor  # noqa: PLC0415
    from torsion.protocol import Factory, Protocol  # noqa: PLC0415

    class Sender(Protocol):
        def connectionMade(self) -> None:
            self.left = total
            self.paused = False
            # Registered during the handshake: resumed by the TLS layer once it is done.
            self.transport.registerProducer(self, True)

        def pauseProducing(self) -> None:
            self.paused = True

        def resumeProducing(self) -> None:
            self.paused = False
            write = self.transport.write
            while not self.paused and self.left > 0:
                block = _BLOCK if self.left >= CHUNK else _BLOCK[: self.left]
                self.left -= len(block)
                write(block)
            if self.left == 0:
                self.left = -1
                self.transport.unregisterProducer()
                self.transport.loseConnection()

        def stopProducing(self) -> None:
            self.left = -1

    reactor = torsion.reactor.install(backend)
    port = reactor.listenSSL(0, Factory.forProtocol(Sender), server_context(cert, key),
                             interface="127.0.0.1")
    reactor.callWhenRunning(print, f"ready {port.getHost().port}", flush=True)
    reactor.run()


def torsion_receive(backend: str, port: int, cafile: str) -> tuple[int, float, str]:
    import torsion.reactor  # noqa: PLC0415
    from torsion.protocol import ClientFactory, Protocol  # noqa: PLC0415

    reactor = torsion.reactor.install(backend)
    result: dict[str, Any] = {}

    class Receiver(Protocol):
        count = 0
        started = 0.0

        def handshakeCompleted(self) -> None:
            self.started = time.perf_counter()
            result["version"] = self.transport.getHandle().cipher()[0]

        def dataReceived(self, data: bytes) -> None:
            self.count += len(data)

        def connectionLost(self, reason: Any) -> None:
            result["seconds"] = time.perf_counter() - self.started
            result["count"] = self.count
            result["reason"] = reason
            reactor.stop()

    class Failed(ClientFactory):
        protocol = Receiver

        def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
            result["reason"] = reason
            reactor.stop()

    reactor.connectSSL("127.0.0.1", port, Failed(), client_context(cafile))
    reactor.run()
    if "count" not in result:
        raise RuntimeError(f"torsion client failed: {result.get('reason')}")
    return result["count"], result["seconds"], result.get("version", "?")


# -- asyncio (and uvloop) ------------------------------------------------------------------

class _AsyncioSender(asyncio.Protocol):
    def __init__(self, total: int) -> None:
        self.left = total
        self.paused = False
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._send()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._send()

    def _send(self) -> None:
        write = self.transport.write
        while not self.paused and self.left > 0:
            block = _BLOCK if self.left >= CHUNK else _BLOCK[: self.left]
            self.left -= len(block)
            write(block)
        if self.left == 0:
            self.left = -1
            self.transport.close()


async def _asyncio_serve(cert: str, key: str, total: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _AsyncioSender(total), "127.0.0.1", 0,
                                      ssl=server_context(cert, key))
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


class _AsyncioReceiver(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.count = 0
        self.started = 0.0
        self.seconds = 0.0
        self.version = "?"

    def connection_made(self, transport: Any) -> None:
        # create_connection(ssl=...) calls this once the handshake is done.
        self.started = time.perf_counter()
        self.version = transport.get_extra_info("cipher")[0]

    def data_received(self, data: bytes) -> None:
        self.count += len(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.seconds = time.perf_counter() - self.started
        if not self.done.done():
            self.done.set_result(None)


async def _asyncio_receive(port: int, cafile: str) -> tuple[int, float, str]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    receiver = _AsyncioReceiver(done)
    await loop.create_connection(lambda: receiver, "127.0.0.1", port,
                                 ssl=client_context(cafile), server_hostname="localhost")
    await done
    return receiver.count, receiver.seconds, receiver.version


def receive(peer: str, port: int, cafile: str) -> tuple[int, float, str]:
    """Connect to a sender of ``peer``; return (bytes, seconds, cipher)."""
    if peer.startswith("torsion"):
        return torsion_receive(peer.partition("-")[2] or "epoll", port, cafile)
    if peer == "asyncio":
        return asyncio.run(_asyncio_receive(port, cafile))
    if peer == "uvloop":
        import uvloop  # noqa: PLC0415

        return uvloop.run(_asyncio_receive(port, cafile))
    raise SystemExit(f"unknown peer {peer!r}")


def main(argv: list[str]) -> None:
    command, peer, cert, key, total = argv[0], argv[1], argv[2], argv[3], int(argv[4])
    if command != "serve":
        raise SystemExit(f"unknown command {command!r}")
    if peer.startswith("torsion"):
        torsion_serve(peer.partition("-")[2] or "epoll", cert, key, total)
    elif peer == "asyncio":
        asyncio.run(_asyncio_serve(cert, key, total))
    elif peer == "uvloop":
        import uvloop  # noqa: PLC0415

        uvloop.run(_asyncio_serve(cert, key, total))
    else:
        raise SystemExit(f"unknown peer {peer!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
