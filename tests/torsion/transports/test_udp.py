"""UDP ports on every backend: binding, echo, connected UDP, errors, bursts, stopping."""

from __future__ import annotations

import errno
import socket
from typing import Any

import pytest
from udp_support import Recorder, free_udp_port

from support.network import needs_ipv6
from torsion import error
from torsion.address import IPv4Address, IPv6Address
from torsion.defer import Deferred, DeferredList
from torsion.protocol import DatagramProtocol
from torsion.testing import run_for, run_until
from torsion.testing.plugin import LoggedFailures

LOCAL = "127.0.0.1"




def _plain(family: int = socket.AF_INET) -> socket.socket:
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(5)
    return s


# -- listening ----------------------------------------------------------------


def test_listen_reports_bound_address_and_starts_protocol(reactor: Any) -> None:
    """listenUDP(0) binds a free port, getHost() gives it as a UDP IPv4Address,
    and the protocol is started once with the port as its transport."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    host = port.getHost()
    assert isinstance(host, IPv4Address)
    assert host.type == "UDP" and host.host == LOCAL and host.port > 0
    assert proto.transport is port
    assert proto.events == ["start"]
    assert str(host.port) in repr(port) and "Recorder" in repr(port)
    assert port.logPrefix() == "Recorder (UDP)"
    assert port.getHandle().type == socket.SOCK_DGRAM
    assert run_until(reactor, port.stopListening()) is None


def test_listen_on_all_interfaces(reactor: Any) -> None:
    """The default interface "" binds 0.0.0.0 and still receives on loopback."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto)
    assert port.getHost().host == "0.0.0.0"
    with _plain() as s:
        s.sendto(b"any", (LOCAL, port.getHost().port))
    run_until(reactor, proto.expect(1))
    assert proto.datagrams == [b"any"]


@needs_ipv6
def test_listen_ipv6_reports_ipv6_address(reactor: Any) -> None:
    """An IPv6 literal interface makes an IPv6 port; getHost() is a UDP IPv6Address."""
    port = reactor.listenUDP(0, Recorder(), interface="::1")
    host = port.getHost()
    assert isinstance(host, IPv6Address)
    assert (host.type, host.host) == ("UDP", "::1")


def test_port_in_use_is_cannot_listen_error(reactor: Any) -> None:
    """Binding a port another socket holds raises CannotListenError naming the
    address and carrying the OS error; nothing leaks and the protocol never starts."""
    with _plain() as holder:
        holder.bind((LOCAL, 0))
        taken = holder.getsockname()[1]
        proto = Recorder()
        with pytest.raises(error.CannotListenError) as info:
            reactor.listenUDP(taken, proto, interface=LOCAL)
    assert info.value.port == taken and info.value.interface == LOCAL
    assert isinstance(info.value.socketError, OSError)
    assert info.value.socketError.errno == errno.EADDRINUSE
    assert f"{LOCAL}:{taken}" in str(info.value)
    assert proto.events == []


def test_unassigned_address_is_cannot_listen_error(reactor: Any) -> None:
    """An address this host does not have cannot be bound (EADDRNOTAVAIL)."""
    with pytest.raises(error.CannotListenError) as info:
        reactor.listenUDP(0, Recorder(), interface="192.0.2.1")
    assert info.value.socketError.errno == errno.EADDRNOTAVAIL  # type: ignore[attr-defined]


def test_out_of_range_port_is_cannot_listen_error(reactor: Any) -> None:
    """A port number above 65535 is refused as CannotListenError, not OverflowError."""
    with pytest.raises(error.CannotListenError):
        reactor.listenUDP(70000, Recorder(), interface=LOCAL)


def test_host_name_interface_is_invalid_address(reactor: Any) -> None:
    """Interfaces must be IP literals: a host name raises InvalidAddressError (a ValueError)."""
    with pytest.raises(error.InvalidAddressError) as info:
        reactor.listenUDP(0, Recorder(), interface="localhost")
    assert isinstance(info.value, ValueError)
    assert info.value.address == "localhost"


