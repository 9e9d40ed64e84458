"""Endpoints against real listeners on every backend: TCP, UNIX, HostnameEndpoint races, TLS.

A "slow" address is a listener whose backlog is already full: the kernel
drops further SYNs (TCP) or answers EAGAIN (UNIX), so a connection attempt to
it hangs until stopped.
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from unix_support import Collector, echo_factory, socket_dir

from support.network import needs_ipv6
from support.peers import self_signed_certificate
from torsion import error
from torsion.address import IPv4Address, IPv6Address, UNIXAddress
from torsion.defer import succeed
from torsion.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    TCP4ServerEndpoint,
    TCP6ClientEndpoint,
    TCP6ServerEndpoint,
    UNIXClientEndpoint,
    UNIXServerEndpoint,
    clientFromString,
    connectProtocol,
    quoteStringArgument,
    serverFromString,
)
from torsion.testing import run_until
from torsion.threads import deferToThreadPool

V6, V4 = socket.AF_INET6, socket.AF_INET


@pytest.fixture
def sockdir() -> Iterator[str]:
    """A short temporary directory for socket files."""
    with socket_dir() as path:
        yield path


def _echo(reactor: Any, endpoint: Any, message: bytes = b"ping") -> Collector:
    collector: Collector = run_until(reactor, connectProtocol(endpoint, Collector(message)))
    assert run_until(reactor, collector.done) == message
    return collector


class SlowTCP:
    """A TCP listener on (host, port) that never accepts, its backlog already full."""

    def __init__(self, host: str, port: int = 0) -> None:
        family = V6 if ":" in host else V4
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        if family == V6:
            self.listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        self.listener.bind((host, port))
        self.listener.listen(0)
        self.port: int = self.listener.getsockname()[1]
        self.fillers = []
        for _ in range(2):
            filler = socket.socket(family, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex((host, self.port))
            self.fillers.append(filler)
        time.sleep(0.05)  # let the handshakes that can complete, complete

    def close(self) -> None:
        for s in [self.listener, *self.fillers]:
            s.close()


# -- TCP and UNIX endpoints ----------------------------------------------------------------


def test_tcp4_endpoints_echo(reactor: Any) -> None:
    """TCP4ServerEndpoint listens, TCP4ClientEndpoint connects; bytes echo."""
    port = run_until(reactor, TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
                     .listen(echo_factory()))
    address = port.getHost()
    assert isinstance(address, IPv4Address)
    collector = _echo(reactor, TCP4ClientEndpoint(reactor, "127.0.0.1", address.port))
    assert collector.transport.getPeer() == IPv4Address("TCP", "127.0.0.1", address.port)
    run_until(reactor, port.stopListening())


@needs_ipv6
def test_tcp6_endpoints_echo(reactor: Any) -> None:
    """TCP6ServerEndpoint on ::1 and TCP6ClientEndpoint echo over IPv6."""
    port = run_until(reactor, TCP6ServerEndpoint(reactor, 0, interface="::1")
                     .listen(echo_factory()))
    address = port.getHost()
    assert isinstance(address, IPv6Address)
    _echo(reactor, TCP6ClientEndpoint(reactor, "::1", address.port))
    run_until(reactor, port.stopListening())


def test_unix_endpoints_echo(reactor: Any, sockdir: str) -> None:
    """UNIXServerEndpoint (with a pid lock) and UNIXClientEndpoint (checking it) echo."""
    path = os.path.join(sockdir, "ep.sock")
    port = run_until(reactor, UNIXServerEndpoint(reactor, path, mode=0o600, wantPID=1)
                     .listen(echo_factory()))
    assert port.getHost() == UNIXAddress(path)
    assert os.readlink(path + ".lock") == str(os.getpid())
    _echo(reactor, UNIXClientEndpoint(reactor, path, checkPID=1))
    run_until(reactor, port.stopListening())
    assert not os.path.exists(path)


def test_string_endpoints_echo(reactor: Any, sockdir: str) -> None:
    """Endpoints built from strings work end to end (TCP and UNIX)."""
    port = run_until(reactor, serverFromString(reactor, "tcp:0:interface=127.0.0.1")
                     .listen(echo_factory()))
    number = port.getHost().port
    _echo(reactor, clientFromString(reactor, f"tcp:host=127.0.0.1:port={number}:timeout=5"))
    run_until(reactor, port.stopListening())
    path = os.path.join(sockdir, "a:b.sock")
    quoted = quoteStringArgument(path)
    port = run_until(reactor, serverFromString(reactor, f"unix:{quoted}:mode=600")
                     .listen(echo_factory()))
    _echo(reactor, clientFromString(reactor, f"unix:path={quoted}"))
    run_until(reactor, port.stopListening())


def test_listen_failure(reactor: Any) -> None:
    """A port that cannot be bound fails listen's Deferred with CannotListenError."""
    port = run_until(reactor, TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
                     .listen(echo_factory()))
    again = TCP4ServerEndpoint(reactor, port.getHost().port, interface="127.0.0.1")
    with pytest.raises(error.CannotListenError):
        run_until(reactor, again.listen(echo_factory()))
    run_until(reactor, port.stopListening())


