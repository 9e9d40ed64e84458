"""Helpers for the UNIX socket and endpoint tests: recording protocols, peers, paths.

The backend-parametrised ``reactor`` fixture is in ``conftest.py``;
:func:`run_until` and :func:`run_for` are ``torsion.testing``'s, re-exported
for the test modules.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ClientFactory, Factory, Protocol, connectionDone
from torsion.testing import ReactorTimeout, run_for, run_until

__all__ = [
    "Collector",
    "Echo",
    "ReactorTimeout",
    "RecordingClientFactory",
    "dead_pid",
    "echo_factory",
    "has_ipv6_loopback",
    "make_certificate",
    "need_program",
    "needs_ipv6",
    "run_for",
    "run_until",
    "socket_dir",
]

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


def has_ipv6_loopback() -> bool:
    """Whether ::1 can be bound here."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1) here")


def need_program(name: str, package: str | None = None) -> str:
    """The path of ``name``; skips (outside CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        package = package or name
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (Debian package {package}) but is not installed")
        pytest.skip(f"{name} is not installed (Debian package: {package})")
    return path


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


def make_certificate(directory: str) -> tuple[str, str]:
    """A self-signed certificate for localhost/127.0.0.1 made with openssl: (key, cert) paths."""
    openssl = need_program("openssl")
    key = os.path.join(directory, "key.pem")
    cert = os.path.join(directory, "cert.pem")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )
    return key, cert
