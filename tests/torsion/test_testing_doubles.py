"""Tests for the test doubles in torsion.testing: transports, memory reactor, pump."""

from __future__ import annotations

import io
import socket
from typing import Any

import pytest

from torsion import error
from torsion.address import IPv4Address, IPv6Address, UNIXAddress
from torsion.failure import Failure
from torsion.interfaces import (
    IConnector,
    IConsumer,
    IListeningPort,
    IPushProducer,
    IReactorCore,
    IReactorFDSet,
    IReactorTCP,
    IReactorTime,
    ITCPTransport,
)
from torsion.protocol import ClientFactory, DatagramProtocol, Factory, Protocol, connectionDone
from torsion.task import Clock
from torsion.testing import (
    FakeConnector,
    FakePort,
    MemoryReactor,
    MemoryReactorClock,
    Pump,
    StringTransport,
    StringTransportWithDisconnection,
    connect_pair,
    failure_result_of,
    success_result_of,
)
from torsion.testing.plugin import LoggedFailures

# ---------------------------------------------------------------------------
# Helpers


class Recorder(Protocol):
    """Records every callback, including the half-close ones, in ``events``."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.events: list[tuple[str, Any]] = []
        self.received = b""

    def connectionMade(self) -> None:
        self.events.append(("made", None))

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        self.events.append(("data", data))

    def readConnectionLost(self) -> None:
        self.events.append(("readLost", None))

    def writeConnectionLost(self) -> None:
        self.events.append(("writeLost", None))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.events.append(("lost", type(reason.value)))


class Plain(Protocol):
    """A protocol without half-close support that logs into a shared list."""

    def __init__(self, name: str, log: list[tuple[str, str, Any]]) -> None:
        self.name = name
        self.log = log

    def dataReceived(self, data: bytes) -> None:
        self.log.append((self.name, "data", data))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.log.append((self.name, "lost", type(reason.value)))


class Shared(Recorder):
    """A Recorder that also logs into a shared, ordered list."""

    def __init__(self, name: str, log: list[tuple[str, str, Any]]) -> None:
        super().__init__(name)
        self.log = log

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        self.log.append((self.name, "data", data))

    def readConnectionLost(self) -> None:
        super().readConnectionLost()
        self.log.append((self.name, "readLost", None))

    def writeConnectionLost(self) -> None:
        super().writeConnectionLost()
        self.log.append((self.name, "writeLost", None))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        self.log.append((self.name, "lost", type(reason.value)))


class LineEcho(Protocol):
    """Server: echoes each complete line back upper-cased; closes on QUIT."""

    def __init__(self) -> None:
        self.buffer = b""

    def connectionMade(self) -> None:
        self.transport.write(b"HELLO\n")

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line == b"quit":
                self.transport.write(b"BYE\n")
                self.transport.loseConnection()
                return
            self.transport.write(line.upper() + b"\n")


class LineClient(Protocol):
    """Client: collects lines; sends its queued lines after the greeting."""

    def __init__(self, *lines: bytes) -> None:
        self.to_send = list(lines)
        self.lines: list[bytes] = []
        self.buffer = b""
        self.reason: Failure | None = None

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self.lines.append(line)
            if line == b"HELLO":
                # Split on purpose: the server must reassemble lines.
                payload = b"".join(lt + b"\n" for lt in self.to_send)
                for i in range(0, len(payload), 3):
                    self.transport.write(payload[i : i + 3])

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.reason = reason


# ---------------------------------------------------------------------------
# StringTransport


def test_writes_accumulate_in_value() -> None:
    """write and writeSequence append in order; value() returns it all; io is a BytesIO."""
    t = StringTransport()
    t.write(b"ab")
    t.writeSequence([b"c", b"", b"de"])
    t.writeSequence(iter([b"f"]))
    assert t.value() == b"abcdef"
    assert isinstance(t.io, io.BytesIO)
    assert t.io.getvalue() == b"abcdef"


def test_clear_forgets_written_data() -> None:
    """clear() empties value(); later writes start from nothing."""
    t = StringTransport()
    t.write(b"old")
    t.clear()
    assert t.value() == b""
    t.write(b"new")
    assert t.value() == b"new"


@pytest.mark.parametrize("data", ["text", bytearray(b"x"), memoryview(b"x"), 3, None])
def test_write_rejects_non_bytes(data: Any) -> None:
    """write raises TypeError for anything but bytes (str, bytearray, ...)."""
    t = StringTransport()
    with pytest.raises(TypeError, match="bytes"):
        t.write(data)
    assert t.value() == b""


def test_write_sequence_rejects_non_bytes_and_writes_nothing() -> None:
    """writeSequence with one non-bytes chunk raises TypeError and writes no chunk."""
    t = StringTransport()
    with pytest.raises(TypeError):
        t.writeSequence([b"ok", "bad"])  # type: ignore[list-item]
    assert t.value() == b""


def test_lose_connection_only_records() -> None:
    """loseConnection sets disconnecting; the transport stays connected and keeps recording."""
    t = StringTransport()
    assert not t.disconnecting
    t.loseConnection()
    assert t.disconnecting
    assert not t.disconnected
    assert t.connected
    t.write(b"late")
    assert t.value() == b"late"


def test_abort_connection_sets_disconnected_and_disconnecting() -> None:
    """abortConnection sets both disconnected and disconnecting."""
    t = StringTransport()
    t.abortConnection()
    assert t.disconnected
    assert t.disconnecting


def test_lose_write_connection_records() -> None:
    """loseWriteConnection sets writeDisconnecting and nothing else."""
    t = StringTransport()
    t.loseWriteConnection()
    assert t.writeDisconnecting
    assert not t.disconnecting


def test_default_addresses_match_twisted() -> None:
    """getHost is 10.0.0.1:12345 and getPeer 192.168.1.1:54321 by default (as in Twisted)."""
    t = StringTransport()
    assert t.getHost() == IPv4Address("TCP", "10.0.0.1", 12345)
    assert t.getPeer() == IPv4Address("TCP", "192.168.1.1", 54321)


def test_given_addresses() -> None:
    """Addresses given to the constructor (or set on hostAddr/peerAddr) are returned."""
    host = IPv6Address("TCP", "::1", 80)
    peer = UNIXAddress("/tmp/s")
    t = StringTransport(hostAddress=host, peerAddress=peer)
    assert (t.getHost(), t.getPeer()) == (host, peer)
    t.peerAddr = IPv4Address("TCP", "1.2.3.4", 5)
    assert t.getPeer() == IPv4Address("TCP", "1.2.3.4", 5)


def test_tcp_options_are_recorded() -> None:
    """setTcpNoDelay/setTcpKeepAlive are read back by the getters (False at first)."""
    t = StringTransport()
    assert (t.getTcpNoDelay(), t.getTcpKeepAlive()) == (False, False)
    t.setTcpNoDelay(True)
    t.setTcpKeepAlive(True)
    assert (t.getTcpNoDelay(), t.getTcpKeepAlive()) == (True, True)
    assert (t.tcpNoDelay, t.tcpKeepAlive) == (True, True)


def test_register_and_unregister_producer() -> None:
    """registerProducer records producer and streaming; unregisterProducer clears both."""
    t = StringTransport()
    producer = StringTransport()  # any push producer will do
    assert (t.producer, t.streaming) == (None, None)
    t.registerProducer(producer, True)
    assert t.producer is producer
    assert t.streaming is True
    t.unregisterProducer()
    assert t.producer is None
    assert t.streaming is None
    t.registerProducer(producer, False)
    assert t.streaming is False


def test_second_producer_is_refused() -> None:
    """Registering a producer while one is registered raises RuntimeError."""
    t = StringTransport()
    first = StringTransport()
    t.registerProducer(first, True)
    with pytest.raises(RuntimeError, match="two producers"):
        t.registerProducer(StringTransport(), True)
    assert t.producer is first


def test_unregister_without_producer_is_refused() -> None:
    """unregisterProducer with none registered raises RuntimeError."""
    with pytest.raises(RuntimeError):
        StringTransport().unregisterProducer()


def test_producer_state_follows_pause_resume_stop() -> None:
    """pauseProducing/resumeProducing/stopProducing set producerState."""
    t = StringTransport()
    states = [t.producerState]
    t.pauseProducing()
    states.append(t.producerState)
    t.resumeProducing()
    states.append(t.producerState)
    t.stopProducing()
    states.append(t.producerState)
    assert states == ["producing", "paused", "producing", "stopped"]


def test_stopped_producer_cannot_pause_or_resume() -> None:
    """After stopProducing, pause and resume raise RuntimeError; state stays stopped."""
    t = StringTransport()
    t.stopProducing()
    with pytest.raises(RuntimeError, match="stopped"):
        t.resumeProducing()
    with pytest.raises(RuntimeError, match="stopped"):
        t.pauseProducing()
    assert t.producerState == "stopped"


def test_pause_after_lose_connection_needs_lenient() -> None:
    """After loseConnection pause/resume raise, unless the transport is lenient."""
    strict = StringTransport()
    strict.loseConnection()
    with pytest.raises(RuntimeError, match="loseConnection"):
        strict.resumeProducing()
    lenient = StringTransport(lenient=True)
    lenient.loseConnection()
    lenient.pauseProducing()
    lenient.resumeProducing()
    assert lenient.producerState == "producing"


def test_string_transport_provides_its_interfaces() -> None:
    """StringTransport provides ITCPTransport, IConsumer and IPushProducer."""
    t = StringTransport()
    assert isinstance(t, ITCPTransport)
    assert isinstance(t, IConsumer)
    assert isinstance(t, IPushProducer)
    assert t.logPrefix() == "StringTransport"


def test_protocol_writes_through_string_transport() -> None:
    """A protocol connected to a StringTransport writes where the test can read it."""
    server = LineEcho()
    t = StringTransport()
    server.makeConnection(t)
    assert t.value() == b"HELLO\n"
    t.clear()
    server.dataReceived(b"a\nb")
    server.dataReceived(b"c\n")
    assert t.value() == b"A\nBC\n"


# ---------------------------------------------------------------------------
# StringTransportWithDisconnection


def test_disconnection_calls_connection_lost_once() -> None:
    """loseConnection calls protocol.connectionLost once, with ConnectionDone."""
    p = Recorder()
    t = StringTransportWithDisconnection()
    t.protocol = p
    p.makeConnection(t)
    t.loseConnection()
    t.loseConnection()
    assert p.events == [("made", None), ("lost", error.ConnectionDone)]
    assert not t.connected
    assert t.disconnecting


def test_disconnection_abort_also_tells_protocol() -> None:
    """abortConnection goes through loseConnection: connectionLost once; disconnected set."""
    p = Recorder()
    t = StringTransportWithDisconnection(protocol=p)
    p.makeConnection(t)
    t.abortConnection()
    t.abortConnection()
    assert p.events.count(("lost", error.ConnectionDone)) == 1
    assert t.disconnected


def test_disconnection_needs_a_protocol() -> None:
    """loseConnection without a protocol set says what to do."""
    with pytest.raises(RuntimeError, match="protocol"):
        StringTransportWithDisconnection().loseConnection()


# ---------------------------------------------------------------------------
# MemoryReactor: ports and connectors


class Starting(ClientFactory):
    """Remembers the connectors it was told about."""

    def __init__(self) -> None:
        self.started: list[Any] = []

    def startedConnecting(self, connector: Any) -> None:
        self.started.append(connector)


def test_memory_reactor_provides_reactor_interfaces() -> None:
    """MemoryReactor provides IReactorTCP, IReactorFDSet and IReactorCore."""
    reactor = MemoryReactor()
    assert isinstance(reactor, IReactorTCP)
    assert isinstance(reactor, IReactorFDSet)
    assert isinstance(reactor, IReactorCore)
    assert not isinstance(reactor, IReactorTime)


def test_listen_tcp_records_and_returns_port() -> None:
    """listenTCP records (port, factory, backlog, interface); the port reports its address."""
    reactor = MemoryReactor()
    factory = Factory()
    port = reactor.listenTCP(8080, factory)
    assert reactor.tcpServers == [(8080, factory, 50, "")]
    assert port.getHost() == IPv4Address("TCP", "0.0.0.0", 8080)
    assert isinstance(port, IListeningPort)
    assert port.listening
    assert port.stopListening() is None
    assert not port.listening
    port.startListening()
    assert port.listening


def test_listen_tcp_on_an_interface() -> None:
    """The port's address uses the interface: IPv6Address for an IPv6 one."""
    reactor = MemoryReactor()
    p4 = reactor.listenTCP(1, Factory(), backlog=5, interface="127.0.0.1")
    p6 = reactor.listenTCP(2, Factory(), interface="::1")
    assert p4.getHost() == IPv4Address("TCP", "127.0.0.1", 1)
    assert p6.getHost() == IPv6Address("TCP", "::1", 2)
    assert reactor.tcpServers[0][2:] == (5, "127.0.0.1")


