"""Helpers for the UDP tests: a recording datagram protocol and free ports.

The backend-parametrised ``reactor`` fixture is in ``conftest.py``.
"""

from __future__ import annotations

import socket
from typing import Any

from torsion.defer import Deferred
from torsion.protocol import DatagramProtocol


class Recorder(DatagramProtocol):
    """Records datagrams and lifecycle calls; :meth:`expect` waits for a count."""

    def __init__(self, echo: bool = False) -> None:
        self.echo = echo
        self.received: list[tuple[bytes, Any]] = []
        self.events: list[str] = []
        self.refusals = 0
        self._waiting: list[tuple[int, Deferred[None]]] = []
        self._refused_waiting: list[Deferred[None]] = []

    def startProtocol(self) -> None:
        self.events.append("start")

    def stopProtocol(self) -> None:
        self.events.append("stop")

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        if self.echo:
            self.transport.write(datagram, addr)
        still = []
        for count, d in self._waiting:
            if len(self.received) >= count:
                d.callback(None)
            else:
                still.append((count, d))
        self._waiting = still

    def connectionRefused(self) -> None:
        self.refusals += 1
        waiting, self._refused_waiting = self._refused_waiting, []
        for d in waiting:
            d.callback(None)

    def expect(self, count: int) -> Deferred[None]:
        """A Deferred firing once ``count`` datagrams in all have arrived."""
        d: Deferred[None] = Deferred()
        if len(self.received) >= count:
            d.callback(None)
        else:
            self._waiting.append((count, d))
        return d

    def refused(self) -> Deferred[None]:
        """A Deferred firing at the next ``connectionRefused``."""
        d: Deferred[None] = Deferred()
        self._refused_waiting.append(d)
        return d

    @property
    def datagrams(self) -> list[bytes]:
        return [data for data, _ in self.received]


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port number nobody is bound to right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port
