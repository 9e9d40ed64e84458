"""Tests for torsion.protocol: protocols, factories, reconnection, ClientCreator."""

from __future__ import annotations

import pickle
import random
from typing import Any

import pytest

from torsion import error
from torsion.address import IPv4Address
from torsion.defer import CancelledError
from torsion.failure import Failure
from torsion.interfaces import IConnector, IProtocol
from torsion.protocol import (
    AbstractDatagramProtocol,
    ClientCreator,
    ClientFactory,
    DatagramProtocol,
    Factory,
    ProcessProtocol,
    Protocol,
    ReconnectingClientFactory,
    ServerFactory,
    connectionDone,
)
from torsion.task import Clock
from torsion.testing import (
    FakeConnector,
    MemoryReactorClock,
    StringTransport,
    assert_no_result,
    failure_result_of,
    success_result_of,
)

ADDR = IPv4Address("TCP", "127.0.0.1", 1234)


# ---------------------------------------------------------------------------
# Helpers


class Recorder(Protocol):
    """A protocol that records its callbacks in ``events``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args = args
        self.kwargs = kwargs
        self.events: list[tuple[str, object]] = []

    def connectionMade(self) -> None:
        self.events.append(("made", self.transport))

    def dataReceived(self, data: bytes) -> None:
        self.events.append(("data", data))

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.events.append(("lost", reason))


class CountingFactory(Factory):
    """A factory counting its start and stop calls."""

    def __init__(self) -> None:
        self.started = 0
        self.stopped = 0

    def startFactory(self) -> None:
        self.started += 1

    def stopFactory(self) -> None:
        self.stopped += 1


class Connector(FakeConnector):
    """A connector whose ``stopConnecting`` may raise NotConnectingError."""

    def __init__(self, connecting: bool = True) -> None:
        super().__init__(ADDR)
        self.connecting = connecting
        self.stops = 0

    def stopConnecting(self) -> None:
        self.stops += 1
        if not self.connecting:
            raise error.NotConnectingError()
        super().stopConnecting()


def reconnecting(clock: Clock, **settings: Any) -> ReconnectingClientFactory:
    """A ReconnectingClientFactory on ``clock`` with no jitter unless asked for."""
    factory = ReconnectingClientFactory()
    factory.clock = clock
    factory.jitter = 0
    factory.noisy = False
    for name, value in settings.items():
        setattr(factory, name, value)
    return factory


def refused() -> Failure:
    return Failure(error.ConnectionRefusedError())


# ---------------------------------------------------------------------------
# Protocol


def test_make_connection_sets_transport_then_calls_connection_made() -> None:
    """makeConnection sets transport and connected before connectionMade runs."""
    seen: list[tuple[object, int]] = []

    class P(Protocol):
        def connectionMade(self) -> None:
            seen.append((self.transport, self.connected))

    p = P()
    assert p.connected == 0
    assert p.transport is None
    transport = StringTransport()
    p.makeConnection(transport)
    assert p.transport is transport
    assert p.connected == 1
    assert seen == [(transport, 1)]


def test_default_protocol_callbacks_do_nothing() -> None:
    """The base Protocol accepts every callback and writes nothing."""
    p = Protocol()
    transport = StringTransport()
    p.makeConnection(transport)
    p.dataReceived(b"ignored")
    p.connectionLost()
    p.connectionLost(Failure(error.ConnectionLost()))
    assert transport.value() == b""


def test_connection_done_is_a_clean_close() -> None:
    """connectionDone is a Failure of ConnectionDone, the default connectionLost reason."""
    assert connectionDone.check(error.ConnectionDone)
    assert isinstance(connectionDone.value, error.ConnectionDone)


def test_log_prefix_is_class_name() -> None:
    """Protocol.logPrefix and Factory.logPrefix name the concrete class."""
    assert Recorder().logPrefix() == "Recorder"
    assert CountingFactory().logPrefix() == "CountingFactory"


def test_protocol_satisfies_iprotocol() -> None:
    """A Protocol provides IProtocol (structurally)."""
    assert isinstance(Protocol(), IProtocol)


# ---------------------------------------------------------------------------
# Factory


def test_for_protocol_builds_protocols_pointing_at_the_factory() -> None:
    """forProtocol sets ``protocol``; buildProtocol makes a new instance with ``factory`` set."""
    factory = Factory.forProtocol(Recorder)
    assert type(factory) is Factory
    assert factory.protocol is Recorder
    first = factory.buildProtocol(ADDR)
    second = factory.buildProtocol(ADDR)
    assert isinstance(first, Recorder)
    assert first is not second
    assert first.factory is factory
    assert second.factory is factory


def test_for_protocol_uses_the_subclass_and_its_arguments() -> None:
    """forProtocol on a subclass builds that subclass, passing on extra arguments."""

    class Named(ServerFactory):
        def __init__(self, name: str, *, port: int) -> None:
            self.name = name
            self.port = port

    factory = Named.forProtocol(Recorder, "svc", port=7)
    assert isinstance(factory, Named)
    assert (factory.name, factory.port) == ("svc", 7)
    assert factory.protocol is Recorder


def test_build_protocol_without_protocol_raises() -> None:
    """buildProtocol on a factory with no ``protocol`` says so instead of calling None."""
    with pytest.raises(NotImplementedError, match="protocol"):
        Factory().buildProtocol(ADDR)


def test_do_start_starts_once_and_counts_ports() -> None:
    """The first doStart calls startFactory; later ones only count ports."""
    factory = CountingFactory()
    factory.doStart()
    factory.doStart()
    factory.doStart()
    assert factory.started == 1
    assert factory.numPorts == 3
    assert factory.stopped == 0


def test_do_stop_stops_after_last_port() -> None:
    """stopFactory runs once, when the last port stops; extra doStops are ignored."""
    factory = CountingFactory()
    factory.doStart()
    factory.doStart()
    factory.doStop()
    assert factory.stopped == 0
    assert factory.numPorts == 1
    factory.doStop()
    assert factory.stopped == 1
    assert factory.numPorts == 0
    factory.doStop()
    assert factory.stopped == 1
    assert factory.numPorts == 0


def test_factory_restarts_after_full_stop() -> None:
    """After the last port stopped, a new doStart starts the factory again."""
    factory = CountingFactory()
    factory.doStart()
    factory.doStop()
    factory.doStart()
    assert (factory.started, factory.stopped, factory.numPorts) == (2, 1, 1)


def test_noisy_factory_logs_start_and_stop(caplog: pytest.LogCaptureFixture) -> None:
    """A noisy factory logs its start and stop; a quiet one logs nothing."""
    caplog.set_level("DEBUG", logger="torsion.protocol")
    noisy = CountingFactory()
    noisy.doStart()
    noisy.doStop()
    assert len(caplog.records) == 2
    caplog.clear()
    quiet = CountingFactory()
    quiet.noisy = False
    quiet.doStart()
    quiet.doStop()
    assert caplog.records == []


def test_client_factory_hooks_are_no_ops() -> None:
    """ClientFactory's startedConnecting and failure/loss hooks accept their arguments."""
    factory = ClientFactory()
    connector = Connector()
    factory.startedConnecting(connector)
    factory.clientConnectionFailed(connector, refused())
    factory.clientConnectionLost(connector, Failure(error.ConnectionLost()))


