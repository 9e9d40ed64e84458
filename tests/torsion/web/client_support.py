"""Helpers for the HTTP client tests (this module holds no tests).

* :class:`SansIOServer`: a small HTTP/1.1 server protocol on the sans-IO core (role
  SERVER); a *handler* turns each request into a reply. It does not depend on
  ``torsion.web.server``, so the client is tested on its own.
* :class:`PumpEndpoints`: an ``IAgentEndpointFactory`` whose endpoints join the agent's
  protocol to a :class:`SansIOServer` in memory (``torsion.testing.connect_pair``):
  ``flush()`` moves the bytes. No sockets, no reactor.
* :func:`listen`: the same server on 127.0.0.1 with a real reactor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torsion.defer import Deferred, fail, succeed
from torsion.failure import Failure
from torsion.protocol import Factory, Protocol
from torsion.testing import Pump, connect_pair
from torsion.web.client import URI
from torsion.web.sansio import (
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    RemoteProtocolError,
    Request,
    Response,
    Role,
    State,
)


@dataclass
class Reply:
    """What a handler answers: status, headers and body (sent as one Data event)."""

    status: int = 200
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    close: bool = False  # close the connection after this response
    raw: bytes | None = None  # send these bytes, then close, instead of a response
    hang: bool = False  # never answer


Handler = Callable[[Request, bytes], Reply]


def echo_handler(request: Request, body: bytes) -> Reply:
    """``200`` with ``METHOD target`` and the body received, Content-Length framed."""
    payload = request.method + b" " + request.target + b"\n" + body
    return Reply(200, [(b"Content-Length", b"%d" % len(payload))], payload)


@dataclass
class ServerLog:
    """What a server saw, shared by all its connections."""

    requests: list[tuple[Request, bytes]] = field(default_factory=list)
    connections: int = 0
    lost: int = 0


class SansIOServer(Protocol):
    """An HTTP/1.1 server connection answering with ``handler`` (keep-alive supported)."""

    def __init__(self, handler: Handler, log: ServerLog | None = None) -> None:
        self.handler = handler
        self.log = log if log is not None else ServerLog()
        self.conn = Connection(Role.SERVER)
        self.request: Request | None = None
        self.body: list[bytes] = []

    def connectionMade(self) -> None:
        self.log.connections += 1

    def dataReceived(self, data: bytes) -> None:
        self.conn.receive_data(data)
        self._drive()

    def _drive(self) -> None:
        while True:
            try:
                event = self.conn.next_event()
            except RemoteProtocolError as exc:
                self.transport.write(b"HTTP/1.1 %d Bad\r\nContent-Length: 0\r\nConnection: close"
                                     b"\r\n\r\n" % exc.error_status_hint)
                self.transport.loseConnection()
                return
            if event is NEED_DATA:
                return
            if event is PAUSED:
                if self.conn.our_state is State.DONE and self.conn.their_state is State.DONE:
                    self.conn.start_next_cycle()
                    continue
                return
            if isinstance(event, Request):
                self.request, self.body = event, []
            elif isinstance(event, Data):
                self.body.append(event.data)
            elif isinstance(event, EndOfMessage):
                self._respond()
                if self.transport.disconnecting:
                    return
            elif isinstance(event, ConnectionClosed):
                self.transport.loseConnection()
                return

    def _respond(self) -> None:
        request = self.request
        assert request is not None
        body = b"".join(self.body)
        self.log.requests.append((request, body))
        reply = self.handler(request, body)
        if reply.hang:
            return
        if reply.raw is not None:
            self.transport.write(reply.raw)
            self.transport.loseConnection()
            return
        headers = list(reply.headers)
        if reply.close:
            headers.append((b"Connection", b"close"))
        out = self.conn.send(Response(status_code=reply.status, headers=headers))
        if reply.body:
            out += self.conn.send(Data(reply.body))
        out += self.conn.send(EndOfMessage())
        self.transport.write(out)
        if self.conn.our_state is State.MUST_CLOSE:
            self.transport.loseConnection()
        elif self.conn.their_state is State.DONE:
            self.conn.start_next_cycle()

    def connectionLost(self, reason: Failure = Failure(Exception("lost"))) -> None:  # noqa: B008
        self.log.lost += 1


class _PumpEndpoint:
    def __init__(self, owner: PumpEndpoints, uri: URI) -> None:
        self._owner = owner
        self._uri = uri

    def connect(self, factory: Any) -> Deferred[Any]:
        owner = self._owner
        owner.connects += 1
        owner.uris.append(self._uri.toBytes())
        if owner.refuse is not None:
            return fail(owner.refuse)
        client = factory.buildProtocol(None)
        server = SansIOServer(owner.handler_for(self._uri), owner.log)
        pump = connect_pair(server, client)
        owner.pumps.append(pump)
        if owner.lose_at_once:
            pump.server_transport.loseConnection()
            pump.flush()
        return succeed(client)


class PumpEndpoints:
    """Endpoints that connect in memory to a :class:`SansIOServer` per connection.

    Attributes:
        connects: how many connections were asked for.
        uris: the URI each connection was for.
        pumps: the pumps, one per connection.
        log: what the servers saw.
        refuse: an exception to fail ``connect`` with (None: connect).
        handlers: ``{origin netloc: handler}`` overriding ``handler`` per host.
    """

    def __init__(self, handler: Handler = echo_handler) -> None:
        self.handler = handler
        self.handlers: dict[bytes, Handler] = {}
        self.connects = 0
        self.uris: list[bytes] = []
        self.pumps: list[Pump] = []
        self.log = ServerLog()
        self.refuse: BaseException | None = None
        self.lose_at_once = False  # the server closes before connect() reports success

    def handler_for(self, uri: URI) -> Handler:
        return self.handlers.get(uri.netloc, self.handler)

    def endpointForURI(self, uri: URI) -> _PumpEndpoint:
        return _PumpEndpoint(self, uri)

    def flush(self) -> None:
        """Move bytes on every connection until nothing moves."""
        busy = True
        while busy:
            busy = False
            for pump in list(self.pumps):
                busy = pump.flush() or busy


class ServerFactory(Factory):
    """Builds :class:`SansIOServer` protocols sharing one log."""

    def __init__(self, handler: Handler = echo_handler) -> None:
        self.handler = handler
        self.log = ServerLog()
        self.protocols: list[SansIOServer] = []

    def buildProtocol(self, addr: Any) -> SansIOServer:
        proto = SansIOServer(self.handler, self.log)
        self.protocols.append(proto)
        return proto


def listen(reactor: Any, handler: Handler = echo_handler) -> tuple[Any, ServerFactory, int]:
    """Serve ``handler`` on 127.0.0.1 (a free port): ``(port, factory, port number)``."""
    factory = ServerFactory(handler)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return port, factory, port.getHost().port


# -- certificates (the cryptography package, a test extra) -----------------------------


@dataclass(frozen=True)
class Certs:
    """A CA, a server certificate it issued, and one from a CA nobody trusts."""

    ca_pem: bytes
    server_pem: bytes  # certificate + key, for PrivateCertificate.loadPEM
    stranger_pem: bytes  # certificate + key for localhost from an untrusted CA


def make_certs(names: tuple[str, ...] = ("localhost",), ips: tuple[str, ...] = ("127.0.0.1",)
               ) -> Certs:
    """Certificates made now (:mod:`support.pki`: EC P-256, valid two days), as PEM."""
    # Imported here: only the TLS tests pay for the cryptography package.
    from support.pki import certificate_pem, issue, key_pem  # noqa: PLC0415

    ca = issue("torsion test CA", None, ca=True)
    server_cert, server_key = issue(names[0], ca, dns=names, ips=ips)
    other = issue("untrusted CA", None, ca=True)
    stranger_cert, stranger_key = issue(names[0], other, dns=names, ips=ips)
    return Certs(certificate_pem(ca[0]), certificate_pem(server_cert) + key_pem(server_key),
                 certificate_pem(stranger_cert) + key_pem(stranger_key))
