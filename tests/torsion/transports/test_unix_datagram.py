"""UNIX datagram sockets on every backend: echo, senders' addresses, modes, errors."""

from __future__ import annotations

import os
import socket
import stat
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from unix_support import socket_dir

from torsion import error
from torsion.address import UNIXAddress
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ConnectedDatagramProtocol, DatagramProtocol
from torsion.testing import run_until


@pytest.fixture
def sockdir() -> Iterator[str]:
    """A short temporary directory for socket files."""
    with socket_dir() as path:
        yield path


class EchoDatagrams(DatagramProtocol):
    """Sends each datagram back to its sender; records (datagram, sender)."""

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any]] = []
        self.events: list[str] = []
        self.arrived: Deferred[None] = Deferred()

    def startProtocol(self) -> None:
        self.events.append("start")

    def stopProtocol(self) -> None:
        self.events.append("stop")

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        if addr is not None:
            self.transport.write(datagram, addr)
        if not self.arrived.called:
            self.arrived.callback(None)


class Client(ConnectedDatagramProtocol):
    """A connected datagram client: records replies, refusals and failures."""

    def __init__(self, expected: int = 1) -> None:
        self.expected = expected
        self.replies: list[bytes] = []
        self.got: Deferred[None] = Deferred()
        self.refused: Deferred[None] = Deferred()
        self.failure: Failure | None = None
        self.failed: Deferred[None] = Deferred()

    def datagramReceived(self, datagram: bytes) -> None:  # type: ignore[override]
        self.replies.append(datagram)
        if len(self.replies) == self.expected:
            self.got.callback(None)

    def connectionRefused(self) -> None:
        if not self.refused.called:
            self.refused.callback(None)

    def connectionFailed(self, failure: Failure) -> None:
        self.failure = failure
        self.failed.callback(None)


def test_datagram_echo(reactor: Any, sockdir: str) -> None:
    """A connected client's datagrams reach the server with its path and come back."""
    server_path = os.path.join(sockdir, "server")
    client_path = os.path.join(sockdir, "client")
    server = EchoDatagrams()
    port = reactor.listenUNIXDatagram(server_path, server)
    assert server.events == ["start"]
    assert port.getHost() == UNIXAddress(server_path)
    client = Client(expected=3)
    cport = reactor.connectUNIXDatagram(server_path, client, bindAddress=client_path)
    assert cport.getPeer() == UNIXAddress(server_path)
    assert cport.getHost() == UNIXAddress(client_path)
    for message in (b"one", b"two", b"three"):
        cport.write(message)
    run_until(reactor, client.got)
    assert client.replies == [b"one", b"two", b"three"]
    assert server.received == [(m, client_path) for m in (b"one", b"two", b"three")]
    run_until(reactor, cport.stopListening())
    run_until(reactor, port.stopListening())
    assert server.events == ["start", "stop"]
    assert not os.path.exists(server_path)
    assert not os.path.exists(client_path)


def test_datagram_abstract_namespace(reactor: Any) -> None:
    """Datagram ports work in the abstract namespace (no files)."""
    server_name = f"\0torsion-dgram-{uuid.uuid4().hex}"
    client_name = f"\0torsion-dgram-{uuid.uuid4().hex}"
    server = EchoDatagrams()
    port = reactor.listenUNIXDatagram(server_name, server)
    client = Client()
    cport = reactor.connectUNIXDatagram(server_name, client, bindAddress=client_name)
    cport.write(b"abstract")
    run_until(reactor, client.got)
    assert server.received == [(b"abstract", client_name)]
    run_until(reactor, cport.stopListening())
    run_until(reactor, port.stopListening())


def test_unnamed_sender(reactor: Any, sockdir: str) -> None:
    """A datagram from an unbound socket arrives with the sender address None."""
    path = os.path.join(sockdir, "server")
    server = EchoDatagrams()
    port = reactor.listenUNIXDatagram(path, server)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as plain:
        plain.sendto(b"anonymous", path)
        run_until(reactor, server.arrived)
    assert server.received == [(b"anonymous", None)]
    run_until(reactor, port.stopListening())


