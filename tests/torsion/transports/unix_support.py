"""Helpers for the UNIX socket and endpoint tests: echo and collecting protocols, paths.

The backend-parametrised ``reactor`` fixture is in ``conftest.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ClientFactory, Factory, Protocol, connectionDone
from torsion.testing import run_until


class Echo(Protocol):
    """Writes back whatever it receives."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


def echo_factory() -> Factory:
    """A factory of :class:`Echo`."""
    return Factory.forProtocol(Echo)


class Collector(Protocol):
    """Sends ``message`` once connected, collects ``expected`` bytes back, then closes.

    ``done`` fires with the bytes once the connection is lost.
    """

    def __init__(self, message: bytes = b"hello", expected: int | None = None) -> None:
        self.message = message
        self.expected = len(message) if expected is None else expected
        self.received = b""
        self.done: Deferred[bytes] = Deferred()
        self.reason: Failure | None = None

    def connectionMade(self) -> None:
        if self.message:
            self.transport.write(self.message)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if len(self.received) >= self.expected:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.reason = reason
        self.done.callback(self.received)


class RecordingClientFactory(ClientFactory):
    """Builds one :class:`Collector`; ``failed`` fires once connecting failed (see ``reason``)."""

    def __init__(self, message: bytes = b"hello") -> None:
        self.collector = Collector(message)
        self.failed: Deferred[None] = Deferred()
        self.reason: Failure | None = None
        self.started = 0

    def startedConnecting(self, connector: Any) -> None:
        self.started += 1

    def buildProtocol(self, addr: Any) -> Collector:
        self.collector.factory = self
        return self.collector

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.reason = reason
        self.failed.callback(None)

    def wait_failure(self, reactor: Any) -> Failure:
        """Run ``reactor`` until connecting failed; return why."""
        run_until(reactor, self.failed)
        assert self.reason is not None
        return self.reason


def dead_pid() -> int:
    """The process id of a child that has exited and been reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@contextmanager
def socket_dir() -> Iterator[str]:
    """A short-named temporary directory (socket paths must stay under 108 bytes)."""
    path = tempfile.mkdtemp(prefix="tsn-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
