"""HostnameEndpoint's race (RFC 8305), driven step by step on a MemoryReactorClock.

The resolver is replaced by one that answers at once (or when told), and the
test plays the network: it fails an attempt through its factory's
``clientConnectionFailed`` or connects it by building its protocol and giving
it a ``StringTransport``.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from torsion import error
from torsion._happy_eyeballs import _interleave
from torsion.address import HostnameAddress, IPv4Address, IPv6Address
from torsion.defer import Deferred, fail, succeed
from torsion.endpoints import HostnameEndpoint, NoProtocol, TCP6ClientEndpoint, connectProtocol
from torsion.failure import Failure
from torsion.protocol import Factory, Protocol
from torsion.testing import (
    MemoryReactorClock,
    StringTransport,
    assert_no_result,
    failure_result_of,
    success_result_of,
)

V6: int = socket.AF_INET6
V4: int = socket.AF_INET
BOTH: list[tuple[int, str]] = [(V6, "::1"), (V4, "127.0.0.1")]


class Recorded(Protocol):
    """Records whether connectionMade ran before the Deferred fired."""

    made = False

    def connectionMade(self) -> None:
        self.made = True


class CountingFactory(Factory):
    """Counts the protocols it builds."""

    protocol = Recorded

    def __init__(self) -> None:
        self.built = 0

    def buildProtocol(self, addr: Any) -> Any:
        self.built += 1
        return super().buildProtocol(addr)


def _endpoint(
    reactor: MemoryReactorClock,
    addresses: list[tuple[int, str]] | Deferred[list[tuple[int, str]]] = BOTH,
    **kw: Any,
) -> HostnameEndpoint:
    endpoint = HostnameEndpoint(reactor, "example.com", 80, **kw)
    answer = addresses if isinstance(addresses, Deferred) else succeed(addresses)
    endpoint._resolve = lambda host, port: answer
    return endpoint


def _attempts(reactor: MemoryReactorClock) -> list[str]:
    return [host for host, *_ in reactor.tcpClients]


def _refuse(reactor: MemoryReactorClock, index: int) -> None:
    _host, _port, factory, _timeout, _bind = reactor.tcpClients[index]
    factory.clientConnectionFailed(reactor.connectors[index], Failure(
        error.ConnectionRefusedError(111, "Connection refused")
    ))


def _connect(reactor: MemoryReactorClock, index: int) -> Any:
    host, port, factory, _timeout, _bind = reactor.tcpClients[index]
    address = IPv6Address("TCP", host, port) if ":" in host else IPv4Address("TCP", host, port)
    protocol = factory.buildProtocol(address)
    if protocol is not None:
        protocol.makeConnection(StringTransport(peerAddress=address))
    return protocol


def test_first_address_at_once_next_after_delay() -> None:
    """The first address is tried at once; the next only after attemptDelay."""
    reactor = MemoryReactorClock()
    d = _endpoint(reactor, attemptDelay=0.3).connect(CountingFactory())
    assert _attempts(reactor) == ["::1"]
    reactor.advance(0.29)
    assert _attempts(reactor) == ["::1"]
    reactor.advance(0.01)
    assert _attempts(reactor) == ["::1", "127.0.0.1"]
    assert_no_result(d)
    assert reactor.tcpClients[0][3] == 30  # each attempt has the timeout
    d.cancel()
    failure_result_of(d, error.ConnectingCancelledError)


def test_failure_starts_next_at_once() -> None:
    """A refused attempt starts the next one without waiting for attemptDelay."""
    reactor = MemoryReactorClock()
    d = _endpoint(reactor, attemptDelay=10).connect(CountingFactory())
    _refuse(reactor, 0)
    assert _attempts(reactor) == ["::1", "127.0.0.1"]
    wrapper = _connect(reactor, 1)
    result = success_result_of(d)
    assert isinstance(result, Recorded)
    assert result.transport is wrapper.transport
    assert not reactor.getDelayedCalls() or all(not c.active() for c in reactor.getDelayedCalls())


def test_slow_first_loses_to_second() -> None:
    """When the first attempt hangs, the second wins and the first is stopped."""
    reactor = MemoryReactorClock()
    factory = CountingFactory()
    d = _endpoint(reactor, attemptDelay=0.3).connect(factory)
    reactor.advance(0.3)
    wrapper = _connect(reactor, 1)
    result = success_result_of(d)
    assert isinstance(result, Recorded)
    assert result.transport.getPeer() == IPv4Address("TCP", "127.0.0.1", 80)
    assert result.transport is wrapper.transport
    assert result.made  # connectionMade ran before the Deferred fired
    assert reactor.connectors[0].stoppedConnecting
    assert not reactor.connectors[1].stoppedConnecting
    assert factory.built == 1
    assert reactor.getDelayedCalls() == []


def test_late_second_connection_is_dropped() -> None:
    """If a loser connects anyway, its buildProtocol returns None: one protocol is built."""
    reactor = MemoryReactorClock()
    factory = CountingFactory()
    d = _endpoint(reactor).connect(factory)
    reactor.advance(0.3)
    _connect(reactor, 0)
    assert _connect(reactor, 1) is None
    assert factory.built == 1
    assert success_result_of(d).made


def test_families_interleave() -> None:
    """Attempts alternate families, starting with the family of the first address."""
    reactor = MemoryReactorClock()
    addresses = [(V6, "2001:db8::1"), (V6, "2001:db8::2"), (V4, "192.0.2.1"),
                 (V4, "192.0.2.2"), (V4, "192.0.2.3")]
    d = _endpoint(reactor, addresses).connect(CountingFactory())
    for _ in range(5):
        reactor.advance(0.3)
    assert _attempts(reactor) == [
        "2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2", "192.0.2.3",
    ]
    d.cancel()
    failure_result_of(d, error.ConnectingCancelledError)


def test_interleave_dedupes_and_starts_with_first_family() -> None:
    """_interleave drops duplicates and starts with whichever family comes first."""
    assert _interleave([(V4, "a"), (V4, "a"), (V4, "b"), (V6, "x")]) == [
        (V4, "a"), (V6, "x"), (V4, "b"),
    ]
    assert _interleave([]) == []


def test_all_fail_names_every_address() -> None:
    """When every address fails, the error names each one with its own error."""
    reactor = MemoryReactorClock()
    d = _endpoint(reactor).connect(CountingFactory())
    _refuse(reactor, 0)
    _refuse(reactor, 1)
    failure = failure_result_of(d, error.ConnectionRefusedError)
    message = str(failure.value)
    assert "could not connect to example.com:80" in message
    assert "[::1]:80: Connection was refused" in message
    assert "127.0.0.1:80: Connection was refused" in message


def test_mixed_failures_are_connect_error() -> None:
    """Failures of different kinds are reported as a plain ConnectError."""
    reactor = MemoryReactorClock()
    d = _endpoint(reactor).connect(CountingFactory())
    _refuse(reactor, 0)
    factory = reactor.tcpClients[1][2]
    factory.clientConnectionFailed(reactor.connectors[1], Failure(error.NoRouteError()))
    failure = failure_result_of(d, error.ConnectError)
    assert type(failure.value) is error.ConnectError


def test_overall_timeout() -> None:
    """After timeout seconds the whole connect fails with TimeoutError; attempts stop."""
    reactor = MemoryReactorClock()
    d = _endpoint(reactor, timeout=1, attemptDelay=0.3).connect(CountingFactory())
    reactor.advance(0.3)
    reactor.advance(0.7)
    failure = failure_result_of(d, error.TimeoutError)
    assert "took longer than 1 seconds; tried [::1]:80, 127.0.0.1:80" in str(failure.value)
    assert all(c.stoppedConnecting for c in reactor.connectors)
    assert reactor.getDelayedCalls() == []


def test_timeout_while_resolving() -> None:
    """The timeout also covers the name lookup."""
    reactor = MemoryReactorClock()
    pending: Deferred[list[tuple[int, str]]] = Deferred()
    d = _endpoint(reactor, pending, timeout=2).connect(CountingFactory())
    reactor.advance(2)
    failure = failure_result_of(d, error.TimeoutError)
    assert "still being resolved" in str(failure.value)
    assert pending.called  # the lookup's Deferred was cancelled
    assert reactor.tcpClients == []


def test_cancel_stops_everything() -> None:
    """Cancelling fails with ConnectingCancelledError(HostnameAddress); nothing else starts."""
    reactor = MemoryReactorClock()
    d = _endpoint(reactor).connect(CountingFactory())
    d.cancel()
    failure = failure_result_of(d, error.ConnectingCancelledError)
    assert failure.value.address == HostnameAddress(b"example.com", 80)
    assert reactor.connectors[0].stoppedConnecting
    reactor.advance(10)
    assert _attempts(reactor) == ["::1"]


def test_cancel_while_resolving() -> None:
    """Cancelling during the lookup cancels the lookup; no attempt is made."""
    reactor = MemoryReactorClock()
    pending: Deferred[list[tuple[int, str]]] = Deferred()
    d = _endpoint(reactor, pending).connect(CountingFactory())
    d.cancel()
    failure_result_of(d, error.ConnectingCancelledError)
    assert pending.called
    assert reactor.tcpClients == []


def test_cancel_between_connect_and_handover() -> None:
    """Cancelled after the winner connected but before its protocol started: it is dropped."""
    reactor = MemoryReactorClock()
    d = _endpoint(reactor).connect(CountingFactory())
    host, port, factory, _timeout, _bind = reactor.tcpClients[0]
    wrapper = factory.buildProtocol(IPv6Address("TCP", host, port))
    assert wrapper is not None
    d.cancel()
    failure_result_of(d, error.ConnectingCancelledError)
    assert reactor.connectors[0].disconnected


def test_lookup_failure_passes_through() -> None:
    """A failed lookup fails the connect with the resolver's DNSLookupError."""
    reactor = MemoryReactorClock()
    endpoint = HostnameEndpoint(reactor, "nowhere.invalid", 80)
    endpoint._resolve = lambda host, port: fail(error.DNSLookupError("no such name"))
    failure_result_of(endpoint.connect(CountingFactory()), error.DNSLookupError)