def test_connect_tcp_records_and_tells_factory() -> None:
    """connectTCP records its arguments, calls startedConnecting, and keeps the connector."""
    reactor = MemoryReactor()
    factory = Starting()
    connector = reactor.connectTCP("example.com", 80, factory, timeout=5, bindAddress=("", 0))
    assert reactor.tcpClients == [("example.com", 80, factory, 5, ("", 0))]
    assert factory.started == [connector]
    assert reactor.connectors == [connector]
    assert connector.getDestination() == IPv4Address("TCP", "example.com", 80)
    assert isinstance(connector, IConnector)


def test_connect_tcp_ipv6_destination() -> None:
    """An IPv6 host gives an IPv6Address destination."""
    reactor = MemoryReactor()
    connector = reactor.connectTCP("::1", 80, Starting())
    assert connector.getDestination() == IPv6Address("TCP", "::1", 80)


def test_fake_connector_records_requests() -> None:
    """The connector records stopConnecting, disconnect and counts connect calls."""
    connector = FakeConnector(IPv4Address("TCP", "h", 1))
    connector.stopConnecting()
    connector.disconnect()
    connector.connect()
    connector.connect()
    assert connector.stoppedConnecting
    assert connector.disconnected
    assert connector.connectCount == 2


def test_ssl_unix_udp_are_recorded() -> None:
    """listenSSL/connectSSL/listenUNIX/connectUNIX/listenUDP record Twisted-shaped tuples."""
    reactor = MemoryReactor()
    factory = Starting()
    ctx = object()
    reactor.listenSSL(443, factory, ctx)
    c1 = reactor.connectSSL("h", 443, factory, ctx, timeout=3)
    p1 = reactor.listenUNIX("/tmp/s", factory, mode=0o600)
    c2 = reactor.connectUNIX("/tmp/s", factory, checkPID=True)
    proto = DatagramProtocol()
    p2 = reactor.listenUDP(53, proto, interface="127.0.0.1")
    assert reactor.sslServers == [(443, factory, ctx, 50, "")]
    assert reactor.sslClients == [("h", 443, factory, ctx, 3, None)]
    assert reactor.unixServers == [("/tmp/s", factory, 50, 0o600, False)]
    assert reactor.unixClients == [("/tmp/s", factory, 30, True)]
    assert reactor.udpServers == [(53, proto, "127.0.0.1", 8192)]
    assert factory.started == [c1, c2]
    assert reactor.connectors == [c1, c2]
    assert c1.getDestination() == IPv4Address("TCP", "h", 443)
    assert c2.getDestination() == UNIXAddress("/tmp/s")
    assert p1.getHost() == UNIXAddress("/tmp/s")
    assert p2.getHost() == IPv4Address("UDP", "127.0.0.1", 53)
    assert proto.transport is None  # recorded only: the protocol is not started


