"""TCP on an asyncio loop's native transports, for the asyncio (and uvloop) reactor.

The loop (C code, on uvloop) reads and writes the sockets; torsion protocols
are called from the loop's protocol callbacks with no extra copy.
:class:`AsyncioTCPTransport` gives a torsion ``ITCPTransport`` over an asyncio
transport, :class:`_ProtocolAdapter` is the asyncio protocol that calls the
torsion one; ``_asyncio_ports`` listens and connects.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from torsion import error
from torsion._logging import log_failure
from torsion._transports._write_buffer import claim_producer
from torsion.address import IPv4Address, IPv6Address
from torsion.failure import Failure

if TYPE_CHECKING:
    from torsion._reactors._asyncio import AsyncioReactor

__all__ = ["AsyncioTCPTransport"]

_DONE = error.ConnectionDone()


def _address(sockaddr: Any) -> IPv4Address | IPv6Address:
    if len(sockaddr) == 4:
        host, port, flowinfo, scope_id = sockaddr
        return IPv6Address("TCP", host, port, flowinfo, scope_id)
    return IPv4Address("TCP", sockaddr[0], sockaddr[1])


def _ignore_write(data: object) -> None:
    pass


class AsyncioTCPTransport:
    """A torsion ``ITCPTransport`` over an asyncio transport.

    ``write`` is the asyncio transport's own method, so the data path adds no
    Python call; flow control comes from asyncio's ``pause_writing`` /
    ``resume_writing`` and is relayed to a registered producer.  While a pull
    producer is registered ``write`` goes through :meth:`_write_pulled`, which
    notes that the producer wrote: a pull producer is asked again only after
    it wrote something (as on the descriptor backends), so one with nothing to
    say does not spin the loop.
    """

    highWater = 65536
    lowWater = 16384

    def __init__(self, transport: asyncio.Transport, reactor: AsyncioReactor) -> None:
        self._transport = transport
        self.reactor = reactor
        self.write: Callable[[Any], object] = transport.write
        self.writeSequence: Callable[[Any], object] = transport.writelines
        self.connected = 1
        self.disconnecting = 0
        self.disconnected = 0
        self.protocol: Any = None
        self.producer: Any = None
        self.streamingProducer = False
        self._write_paused = False
        self._writes_stopped = False
        self._resuming = False
        self._pull_scheduled = False
        self._aborted = False
        self._dropped = False
        self._read_eof = False
        self._write_eof_sent = False
        self._adapter: _ProtocolAdapter | None = None
        self.connector: Any = None
        self._tlsClientDefault = False
        transport.set_write_buffer_limits(high=self.highWater, low=self.lowWater)
        reactor._live_transports.add(self)

    def _replace_protocol(self, protocol: Any) -> None:
        """Route the connection's events to ``protocol`` from now on (used by startTLS)."""
        self.protocol = protocol
        adapter = self._adapter
        if adapter is not None:
            adapter._protocol = protocol
            adapter.data_received = protocol.dataReceived  # type: ignore[method-assign]
            self._transport.set_protocol(adapter)  # uvloop re-reads data_received

    def startTLS(self, contextFactory: Any, normal: bool = True) -> None:
        """Switch this live connection to TLS; see ``StreamTransport.startTLS``."""
        from torsion._transports.tls import start_tls  # noqa: PLC0415 - TLS loads on demand

        start_tls(self, contextFactory, normal)

    def getHandle(self) -> socket.socket:
        return self._transport.get_extra_info("socket")  # type: ignore[no-any-return]

    def getPeer(self) -> IPv4Address | IPv6Address:
        return _address(self._transport.get_extra_info("peername"))

    def getHost(self) -> IPv4Address | IPv6Address:
        return _address(self._transport.get_extra_info("sockname"))

    def loseConnection(self) -> None:
        """Close once everything buffered is sent.

        With a pull producer (or a push producer paused for flow control)
        registered, the close waits until it unregisters, as in Twisted; a
        running push producer is stopped when the connection is lost.
        """
        if self.disconnected or self.disconnecting:
            return
        self.disconnecting = 1
        if self.producer is not None and (not self.streamingProducer or self._write_paused):
            return  # unregisterProducer closes
        self._close_native()

    def abortConnection(self) -> None:
        """Close at once, dropping anything buffered; the peer sees a reset."""
        if self.disconnected or self._aborted:
            return
        self._aborted = True
        self._stop_writing()
        # asyncio's abort() closes with a FIN; an abort must reset (RST).
        skt = self._transport.get_extra_info("socket")
        try:
            skt.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (OSError, AttributeError):
            pass
        if self._resuming:
            self.reactor._asyncioEventloop.call_soon(self._transport.abort)
        else:
            self._transport.abort()

    def _close_native(self) -> None:
        """Close the loop's transport once its buffer is sent.

        Not from inside ``resume_writing``: CPython's selector transport calls
        that from its ``_write_ready``, which then finds the buffer empty and
        the transport closing and runs ``connection_lost`` itself, on top of
        the call ``close()`` scheduled (3.11: the second fails on a closed
        socket).  The close waits for the next turn of the loop there.
        """
        if self._resuming:
            self.reactor._asyncioEventloop.call_soon(self._transport.close)
        else:
            self._transport.close()

    def _drop(self) -> None:
        """Close at once for the reactor's shutdown: the protocol hears ConnectionLost now.

        The loop would report the loss on a later turn, after the shutdown's
        "after" triggers (or never, once stopped): it is reported here, in
        the "during" phase as on the other backends, and the loop's own
        report is then ignored.  The loop still closes the socket.
        """
        if self.disconnected:
            return
        self._dropped = True
        self._stop_writing()
        self._transport.abort()
        if self._adapter is not None:
            self._adapter.connection_lost(None)

    def _stop_writing(self) -> None:
        # Writes to a closed (or write-closed) connection are ignored, as on
        # the other backends; the loop's transports would raise instead.
        self._writes_stopped = True
        self._route_writes()

    def _route_writes(self) -> None:
        """Point ``write``/``writeSequence`` where they must go now (see the class doc)."""
        if self._writes_stopped:
            self.write = self.writeSequence = _ignore_write
        elif self.producer is not None and not self.streamingProducer:
            self.write = self._write_pulled
            self.writeSequence = self._write_sequence_pulled
        else:
            self.write = self._transport.write
            self.writeSequence = self._transport.writelines

    def _write_pulled(self, data: Any) -> None:
        self._transport.write(data)
        self._wrote_for_pull()

    def _write_sequence_pulled(self, seq: Any) -> None:
        self._transport.writelines(seq)
        self._wrote_for_pull()

    def _wrote_for_pull(self) -> None:
        # Inside resumeProducing this asks for the next chunk; written at any
        # other time (a timer's data), it wakes a producer that had nothing.
        self._schedule_pull()

    def loseWriteConnection(self) -> None:
        """Half-close: send what is buffered, then shut down our sending side."""
        if self.disconnected or self._write_eof_sent:
            return
        self._write_eof_sent = True
        # Told on the next turn (never from inside this call), and before the
        # connection_lost that closing now would schedule.
        self.reactor._asyncioEventloop.call_soon(self._tell_write_lost, self.protocol)
        if self._transport.can_write_eof():
            self._transport.write_eof()
        self._stop_writing()
        if self._read_eof:
            self._close_native()  # both directions are done

    def _tell_write_lost(self, protocol: Any) -> None:
        """``writeConnectionLost``, unless the connection was lost (or handed to TLS) since."""
        if self.disconnected or protocol is not self.protocol:
            return
        hook = getattr(protocol, "writeConnectionLost", None)
        if hook is None:
            return
        try:
            hook()
        except BaseException:
            log_failure(Failure(), "Unhandled error in writeConnectionLost:", "torsion.reactor")
            self.abortConnection()

    def _sockopt(self, level: int, option: int, value: int | None = None) -> int:
        skt = self.getHandle()
        if value is None:
            return skt.getsockopt(level, option)
        skt.setsockopt(level, option, value)
        return value

    def getTcpNoDelay(self) -> bool:
        return bool(self._sockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    def setTcpNoDelay(self, enabled: bool) -> None:
        self._sockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(enabled))

    def getTcpKeepAlive(self) -> bool:
        return bool(self._sockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))

    def setTcpKeepAlive(self, enabled: bool) -> None:
        self._sockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(enabled))

    # -- the transport as a producer (reading) --------------------------------------
    def pauseProducing(self) -> None:
        if not self.disconnected:
            self._transport.pause_reading()

    def resumeProducing(self) -> None:
        if not self.disconnected and not self.disconnecting:
            self._transport.resume_reading()

    def stopProducing(self) -> None:
        self.loseConnection()

    # -- the transport as a consumer (writing) ------------------------------------------
    def registerProducer(self, producer: Any, streaming: bool) -> None:
        if not claim_producer(self, producer, streaming):
            return
        self._route_writes()
        if streaming:
            if self._write_paused:
                producer.pauseProducing()
        else:
            self._pull()

    def unregisterProducer(self) -> None:
        self.producer = None
        self._route_writes()
        if self.disconnecting and not self.disconnected:
            self._close_native()

    def _schedule_pull(self) -> None:
        if not self._pull_scheduled and self.producer is not None and not self._write_paused:
            self._pull_scheduled = True
            self.reactor._asyncioEventloop.call_soon(self._pull_scheduled_now)

    def _pull_scheduled_now(self) -> None:
        self._pull_scheduled = False
        self._pull()

    def _pull(self) -> None:
        """Ask a pull producer for a chunk, if the write buffer has room.

        Its writes ask again (on the next turn, so other connections get
        theirs); a producer that wrote nothing is left alone until it writes
        or the buffer drains after a pause.
        """
        producer = self.producer
        if producer is None or self.streamingProducer or self.disconnected:
            return
        if not self._write_paused:
            producer.resumeProducing()

    def _pause_writing(self) -> None:
        self._write_paused = True
        if self.producer is not None and self.streamingProducer:
            self.producer.pauseProducing()

    def _resume_writing(self) -> None:
        self._write_paused = False
        if self.producer is not None:
            if self.streamingProducer:
                self.producer.resumeProducing()
            else:
                self._schedule_pull()

    def _lost(self, exc: BaseException | None) -> Failure:
        self.disconnected = 1
        self.connected = 0
        self._stop_writing()
        self.reactor._live_transports.discard(self)
        producer, self.producer = self.producer, None
        if producer is not None:
            try:
                producer.stopProducing()
            except BaseException:
                log_failure(Failure(), "Unhandled error stopping a producer:", "torsion.reactor")
        if self._aborted:
            return Failure(error.ConnectionAborted())
        if self._dropped:
            return Failure(error.ConnectionLost())
        if exc is None:
            return Failure(_DONE)
        if isinstance(exc, OSError):
            return Failure(error.ConnectionLost(str(exc) or type(exc).__name__))
        return Failure(exc)  # raised by the protocol itself

    def __repr__(self) -> str:
        return f"<{type(self).__name__} to {self._transport.get_extra_info('peername')}>"