def test_no_addresses() -> None:
    """A lookup with no addresses is a DNSLookupError naming the host."""
    reactor = MemoryReactorClock()
    d = _endpoint(reactor, []).connect(CountingFactory())
    failure = failure_result_of(d, error.DNSLookupError)
    assert "'example.com'" in str(failure.value)


def test_factory_returning_none() -> None:
    """A factory whose buildProtocol returns None fails the connect with NoProtocol."""
    reactor = MemoryReactorClock()

    class Nothing(Factory):
        def buildProtocol(self, addr: Any) -> None:
            return None

    d = _endpoint(reactor).connect(Nothing())
    assert _connect(reactor, 0) is None
    failure_result_of(d, NoProtocol)


def test_connect_protocol() -> None:
    """connectProtocol fires with the very protocol instance given."""
    reactor = MemoryReactorClock()
    mine = Recorded()
    d = connectProtocol(_endpoint(reactor), mine)
    _connect(reactor, 0)
    assert success_result_of(d) is mine
    assert mine.made


def test_ip_literal_needs_no_lookup() -> None:
    """An IP address is connected to at once, without the thread pool."""
    reactor = MemoryReactorClock()  # has no thread pool: a lookup would fail
    d = HostnameEndpoint(reactor, "192.0.2.7", 443).connect(CountingFactory())
    assert _attempts(reactor) == ["192.0.2.7"]
    _connect(reactor, 0)
    success_result_of(d)