def test_adopted_ports_and_connections() -> None:
    """adoptStreamPort/adoptDatagramPort/adoptStreamConnection record; other families fail."""
    reactor = MemoryReactor()
    factory = Factory()
    port = reactor.adoptStreamPort(7, socket.AF_INET6, factory)
    dport = reactor.adoptDatagramPort(8, socket.AF_INET, DatagramProtocol(), 512)
    reactor.adoptStreamConnection(9, socket.AF_INET, factory)
    assert port.getHost() == IPv6Address("TCP", "::", 1234)
    assert dport.getHost() == IPv4Address("UDP", "0.0.0.0", 1234)
    assert reactor.adoptedPorts[0] == (7, socket.AF_INET6, factory)
    assert reactor.adoptedPorts[1][3] == 512
    assert reactor.adoptedStreamConnections == [(9, socket.AF_INET, factory)]
    with pytest.raises(error.UnsupportedAddressFamily):
        reactor.adoptStreamPort(1, socket.AF_UNIX, factory)
    assert len(reactor.adoptedPorts) == 2


def test_fake_port_is_a_listening_port() -> None:
    """FakePort provides IListeningPort."""
    assert isinstance(FakePort(IPv4Address("TCP", "0.0.0.0", 1)), IListeningPort)


# ---------------------------------------------------------------------------
# MemoryReactor: core bookkeeping


