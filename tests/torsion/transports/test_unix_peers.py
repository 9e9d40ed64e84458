"""UNIX sockets against a real peer, socat (Debian package ``socat``), on every backend.

socat runs in the reactor's thread pool (``subprocess.run``) while the
reactor serves it, so neither waits for the other.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from unix_support import RecordingClientFactory, echo_factory, socket_dir

from support.peers import need
from torsion.defer import Deferred
from torsion.protocol import DatagramProtocol
from torsion.testing import run_until
from torsion.threads import deferToThreadPool


@pytest.fixture
def sockdir() -> Iterator[str]:
    """A short temporary directory for socket files."""
    with socket_dir() as path:
        yield path


@pytest.fixture
def socat() -> str:
    """The socat program (skipped outside CI when missing)."""
    return need("socat")


def _run(reactor: Any, argv: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` with ``data`` on stdin in the thread pool while the reactor runs."""
    d = deferToThreadPool(
        reactor, reactor.getThreadPool(), subprocess.run, argv, input=data,
        capture_output=True, timeout=10, check=False,
    )
    result: subprocess.CompletedProcess[bytes] = run_until(reactor, d, timeout=15)
    return result


def test_socat_client_to_torsion_server(reactor: Any, sockdir: str, socat: str) -> None:
    """socat, as a client, gets its bytes back from a torsion UNIX echo server."""
    path = os.path.join(sockdir, "echo.sock")
    port = reactor.listenUNIX(path, echo_factory())
    payload = os.urandom(100_000)
    result = _run(reactor, [socat, "-t", "2", "-", f"UNIX-CONNECT:{path}"], payload)
    assert result.returncode == 0, result.stderr
    assert result.stdout == payload
    run_until(reactor, port.stopListening())


def test_socat_client_abstract_namespace(reactor: Any, socat: str) -> None:
    """socat reaches a torsion echo server in the abstract namespace."""
    name = f"torsion-socat-{uuid.uuid4().hex}"
    port = reactor.listenUNIX("\0" + name, echo_factory())
    result = _run(reactor, [socat, "-t", "2", "-", f"ABSTRACT-CONNECT:{name}"], b"abstract\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"abstract\n"
    run_until(reactor, port.stopListening())


def test_torsion_client_to_socat_server(reactor: Any, sockdir: str, socat: str) -> None:
    """A torsion UNIX client gets its bytes back from socat echoing (UNIX-LISTEN ... PIPE)."""
    path = os.path.join(sockdir, "socat.sock")
    server = subprocess.Popen(
        [socat, f"UNIX-LISTEN:{path}", "PIPE"], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 5
        while not os.path.exists(path):
            assert server.poll() is None, server.stderr.read() if server.stderr else b""
            assert time.monotonic() < deadline, "socat did not start listening"
            time.sleep(0.01)
        factory = RecordingClientFactory(b"x" * 50_000)
        reactor.connectUNIX(path, factory)
        assert run_until(reactor, factory.collector.done) == b"x" * 50_000
    finally:
        server.kill()
        server.wait()
        if server.stderr is not None:
            server.stderr.close()


def test_socat_datagram_sender(reactor: Any, sockdir: str, socat: str) -> None:
    """A datagram socat sends (UNIX-SENDTO) reaches a torsion datagram port."""
    path = os.path.join(sockdir, "dgram.sock")
    arrived: Deferred[bytes] = Deferred()

    class Once(DatagramProtocol):
        def datagramReceived(self, datagram: bytes, addr: Any) -> None:
            if not arrived.called:
                arrived.callback(datagram)

    port = reactor.listenUNIXDatagram(path, Once())
    result = _run(reactor, [socat, "-u", "-", f"UNIX-SENDTO:{path}"], b"datagram from socat")
    assert result.returncode == 0, result.stderr
    assert run_until(reactor, arrived) == b"datagram from socat"
    run_until(reactor, port.stopListening())