def test_failing_start_protocol_closes_socket(reactor: Any) -> None:
    """When startProtocol raises, listenUDP raises it and the socket is closed (no leak)."""

    class Broken(DatagramProtocol):
        def startProtocol(self) -> None:
            raise RuntimeError("no start")

    with pytest.raises(RuntimeError, match="no start"):
        reactor.listenUDP(0, Broken(), interface=LOCAL)
    assert not [r for r in reactor.getReaders() if type(r).__name__ == "Port"]


# -- datagrams ------------------------------------------------------------------


def test_echo_between_two_ports(reactor: Any) -> None:
    """A datagram written by one port reaches the other with the sender's address,
    and the echo comes back the same way."""
    server = Recorder(echo=True)
    client = Recorder()
    sport = reactor.listenUDP(0, server, interface=LOCAL)
    cport = reactor.listenUDP(0, client, interface=LOCAL)
    cport.write(b"ping", (LOCAL, sport.getHost().port))
    run_until(reactor, client.expect(1))
    assert server.received == [(b"ping", (LOCAL, cport.getHost().port))]
    assert client.received == [(b"ping", (LOCAL, sport.getHost().port))]


@needs_ipv6
def test_echo_over_ipv6(reactor: Any) -> None:
    """Two IPv6 ports exchange datagrams; addresses are (host, port) pairs."""
    server = Recorder(echo=True)
    client = Recorder()
    sport = reactor.listenUDP(0, server, interface="::1")
    cport = reactor.listenUDP(0, client, interface="::1")
    cport.write(b"ping6", ("::1", sport.getHost().port))
    run_until(reactor, client.expect(1))
    assert server.received == [(b"ping6", ("::1", cport.getHost().port))]
    assert client.received == [(b"ping6", ("::1", sport.getHost().port))]


def test_write_sequence_sends_one_datagram(reactor: Any) -> None:
    """writeSequence joins its chunks into a single datagram."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    port.writeSequence([b"a", b"b", b"c"], (LOCAL, port.getHost().port))
    run_until(reactor, proto.expect(1))
    assert proto.datagrams == [b"abc"]


def test_empty_datagram_is_delivered(reactor: Any) -> None:
    """A zero-length datagram is a datagram: datagramReceived gets b""."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    port.write(b"", (LOCAL, port.getHost().port))
    run_until(reactor, proto.expect(1))
    assert proto.datagrams == [b""]


def test_long_datagram_is_truncated_to_max_packet_size(reactor: Any) -> None:
    """A datagram longer than maxPacketSize arrives cut to maxPacketSize bytes."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL, maxPacketSize=100)
    with _plain() as s:
        s.sendto(b"x" * 300, (LOCAL, port.getHost().port))
    run_until(reactor, proto.expect(1))
    assert proto.datagrams == [b"x" * 100]


def test_burst_is_read_in_one_readiness_event(reactor: Any) -> None:
    """Datagrams queued before the reactor looks are all read, in order, by one
    iteration (up to maxDatagrams), not one per iteration."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    port.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 212992)
    target = (LOCAL, port.getHost().port)
    with _plain() as s:
        for i in range(200):
            s.sendto(b"%d" % i, target)
    reactor.iterate(1)
    assert proto.datagrams == [b"%d" % i for i in range(200)]


def test_reads_per_event_are_bounded(reactor: Any) -> None:
    """With maxDatagrams 10, one iteration reads 10 datagrams; the rest come in
    later iterations, none lost."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    port.maxDatagrams = 10
    with _plain() as s:
        for i in range(25):
            s.sendto(b"%d" % i, (LOCAL, port.getHost().port))
    reactor.iterate(1)
    assert len(proto.received) == 10
    run_until(reactor, proto.expect(25))
    assert proto.datagrams == [b"%d" % i for i in range(25)]


def test_reads_per_event_are_bounded_by_bytes(reactor: Any) -> None:
    """Reading stops once maxThroughput bytes were read in one event."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    port.maxThroughput = 250
    with _plain() as s:
        for _ in range(6):
            s.sendto(b"y" * 100, (LOCAL, port.getHost().port))
    reactor.iterate(1)
    assert len(proto.received) == 3
    run_until(reactor, proto.expect(6))