def test_call_when_running_waits_for_run() -> None:
    """Hooks given before run() are kept, then run by run() with running True."""
    reactor = MemoryReactor()
    seen: list[tuple[str, bool]] = []
    reactor.callWhenRunning(lambda name: seen.append((name, reactor.running)), "a")
    reactor.callWhenRunning(lambda: seen.append(("b", reactor.running)))
    assert seen == []
    assert len(reactor.whenRunningHooks) == 2
    reactor.run()
    assert seen == [("a", True), ("b", True)]


def test_run_stops_at_once() -> None:
    """run() returns with running False and hasRun, hasStopped set."""
    reactor = MemoryReactor()
    assert (reactor.running, reactor.hasRun, reactor.hasStopped) == (False, False, False)
    reactor.run()
    assert (reactor.running, reactor.hasRun, reactor.hasStopped) == (False, True, True)


def test_call_when_running_after_run_calls_now() -> None:
    """Once run() was called, callWhenRunning calls at once."""
    reactor = MemoryReactor()
    reactor.run()
    seen: list[int] = []
    reactor.callWhenRunning(seen.append, 1)
    assert seen == [1]


def test_run_inside_run_is_refused() -> None:
    """Calling run() from a hook raises ReactorAlreadyRunning."""
    reactor = MemoryReactor()
    caught: list[BaseException] = []

    def nested() -> None:
        try:
            reactor.run()
        except error.ReactorAlreadyRunning as e:
            caught.append(e)

    reactor.callWhenRunning(nested)
    reactor.run()
    assert len(caught) == 1


