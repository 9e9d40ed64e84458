"""In-memory transports for protocol tests, and a pump joining two protocols.

``StringTransport`` and ``StringTransportWithDisconnection`` mirror
``twisted.internet.testing`` (names, attributes and default addresses), so
tests ported from Twisted keep working; camelCase names here are that
contract.  :func:`connect_pair` and :class:`Pump` are torsion's own take on
Twisted's ``iosim``: a client and a server protocol talk through two memory
transports, with no sockets and no reactor.

Example::

    proto = Echo()
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(b"hi")
    assert transport.value() == b"hi"

The pump's rules (what a real TCP connection does, made deterministic):

* :meth:`Pump.flush` moves bytes both ways until nothing moves; chunks
  arrive in order, one ``dataReceived`` per chunk the pump moves.
* ``loseConnection`` on one side: its pending bytes are delivered first,
  then that side gets ``connectionLost(ConnectionDone)``, then the peer does.
  From the call on, bytes sent to the closing side are dropped (a real
  transport stops reading when asked to close).
* ``abortConnection``: pending bytes both ways are dropped; the aborting side
  gets ``connectionLost(ConnectionAborted)``, the peer ``ConnectionLost``.
* ``loseWriteConnection``: once its pending bytes are delivered, the side
  gets ``writeConnectionLost()`` (if it has one) and the peer reads end of
  file: ``readConnectionLost()`` if it is half-closeable, otherwise the peer
  closes as if it had called ``loseConnection``.  Shutting both directions
  does not end the connection; a side still calls ``loseConnection``, as over
  TCP.
* Bytes written after the write side is shut or the connection is lost are
  dropped.  When a connection is lost, a registered producer is stopped and
  unregistered.  A registered pull producer is resumed once per round.
* Within a round the server side is handled before the client side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Literal

from torsion import error
from torsion.address import IPv4Address
from torsion.failure import Failure
from torsion.interfaces import (
    IAddress,
    IHalfCloseableProtocol,
    IProtocol,
    IPullProducer,
    IPushProducer,
)
from torsion.task import Clock

__all__ = [
    "Pump",
    "PumpTransport",
    "StringTransport",
    "StringTransportWithDisconnection",
    "connect_pair",
]

#: What ``StringTransport.getHost`` returns unless given another address.
DEFAULT_HOST = IPv4Address("TCP", "10.0.0.1", 12345)
#: What ``StringTransport.getPeer`` returns unless given another address.
DEFAULT_PEER = IPv4Address("TCP", "192.168.1.1", 54321)

ProducerState = Literal["producing", "paused", "stopped"]
Producer = IPushProducer | IPullProducer


def _require_bytes(data: object) -> None:
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")


class StringTransport:
    """A transport that keeps what is written in memory and records requests.

    It does nothing by itself: ``loseConnection`` only sets ``disconnecting``,
    and no callback reaches the protocol.  It is also a push producer (the
    ``producerState`` attribute follows ``pauseProducing`` and friends), as a
    real transport is for the protocol reading from it.

    Example::

        transport = StringTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"PING\\r\\n")
        assert transport.value() == b"PONG\\r\\n"
        transport.clear()

    Attributes:
        io: a ``BytesIO`` with what was written since the last :meth:`clear`.
        connected: True (tests and subclasses may change it).
        disconnecting: True once ``loseConnection`` (or ``abortConnection``)
            was called.
        disconnected: True once ``abortConnection`` was called.
        writeDisconnecting: True once ``loseWriteConnection`` was called.
        producer: the registered producer, or None.
        streaming: the ``streaming`` flag it was registered with, or None.
        producerState: "producing", "paused" or "stopped".
        hostAddr: the address ``getHost`` returns, or None for the default.
        peerAddr: the address ``getPeer`` returns, or None for the default.
        tcpNoDelay: the last value given to ``setTcpNoDelay``.
        tcpKeepAlive: the last value given to ``setTcpKeepAlive``.
    """

    disconnecting: bool = False
    disconnected: bool = False
    writeDisconnecting: bool = False
    producer: Producer | None = None
    streaming: bool | None = None
    producerState: ProducerState = "producing"
    hostAddr: IAddress | None = None
    peerAddr: IAddress | None = None
    tcpNoDelay: bool = False
    tcpKeepAlive: bool = False

    def __init__(
        self,
        hostAddress: IAddress | None = None,
        peerAddress: IAddress | None = None,
        lenient: bool = False,
    ) -> None:
        """Create a connected transport with nothing written.

        Args:
            hostAddress: what ``getHost`` returns (default 10.0.0.1:12345).
            peerAddress: what ``getPeer`` returns (default 192.168.1.1:54321).
            lenient: allow ``pauseProducing``/``resumeProducing`` after
                ``loseConnection`` (by default they raise RuntimeError, to
                catch code that expects data from a closing connection).
        """
        self.io = BytesIO()
        self.connected = True
        self.hostAddr = hostAddress
        self.peerAddr = peerAddress
        self._lenient = lenient

    def clear(self) -> None:
        """Forget what was written so far (a test helper, not a transport method)."""
        self.io = BytesIO()

    def value(self) -> bytes:
        """Return what was written since creation or the last :meth:`clear`."""
        return self.io.getvalue()

    # -- ITransport --------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Append ``data`` to :meth:`value`.

        Raises:
            TypeError: when ``data`` is not ``bytes``.
        """
        _require_bytes(data)
        self.io.write(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        """Write each chunk of ``data`` in order.

        Raises:
            TypeError: when a chunk is not ``bytes`` (nothing is written then).
        """
        chunks = list(data)
        for chunk in chunks:
            _require_bytes(chunk)
        self.write(b"".join(chunks))

    def loseConnection(self) -> None:
        """Record a request to close: sets ``disconnecting``."""
        self.disconnecting = True

    def abortConnection(self) -> None:
        """Record a request to abort: sets ``disconnected`` and ``disconnecting``."""
        self.disconnected = True
        self.loseConnection()

    def getPeer(self) -> IAddress:
        """Return ``peerAddr``, or IPv4Address("TCP", "192.168.1.1", 54321)."""
        return DEFAULT_PEER if self.peerAddr is None else self.peerAddr

    def getHost(self) -> IAddress:
        """Return ``hostAddr``, or IPv4Address("TCP", "10.0.0.1", 12345)."""
        return DEFAULT_HOST if self.hostAddr is None else self.hostAddr

    def logPrefix(self) -> str:
        """A short name for log lines: the class name."""
        return type(self).__name__

    # -- ITCPTransport -----------------------------------------------------

    def loseWriteConnection(self) -> None:
        """Record a request to shut the write side: sets ``writeDisconnecting``."""
        self.writeDisconnecting = True

    def getTcpNoDelay(self) -> bool:
        """Return the last value given to :meth:`setTcpNoDelay` (False at first)."""
        return self.tcpNoDelay

    def setTcpNoDelay(self, enabled: bool) -> None:
        """Record ``enabled`` in ``tcpNoDelay``."""
        self.tcpNoDelay = bool(enabled)

    def getTcpKeepAlive(self) -> bool:
        """Return the last value given to :meth:`setTcpKeepAlive` (False at first)."""
        return self.tcpKeepAlive

    def setTcpKeepAlive(self, enabled: bool) -> None:
        """Record ``enabled`` in ``tcpKeepAlive``."""
        self.tcpKeepAlive = bool(enabled)

    # -- IConsumer ---------------------------------------------------------

    def registerProducer(self, producer: Producer, streaming: bool) -> None:
        """Record ``producer`` and ``streaming``.

        Raises:
            RuntimeError: when a producer is registered already.
        """
        if self.producer is not None:
            raise RuntimeError("cannot register two producers; unregister the first one")
        self.producer = producer
        self.streaming = streaming

    def unregisterProducer(self) -> None:
        """Forget the producer.

        Raises:
            RuntimeError: when no producer is registered.
        """
        if self.producer is None:
            raise RuntimeError("cannot unregister a producer: none is registered")
        self.producer = None
        self.streaming = None

    # -- IPushProducer (the transport as the protocol's data source) -------

    def _check_can_produce(self) -> None:
        if self.disconnecting and not self._lenient:
            raise RuntimeError("cannot pause or resume producing after loseConnection")
        if self.producerState == "stopped":
            raise RuntimeError("cannot pause or resume a stopped producer")

    def pauseProducing(self) -> None:
        """Set ``producerState`` to "paused".

        Raises:
            RuntimeError: after ``stopProducing``, or after ``loseConnection``
                unless the transport is lenient.
        """
        self._check_can_produce()
        self.producerState = "paused"

    def resumeProducing(self) -> None:
        """Set ``producerState`` to "producing".

        Raises:
            RuntimeError: as :meth:`pauseProducing`.
        """
        self._check_can_produce()
        self.producerState = "producing"

    def stopProducing(self) -> None:
        """Set ``producerState`` to "stopped" (for good)."""
        self.producerState = "stopped"


class StringTransportWithDisconnection(StringTransport):
    """A :class:`StringTransport` whose ``loseConnection`` tells the protocol.

    The first ``loseConnection`` (or ``abortConnection``) calls
    ``protocol.connectionLost`` with ``ConnectionDone``, synchronously; later
    calls do nothing.  Set ``protocol`` first (the constructor takes it too).

    Example::

        transport = StringTransportWithDisconnection()
        transport.protocol = proto
        proto.makeConnection(transport)
        transport.loseConnection()      # proto.connectionLost runs now

    Attributes:
        protocol: the protocol to tell, or None.
    """

    def __init__(
        self,
        hostAddress: IAddress | None = None,
        peerAddress: IAddress | None = None,
        lenient: bool = False,
        *,
        protocol: IProtocol | None = None,
    ) -> None:
        """Create the transport; see :class:`StringTransport` for the arguments.

        Args:
            hostAddress: what ``getHost`` returns.
            peerAddress: what ``getPeer`` returns.
            lenient: as for :class:`StringTransport`.
            protocol: the protocol whose ``connectionLost`` to call.
        """
        super().__init__(hostAddress, peerAddress, lenient)
        self.protocol = protocol

    def loseConnection(self) -> None:
        """Mark the transport closed and call ``protocol.connectionLost`` once.

        Raises:
            RuntimeError: when ``protocol`` is not set.
        """
        if not self.connected:
            return
        if self.protocol is None:
            raise RuntimeError("set StringTransportWithDisconnection.protocol first")
        self.connected = False
        self.disconnecting = True
        self.protocol.connectionLost(Failure(error.ConnectionDone("Bye.")))


class PumpTransport(StringTransport):
    """One end of a :func:`connect_pair` connection.

    A :class:`StringTransport` whose ``write`` drops data once the write side
    is shut or the connection is lost, as a real transport does; the
    :class:`Pump` reads and clears what it holds.
    """

    def write(self, data: bytes) -> None:
        """Buffer ``data`` for the pump, or drop it when writing is over.

        Raises:
            TypeError: when ``data`` is not ``bytes``.
        """
        _require_bytes(data)
        if self.connected and not self.writeDisconnecting and not self.disconnected:
            self.io.write(data)


@dataclass(eq=False)
class _End:
    """One side of a pumped connection and what has happened to it."""

    protocol: IProtocol
    transport: PumpTransport
    peer: _End = field(init=False)
    eof_sent: bool = False
    read_closed: bool = False
    lost: bool = False

    def can_read(self) -> bool:
        transport = self.transport
        return not (self.lost or self.read_closed or transport.disconnecting)


class Pump:
    """Moves bytes between the two ends made by :func:`connect_pair`.

    See the module docstring for the rules on closing.  Exceptions raised by
    the protocols' callbacks propagate out of :meth:`pump` and :meth:`flush`.

    Attributes:
        server: the accepting side's protocol.
        client: the connecting side's protocol.
        server_transport: the server protocol's transport.
        client_transport: the client protocol's transport.
        clock: when set, each round first runs the calls due now on it
            (``clock.advance(0)``); time does not move.
    """

    def __init__(
        self,
        server: IProtocol,
        server_transport: PumpTransport,
        client: IProtocol,
        client_transport: PumpTransport,
        clock: Clock | None = None,
    ) -> None:
        """Join two protocols' transports (already connected, or not yet).

        Args:
            server: the accepting side's protocol.
            server_transport: its transport.
            client: the connecting side's protocol.
            client_transport: its transport.
            clock: a clock whose due calls run before each round.
        """
        self.server = server
        self.client = client
        self.server_transport = server_transport
        self.client_transport = client_transport
        self.clock = clock
        server_end = _End(server, server_transport)
        client_end = _End(client, client_transport)
        server_end.peer = client_end
        client_end.peer = server_end
        self._ends = (server_end, client_end)

    def pump(self) -> bool:
        """Do one round: move pending bytes, or else handle one close.

        Returns:
            True when something happened (bytes moved or a close handled).
        """
        if self.clock is not None:
            self.clock.advance(0)
        for end in self._ends:
            producer = end.transport.producer
            if producer is not None and not end.transport.streaming and not end.lost:
                producer.resumeProducing()
        return self._abort() or self._move_bytes() or self._close() or self._shut_write()

    def flush(self, max_rounds: int = 10_000) -> bool:
        """Run rounds until nothing moves.

        Args:
            max_rounds: how many rounds to allow before deciding the protocols
                talk forever.

        Returns:
            True when anything happened.

        Raises:
            RuntimeError: when it is still busy after ``max_rounds`` rounds.
        """
        busy = False
        for _ in range(max_rounds):
            if not self.pump():
                return busy
            busy = True
        raise RuntimeError(f"pump still busy after {max_rounds} rounds")

    def _abort(self) -> bool:
        for end in self._ends:
            if end.transport.disconnected and not end.lost:
                end.transport.clear()
                end.peer.transport.clear()
                self._lose(end, error.ConnectionAborted())
                self._lose(end.peer, error.ConnectionLost())
                return True
        return False

    def _move_bytes(self) -> bool:
        moved = False
        for end in self._ends:
            data = end.transport.value()
            if not data:
                continue
            end.transport.clear()
            moved = True
            if end.peer.can_read():
                end.peer.protocol.dataReceived(data)
        return moved

    def _close(self) -> bool:
        for end in self._ends:
            if end.transport.disconnecting and not end.lost:
                self._lose(end, error.ConnectionDone())
                self._lose(end.peer, error.ConnectionDone())
                return True
        return False

    def _shut_write(self) -> bool:
        for end in self._ends:
            if end.transport.writeDisconnecting and not end.eof_sent and not end.lost:
                end.eof_sent = True
                if isinstance(end.protocol, IHalfCloseableProtocol):
                    end.protocol.writeConnectionLost()
                peer = end.peer
                if not peer.lost and not peer.read_closed:
                    peer.read_closed = True
                    if isinstance(peer.protocol, IHalfCloseableProtocol):
                        peer.protocol.readConnectionLost()
                    else:
                        peer.transport.loseConnection()
                return True
        return False

    @staticmethod
    def _lose(end: _End, reason: BaseException) -> None:
        if end.lost:
            return
        end.lost = True
        transport = end.transport
        transport.connected = False
        transport.disconnecting = True
        producer = transport.producer
        if producer is not None:
            transport.producer = None
            transport.streaming = None
            producer.stopProducing()
        end.protocol.connectionLost(Failure(reason))


def connect_pair(
    server: IProtocol,
    client: IProtocol,
    *,
    greet: bool = True,
    clock: Clock | None = None,
    server_address: IAddress = DEFAULT_HOST,
    client_address: IAddress = DEFAULT_PEER,
) -> Pump:
    """Connect ``server`` and ``client`` through memory and return the pump.

    Each protocol gets a :class:`PumpTransport` (server first) whose
    ``getHost`` is its own address and ``getPeer`` the other side's.

    Example::

        pump = connect_pair(EchoServer(), client := Sender(b"hi"))
        pump.flush()
        assert client.received == b"hi"

    Args:
        server: the accepting side's protocol.
        client: the connecting side's protocol.
        greet: flush once after connecting, so greetings are delivered.
        clock: a clock whose due calls run before each pump round.
        server_address: the server's address.
        client_address: the client's address.

    Returns:
        The :class:`Pump`; call :meth:`Pump.flush` after each action.
    """
    server_transport = PumpTransport(hostAddress=server_address, peerAddress=client_address)
    client_transport = PumpTransport(hostAddress=client_address, peerAddress=server_address)
    pump = Pump(server, server_transport, client, client_transport, clock)
    server.makeConnection(server_transport)
    client.makeConnection(client_transport)
    if greet:
        pump.flush()
    return pump
