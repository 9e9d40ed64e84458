"""UDP against programs torsion did not write: socat and Python's plain socket module.

socat (Debian package ``socat``) is required in CI and skipped elsewhere when missing.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from udp_support import Recorder, free_udp_port

from support.network import needs_ipv6
from support.peers import need
from torsion.defer import Deferred
from torsion.testing import run_until

LOCAL = "127.0.0.1"




@contextmanager
def running(args: list[str], stdin: bytes | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``args`` (``stdin`` written, then closed); on the way out kill it if it
    still runs, reap it and close its pipes."""
    proc = subprocess.Popen(
        args,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        if proc.stdin is not None:
            proc.stdin.write(stdin or b"")
            proc.stdin.close()
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def exited(reactor: Any, proc: subprocess.Popen[bytes]) -> Deferred[int]:
    """A Deferred firing with ``proc``'s exit status, checked every 20 ms."""
    d: Deferred[int] = Deferred()

    def check() -> None:
        if d.called:
            return
        code = proc.poll()
        if code is None:
            reactor.callLater(0.02, check)
        else:
            d.callback(code)

    check()
    return d


def _output(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """What an exited process wrote to stdout and stderr."""
    assert proc.stdout is not None and proc.stderr is not None
    return proc.stdout.read(), proc.stderr.read()


# -- socat ---------------------------------------------------------------------


def test_socat_client_gets_echo(reactor: Any) -> None:
    """socat sends a datagram to a torsion echo port and prints the echo it gets back."""
    socat = need("socat")
    server = Recorder(echo=True)
    port = reactor.listenUDP(0, server, interface=LOCAL)
    target = f"UDP4:{LOCAL}:{port.getHost().port}"
    with running([socat, "-t", "0.5", "-", target], stdin=b"hello from socat") as proc:
        assert run_until(reactor, exited(reactor, proc), timeout=10) == 0
        out, err = _output(proc)
    assert out == b"hello from socat", err
    assert server.datagrams == [b"hello from socat"]
    assert server.received[0][1][0] == LOCAL


@needs_ipv6
def test_socat_client_gets_echo_over_ipv6(reactor: Any) -> None:
    """The same over ::1: an IPv6 torsion port answers socat's UDP6 datagram."""
    socat = need("socat")
    server = Recorder(echo=True)
    port = reactor.listenUDP(0, server, interface="::1")
    target = f"UDP6:[::1]:{port.getHost().port}"
    with running([socat, "-t", "0.5", "-", target], stdin=b"hello6") as proc:
        assert run_until(reactor, exited(reactor, proc), timeout=10) == 0
        out, err = _output(proc)
    assert out == b"hello6", err
    assert server.received[0][1][0] == "::1"


def test_torsion_client_against_socat_echo(reactor: Any) -> None:
    """A torsion port exchanges datagrams with a socat echo server (UDP-LISTEN ... PIPE),
    knocking until socat is up.  socat's pipe is a byte stream that may merge
    datagrams queued together, so each message waits for its echo."""
    socat = need("socat")
    number = free_udp_port()
    client = Recorder()
    port = reactor.listenUDP(0, client, interface=LOCAL)
    peer = (LOCAL, number)
    with running([socat, f"UDP4-LISTEN:{number},bind={LOCAL},reuseaddr", "PIPE"]):
        ready = client.expect(1)

        def knock() -> None:
            if not ready.called:
                port.write(b"knock", peer)
                reactor.callLater(0.05, knock)

        knock()
        run_until(reactor, ready, timeout=10)
        for i in range(5):
            seen = len(client.received)
            port.write(b"msg %d" % i, peer)
            run_until(reactor, client.expect(seen + 1), timeout=10)
    assert {addr for _, addr in client.received} == {peer}
    echoed = [d.replace(b"knock", b"") for d in client.datagrams]
    assert [d for d in echoed if d] == [b"msg %d" % i for i in range(5)]


# -- Python's socket module -------------------------------------------------------


def test_plain_socket_client_gets_echo(reactor: Any) -> None:
    """A plain blocking socket sends to a torsion echo port and reads the echo."""
    server = Recorder(echo=True)
    port = reactor.listenUDP(0, server, interface=LOCAL)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.bind((LOCAL, 0))
        s.sendto(b"plain", (LOCAL, port.getHost().port))
        run_until(reactor, server.expect(1))
        data, addr = s.recvfrom(100)
        assert (data, addr) == (b"plain", (LOCAL, port.getHost().port))
        assert server.received == [(b"plain", s.getsockname())]


def test_plain_socket_server_then_refusal(reactor: Any) -> None:
    """A connected torsion port talks to a plain socket server; once that server
    closes, the next datagram brings connectionRefused() and the port stays open."""
    client = Recorder()
    port = reactor.listenUDP(0, client, interface=LOCAL)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.bind((LOCAL, 0))
        port.connect(*s.getsockname())
        port.write(b"question")
        data, addr = s.recvfrom(100)
        assert (data, addr) == (b"question", (LOCAL, port.getHost().port))
        s.sendto(b"answer", addr)
        run_until(reactor, client.expect(1))
        assert client.received == [(b"answer", s.getsockname())]
    port.write(b"are you there?")
    run_until(reactor, client.refused())
    assert client.refusals == 1 and port.connected
