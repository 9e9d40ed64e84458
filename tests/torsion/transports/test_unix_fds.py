"""Passing file descriptors over UNIX stream connections (SCM_RIGHTS), on every backend."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
from unix_support import socket_dir

from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ClientCreator, Factory, Protocol, connectionDone
from torsion.testing import run_until
from torsion.testing.plugin import LoggedFailures


@pytest.fixture
def path() -> Iterator[str]:
    """A socket path in a short temporary directory."""
    with socket_dir() as directory:
        yield os.path.join(directory, "fds.sock")


class Receiver(Protocol):
    """Records descriptors and bytes in arrival order; ``done`` fires at connectionLost.

    ``events`` holds ("fd", bytes read from it, bytes received before it) and
    ("data", bytes) tuples.  Each descriptor received is read, then closed.
    """

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.received = 0
        self.done: Deferred[None] = Deferred()

    def fileDescriptorReceived(self, descriptor: int) -> None:
        try:
            content = os.read(descriptor, 100)
        finally:
            os.close(descriptor)
        self.events.append(("fd", content, self.received))

    def dataReceived(self, data: bytes) -> None:
        self.events.append(("data", data))
        self.received += len(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.done.callback(None)

    @property
    def fds(self) -> list[tuple[Any, ...]]:
        return [e for e in self.events if e[0] == "fd"]

    @property
    def data(self) -> bytes:
        return b"".join(e[1] for e in self.events if e[0] == "data")


def _pipe_with(content: bytes) -> int:
    """The read end of a pipe holding ``content`` (the write end is closed)."""
    r, w = os.pipe()
    os.write(w, content)
    os.close(w)
    return r


def _serve(reactor: Any, path: str) -> tuple[Any, Receiver]:
    receiver = Receiver()
    port = reactor.listenUNIX(path, Factory.forProtocol(lambda: receiver))
    return port, receiver


def _client(reactor: Any, path: str) -> Any:
    return run_until(reactor, ClientCreator(reactor, Protocol).connectUNIX(path))


def _finish(reactor: Any, port: Any, client: Any, receiver: Receiver) -> None:
    client.transport.loseConnection()
    run_until(reactor, receiver.done)
    run_until(reactor, port.stopListening())


def test_pipe_descriptor_read_through(reactor: Any, path: str) -> None:
    """A pipe's read end sent with a write arrives usable, before the bytes it came with."""
    port, receiver = _serve(reactor, path)
    client = _client(reactor, path)
    fd = _pipe_with(b"through the pipe")
    client.transport.sendFileDescriptor(fd)
    os.close(fd)  # sendFileDescriptor keeps its own copy
    client.transport.write(b"hello")
    _finish(reactor, port, client, receiver)
    assert receiver.events[0] == ("fd", b"through the pipe", 0)
    assert receiver.data == b"hello"


def test_descriptor_rides_with_next_write_after_buffered_data(reactor: Any, path: str) -> None:
    """With megabytes still buffered, the descriptor arrives just before the next write's bytes.

    The kernel hands descriptors over with the read holding the byte they rode
    with; that read may start with earlier bytes, never later writes' ones.
    """
    port, receiver = _serve(reactor, path)
    client = _client(reactor, path)
    big = b"a" * 3_000_000
    client.transport.write(big)
    assert client.transport._buffered  # the kernel did not take it all
    fd = _pipe_with(b"late")
    client.transport.sendFileDescriptor(fd)
    os.close(fd)
    client.transport.writeSequence([b"X", b"YZ"])
    _finish(reactor, port, client, receiver)
    assert receiver.data == big + b"XYZ"
    [(kind, content, before)] = receiver.fds
    assert content == b"late"
    assert before <= len(big)
    index = receiver.events.index((kind, content, before))
    following = receiver.events[index + 1]
    assert following[0] == "data"
    assert before + len(following[1]) > len(big)  # the next read holds the "X"


def test_descriptors_keep_their_order(reactor: Any, path: str) -> None:
    """Several descriptors, over several writes, arrive in the order they were sent."""
    port, receiver = _serve(reactor, path)
    client = _client(reactor, path)
    for index in range(3):
        for sub in range(2):
            fd = _pipe_with(f"{index}.{sub}".encode())
            client.transport.sendFileDescriptor(fd)
            os.close(fd)
        client.transport.write(f"<{index}>".encode())
    _finish(reactor, port, client, receiver)
    assert [e[1] for e in receiver.fds] == [b"0.0", b"0.1", b"1.0", b"1.1", b"2.0", b"2.1"]
    assert receiver.data == b"<0><1><2>"


def test_more_descriptors_than_one_message_carries(reactor: Any, path: str) -> None:
    """Over 253 descriptors (Linux's SCM_MAX_FD) are split over consecutive bytes."""
    port, receiver = _serve(reactor, path)
    client = _client(reactor, path)
    fd = _pipe_with(b"shared")
    for _ in range(300):
        client.transport.sendFileDescriptor(fd)
    os.close(fd)
    client.transport.write(b"ab")
    _finish(reactor, port, client, receiver)
    assert len(receiver.fds) == 300
    assert receiver.fds[0][1] == b"shared"
    assert receiver.fds[253][2] == 1  # the second batch rode with the second byte
    assert receiver.data == b"ab"