def test_stop_and_crash_bookkeeping() -> None:
    """stop() sets hasStopped; crash() sets hasCrashed; both clear running."""
    reactor = MemoryReactor()
    reactor.running = True
    reactor.crash()
    assert (reactor.running, reactor.hasCrashed, reactor.hasStopped) == (False, True, False)
    reactor.stop()
    assert reactor.hasStopped
    reactor.install()
    assert reactor.hasInstalled
    reactor.iterate()


def test_system_event_triggers_are_recorded_and_fired_in_phase_order() -> None:
    """Triggers go into triggers[phase][event]; fireSystemEvent runs before, during, after."""
    reactor = MemoryReactor()
    seen: list[str] = []
    reactor.addSystemEventTrigger("after", "shutdown", seen.append, "after")
    reactor.addSystemEventTrigger("before", "shutdown", seen.append, "before")
    reactor.addSystemEventTrigger("during", "shutdown", seen.append, "during")
    reactor.addSystemEventTrigger("before", "startup", seen.append, "startup")
    assert reactor.triggers["before"]["shutdown"] == [(seen.append, ("before",), {})]
    reactor.stop()
    assert seen == []  # stop() only records
    reactor.fireSystemEvent("shutdown")
    assert seen == ["before", "during", "after"]


def test_remove_system_event_trigger() -> None:
    """The ID from addSystemEventTrigger removes exactly that trigger, once."""
    reactor = MemoryReactor()
    seen: list[str] = []
    keep = reactor.addSystemEventTrigger("before", "shutdown", seen.append, "x")
    drop = reactor.addSystemEventTrigger("before", "shutdown", seen.append, "x")
    reactor.removeSystemEventTrigger(drop)
    with pytest.raises(ValueError, match="no such trigger"):
        reactor.removeSystemEventTrigger(drop)
    reactor.fireSystemEvent("shutdown")
    assert seen == ["x"]
    reactor.removeSystemEventTrigger(keep)
    assert reactor.triggers["before"]["shutdown"] == []


def test_bad_trigger_phase_is_refused() -> None:
    """A phase other than before/during/after raises KeyError."""
    with pytest.raises(KeyError, match="phase"):
        MemoryReactor().addSystemEventTrigger("whenever", "shutdown", print)