class _ProtocolAdapter(asyncio.Protocol):
    """Calls a torsion protocol from asyncio's protocol callbacks."""

    def __init__(
        self, reactor: AsyncioReactor, build: Any, on_lost: Any = None, connector: Any = None
    ) -> None:
        self._connector = connector
        self._reactor = reactor
        self._build = build
        self._on_lost = on_lost
        self._torsion_transport: AsyncioTCPTransport | None = None
        self._protocol: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport: no isinstance.
        wrapper = AsyncioTCPTransport(cast(asyncio.Transport, transport), self._reactor)
        wrapper._adapter = self
        # startTLS takes the client role (and the host name to check) from these.
        wrapper.connector = self._connector
        wrapper._tlsClientDefault = self._connector is not None
        self._torsion_transport = wrapper
        try:
            protocol = self._build(wrapper.getPeer())
        except BaseException:
            log_failure(Failure(), "Unhandled error in buildProtocol:", "torsion.reactor")
            protocol = None
        if protocol is None:
            self._reactor._live_transports.discard(wrapper)
            transport.close()
            return
        self._protocol = protocol
        wrapper.protocol = protocol
        # The data path: the loop calls the torsion protocol directly.  If it
        # raises, the loop reports the error and closes the connection, whose
        # connectionLost then carries that exception.
        self.data_received = protocol.dataReceived  # type: ignore[method-assign]
        # uvloop caches the protocol's data_received when the protocol is
        # set, before connection_made: setting it again makes it look anew.
        transport.set_protocol(self)
        try:
            protocol.makeConnection(wrapper)
        except BaseException:
            log_failure(Failure(), "Unhandled error in connectionMade:", "torsion.reactor")
            wrapper.abortConnection()

    def _failed(self, failure: Failure) -> None:
        log_failure(failure, "Unhandled error in dataReceived:", "torsion.reactor")
        if self._torsion_transport is not None:
            self._torsion_transport._failure = failure  # type: ignore[attr-defined]
            self._torsion_transport.abortConnection()

    def data_received(self, data: bytes) -> None:  # replaced per connection
        pass

    def eof_received(self) -> bool | None:
        protocol = self._protocol
        wrapper = self._torsion_transport
        if wrapper is not None:
            wrapper._read_eof = True
        read_lost = getattr(protocol, "readConnectionLost", None)
        if read_lost is None:
            return None  # asyncio closes the transport
        try:
            read_lost()
        except BaseException:
            self._failed(Failure())
        # Keep the transport open for writing, unless our side is shut
        # already: then both directions are done and asyncio closes it.
        return wrapper is None or not wrapper._write_eof_sent

    def pause_writing(self) -> None:
        if self._torsion_transport is not None:
            self._torsion_transport._pause_writing()

    def resume_writing(self) -> None:
        wrapper = self._torsion_transport
        if wrapper is not None:
            wrapper._resuming = True  # see AsyncioTCPTransport._close_native
            try:
                wrapper._resume_writing()
            finally:
                wrapper._resuming = False

    def connection_lost(self, exc: Exception | None) -> None:
        wrapper = self._torsion_transport
        if wrapper is None or self._protocol is None or wrapper.disconnected:
            return  # no protocol, or its loss was reported already (see _drop)
        reason = wrapper._lost(exc)
        failure = getattr(wrapper, "_failure", None)
        if failure is not None:
            reason = failure
        try:
            self._protocol.connectionLost(reason)
        except BaseException:
            log_failure(Failure(), "Unhandled error in connectionLost:", "torsion.reactor")
        if self._on_lost is not None:
            self._on_lost(reason)