def test_bind_address_passed_to_attempts() -> None:
    """bindAddress reaches every attempt; a bare host means any port."""
    reactor = MemoryReactorClock()
    HostnameEndpoint(reactor, "192.0.2.7", 443, bindAddress="192.0.2.1").connect(Factory())
    assert reactor.tcpClients[0][4] == ("192.0.2.1", 0)


def test_tcp6_client_endpoint_wants_ipv6() -> None:
    """TCP6ClientEndpoint refuses an IPv4 literal: it only connects over IPv6."""
    reactor = MemoryReactorClock()
    failure = failure_result_of(
        TCP6ClientEndpoint(reactor, "192.0.2.7", 80).connect(Factory()), error.DNSLookupError
    )
    assert "not an address of the family asked" in str(failure.value)


def test_wrapped_protocol_keeps_optional_interfaces() -> None:
    """The transport sees the wrapped protocol's optional methods (half-close, descriptors)."""
    reactor = MemoryReactorClock()
    calls: list[str] = []

    class Rich(Protocol):
        def readConnectionLost(self) -> None:
            calls.append("read")

        def fileDescriptorReceived(self, fd: int) -> None:
            calls.append(f"fd {fd}")

    d = connectProtocol(_endpoint(reactor), Rich())
    wrapper = _connect(reactor, 0)
    wrapper.readConnectionLost()
    wrapper.fileDescriptorReceived(7)
    assert calls == ["read", "fd 7"]
    assert not hasattr(_connect_plain(), "readConnectionLost")
    success_result_of(d)


def _connect_plain() -> Any:
    reactor = MemoryReactorClock()
    connectProtocol(_endpoint(reactor), Protocol())
    return _connect(reactor, 0)


def test_connection_made_error_fails_the_deferred() -> None:
    """An exception in the protocol's connectionMade fails the connect's Deferred."""
    reactor = MemoryReactorClock()

    class Broken(Protocol):
        def connectionMade(self) -> None:
            raise RuntimeError("broken")

    d = connectProtocol(_endpoint(reactor), Broken())
    with pytest.raises(RuntimeError):
        _connect(reactor, 0)
    failure_result_of(d, RuntimeError)