def test_resolve_ip_and_known_names(logged_failures: LoggedFailures) -> None:
    """resolve fires at once: IPs with themselves, known names from hostnames, others fail."""
    reactor = MemoryReactor()
    assert success_result_of(reactor.resolve("10.1.2.3")) == "10.1.2.3"
    assert success_result_of(reactor.resolve("::1")) == "::1"
    reactor.hostnames["example.com"] = "93.184.216.34"
    assert success_result_of(reactor.resolve("example.com")) == "93.184.216.34"
    failure_result_of(reactor.resolve("unknown.invalid"), error.DNSLookupError)


class Descriptor:
    """A minimal read/write descriptor."""

    def fileno(self) -> int:
        return 3

    def doRead(self) -> None:
        return None

    def doWrite(self) -> None:
        return None

    def connectionLost(self, reason: Failure) -> None:
        pass

    def logPrefix(self) -> str:
        return "Descriptor"


def test_readers_and_writers() -> None:
    """add/remove Reader/Writer maintain the sets; removeAll empties both, returning each once."""
    reactor = MemoryReactor()
    both, only_read = Descriptor(), Descriptor()
    reactor.addReader(both)
    reactor.addReader(only_read)
    reactor.addWriter(both)
    assert set(reactor.getReaders()) == {both, only_read}
    assert reactor.getWriters() == [both]
    reactor.removeReader(only_read)
    reactor.removeReader(only_read)  # removing twice is harmless
    assert reactor.getReaders() == [both]
    removed = reactor.removeAll()
    assert removed == [both]
    assert reactor.getReaders() == []
    assert reactor.getWriters() == []
    reactor.addWriter(only_read)
    reactor.removeWriter(only_read)
    assert reactor.writers == set()


# ---------------------------------------------------------------------------
# MemoryReactorClock


def test_memory_reactor_clock_is_a_clock() -> None:
    """MemoryReactorClock schedules like Clock and still records like MemoryReactor."""
    reactor = MemoryReactorClock()
    assert isinstance(reactor, IReactorTime)
    assert isinstance(reactor, Clock)
    seen: list[float] = []
    reactor.callLater(2, lambda: seen.append(reactor.seconds()))
    reactor.callLater(0, lambda: seen.append(reactor.seconds()))
    reactor.iterate()
    assert seen == [0.0]
    reactor.advance(2)
    assert seen == [0.0, 2.0]
    reactor.listenTCP(1, Factory())
    assert len(reactor.tcpServers) == 1


# ---------------------------------------------------------------------------
# connect_pair and Pump


def test_echo_pair_talks_through_the_pump() -> None:
    """A line client and server exchange a greeting, split lines, and a clean close."""
    server = LineEcho()
    client = LineClient(b"one", b"two", b"quit")
    pump = connect_pair(server, client)
    assert client.lines == [b"HELLO", b"ONE", b"TWO", b"BYE"]
    assert client.reason is not None
    assert client.reason.check(error.ConnectionDone)
    assert not pump.server_transport.connected
    assert not pump.client_transport.connected


def test_connect_pair_without_greeting_waits_for_flush() -> None:
    """greet=False connects both sides but moves nothing until flush()."""
    client = Recorder("c")

    class Greeter(Recorder):
        def connectionMade(self) -> None:
            super().connectionMade()
            self.transport.write(b"hi")

    server = Greeter("s")
    pump = connect_pair(server, client, greet=False)
    assert server.events == [("made", None)]
    assert client.events == [("made", None)]
    assert pump.flush() is True
    assert client.received == b"hi"
    assert pump.flush() is False


def test_pair_addresses_are_crossed() -> None:
    """Each side's getHost is its own address and getPeer the other side's."""
    s_addr = IPv4Address("TCP", "127.0.0.1", 80)
    c_addr = IPv4Address("TCP", "127.0.0.1", 40000)
    pump = connect_pair(Recorder(), Recorder(), server_address=s_addr, client_address=c_addr)
    assert pump.server_transport.getHost() == s_addr
    assert pump.server_transport.getPeer() == c_addr
    assert pump.client_transport.getHost() == c_addr
    assert pump.client_transport.getPeer() == s_addr


def test_pump_round_by_round() -> None:
    """pump() moves what is pending in one round and reports whether anything moved."""
    server, client = Recorder("s"), Recorder("c")
    pump = connect_pair(server, client)
    assert pump.pump() is False
    client.transport.write(b"a")
    client.transport.write(b"b")
    server.transport.write(b"c")
    assert pump.pump() is True
    assert server.events[-1] == ("data", b"ab")
    assert client.events[-1] == ("data", b"c")
    assert pump.pump() is False