def test_unix_connect_failure(reactor: Any, sockdir: str) -> None:
    """A UNIX path with no socket fails connect's Deferred with ConnectError naming it."""
    path = os.path.join(sockdir, "missing.sock")
    with pytest.raises(error.ConnectError, match="no such socket file"):
        run_until(reactor, connectProtocol(UNIXClientEndpoint(reactor, path), Collector()))


def test_tcp_connect_refused(reactor: Any, backend: str) -> None:
    """A refused TCP connect fails connect's Deferred with ConnectionRefusedError."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        number = s.getsockname()[1]
    d = connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", number), Collector())
    try:
        run_until(reactor, d)
    except error.ConnectionRefusedError:
        return
    except error.ConnectionLost:
        if backend in ("epoll", "poll"):
            pytest.xfail("tcp.Client reports a refused connect as ConnectionLost on epoll/poll")
        raise
    pytest.fail("connected to a closed port")


def test_cancel_unix_connect(reactor: Any, sockdir: str) -> None:
    """Cancelling a UNIX connect that waits for room stops it: ConnectingCancelledError."""
    path = os.path.join(sockdir, "full.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(0)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    filler.connect(path)
    try:
        d = connectProtocol(UNIXClientEndpoint(reactor, path), Collector())
        reactor.callLater(0.05, d.cancel)
        with pytest.raises(error.ConnectingCancelledError) as info:
            run_until(reactor, d)
        assert info.value.address == UNIXAddress(path)
    finally:
        listener.close()
        filler.close()


def test_cancel_tcp_connect(reactor: Any) -> None:
    """Cancelling a TCP connect to an address that does not answer stops it."""
    slow = SlowTCP("127.0.0.1")
    try:
        d = connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", slow.port), Collector())
        reactor.callLater(0.05, d.cancel)
        with pytest.raises(error.ConnectingCancelledError) as info:
            run_until(reactor, d)
        assert info.value.address == IPv4Address("TCP", "127.0.0.1", slow.port)
    finally:
        slow.close()


# -- HostnameEndpoint against real sockets ------------------------------------------------


def _hostname(reactor: Any, port: int, addresses: list[tuple[int, str]], **kw: Any) -> Any:
    endpoint = HostnameEndpoint(reactor, "dual.example", port, **kw)
    endpoint._resolve = lambda host, number: succeed(addresses)
    return endpoint


@needs_ipv6
def test_race_ipv6_refused_ipv4_wins(reactor: Any) -> None:
    """With [::1] refusing, 127.0.0.1 is tried at once (not after attemptDelay) and wins."""
    port = reactor.listenTCP(0, echo_factory(), interface="127.0.0.1")
    number = port.getHost().port
    start = time.monotonic()
    collector = _echo(reactor, _hostname(reactor, number, [(V6, "::1"), (V4, "127.0.0.1")],
                                         attemptDelay=5))
    assert time.monotonic() - start < 2
    assert collector.transport.getPeer() == IPv4Address("TCP", "127.0.0.1", number)
    run_until(reactor, port.stopListening())


@needs_ipv6
def test_race_slow_ipv6_loses(reactor: Any) -> None:
    """With [::1] not answering, 127.0.0.1 starts after attemptDelay and wins."""
    port = reactor.listenTCP(0, echo_factory(), interface="127.0.0.1")
    number = port.getHost().port
    try:
        slow = SlowTCP("::1", number)
    except OSError:
        run_until(reactor, port.stopListening())
        pytest.skip(f"[::1]:{number} is taken")
    try:
        start = time.monotonic()
        collector = _echo(reactor, _hostname(
            reactor, number, [(V6, "::1"), (V4, "127.0.0.1")], attemptDelay=0.1
        ))
        assert 0.09 <= time.monotonic() - start < 3
        assert collector.transport.getPeer() == IPv4Address("TCP", "127.0.0.1", number)
    finally:
        slow.close()
    run_until(reactor, port.stopListening())


def test_race_timeout(reactor: Any) -> None:
    """When no address answers, the connect fails with TimeoutError after timeout."""
    slow = SlowTCP("127.0.0.1")
    try:
        endpoint = _hostname(reactor, slow.port, [(V4, "127.0.0.1")], timeout=0.3)
        start = time.monotonic()
        with pytest.raises(error.TimeoutError, match=r"took longer than 0\.3 seconds"):
            run_until(reactor, connectProtocol(endpoint, Collector()))
        assert 0.25 <= time.monotonic() - start < 3
    finally:
        slow.close()


def test_race_cancel(reactor: Any) -> None:
    """Cancelling a race with attempts in flight stops them all (no descriptor leaks)."""
    slow = SlowTCP("127.0.0.1")
    try:
        d = connectProtocol(_hostname(reactor, slow.port, [(V4, "127.0.0.1")]), Collector())
        reactor.callLater(0.05, d.cancel)
        with pytest.raises(error.ConnectingCancelledError):
            run_until(reactor, d)
    finally:
        slow.close()


def test_hostname_endpoint_resolves_localhost(reactor: Any) -> None:
    """A real name is looked up in the reactor's thread pool and connected to."""
    port = reactor.listenTCP(0, echo_factory(), interface="127.0.0.1")
    number = port.getHost().port
    try:
        socket.getaddrinfo("localhost", number, 0, socket.SOCK_STREAM)
    except OSError:
        pytest.skip("localhost does not resolve here")
    _echo(reactor, HostnameEndpoint(reactor, "localhost", number))
    run_until(reactor, port.stopListening())


