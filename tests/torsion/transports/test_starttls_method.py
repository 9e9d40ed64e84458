"""``transport.startTLS`` on a live TCP connection, on every reactor backend.

A plaintext exchange first (the STARTTLS pattern of SMTP, IMAP and FTP), then
both sides switch to TLS on the same connection and talk through it.
"""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from support.peers import self_signed_certificate
from torsion.defer import Deferred
from torsion.protocol import ClientFactory, Factory, Protocol
from torsion.testing import run_until


@pytest.fixture(scope="module")
def contexts(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("starttls"))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=str(cert))
    return server, client


def test_starttls_switches_a_live_connection(
    reactor: Any, contexts: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    """After a plaintext STARTTLS/GO exchange, both ends call startTLS and the next
    bytes travel encrypted; the client verifies the server's certificate."""
    server_context, client_context = contexts
    received: list[bytes] = []
    done: Deferred[None] = Deferred()

    class Server(Protocol):
        def dataReceived(self, data: bytes) -> None:
            if data == b"STARTTLS\r\n":
                self.transport.write(b"GO\r\n")
                self.transport.startTLS(server_context)
            else:
                self.transport.write(b"secure:" + data)

    class Client(Protocol):
        def connectionMade(self) -> None:
            self.transport.write(b"STARTTLS\r\n")

        def dataReceived(self, data: bytes) -> None:
            if data == b"GO\r\n":
                self.transport.startTLS(client_context)
                self.transport.write(b"hello")
            else:
                received.append(data)
                self.transport.loseConnection()

        def connectionLost(self, reason: object) -> None:
            done.callback(None)

    port = reactor.listenTCP(0, Factory.forProtocol(Server), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, ClientFactory.forProtocol(Client))
    run_until(reactor, done)
    assert received == [b"secure:hello"]
