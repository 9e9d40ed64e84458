"""Helpers for the UNIX socket and endpoint tests: checked reactors, running them, peers.

Each test module defines its own backend-parametrised ``reactor`` fixture
around :func:`checked_reactor`, which shuts the reactor down, closes it and
fails the test when a descriptor or a thread the test started is still there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ClientFactory, Factory, Protocol, connectionDone
from torsion.reactor import new_reactor

BACKENDS = ["epoll", "poll", "select"]


def open_fds() -> dict[int, str]:
    """This process's open descriptors and what they point to."""
    fds: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the listing's own descriptor
            pass
    return fds


@contextmanager
def checked_reactor(backend: str) -> Iterator[Any]:
    """A new reactor; shut down (ports closed, threads stopped), closed, checked for leaks."""
    fds_before = open_fds()
    threads_before = set(threading.enumerate())
    reactor = new_reactor(backend)
    try:
        yield reactor
    finally:
        if not getattr(reactor, "_startedBefore", False):
            guard = reactor.callLater(10, reactor.crash)
            reactor.callWhenRunning(reactor.stop)
            reactor.run(installSignalHandlers=False)
            if guard.active():
                guard.cancel()
        reactor.close()
    deadline = time.monotonic() + 5
    while True:
        extra = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    leaked = {fd: target for fd, target in open_fds().items() if fds_before.get(fd) != target}
    assert not leaked, f"descriptors left open by the test: {leaked}"
    assert not extra, f"threads left running by the test: {extra}"


class ReactorTimeout(AssertionError):
    """The awaited Deferred did not fire in time."""


def run_until(reactor: Any, d: Deferred[Any], timeout: float = 5.0) -> Any:
    """Run ``reactor`` until ``d`` fires (crashing it then); return the result or raise.

    The reactor may be run again afterwards.  After ``timeout`` seconds the
    test fails with :class:`ReactorTimeout`.
    """
    outcome: list[object] = []

    def finish(result: object) -> None:
        outcome.append(result)
        if getattr(reactor, "_started", False):
            reactor.crash()

    d.addBoth(finish)
    if not outcome:
        guard = reactor.callLater(timeout, reactor.crash)
        reactor.run(installSignalHandlers=False)
        if guard.active():
            guard.cancel()
        if not outcome:
            raise ReactorTimeout(f"nothing happened within {timeout} seconds")
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def run_for(reactor: Any, seconds: float) -> None:
    """Run ``reactor`` for ``seconds``."""
    d: Deferred[None] = Deferred()
    reactor.callLater(seconds, d.callback, None)
    run_until(reactor, d, timeout=seconds + 5)


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