def test_write_to_address(reactor: Any, sockdir: str) -> None:
    """DatagramPort.write(datagram, address) reaches a plain socket bound there."""
    path = os.path.join(sockdir, "server")
    peer_path = os.path.join(sockdir, "peer")
    port = reactor.listenUNIXDatagram(path, EchoDatagrams())
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as peer:
        peer.bind(peer_path)
        assert port.write(b"direct", peer_path) == 6
        peer.settimeout(5)
        assert peer.recvfrom(100) == (b"direct", path)
    run_until(reactor, port.stopListening())


@pytest.mark.parametrize("mode", [0o600, 0o660])
def test_datagram_mode(reactor: Any, sockdir: str, mode: int) -> None:
    """The datagram socket file gets the mode asked for."""
    path = os.path.join(sockdir, "mode")
    port = reactor.listenUNIXDatagram(path, EchoDatagrams(), mode=mode)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    run_until(reactor, port.stopListening())


def test_write_to_missing_path(reactor: Any, sockdir: str) -> None:
    """Writing to a path with no socket raises OSError naming the path."""
    path = os.path.join(sockdir, "server")
    missing = os.path.join(sockdir, "missing")
    port = reactor.listenUNIXDatagram(path, EchoDatagrams())
    with pytest.raises(FileNotFoundError, match=f"no such socket file {missing!r}"):
        port.write(b"x", missing)
    run_until(reactor, port.stopListening())


def test_datagram_too_long(reactor: Any, sockdir: str) -> None:
    """A datagram longer than the socket can send raises MessageLengthError."""
    path = os.path.join(sockdir, "server")
    port = reactor.listenUNIXDatagram(path, EchoDatagrams())
    with pytest.raises(error.MessageLengthError, match="too long"):
        port.write(b"x" * 4_000_000, path)
    run_until(reactor, port.stopListening())


def test_connect_to_missing_path(reactor: Any, sockdir: str) -> None:
    """connectUNIXDatagram to a missing path tells connectionFailed, naming the path."""
    client = Client()
    client_path = os.path.join(sockdir, "client")
    missing = os.path.join(sockdir, "missing")
    reactor.connectUNIXDatagram(missing, client, bindAddress=client_path)
    assert client.failure is not None
    assert client.failure.check(error.ConnectError)
    assert f"no such socket file {missing!r}" in str(client.failure.value)
    assert not os.path.exists(client_path)  # the bound file went with the failure


def test_listen_on_live_socket_refused(reactor: Any, sockdir: str) -> None:
    """A datagram path another live socket holds gives CannotListenError."""
    path = os.path.join(sockdir, "taken")
    port = reactor.listenUNIXDatagram(path, EchoDatagrams())
    with pytest.raises(error.CannotListenError, match="another socket is bound"):
        reactor.listenUNIXDatagram(path, EchoDatagrams())
    run_until(reactor, port.stopListening())


def test_stale_datagram_file_replaced(reactor: Any, sockdir: str) -> None:
    """A datagram socket file nobody holds is replaced."""
    path = os.path.join(sockdir, "stale")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as old:
        old.bind(path)
    port = reactor.listenUNIXDatagram(path, EchoDatagrams())
    run_until(reactor, port.stopListening())


def test_peer_gone_is_refused(reactor: Any, sockdir: str) -> None:
    """Writing to a connected peer that has gone calls connectionRefused."""
    server_path = os.path.join(sockdir, "server")
    port = reactor.listenUNIXDatagram(server_path, EchoDatagrams())
    client = Client()
    cport = reactor.connectUNIXDatagram(server_path, client)
    run_until(reactor, port.stopListening())
    assert cport.write(b"anyone?") == 0
    assert client.refused.called
    run_until(reactor, cport.stopListening())