def test_lose_connection_ordering() -> None:
    """Pending bytes arrive first, then the closing side's connectionLost, then the peer's."""
    log: list[tuple[str, str, Any]] = []
    server, client = Shared("s", log), Shared("c", log)
    pump = connect_pair(server, client)
    server.transport.write(b"last words")
    server.transport.loseConnection()
    client.transport.write(b"too late")  # the server stopped reading
    pump.flush()
    assert log == [
        ("c", "data", b"last words"),
        ("s", "lost", error.ConnectionDone),
        ("c", "lost", error.ConnectionDone),
    ]


def test_client_lose_connection_ordering() -> None:
    """A client-initiated close orders the same way: client lost first, then server."""
    log: list[tuple[str, str, Any]] = []
    pump = connect_pair(Shared("s", log), client := Shared("c", log))
    client.transport.write(b"bye")
    client.transport.loseConnection()
    pump.flush()
    assert log == [
        ("s", "data", b"bye"),
        ("c", "lost", error.ConnectionDone),
        ("s", "lost", error.ConnectionDone),
    ]


def test_writes_during_close_are_still_sent() -> None:
    """Bytes written after loseConnection but before the close is handled still arrive."""
    server, client = Recorder("s"), Recorder("c")
    pump = connect_pair(server, client)
    server.transport.loseConnection()
    server.transport.write(b"p.s.")
    pump.flush()
    assert client.received == b"p.s."
    assert client.events[-1] == ("lost", error.ConnectionDone)


def test_half_close_then_reply_then_close() -> None:
    """loseWriteConnection: writeConnectionLost, then the peer's readConnectionLost; it replies."""
    log: list[tuple[str, str, Any]] = []

    class Answering(Shared):
        def readConnectionLost(self) -> None:
            super().readConnectionLost()
            self.transport.write(self.received.upper())
            self.transport.loseConnection()

    server, client = Answering("s", log), Shared("c", log)
    pump = connect_pair(server, client)
    client.transport.write(b"request")
    client.transport.loseWriteConnection()
    client.transport.write(b"dropped")  # the write side is shut
    pump.flush()
    assert log == [
        ("s", "data", b"request"),
        ("c", "writeLost", None),
        ("s", "readLost", None),
        ("c", "data", b"REQUEST"),
        ("s", "lost", error.ConnectionDone),
        ("c", "lost", error.ConnectionDone),
    ]


def test_half_close_to_a_plain_protocol_closes_it() -> None:
    """A peer that cannot half-close treats end of file as a close: it is lost first."""
    log: list[tuple[str, str, Any]] = []
    server, client = Plain("s", log), Shared("c", log)
    pump = connect_pair(server, client)
    client.transport.write(b"x")
    client.transport.loseWriteConnection()
    pump.flush()
    assert log == [
        ("s", "data", b"x"),
        ("c", "writeLost", None),
        ("s", "lost", error.ConnectionDone),
        ("c", "lost", error.ConnectionDone),
    ]


def test_both_sides_half_closed_stays_open_until_lose_connection() -> None:
    """Shutting both directions does not end the connection; loseConnection does."""
    server, client = Recorder("s"), Recorder("c")
    pump = connect_pair(server, client)
    client.transport.loseWriteConnection()
    server.transport.loseWriteConnection()
    pump.flush()
    assert ("lost", error.ConnectionDone) not in server.events + client.events
    assert ("readLost", None) in server.events
    assert ("readLost", None) in client.events
    client.transport.loseConnection()
    pump.flush()
    assert client.events[-1] == ("lost", error.ConnectionDone)
    assert server.events[-1] == ("lost", error.ConnectionDone)


def test_abort_drops_pending_bytes() -> None:
    """abortConnection drops pending bytes; ConnectionAborted locally, ConnectionLost remotely."""
    server, client = Recorder("s"), Recorder("c")
    pump = connect_pair(server, client)
    server.transport.write(b"never seen")
    client.transport.write(b"never seen either")
    server.transport.abortConnection()
    pump.flush()
    assert server.events == [("made", None), ("lost", error.ConnectionAborted)]
    assert client.events == [("made", None), ("lost", error.ConnectionLost)]