# -- TLS (once the reactor has listenSSL) ------------------------------------------------


@pytest.fixture
def certificate(sockdir: str) -> tuple[str, str]:
    """A self-signed (key, cert) for localhost/127.0.0.1."""
    cert, key = self_signed_certificate(Path(sockdir))
    return str(key), str(cert)


def test_ssl_endpoints(reactor: Any, certificate: tuple[str, str]) -> None:
    """ssl: serves TLS that the stdlib client verifies; tls: connects to it verifying too."""
    if not hasattr(reactor, "listenSSL"):
        pytest.skip("this reactor has no listenSSL yet")
    key, cert = certificate
    description = (f"ssl:0:interface=127.0.0.1:privateKey={quoteStringArgument(key)}:"
                   f"certKey={quoteStringArgument(cert)}")
    port = run_until(reactor, serverFromString(reactor, description).listen(echo_factory()))
    number = port.getHost().port
    collector = _echo(reactor, clientFromString(
        reactor, f"tls:127.0.0.1:{number}:trustRoots={quoteStringArgument(cert)}"
    ))
    assert collector.reason is not None

    context = ssl.create_default_context(cafile=cert)

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", number), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            tls.sendall(b"stdlib")
            return tls.recv(100)

    result = deferToThreadPool(reactor, reactor.getThreadPool(), client)
    assert run_until(reactor, result) == b"stdlib"
    run_until(reactor, port.stopListening())