def test_many_datagrams_echoed_in_a_burst(reactor: Any) -> None:
    """300 datagrams sent at once to an echo port all come back (loopback, sized to
    fit the receive buffers)."""
    server = Recorder(echo=True)
    client = Recorder()
    sport = reactor.listenUDP(0, server, interface=LOCAL)
    cport = reactor.listenUDP(0, client, interface=LOCAL)
    for p in (sport, cport):
        p.getHandle().setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 212992)
    for i in range(300):
        cport.write(b"%04d" % i, (LOCAL, sport.getHost().port))
    run_until(reactor, client.expect(300))
    assert sorted(client.datagrams) == [b"%04d" % i for i in range(300)]


def test_error_in_datagram_received_is_logged_not_fatal(
    reactor: Any, logged_failures: LoggedFailures
) -> None:
    """An exception from datagramReceived is logged; the port keeps receiving."""

    class Flaky(Recorder):
        def datagramReceived(self, datagram: bytes, addr: Any) -> None:
            super().datagramReceived(datagram, addr)
            if datagram == b"bad":
                raise ZeroDivisionError("boom")

    proto = Flaky()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    port.write(b"bad", (LOCAL, port.getHost().port))
    port.write(b"good", (LOCAL, port.getHost().port))
    run_until(reactor, proto.expect(2))
    assert proto.datagrams == [b"bad", b"good"]
    assert port.connected
    assert len(logged_failures.flush(ZeroDivisionError)) == 1


# -- write errors -------------------------------------------------------------------


def test_write_rejects_host_names(reactor: Any) -> None:
    """write() takes IP literals only: a host name raises InvalidAddressError."""
    port = reactor.listenUDP(0, Recorder(), interface=LOCAL)
    with pytest.raises(error.InvalidAddressError, match="not host names"):
        port.write(b"x", ("localhost", 9))


def test_ipv4_port_rejects_ipv6_destination(reactor: Any) -> None:
    """An IPv4 port can't write to an IPv6 address (InvalidAddressError)."""
    port = reactor.listenUDP(0, Recorder(), interface=LOCAL)
    with pytest.raises(error.InvalidAddressError, match="IPv4 port"):
        port.write(b"x", ("::1", 9))


@needs_ipv6
def test_ipv6_port_rejects_ipv4_and_broadcast_destinations(reactor: Any) -> None:
    """An IPv6 port can't write to an IPv4 address or "<broadcast>"."""
    port = reactor.listenUDP(0, Recorder(), interface="::1")
    for host in (LOCAL, "<broadcast>"):
        with pytest.raises(error.InvalidAddressError, match="IPv6 port"):
            port.write(b"x", (host, 9))


def test_write_without_address_needs_connect(reactor: Any) -> None:
    """An unconnected port's write() without an address raises InvalidAddressError."""
    port = reactor.listenUDP(0, Recorder(), interface=LOCAL)
    with pytest.raises(error.InvalidAddressError, match="needs an address"):
        port.write(b"x")


def test_oversized_datagram_is_message_length_error(reactor: Any) -> None:
    """A datagram over the UDP limit raises MessageLengthError (EMSGSIZE) naming its size."""
    port = reactor.listenUDP(0, Recorder(), interface=LOCAL)
    with pytest.raises(error.MessageLengthError, match="70000 bytes"):
        port.write(b"x" * 70000, (LOCAL, 9))