def test_writes_after_loss_are_dropped() -> None:
    """After connectionLost, writes on either transport go nowhere and flush stays quiet."""
    server, client = Recorder("s"), Recorder("c")
    pump = connect_pair(server, client)
    client.transport.loseConnection()
    pump.flush()
    server.transport.write(b"ghost")
    client.transport.write(b"ghost")
    assert pump.flush() is False
    assert server.received == client.received == b""


def test_connection_lost_is_delivered_once() -> None:
    """A close requested by both sides still gives each side one connectionLost."""
    server, client = Recorder("s"), Recorder("c")
    pump = connect_pair(server, client)
    server.transport.loseConnection()
    client.transport.loseConnection()
    pump.flush()
    assert [e for e in server.events if e[0] == "lost"] == [("lost", error.ConnectionDone)]
    assert [e for e in client.events if e[0] == "lost"] == [("lost", error.ConnectionDone)]


def test_abort_wins_over_a_pending_close() -> None:
    """An abort requested before the pump handles a pending close decides the reasons."""
    server, client = Recorder("s"), Recorder("c")
    pump = connect_pair(server, client)
    server.transport.loseConnection()
    client.transport.abortConnection()
    pump.flush()
    assert [e for e in server.events if e[0] == "lost"] == [("lost", error.ConnectionLost)]
    assert [e for e in client.events if e[0] == "lost"] == [("lost", error.ConnectionAborted)]


class Streamer:
    """A producer that records what the transport asks of it."""

    def __init__(self, transport: Any = None, chunks: int = 0) -> None:
        self.transport = transport
        self.chunks = chunks
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")
        if self.chunks:
            self.chunks -= 1
            self.transport.write(b"chunk")
            if not self.chunks:
                self.transport.unregisterProducer()

    def stopProducing(self) -> None:
        self.calls.append("stop")


def test_pull_producer_is_resumed_until_it_unregisters() -> None:
    """A pull producer is resumed once per round; its chunks arrive in order."""
    server, client = Recorder("s"), Recorder("c")
    pump = connect_pair(server, client)
    producer = Streamer(server.transport, chunks=3)
    server.transport.registerProducer(producer, False)
    pump.flush()
    assert client.received == b"chunk" * 3
    assert producer.calls == ["resume"] * 3
    assert server.transport.producer is None


def test_producer_is_stopped_when_the_connection_is_lost() -> None:
    """On connection loss a registered producer gets stopProducing and is unregistered."""
    server, client = Recorder("s"), Recorder("c")
    pump = connect_pair(server, client)
    producer = Streamer()
    server.transport.registerProducer(producer, True)
    client.transport.loseConnection()
    pump.flush()
    assert producer.calls == ["stop"]
    assert server.transport.producer is None


def test_clock_calls_run_during_flush() -> None:
    """With a clock, calls due now (callLater(0)) run each round and their writes are pumped."""
    clock = Clock()

    class Deferring(Recorder):
        def dataReceived(self, data: bytes) -> None:
            super().dataReceived(data)
            clock.callLater(0, self.transport.write, data[::-1])

    server, client = Deferring("s"), Recorder("c")
    pump = connect_pair(server, client, clock=clock)
    client.transport.write(b"abc")
    pump.flush()
    assert client.received == b"cba"
    assert clock.seconds() == 0


def test_endless_conversation_is_reported() -> None:
    """Two protocols that answer each other for ever make flush raise after max_rounds."""

    class Ping(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    pump = connect_pair(Ping(), Ping())
    pump.client_transport.write(b"x")
    with pytest.raises(RuntimeError, match="10 rounds"):
        pump.flush(max_rounds=10)


def test_callback_errors_propagate() -> None:
    """An exception in a protocol callback comes out of flush()."""

    class Broken(Protocol):
        def dataReceived(self, data: bytes) -> None:
            raise ValueError("boom")

    pump = connect_pair(Broken(), Recorder())
    pump.client_transport.write(b"x")
    with pytest.raises(ValueError, match="boom"):
        pump.flush()


def test_pump_is_exported_type() -> None:
    """connect_pair returns a Pump holding both protocols."""
    server, client = Recorder(), Recorder()
    pump = connect_pair(server, client)
    assert isinstance(pump, Pump)
    assert (pump.server, pump.client) == (server, client)
    assert pump.server_transport is server.transport
    assert pump.client_transport is client.transport
