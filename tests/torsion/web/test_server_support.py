"""Helpers shared by the torsion.web server tests (this module holds no tests).

* :func:`connect`: a :class:`Site` on a :class:`MemoryReactorClock` and one connection
  to it over a :class:`StringTransport`: deterministic, no sockets, no real time.
* :func:`parse_responses`: the server's bytes parsed by the sans-IO core acting as
  a client, so every response is also checked against the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from torsion.address import IPv4Address
from torsion.testing import MemoryReactorClock, StringTransport
from torsion.web.sansio import (
    NEED_DATA,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    Request,
    Response,
    Role,
)
from torsion.web.server import HTTPChannel, Site

_T = TypeVar("_T")

CLIENT = IPv4Address("TCP", "192.0.2.7", 40000)


@dataclass
class Conn:
    """One deterministic connection to a site."""

    site: Site
    channel: HTTPChannel
    transport: StringTransport
    clock: MemoryReactorClock

    def send(self, data: bytes) -> None:
        self.channel.dataReceived(data)

    def take(self) -> bytes:
        value = self.transport.value()
        self.transport.clear()
        return value


def connect(resource: Any, **options: Any) -> Conn:
    """A site serving ``resource`` (options go to :class:`Site`) and a connection to it."""
    clock = MemoryReactorClock()
    site = Site(resource, reactor=clock, **options)
    channel = site.buildProtocol(CLIENT)
    transport = StringTransport(peerAddress=CLIENT)
    channel.makeConnection(transport)
    return Conn(site, channel, transport, clock)


@dataclass
class Reply:
    """A parsed response."""

    status: int
    headers: dict[bytes, list[bytes]]
    body: bytes
    informational: list[int] = field(default_factory=list)

    def header(self, name: bytes) -> bytes | None:
        values = self.headers.get(name.lower())
        return values[0] if values else None


def parse_responses(data: bytes, methods: list[bytes], eof: bool = False) -> list[Reply]:
    """Parse the responses to requests with ``methods`` out of the server's bytes.

    Raises:
        AssertionError: a response is missing or incomplete, or bytes are left over.
    """
    conn = Connection(Role.CLIENT)
    replies = []
    conn.receive_data(data)
    if eof:
        conn.receive_data(b"")
    for method in methods:
        conn.send(Request(method=method, target=b"/", headers=[(b"Host", b"t")]))
        conn.send(EndOfMessage())
        reply = Reply(0, {}, b"")
        while True:
            event = conn.next_event()
            assert event is not NEED_DATA, f"incomplete response to {method!r}"
            if isinstance(event, InformationalResponse):
                reply.informational.append(event.status_code)
            elif isinstance(event, Response):
                reply.status = event.status_code
                for name, value in event.headers:
                    reply.headers.setdefault(name, []).append(value)
            elif isinstance(event, Data):
                reply.body += event.data
            elif isinstance(event, EndOfMessage):
                break
            elif isinstance(event, ConnectionClosed):
                raise AssertionError("connection closed before the response ended")
        replies.append(reply)
        if conn.our_state.name == "DONE" and conn.their_state.name == "DONE":
            conn.start_next_cycle()
    return replies


def one(data: bytes, method: bytes = b"GET", eof: bool = False) -> Reply:
    """The single response in ``data``."""
    return parse_responses(data, [method], eof=eof)[0]