def test_oversized_datagram_on_connected_port(reactor: Any) -> None:
    """MessageLengthError on a connected port too."""
    port = reactor.listenUDP(0, Recorder(), interface=LOCAL)
    port.connect(LOCAL, 9)
    with pytest.raises(error.MessageLengthError):
        port.write(b"x" * 70000)


def test_broadcast_option(reactor: Any) -> None:
    """Broadcast is off by default (sending to "<broadcast>" is refused with EACCES)
    and setBroadcastAllowed switches SO_BROADCAST."""
    port = reactor.listenUDP(0, Recorder())
    assert port.getBroadcastAllowed() is False
    with pytest.raises(PermissionError):
        port.write(b"x", ("<broadcast>", 9))
    port.setBroadcastAllowed(True)
    assert port.getBroadcastAllowed() is True
    port.setBroadcastAllowed(False)
    assert port.getBroadcastAllowed() is False


# -- connected UDP ------------------------------------------------------------------


def test_connected_port_writes_without_address(reactor: Any) -> None:
    """After connect(), write(data) goes to the peer, and so does write(data, peer)."""
    server = Recorder(echo=True)
    client = Recorder()
    sport = reactor.listenUDP(0, server, interface=LOCAL)
    cport = reactor.listenUDP(0, client, interface=LOCAL)
    peer = (LOCAL, sport.getHost().port)
    cport.connect(*peer)
    cport.write(b"one")
    cport.write(b"two", peer)
    run_until(reactor, client.expect(2))
    assert client.received == [(b"one", peer), (b"two", peer)]


def test_connected_port_hears_only_its_peer(reactor: Any) -> None:
    """A connected port drops datagrams from other senders (the kernel filters them)."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    with _plain() as peer, _plain() as stranger:
        peer.bind((LOCAL, 0))
        port.connect(LOCAL, peer.getsockname()[1])
        stranger.sendto(b"stranger", (LOCAL, port.getHost().port))
        peer.sendto(b"peer", (LOCAL, port.getHost().port))
    run_until(reactor, proto.expect(1))
    run_for(reactor, 0.05)
    assert proto.datagrams == [b"peer"]


def test_connected_port_rejects_other_destinations(reactor: Any) -> None:
    """On a connected port, write() to another address raises InvalidAddressError."""
    port = reactor.listenUDP(0, Recorder(), interface=LOCAL)
    port.connect(LOCAL, 9)
    with pytest.raises(error.InvalidAddressError, match="connected to"):
        port.write(b"x", (LOCAL, 10))


def test_connect_twice_is_runtime_error(reactor: Any) -> None:
    """A port connects once: a second connect() raises RuntimeError."""
    port = reactor.listenUDP(0, Recorder(), interface=LOCAL)
    port.connect(LOCAL, 9)
    with pytest.raises(RuntimeError, match="already connected"):
        port.connect(LOCAL, 10)


def test_connect_needs_ip_literal(reactor: Any) -> None:
    """connect() takes IP literals: a host name raises InvalidAddressError."""
    port = reactor.listenUDP(0, Recorder(), interface=LOCAL)
    with pytest.raises(error.InvalidAddressError):
        port.connect("localhost", 9)
    port.connect(LOCAL, 9)  # the failed attempt left it unconnected


def test_connection_refused_is_reported_and_port_stays_open(reactor: Any) -> None:
    """A datagram to a closed port from a connected port brings connectionRefused()
    (the ICMP port-unreachable); the port keeps listening and reports again."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    port.connect(LOCAL, free_udp_port())
    port.write(b"anyone?")
    run_until(reactor, proto.refused())
    assert proto.refusals == 1
    assert port.connected and port in reactor.getReaders()
    port.write(b"still nobody?")
    run_until(reactor, proto.refused())
    assert proto.refusals == 2
    assert port.connected


