"""How TCP connections end, on every backend: clean close, reset, abort, half-close."""

from __future__ import annotations

import socket
import struct
from typing import Any

from reactor_support import (
    Echo,
    Recorder,
    RecordingFactory,
    connected_pair,
    listen,
    run_for,
    run_until,
    wait_for,
)

from torsion.defer import Deferred
from torsion.error import ConnectionAborted, ConnectionDone, ConnectionLost


def _pair(reactor: Any, server_protocol: Any = Recorder,
          client_protocol: Any = Recorder) -> tuple[Recorder, Recorder, RecordingFactory]:
    factory = RecordingFactory(server_protocol)
    port = listen(reactor, factory)
    client, server = run_until(reactor, connected_pair(reactor, factory, port, client_protocol))
    return client, server, factory


def _accept_plain(reactor: Any) -> tuple[socket.socket, Recorder]:
    """A plain socket client connected to a Recorder server."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    peer = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10)
    server = run_until(reactor, factory.next_connection())
    return peer, server


def _read_all(peer: socket.socket) -> bytes:
    chunks = []
    while True:
        data = peer.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def test_clean_close_by_client(reactor: Any) -> None:
    """``loseConnection`` gives both ends exactly one connectionLost with ConnectionDone."""
    client, server, _ = _pair(reactor)
    client.transport.loseConnection()
    run_until(reactor, server.lost)
    run_until(reactor, client.lost)
    run_for(reactor, 0.05)
    assert [r.type for r in client.reasons] == [ConnectionDone]
    assert [r.type for r in server.reasons] == [ConnectionDone]
    assert not client.transport.connected


def test_clean_close_by_server(reactor: Any) -> None:
    """A server closing cleanly: both ends get ConnectionDone, once."""
    client, server, _ = _pair(reactor)
    server.transport.loseConnection()
    run_until(reactor, client.lost)
    run_until(reactor, server.lost)
    run_for(reactor, 0.05)
    assert [r.type for r in client.reasons] == [ConnectionDone]
    assert [r.type for r in server.reasons] == [ConnectionDone]


def test_both_ends_close_at_once(reactor: Any) -> None:
    """Both ends closing in the same moment still get one connectionLost each."""
    client, server, _ = _pair(reactor)
    client.transport.loseConnection()
    server.transport.loseConnection()
    client.transport.loseConnection()  # a second call changes nothing
    run_until(reactor, client.lost)
    run_until(reactor, server.lost)
    run_for(reactor, 0.05)
    assert len(client.reasons) == 1
    assert len(server.reasons) == 1
    assert client.reasons[0].check(ConnectionDone)


def test_close_flushes_pending_data_first(reactor: Any) -> None:
    """``loseConnection`` right after a large write sends all of it, then closes cleanly."""
    client, server, _ = _pair(reactor)
    payload = bytes(range(256)) * (16 * 1024)  # 4 MiB, more than socket buffers hold
    server.transport.write(payload)
    server.transport.loseConnection()
    server.transport.write(b"tail")  # still accepted: the close waits for the buffer
    run_until(reactor, client.lost, timeout=30)
    assert bytes(client.received) == payload + b"tail"
    assert client.reasons[0].check(ConnectionDone)


def test_peer_reset_is_connection_lost(reactor: Any) -> None:
    """A peer that resets the connection (RST) gives ConnectionLost, not ConnectionDone."""
    peer, server = _accept_plain(reactor)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()
    run_until(reactor, server.lost)
    run_for(reactor, 0.02)
    [reason] = server.reasons
    assert reason.check(ConnectionLost)
    assert not reason.check(ConnectionDone)


def test_peer_reset_while_writing(reactor: Any) -> None:
    """A reset while we have data buffered for the peer ends in one ConnectionLost."""
    peer, server = _accept_plain(reactor)
    server.transport.write(b"x" * (8 * 1024 * 1024))
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.close()
    run_until(reactor, server.lost)
    run_for(reactor, 0.02)
    [reason] = server.reasons
    assert reason.check(ConnectionLost)


def test_abort_connection(reactor: Any) -> None:
    """``abortConnection`` drops buffered data: ConnectionAborted here, a reset at the peer."""
    client, server, _ = _pair(reactor)
    server.transport.write(b"y" * (32 * 1024 * 1024))
    server.transport.abortConnection()
    server.transport.write(b"ignored")
    run_until(reactor, server.lost)
    run_until(reactor, client.lost)
    run_for(reactor, 0.02)
    assert [r.type for r in server.reasons] == [ConnectionAborted]
    [reason] = client.reasons
    assert reason.check(ConnectionLost) and not reason.check(ConnectionDone)
    assert len(client.received) < 32 * 1024 * 1024


def test_abort_after_lose_connection(reactor: Any) -> None:
    """``abortConnection`` after ``loseConnection`` (still flushing) closes at once."""
    client, server, _ = _pair(reactor)
    server.transport.write(b"z" * (32 * 1024 * 1024))
    server.transport.loseConnection()
    server.transport.abortConnection()
    run_until(reactor, server.lost)
    run_until(reactor, client.lost)
    assert [r.type for r in server.reasons] == [ConnectionAborted]
    assert len(client.reasons) == 1


def test_abort_at_the_plain_peer_is_a_reset(reactor: Any) -> None:
    """A plain socket peer sees ECONNRESET when we abort."""
    peer, server = _accept_plain(reactor)
    with peer:
        server.transport.abortConnection()
        run_until(reactor, server.lost)
        peer.settimeout(5)
        try:
            data = peer.recv(10)
        except ConnectionResetError:
            data = None
        assert data is None, "the peer saw a clean close instead of a reset"


def test_writes_after_close_are_ignored(reactor: Any) -> None:
    """Writing to a closed connection is silently ignored (no error, no second connectionLost)."""
    client, _, _ = _pair(reactor)
    client.transport.loseConnection()
    run_until(reactor, client.lost)
    client.transport.write(b"late")
    client.transport.writeSequence([b"late"])
    client.transport.loseConnection()
    run_for(reactor, 0.05)
    assert len(client.reasons) == 1


class HalfCloser(Recorder):
    """Half-close aware (IHalfCloseableProtocol): records readConnectionLost/writeConnectionLost."""

    def __init__(self) -> None:
        super().__init__()
        self.read_lost: Deferred[None] = Deferred()
        self.write_lost: Deferred[None] = Deferred()
        self.events: list[str] = []

    def readConnectionLost(self) -> None:
        self.events.append("readConnectionLost")
        self.read_lost.callback(None)

    def writeConnectionLost(self) -> None:
        self.events.append("writeConnectionLost")
        self.write_lost.callback(None)

    def connectionLost(self, reason: Any = None) -> None:
        self.events.append("connectionLost")
        super().connectionLost(reason)


class AnswerAtEOF(HalfCloser):
    """Reads a whole request until the peer half-closes, then answers and closes."""

    def readConnectionLost(self) -> None:
        super().readConnectionLost()
        answer = b"you said: " + bytes(self.received)
        self.transport.write(answer * 1000)
        self.transport.loseConnection()


def test_half_close_both_ends_aware(reactor: Any) -> None:
    """``loseWriteConnection``: the peer gets readConnectionLost and can still answer."""
    client, server, _ = _pair(reactor, AnswerAtEOF, HalfCloser)
    client.transport.write(b"request")
    client.transport.loseWriteConnection()
    run_until(reactor, server.read_lost)
    run_until(reactor, client.lost, timeout=30)
    run_until(reactor, server.lost)
    assert bytes(client.received) == b"you said: request" * 1000
    # Twisted never calls connectionLost here (the half-closed client lingers);
    # torsion tells of the read side ending, then closes.
    assert client.events == ["writeConnectionLost", "readConnectionLost", "connectionLost"]
    assert server.events == ["readConnectionLost", "connectionLost"]
    assert client.reasons[0].check(ConnectionDone)
    assert server.reasons[0].check(ConnectionDone)


def test_half_close_from_a_plain_peer(reactor: Any) -> None:
    """A plain peer's shutdown(SHUT_WR) reaches a half-close aware server, which keeps writing."""
    factory = RecordingFactory(AnswerAtEOF)
    port = listen(reactor, factory)
    peer = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10)
    with peer:
        peer.sendall(b"ping")
        peer.shutdown(socket.SHUT_WR)
        server = run_until(reactor, factory.next_connection())
        run_until(reactor, server.lost)
        assert _read_all(peer) == b"you said: ping" * 1000
    assert server.events == ["readConnectionLost", "connectionLost"]


