"""``SO_REUSEPORT`` listening: ``listenTCP(..., reusePort=True)`` and ``reusePort=yes``
in endpoint strings, so that pre-forked workers share one port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from torsion.endpoints import serverFromString
from torsion.error import CannotListenError
from torsion.protocol import Factory, Protocol
from torsion.reactor import new_reactor
from torsion.testing import success_result_of


@pytest.fixture
def posix_reactor() -> Iterator[Any]:
    reactor = new_reactor("epoll")
    yield reactor
    reactor.disconnectAll()
    reactor.close()


class Hello(Protocol):
    def connectionMade(self) -> None:
        self.transport.write(self.factory.greeting)  # type: ignore[attr-defined]
        self.transport.loseConnection()


def factory(greeting: bytes) -> Factory:
    made = Factory.forProtocol(Hello)
    made.greeting = greeting  # type: ignore[attr-defined]
    return made


def test_two_listeners_share_a_port(posix_reactor: Any) -> None:
    first = posix_reactor.listenTCP(0, factory(b"1"), interface="127.0.0.1", reusePort=True)
    number = first.getHost().port
    second = posix_reactor.listenTCP(number, factory(b"2"), interface="127.0.0.1",
                                     reusePort=True)
    assert second.getHost().port == number
    with pytest.raises(CannotListenError):
        posix_reactor.listenTCP(number, factory(b"3"), interface="127.0.0.1")
    # Both accept: the kernel spreads connections by their source port's hash.
    greetings = set()
    clients = [socket.create_connection(("127.0.0.1", number)) for _ in range(32)]
    deadline = posix_reactor.seconds() + 5
    while len(greetings) < 2 and posix_reactor.seconds() < deadline and clients:
        posix_reactor.iterate(0.01)
        for client in list(clients):
            client.setblocking(False)
            try:
                data = client.recv(1)
            except BlockingIOError:
                continue
            greetings.add(data)
            client.close()
            clients.remove(client)
    for client in clients:
        client.close()
    assert greetings == {b"1", b"2"}
    first.stopListening()
    second.stopListening()


def test_endpoint_string(posix_reactor: Any) -> None:
    endpoint = serverFromString(posix_reactor, "tcp:0:interface=127.0.0.1:reusePort=yes")
    port = success_result_of(endpoint.listen(factory(b"x")))
    assert port.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    plain = success_result_of(
        serverFromString(posix_reactor, "tcp:0:interface=127.0.0.1").listen(factory(b"y"))
    )
    assert plain.socket.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
    with pytest.raises(ValueError, match="reusePort"):
        serverFromString(posix_reactor, "tcp:0:reusePort=maybe")
    port.stopListening()
    plain.stopListening()