# ---------------------------------------------------------------------------
# ReconnectingClientFactory


def test_connector_double_is_an_iconnector() -> None:
    """The fake connector used below provides IConnector."""
    assert isinstance(Connector(), IConnector)


def test_failure_schedules_a_retry_on_the_clock() -> None:
    """A failed attempt schedules connector.connect() after initialDelay * factor."""
    clock = Clock()
    factory = reconnecting(clock)
    connector = Connector()
    factory.clientConnectionFailed(connector, refused())
    assert factory.retries == 1
    assert factory.connector is connector
    [call] = clock.getDelayedCalls()
    assert call.getTime() == pytest.approx(factory.initialDelay * factory.factor)
    clock.advance(factory.delay - 0.001)
    assert connector.connectCount == 0
    clock.advance(0.001)
    assert connector.connectCount == 1
    assert clock.getDelayedCalls() == []


def test_lost_connection_also_retries() -> None:
    """clientConnectionLost reconnects like clientConnectionFailed."""
    clock = Clock()
    factory = reconnecting(clock)
    connector = Connector()
    factory.clientConnectionLost(connector, Failure(error.ConnectionLost()))
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(factory.delay)
    assert connector.connectCount == 1


def test_delay_grows_by_factor_up_to_max_delay() -> None:
    """Each failure multiplies the delay by ``factor``, never above ``maxDelay``."""
    clock = Clock()
    factory = reconnecting(clock, initialDelay=1.0, factor=2.0, maxDelay=10.0)
    factory.delay = factory.initialDelay
    connector = Connector()
    delays = []
    for _ in range(6):
        factory.clientConnectionFailed(connector, refused())
        delays.append(factory.delay)
        clock.advance(factory.delay)
    assert delays == [2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert connector.connectCount == 6
    assert factory.retries == 6


def test_jitter_draws_around_capped_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """With jitter, the delay is normal around the capped delay, sd = delay * jitter."""
    draws: list[tuple[float, float]] = []

    def normalvariate(mu: float, sigma: float) -> float:
        draws.append((mu, sigma))
        return mu + sigma  # one standard deviation high

    monkeypatch.setattr(random, "normalvariate", normalvariate)
    clock = Clock()
    factory = reconnecting(clock, factor=2.0, maxDelay=5.0, jitter=0.1)
    connector = Connector()
    for _ in range(4):
        factory.clientConnectionFailed(connector, refused())
        clock.advance(factory.delay)
    assert draws[0] == pytest.approx((2.0, 0.2))
    assert draws[1] == pytest.approx((4.4, 0.44))
    # From here the mean is capped at maxDelay before the jitter applies.
    assert draws[2] == pytest.approx((5.0, 0.5))
    assert draws[3] == pytest.approx((5.0, 0.5))
    assert all(mu <= factory.maxDelay for mu, _ in draws)


def test_jitter_stays_near_the_delay_with_the_default_setting() -> None:
    """With the default jitter and a seeded RNG, delays stay within 6 sd of the mean."""
    random.seed(1234)
    clock = Clock()
    factory = reconnecting(clock, jitter=ReconnectingClientFactory.jitter, maxDelay=30.0)
    connector = Connector()
    for _ in range(200):
        factory.resetDelay()
        factory.clientConnectionFailed(connector, refused())
        mean = factory.initialDelay * factory.factor
        assert abs(factory.delay - mean) <= 6 * mean * factory.jitter
        clock.advance(factory.delay)


def test_jitter_draw_below_zero_is_discarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """A jitter draw at or below zero is dropped: that retry uses the unjittered delay.

    Keeping it would retry at once and, as the delay compounds, at once for ever.
    """
    monkeypatch.setattr(random, "normalvariate", lambda mu, sigma: -5.0)
    clock = Clock()
    clock.advance(100)
    factory = reconnecting(clock, jitter=3.0, factor=2.0)
    connector = Connector()
    factory.clientConnectionFailed(connector, refused())
    assert factory.delay == 2.0
    [call] = clock.getDelayedCalls()
    assert call.getTime() == 102.0
    clock.advance(2)
    assert connector.connectCount == 1
    factory.clientConnectionFailed(connector, refused())
    assert factory.delay == 4.0


def test_max_retries_gives_up() -> None:
    """After maxRetries attempts, a further failure schedules nothing."""
    clock = Clock()
    factory = reconnecting(clock, maxRetries=2)
    connector = Connector()
    for _ in range(2):
        factory.clientConnectionFailed(connector, refused())
        clock.advance(factory.delay)
    assert connector.connectCount == 2
    factory.clientConnectionFailed(connector, refused())
    assert clock.getDelayedCalls() == []
    clock.advance(factory.maxDelay)
    assert connector.connectCount == 2


def test_max_retries_zero_never_retries() -> None:
    """maxRetries = 0 means the first failure is final."""
    clock = Clock()
    factory = reconnecting(clock, maxRetries=0)
    factory.clientConnectionFailed(Connector(), refused())
    assert clock.getDelayedCalls() == []


def test_stop_trying_cancels_the_scheduled_retry() -> None:
    """stopTrying cancels the pending attempt and stops the connector's attempt."""
    clock = Clock()
    factory = reconnecting(clock)
    connector = Connector()
    factory.clientConnectionFailed(connector, refused())
    [call] = clock.getDelayedCalls()
    factory.stopTrying()
    assert not call.active()
    assert clock.getDelayedCalls() == []
    assert connector.stops == 1
    assert connector.stoppedConnecting
    assert not factory.continueTrying
    clock.advance(factory.maxDelay)
    assert connector.connectCount == 0


def test_stop_trying_swallows_not_connecting_error() -> None:
    """stopTrying on a connector that is not connecting ignores NotConnectingError."""
    clock = Clock()
    factory = reconnecting(clock)
    connector = Connector(connecting=False)
    factory.clientConnectionFailed(connector, refused())
    clock.advance(factory.delay)
    factory.stopTrying()
    assert connector.stops == 1
    assert not factory.continueTrying


def test_stop_trying_before_any_failure() -> None:
    """stopTrying with no connector and no pending call just stops."""
    factory = reconnecting(Clock())
    factory.stopTrying()
    assert not factory.continueTrying


def test_no_retry_after_stop_trying() -> None:
    """Failures after stopTrying neither retry nor count."""
    clock = Clock()
    factory = reconnecting(clock)
    factory.stopTrying()
    connector = Connector()
    factory.clientConnectionFailed(connector, refused())
    factory.clientConnectionLost(connector, Failure(error.ConnectionLost()))
    assert clock.getDelayedCalls() == []
    assert factory.retries == 0
    assert factory.connector is None


def test_reset_delay_starts_over() -> None:
    """resetDelay restores initialDelay, zero retries and trying again."""
    clock = Clock()
    factory = reconnecting(clock, factor=2.0)
    connector = Connector()
    for _ in range(3):
        factory.clientConnectionFailed(connector, refused())
        clock.advance(factory.delay)
    factory.stopTrying()
    factory.resetDelay()
    assert factory.delay == factory.initialDelay
    assert factory.retries == 0
    assert factory.continueTrying
    factory.clientConnectionFailed(connector, refused())
    assert factory.delay == pytest.approx(factory.initialDelay * 2.0)


def test_retry_without_connector_raises() -> None:
    """retry() with no connector given or remembered raises ValueError."""
    factory = reconnecting(Clock())
    with pytest.raises(ValueError, match="connector"):
        factory.retry()


def test_retry_with_explicit_connector() -> None:
    """retry(connector) uses the connector given, not the remembered one."""
    clock = Clock()
    factory = reconnecting(clock)
    connector = Connector()
    factory.retry(connector)
    clock.advance(factory.delay)
    assert connector.connectCount == 1


def test_pickling_drops_connection_state() -> None:
    """Pickling keeps settings but drops connector, clock, retries, delay and trying state."""
    clock = Clock()
    factory = reconnecting(clock, maxDelay=42.0)
    factory.clientConnectionFailed(Connector(), refused())
    factory.stopTrying()
    state = factory.__getstate__()
    for key in ("connector", "clock", "retries", "delay", "continueTrying", "_callID"):
        assert key not in state
    assert state["maxDelay"] == 42.0
    factory.clock = None
    factory.connector = None
    copy = pickle.loads(pickle.dumps(factory))
    assert copy.maxDelay == 42.0
    assert copy.retries == 0
    assert copy.delay == copy.initialDelay
    assert copy.continueTrying
    assert copy.clock is None
    assert copy.connector is None


def test_pickling_a_factory_with_a_clock_does_not_pickle_the_clock() -> None:
    """A factory holding a clock and connector still pickles (they are dropped)."""

    class Unpicklable(Clock):
        def __reduce__(self) -> Any:
            raise TypeError("do not pickle me")

    factory = reconnecting(Unpicklable())
    factory.clientConnectionFailed(Connector(), refused())
    copy = pickle.loads(pickle.dumps(factory))
    assert copy.clock is None
    assert copy.retries == 0


# ---------------------------------------------------------------------------
# ClientCreator


def test_client_creator_records_the_connect_call() -> None:
    """connectTCP passes host, port, timeout and bindAddress to the reactor."""
    reactor = MemoryReactorClock()
    ClientCreator(reactor, Recorder).connectTCP("10.1.2.3", 80, 5, ("0.0.0.0", 0))
    [(host, port, factory, timeout, bind)] = reactor.tcpClients
    assert (host, port, timeout, bind) == ("10.1.2.3", 80, 5, ("0.0.0.0", 0))
    assert isinstance(factory, ClientFactory)


def test_client_creator_fires_with_the_protocol_after_a_turn() -> None:
    """The Deferred fires with the (argument-carrying) instance one turn after buildProtocol."""
    reactor = MemoryReactorClock()
    d = ClientCreator(reactor, Recorder, "a", b=2).connectTCP("10.1.2.3", 80)
    factory = reactor.tcpClients[0][2]
    proto = factory.buildProtocol(ADDR)
    assert isinstance(proto, Recorder)
    assert (proto.args, proto.kwargs) == (("a",), {"b": 2})
    assert_no_result(d)
    reactor.advance(0)
    assert success_result_of(d) is proto


def test_client_creator_connection_failure_errbacks() -> None:
    """clientConnectionFailed fails the Deferred with that reason, one turn later."""
    reactor = MemoryReactorClock()
    d = ClientCreator(reactor, Recorder).connectTCP("10.1.2.3", 80)
    factory = reactor.tcpClients[0][2]
    factory.clientConnectionFailed(reactor.connectors[0], refused())
    assert_no_result(d)
    reactor.advance(0)
    failure_result_of(d, error.ConnectionRefusedError)


def test_client_creator_cancel_disconnects() -> None:
    """Cancelling before the connection is made disconnects and fails with CancelledError."""
    reactor = MemoryReactorClock()
    d = ClientCreator(reactor, Recorder).connectTCP("10.1.2.3", 80)
    connector = reactor.connectors[0]
    d.cancel()
    assert connector.disconnected
    failure_result_of(d, CancelledError)


def test_client_creator_cancel_then_late_failure_is_ignored() -> None:
    """A failure reported after cancelling does not fire the Deferred twice."""
    reactor = MemoryReactorClock()
    d = ClientCreator(reactor, Recorder).connectTCP("10.1.2.3", 80)
    d.cancel()
    failure_result_of(d, CancelledError)
    factory = reactor.tcpClients[0][2]
    factory.clientConnectionFailed(reactor.connectors[0], Failure(error.UserError()))
    reactor.advance(0)


def test_client_creator_cancel_after_build_before_the_turn() -> None:
    """Cancelling after buildProtocol but before the turn wins; the later fire is dropped."""
    reactor = MemoryReactorClock()
    d = ClientCreator(reactor, Recorder).connectTCP("10.1.2.3", 80)
    reactor.tcpClients[0][2].buildProtocol(ADDR)
    d.cancel()
    assert reactor.connectors[0].disconnected
    failure_result_of(d, CancelledError)
    reactor.advance(0)


def test_client_creator_cancel_after_firing_is_a_no_op() -> None:
    """Cancelling an already-fired Deferred leaves the connection alone."""
    reactor = MemoryReactorClock()
    d = ClientCreator(reactor, Recorder).connectTCP("10.1.2.3", 80)
    proto = reactor.tcpClients[0][2].buildProtocol(ADDR)
    reactor.advance(0)
    d.cancel()
    assert not reactor.connectors[0].disconnected
    assert success_result_of(d) is proto


def test_client_creator_unix_and_ssl() -> None:
    """connectUNIX and connectSSL pass their arguments through and fire the same way."""
    reactor = MemoryReactorClock()
    creator = ClientCreator(reactor, Recorder)
    d1 = creator.connectUNIX("/tmp/sock", timeout=3, checkPID=True)
    context = object()
    d2 = creator.connectSSL("10.1.2.3", 443, context, timeout=4)
    [(path, f1, timeout1, check)] = reactor.unixClients
    assert (path, timeout1, check) == ("/tmp/sock", 3, True)
    [(host, port, f2, ctx, timeout2, bind)] = reactor.sslClients
    assert (host, port, ctx, timeout2, bind) == ("10.1.2.3", 443, context, 4, None)
    p1 = f1.buildProtocol(ADDR)
    p2 = f2.buildProtocol(ADDR)
    reactor.advance(0)
    assert success_result_of(d1) is p1
    assert success_result_of(d2) is p2


# ---------------------------------------------------------------------------
# ProcessProtocol


class ProcessRecorder(ProcessProtocol):
    """Records the per-descriptor callbacks ProcessProtocol dispatches to."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def outReceived(self, data: bytes) -> None:
        self.events.append(("out", data))

    def errReceived(self, data: bytes) -> None:
        self.events.append(("err", data))

    def inConnectionLost(self) -> None:
        self.events.append(("inLost", None))

    def outConnectionLost(self) -> None:
        self.events.append(("outLost", None))

    def errConnectionLost(self) -> None:
        self.events.append(("errLost", None))


def test_child_data_dispatch() -> None:
    """childDataReceived sends fd 1 to outReceived, fd 2 to errReceived, ignores others."""
    p = ProcessRecorder()
    p.childDataReceived(1, b"o")
    p.childDataReceived(2, b"e")
    p.childDataReceived(3, b"x")
    assert p.events == [("out", b"o"), ("err", b"e")]


def test_child_connection_lost_dispatch() -> None:
    """childConnectionLost sends fds 0, 1, 2 to in/out/errConnectionLost, ignores others."""
    p = ProcessRecorder()
    for fd in (0, 1, 2, 5):
        p.childConnectionLost(fd)
    assert p.events == [("inLost", None), ("outLost", None), ("errLost", None)]


def test_process_protocol_defaults_accept_everything() -> None:
    """The base ProcessProtocol's callbacks all accept their arguments and do nothing."""
    p = ProcessProtocol()
    transport = StringTransport()
    p.makeConnection(transport)
    assert p.transport is transport
    p.childDataReceived(1, b"x")
    p.childDataReceived(2, b"x")
    for fd in (0, 1, 2):
        p.childConnectionLost(fd)
    p.processExited(Failure(error.ProcessDone(0)))
    p.processEnded(Failure(error.ProcessDone(0)))


# ---------------------------------------------------------------------------
# DatagramProtocol


class DatagramRecorder(DatagramProtocol):
    """Counts startProtocol/stopProtocol calls."""

    def __init__(self) -> None:
        self.starts = 0
        self.stops = 0

    def startProtocol(self) -> None:
        self.starts += 1

    def stopProtocol(self) -> None:
        self.stops += 1


def test_datagram_make_connection_starts_protocol() -> None:
    """makeConnection sets the transport and starts the protocol once."""
    p = DatagramRecorder()
    transport = object()
    p.makeConnection(transport)
    assert p.transport is transport
    assert (p.starts, p.numPorts) == (1, 1)


def test_datagram_start_stop_counting() -> None:
    """startProtocol on the first doStart, stopProtocol on the last; doStop drops transport."""
    p = DatagramRecorder()
    p.doStart()
    p.doStart()
    assert (p.starts, p.numPorts) == (1, 2)
    p.transport = object()
    p.doStop()
    assert p.transport is None
    assert (p.stops, p.numPorts) == (0, 1)
    p.doStop()
    assert (p.stops, p.numPorts) == (1, 0)
    p.doStop()
    assert (p.stops, p.numPorts) == (1, 0)


def test_datagram_defaults_accept_everything() -> None:
    """datagramReceived and connectionRefused exist and do nothing by default."""
    p = DatagramProtocol()
    p.datagramReceived(b"x", ("127.0.0.1", 53))
    p.connectionRefused()
    assert p.logPrefix() == "DatagramProtocol"
    assert isinstance(p, AbstractDatagramProtocol)


def test_datagram_pickling_drops_transport() -> None:
    """A pickled datagram protocol does not carry its transport."""
    p = DatagramRecorder()
    p.makeConnection(object())
    copy = pickle.loads(pickle.dumps(p))
    assert copy.transport is None
    assert copy.starts == 1