def test_refusal_seen_by_write_calls_connection_refused(reactor: Any) -> None:
    """When the pending ICMP error surfaces in send() instead of recv(), write()
    calls connectionRefused() rather than raising."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    port.connect(LOCAL, free_udp_port())
    reactor.removeReader(port)  # nobody reads: the error waits for the next send
    port.write(b"a")
    run_for(reactor, 0.05)
    assert proto.refusals == 0
    port.write(b"b")
    assert proto.refusals == 1
    run_until(reactor, port.stopListening())


def test_unconnected_port_ignores_refusals(reactor: Any) -> None:
    """An unconnected port sending to a closed port hears nothing and stays open."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    port.write(b"x", (LOCAL, free_udp_port()))
    run_for(reactor, 0.05)
    port.write(b"y", (LOCAL, free_udp_port()))
    assert proto.refusals == 0 and port.connected


# -- stopping -------------------------------------------------------------------


def test_stop_listening_fires_after_stop_protocol_and_frees_port(reactor: Any) -> None:
    """stopListening's Deferred fires with None after stopProtocol; the socket is
    closed, so the same port number can be bound again at once."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    number = port.getHost().port
    d = port.stopListening()
    order: list[str] = []
    d.addCallback(lambda _: order.extend(proto.events))
    assert run_until(reactor, d) is None
    assert order == ["start", "stop"]
    assert proto.transport is None
    assert port.fileno() == -1 and not port.connected
    again = reactor.listenUDP(number, Recorder(), interface=LOCAL)
    assert again.getHost().port == number


def test_stop_listening_twice_and_after_close(reactor: Any) -> None:
    """A second stopListening (before or after the close) fires too; the protocol
    is stopped once."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    first, second = port.stopListening(), port.stopListening()
    run_until(reactor, DeferredList([first, second]))
    third = port.stopListening()
    assert third.called
    assert proto.events == ["start", "stop"]


def test_closed_port_refuses_use(reactor: Any) -> None:
    """After closing, write() and getHost() raise NotListeningError naming the port."""
    port = reactor.listenUDP(0, Recorder(), interface=LOCAL)
    run_until(reactor, port.stopListening())
    with pytest.raises(error.NotListeningError, match="closed"):
        port.write(b"x", (LOCAL, 9))
    with pytest.raises(error.NotListeningError):
        port.getHost()


def test_lose_connection_stops_listening(reactor: Any) -> None:
    """loseConnection() is stopListening()."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    run_until(reactor, port.loseConnection())
    assert proto.events == ["start", "stop"]


def test_stop_inside_datagram_received_stops_reading(reactor: Any) -> None:
    """stopListening from datagramReceived ends the batch: no more datagrams after it."""

    class StopFirst(Recorder):
        stopped: Deferred[None] | None = None

        def datagramReceived(self, datagram: bytes, addr: Any) -> None:
            super().datagramReceived(datagram, addr)
            if self.stopped is None:
                self.stopped = self.transport.stopListening()

    proto = StopFirst()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    with _plain() as s:
        for i in range(5):
            s.sendto(b"%d" % i, (LOCAL, port.getHost().port))
    run_until(reactor, proto.expect(1))
    assert proto.stopped is not None
    run_until(reactor, proto.stopped)
    assert proto.datagrams == [b"0"]


def test_one_protocol_on_two_ports_stops_after_both(reactor: Any) -> None:
    """A protocol on two ports starts once and stops only when the last port closes."""
    proto = Recorder()
    a = reactor.listenUDP(0, proto, interface=LOCAL)
    b = reactor.listenUDP(0, proto, interface=LOCAL)
    assert proto.events == ["start"]
    run_until(reactor, a.stopListening())
    assert proto.events == ["start"]
    run_until(reactor, b.stopListening())
    assert proto.events == ["start", "stop"]


def test_reactor_shutdown_closes_ports(reactor: Any) -> None:
    """Stopping the reactor closes open UDP ports and stops their protocols."""
    proto = Recorder()
    port = reactor.listenUDP(0, proto, interface=LOCAL)
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert proto.events == ["start", "stop"]
    assert port.fileno() == -1