def test_half_close_to_an_unaware_protocol_closes(reactor: Any) -> None:
    """A peer's half-close ends a protocol without readConnectionLost with ConnectionDone."""
    peer, server = _accept_plain(reactor)
    with peer:
        peer.sendall(b"bye")
        peer.shutdown(socket.SHUT_WR)
        run_until(reactor, server.lost)
        assert bytes(server.received) == b"bye"
        assert server.reasons[0].check(ConnectionDone)
        assert _read_all(peer) == b""


def test_peer_half_close_lets_pending_writes_finish(reactor: Any) -> None:
    """A peer's half-close ends an unaware protocol only after its buffered writes are sent."""

    class Bulk(Recorder):
        def dataReceived(self, data: bytes) -> None:
            super().dataReceived(data)
            self.transport.write(b"b" * (8 * 1024 * 1024))

    factory = RecordingFactory(Bulk)
    port = listen(reactor, factory)
    peer = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10)
    with peer:
        peer.sendall(b"go")
        server = run_until(reactor, factory.next_connection())
        run_until(reactor, server.wait_bytes(2))
        peer.shutdown(socket.SHUT_WR)  # while most of the 8 MiB waits in our buffer
        run_for(reactor, 0.05)
        received = bytearray()
        peer.setblocking(False)

        def drain() -> bool:
            try:
                while chunk := peer.recv(1 << 20):
                    received.extend(chunk)
                return True  # EOF
            except BlockingIOError:
                return False

        wait_for(reactor, drain, timeout=30)
    run_until(reactor, server.lost)
    assert len(received) == 8 * 1024 * 1024
    assert [r.type for r in server.reasons] == [ConnectionDone]