def test_descriptors_wait_for_enough_bytes(reactor: Any, path: str) -> None:
    """Batches beyond the bytes of a write wait for the next write."""
    port, receiver = _serve(reactor, path)
    client = _client(reactor, path)
    fd = _pipe_with(b"x")
    for _ in range(260):
        client.transport.sendFileDescriptor(fd)
    os.close(fd)
    client.transport.write(b"1")
    client.transport.write(b"2")
    _finish(reactor, port, client, receiver)
    assert [e[2] for e in receiver.fds] == [0] * 253 + [1] * 7


def test_server_sends_descriptor_to_client(reactor: Any, path: str) -> None:
    """The accepting side can send descriptors too."""

    class Sender(Protocol):
        def connectionMade(self) -> None:
            fd = _pipe_with(b"from the server")
            self.transport.sendFileDescriptor(fd)
            os.close(fd)
            self.transport.write(b"!")
            self.transport.loseConnection()

    port = reactor.listenUNIX(path, Factory.forProtocol(Sender))
    client = run_until(reactor, ClientCreator(reactor, Receiver).connectUNIX(path))
    run_until(reactor, client.done)
    assert client.events == [("fd", b"from the server", 0), ("data", b"!")]
    run_until(reactor, port.stopListening())


def test_descriptors_closed_without_receiver(
    reactor: Any, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A protocol without fileDescriptorReceived gets the bytes; the descriptors are closed."""
    received: list[bytes] = []
    done: Deferred[None] = Deferred()

    class Plain(Protocol):
        def dataReceived(self, data: bytes) -> None:
            received.append(data)

        def connectionLost(self, reason: Failure = connectionDone) -> None:
            done.callback(None)

    port = reactor.listenUNIX(path, Factory.forProtocol(Plain))
    client = _client(reactor, path)
    fd = _pipe_with(b"unwanted")
    client.transport.sendFileDescriptor(fd)
    os.close(fd)
    with caplog.at_level(logging.WARNING, logger="torsion.unix"):
        client.transport.write(b"data")
        client.transport.loseConnection()
        run_until(reactor, done)
    assert b"".join(received) == b"data"
    assert "Plain has no fileDescriptorReceived: closed 1 file descriptor(s)" in caplog.text
    run_until(reactor, port.stopListening())


def test_unsent_descriptors_closed_with_connection(reactor: Any, path: str) -> None:
    """Descriptors queued with no write after them are closed when the connection closes."""
    port, receiver = _serve(reactor, path)
    client = _client(reactor, path)
    fd = _pipe_with(b"never")
    client.transport.sendFileDescriptor(fd)
    client.transport.sendFileDescriptor(fd)
    os.close(fd)
    _finish(reactor, port, client, receiver)
    assert receiver.events == []


def test_bad_descriptor_rejected(reactor: Any, path: str) -> None:
    """sendFileDescriptor of a descriptor that is not open raises OSError at once."""
    port, receiver = _serve(reactor, path)
    client = _client(reactor, path)
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError):
        client.transport.sendFileDescriptor(r)
    _finish(reactor, port, client, receiver)


def test_receiver_error_closes_remaining(
    reactor: Any, path: str, logged_failures: LoggedFailures
) -> None:
    """An error in fileDescriptorReceived is logged and closes the connection; nothing leaks."""
    lost: Deferred[None] = Deferred()

    class Broken(Protocol):
        def fileDescriptorReceived(self, descriptor: int) -> None:
            os.close(descriptor)
            raise RuntimeError("boom")

        def connectionLost(self, reason: Failure = connectionDone) -> None:
            lost.callback(None)

    port = reactor.listenUNIX(path, Factory.forProtocol(Broken))
    client = _client(reactor, path)
    fd = _pipe_with(b"x")
    for _ in range(3):
        client.transport.sendFileDescriptor(fd)
    os.close(fd)
    client.transport.write(b"x")
    run_until(reactor, lost)
    assert len(logged_failures.flush(RuntimeError)) == 1
    client.transport.loseConnection()
    run_until(reactor, port.stopListening())


def test_stdlib_peer_sends_descriptor(reactor: Any, path: str) -> None:
    """Descriptors sent by the standard library's socket.send_fds reach the protocol."""
    import socket  # noqa: PLC0415

    port, receiver = _serve(reactor, path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
        peer.connect(path)
        fd = _pipe_with(b"from stdlib")
        try:
            socket.send_fds(peer, [b"payload"], [fd])
        finally:
            os.close(fd)
    run_until(reactor, receiver.done)
    assert receiver.events == [("fd", b"from stdlib", 0), ("data", b"payload")]
    run_until(reactor, port.stopListening())


def test_stdlib_peer_receives_descriptor(reactor: Any, path: str) -> None:
    """Descriptors torsion sends arrive through the standard library's socket.recv_fds."""
    import socket  # noqa: PLC0415

    sent: Deferred[None] = Deferred()

    class Sender(Protocol):
        def connectionMade(self) -> None:
            fd = _pipe_with(b"to stdlib")
            self.transport.sendFileDescriptor(fd)
            os.close(fd)
            self.transport.write(b"take this")
            self.transport.loseConnection()

        def connectionLost(self, reason: Failure = connectionDone) -> None:
            sent.callback(None)

    port = reactor.listenUNIX(path, Factory.forProtocol(Sender))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as peer:
        peer.connect(path)
        run_until(reactor, sent)
        peer.settimeout(5)
        data, fds, _flags, _addr = socket.recv_fds(peer, 100, 4)
        try:
            assert data == b"take this"
            assert len(fds) == 1
            assert os.read(fds[0], 100) == b"to stdlib"
        finally:
            for fd in fds:
                os.close(fd)
    run_until(reactor, port.stopListening())
