"""Helpers for the UDP tests: a checked reactor per backend, running it, recording protocols.

Each test module defines its own backend-parametrised ``reactor`` fixture
around :func:`checked_reactor`, which fails the test when a descriptor or a
thread the test started is still there after the reactor has shut down.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import DatagramProtocol
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
        expired: list[bool] = []

        def expire() -> None:
            expired.append(True)
            reactor.crash()

        guard = reactor.callLater(timeout, expire)
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


def has_ipv6_loopback() -> bool:
    """Whether ::1 can be bound here."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1) here")


def need_program(name: str) -> str:
    """The path of ``name``; skips (outside CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (Debian package {name}) but is not installed")
        pytest.skip(f"{name} is not installed (Debian package: {name})")
    return path