def test_lose_write_connection_flushes_first(reactor: Any) -> None:
    """``loseWriteConnection`` sends what is buffered before the FIN; reading goes on."""
    client, server, _ = _pair(reactor, HalfCloser, HalfCloser)
    payload = b"p" * (4 * 1024 * 1024)
    client.transport.write(payload)
    client.transport.loseWriteConnection()
    run_until(reactor, server.read_lost, timeout=30)
    assert len(server.received) == len(payload)
    run_until(reactor, client.write_lost)
    server.transport.write(b"still open")
    assert run_until(reactor, client.wait_bytes(10)) == b"still open"
    server.transport.loseConnection()
    run_until(reactor, client.lost)
    assert client.reasons[0].check(ConnectionDone)


def test_connection_lost_once_across_many_connections(reactor: Any) -> None:
    """50 echo connections closed in different ways each get exactly one connectionLost."""
    factory = RecordingFactory(Echo)
    port = listen(reactor, factory)

    clients = []
    for i in range(50):
        client, server = run_until(reactor, connected_pair(reactor, factory, port))
        clients.append(client)
        client.transport.write(b"data %d" % i)
        if i % 3 == 0:
            client.transport.loseConnection()
        elif i % 3 == 1:
            server.transport.loseConnection()
        else:
            client.transport.abortConnection()
    wait_for(reactor, lambda: all(c.reasons for c in clients) and all(
        p.reasons for p in factory.protocols))
    run_for(reactor, 0.05)
    assert all(len(c.reasons) == 1 for c in clients)
    assert all(len(p.reasons) == 1 for p in factory.protocols)
