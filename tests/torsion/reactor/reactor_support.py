"""Helpers for the reactor conformance suite: run a real reactor until something happens.

Nothing here uses the pytest plugin's asyncio driver: each helper drives the
reactor under test itself, with ``run()`` and ``crash()``, so a reactor can be
run several times within one test (``crash`` does not fire the shutdown event)
and is finally stopped by the ``reactor`` fixture.

:func:`run_until`, :func:`run_for`, :class:`ReactorTimeout` and :func:`open_fds`
are ``torsion.testing``'s; :class:`Recorder`, :class:`Echo` and :func:`sleep` are
the ``support`` package's (shared with the transport tests); all re-exported here
for the test modules.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.deferreds import sleep
from support.protocols import Echo, Recorder
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ClientCreator, ClientFactory, Protocol, ServerFactory
from torsion.testing import ReactorTimeout, open_fds, run_for, run_until

__all__ = [
    "REPO",
    "SRC",
    "Echo",
    "FailureRecorder",
    "ReactorTimeout",
    "Recorder",
    "RecordingFactory",
    "connect",
    "connected_pair",
    "listen",
    "open_fds",
    "python_env",
    "read_ready_line",
    "run_for",
    "run_until",
    "sleep",
    "spawn_python",
    "vm_rss",
    "wait_for",
    "write_buffer_size",
]

REPO = Path(__file__).resolve().parents[3]
SRC = REPO / "src"


def wait_for(reactor: Any, predicate: Callable[[], bool], timeout: float = 10.0,
             interval: float = 0.002) -> None:
    """Run ``reactor`` until ``predicate()`` is true (checked every ``interval``)."""
    d: Deferred[None] = Deferred()

    def check() -> None:
        if predicate():
            d.callback(None)
        else:
            reactor.callLater(interval, check)

    reactor.callLater(0, check)
    run_until(reactor, d, timeout)


class RecordingFactory(ServerFactory):
    """Builds ``protocol`` instances and remembers them; hands out the next one on demand."""

    def __init__(self, protocol: Callable[[], Recorder] = Recorder) -> None:
        self.protocol = protocol
        self.protocols: list[Recorder] = []
        self._next: list[Deferred[Recorder]] = []

    def buildProtocol(self, addr: Any) -> Recorder:
        p: Recorder = super().buildProtocol(addr)
        self.protocols.append(p)
        p.made.addCallback(self._made)
        return p

    def _made(self, p: Recorder) -> Recorder:
        if self._next:
            self._next.pop(0).callback(p)
        return p

    def next_connection(self) -> Deferred[Recorder]:
        """A Deferred firing with the next protocol to have ``connectionMade`` called."""
        made = [p for p in self.protocols if p.made.called]
        d: Deferred[Recorder] = Deferred()
        if len(made) > self._handed:
            d.callback(made[self._handed])
        else:
            self._next.append(d)
        self._handed += 1
        return d

    _handed = 0


class FailureRecorder(ClientFactory):
    """A client factory recording how connecting ended.

    Attributes:
        failures: each ``clientConnectionFailed`` reason.
        losses: each ``clientConnectionLost`` reason.
        done: fires with None at the first failure or loss.
    """

    def __init__(self, protocol: Callable[[], Protocol] = Recorder) -> None:
        self.protocol = protocol
        self.failures: list[Failure] = []
        self.losses: list[Failure] = []
        self.started: list[Any] = []
        self.done: Deferred[None] = Deferred()

    def startedConnecting(self, connector: Any) -> None:
        self.started.append(connector)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.failures.append(reason)
        if not self.done.called:
            self.done.callback(None)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        self.losses.append(reason)
        if not self.done.called:
            self.done.callback(None)


def listen(reactor: Any, factory: Any, interface: str = "127.0.0.1") -> Any:
    """Listen on a free port of ``interface``; return the port."""
    return reactor.listenTCP(0, factory, interface=interface)


def connect(reactor: Any, port: Any, protocol: Callable[[], Recorder] = Recorder,
            host: str | None = None) -> Deferred[Recorder]:
    """Connect a new ``protocol`` to ``port``; fires with it once connected."""
    address = port.getHost()
    creator = ClientCreator(reactor, protocol)
    d: Deferred[Recorder] = creator.connectTCP(host or address.host, address.port)
    return d


async def connected_pair(reactor: Any, factory: RecordingFactory, port: Any,
                         protocol: Callable[[], Recorder] = Recorder) -> tuple[Recorder, Recorder]:
    """Connect a client to ``port``; return (client, server) once both ends are made."""
    server_d = factory.next_connection()
    client = await connect(reactor, port, protocol)
    server = await server_d
    return client, server


def python_env() -> dict[str, str]:
    """An environment in which a child Python imports this checkout's torsion."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.pop("TORSION_REACTOR", None)
    return env


def spawn_python(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``python args...`` with torsion importable, text pipes for stdout and stderr."""
    return subprocess.Popen(
        [sys.executable, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=python_env(),
        **kwargs,
    )


def read_ready_line(proc: subprocess.Popen[str], timeout: float = 15.0) -> str:
    """The first line ``proc`` prints, waiting at most ``timeout`` seconds."""
    import selectors  # noqa: PLC0415

    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            proc.kill()
            _, err = proc.communicate()
            pytest.fail(f"no output within {timeout} s; stderr:\n{err}")
    finally:
        sel.close()
    return proc.stdout.readline()


def write_buffer_size(transport: Any) -> int:
    """Bytes a transport holds that the kernel has not taken yet (white-box, per backend)."""
    buffered = getattr(transport, "_buffered", None)
    if buffered is not None:
        return int(buffered)
    native = getattr(transport, "_transport", None)  # the asyncio backends
    if native is not None:
        return int(native.get_write_buffer_size())
    raise AssertionError(f"don't know how to read the write buffer of {transport!r}")


def vm_rss() -> int:
    """This process's resident memory, in bytes (``VmRSS`` in /proc/self/status)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line in /proc/self/status")
