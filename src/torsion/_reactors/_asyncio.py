"""A reactor running on an asyncio event loop (uvloop included).

TCP maps straight onto the loop's native transports: the loop (C code, on
uvloop) reads and writes the sockets, and torsion protocols are called from
the loop's protocol callbacks with no extra copy and no select loop of ours.
Everything built on file descriptors (UDP, UNIX sockets, processes) goes
through ``loop.add_reader``/``add_writer``, so it works unchanged.

Two ways to use it:

* ``torsion.reactor.install("asyncio")`` (or ``"uvloop"``) and
  ``reactor.run()``: the reactor owns a new loop and runs it;
* inside a running asyncio application, ``AsyncioReactor(loop)`` then
  ``reactor.startRunning()``: torsion code runs on the application's loop,
  and ``stop()`` runs the shutdown triggers without stopping that loop.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import socket
import struct
from collections.abc import Callable
from typing import Any, cast

from torsion import error
from torsion._delayedcall import DelayedCall
from torsion._logging import log_failure
from torsion._reactors._posix import PosixReactorBase
from torsion.address import IPv4Address, IPv6Address
from torsion.defer import Deferred
from torsion.failure import Failure

__all__ = ["AsyncioReactor"]

_DONE = error.ConnectionDone()


def _address(sockaddr: Any) -> IPv4Address | IPv6Address:
    if len(sockaddr) == 4:
        host, port, flowinfo, scope_id = sockaddr
        return IPv6Address("TCP", host, port, flowinfo, scope_id)
    return IPv4Address("TCP", sockaddr[0], sockaddr[1])


class AsyncioReactor(PosixReactorBase):
    """A torsion reactor on an asyncio event loop.

    Args:
        eventloop: the loop to run on; a new one when omitted.
    """

    def __init__(self, eventloop: asyncio.AbstractEventLoop | None = None) -> None:
        self._asyncioEventloop = eventloop if eventloop is not None else asyncio.new_event_loop()
        self._readers: dict[int, Any] = {}
        self._writers: dict[int, Any] = {}
        self._armed: asyncio.TimerHandle | None = None
        self._armed_at = 0.0
        self._live_transports: set[AsyncioTCPTransport] = set()
        self._live_ports: set[AsyncioPort] = set()
        self._owns_loop_run = False
        if eventloop is None:
            self._asyncioEventloop.set_exception_handler(self._loop_error)
        self._fatal: BaseException | None = None
        super().__init__()
        self.seconds = self._asyncioEventloop.time

    # -- time ---------------------------------------------------------------------
    # Timers live in the base class's heap, so calls due at the same time run
    # in the order they were scheduled (the loop's own heap does not promise
    # that) and cancelling many is cheap; one loop timer is armed for the
    # earliest.  The loop may run a timer up to its clock resolution early
    # (uvloop: a millisecond): ``runUntilCurrent`` then finds nothing due and
    # the timer is armed again, so no call ever runs before its time.
    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall:
        call = super().callLater(delay, callable, *args, **kw)
        self._arm(call.time)
        return call

    def _moveCallEarlier(self, call: DelayedCall) -> None:
        super()._moveCallEarlier(call)
        self._arm(call.time)

    def _arm(self, when: float) -> None:
        """Have the loop run the timers at ``when`` (or earlier, if armed so already)."""
        armed = self._armed
        if armed is not None:
            if self._armed_at <= when:
                return
            armed.cancel()
        self._armed_at = when
        self._armed = self._asyncioEventloop.call_at(when, self._run_timers)

    def _run_timers(self) -> None:
        self._armed = None
        self.runUntilCurrent()
        wait = self.timeout()
        if wait is not None:
            self._arm(self.seconds() + wait)

    # -- threads --------------------------------------------------------------------
    def callFromThread(self, f: Any, *args: Any, **kw: Any) -> None:
        if not callable(f):
            raise TypeError(f"{f!r} is not callable")
        if kw:
            f = functools.partial(f, **kw)
        try:
            self._asyncioEventloop.call_soon_threadsafe(self._run_thread_call, f, args)
        except RuntimeError:  # the loop is closed: nothing will run any more
            pass

    @staticmethod
    def _run_thread_call(f: Any, args: tuple[Any, ...]) -> None:
        try:
            f(*args)
        except BaseException:
            log_failure(Failure(), "Unhandled error in a thread call:", "torsion.reactor")

    def wakeUp(self) -> None:
        try:
            self._asyncioEventloop.call_soon_threadsafe(_noop)
        except RuntimeError:
            pass

    # -- running ----------------------------------------------------------------------
    def run(self, installSignalHandlers: bool = True) -> None:
        """Run the loop until ``stop()``."""
        loop = self._asyncioEventloop
        self.startRunning()
        if not self._started:  # crashed by a startup trigger: nothing to run
            self.running = False
            return
        self._owns_loop_run = True
        if installSignalHandlers:
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous = signal.getsignal(signum)
                if signum == signal.SIGINT and previous is not signal.default_int_handler:
                    continue  # someone chose what SIGINT does: leave it, as Twisted does
                try:
                    loop.add_signal_handler(signum, self._signal_stop, signum)
                except (ValueError, RuntimeError, NotImplementedError):
                    continue
                self._signals_installed[int(signum)] = previous
        try:
            loop.run_forever()
            fatal, self._fatal = self._fatal, None
            if fatal is not None:
                raise fatal
            if self._startedBefore:
                # Stopped: the shutdown event dropped every connection, and
                # the loop reports that (closing the sockets) on its next turns.
                for _ in range(3):
                    loop.call_soon(loop.stop)
                    loop.run_forever()
        finally:
            for installed, previous in self._signals_installed.items():
                loop.remove_signal_handler(installed)
                # The loop leaves its own idea of a default behind (uvloop
                # keeps its handler): put back what was there before run().
                try:
                    signal.signal(installed, previous)
                except (ValueError, OSError, TypeError):
                    pass
            self._signals_installed.clear()
            self._owns_loop_run = False
            self.running = False
            if self._started:  # run_forever() raised, or the loop was stopped under us
                self._started = False
                self._addStartTrigger()

    def _signal_stop(self, signum: int) -> None:
        self._handleSignal(signum, None)

    def stop(self) -> None:
        if self._stopped or not self._started:
            raise error.ReactorNotRunning("Can't stop reactor that isn't running.")
        self._stopped = True
        self._startedBefore = True
        self._asyncioEventloop.call_soon(self.fireSystemEvent, "shutdown")

    def crash(self) -> None:
        self._started = False
        self.running = False
        self._addStartTrigger()
        if self._owns_loop_run:
            self._asyncioEventloop.stop()

    def iterate(self, delay: float = 0.0) -> None:
        loop = self._asyncioEventloop
        loop.call_later(delay, loop.stop)
        loop.run_forever()

    def close(self) -> None:
        """Release the reactor's descriptors (and its loop, if it created it)."""
        if self._armed is not None:
            self._armed.cancel()
            self._armed = None
        self.removeReader(self._waker)
        self._waker.close()
        if not self._asyncioEventloop.is_running() and not self._asyncioEventloop.is_closed():
            self._asyncioEventloop.close()

    # -- file descriptors ---------------------------------------------------------------
    def addReader(self, reader: Any) -> None:
        fd = reader.fileno()
        if self._readers.get(fd) is reader:
            return
        self._readers[fd] = reader
        self._asyncioEventloop.add_reader(fd, self._ready, reader, True)

    def addWriter(self, writer: Any) -> None:
        fd = writer.fileno()
        if self._writers.get(fd) is writer:
            return
        self._writers[fd] = writer
        self._asyncioEventloop.add_writer(fd, self._ready, writer, False)

    @staticmethod
    def _find(table: dict[int, Any], xer: Any) -> int:
        fd: int = xer.fileno()
        if fd == -1 or table.get(fd) is not xer:
            for known, selectable in table.items():
                if selectable is xer:
                    return known
            return -1
        return fd

    def removeReader(self, reader: Any) -> None:
        fd = self._find(self._readers, reader)
        if fd in self._readers:
            del self._readers[fd]
            self._asyncioEventloop.remove_reader(fd)

    def removeWriter(self, writer: Any) -> None:
        fd = self._find(self._writers, writer)
        if fd in self._writers:
            del self._writers[fd]
            self._asyncioEventloop.remove_writer(fd)

    def getReaders(self) -> list[Any]:
        return list(self._readers.values())

    def getWriters(self) -> list[Any]:
        return list(self._writers.values())

    def _ready(self, selectable: Any, is_read: bool) -> None:
        try:
            why = selectable.doRead() if is_read else selectable.doWrite()
        except BaseException:
            why = self._dispatch_failed(selectable)
        if why:
            self._disconnectSelectable(selectable, why, is_read)

    # -- TCP on native transports ------------------------------------------------------------
    def listenTCP(  # type: ignore[override]
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> AsyncioPort:
        p = AsyncioPort(port, factory, backlog, interface, self)
        p.startListening()
        return p

    def connectTCP(  # type: ignore[override]
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> AsyncioConnector:
        c = AsyncioConnector(host, port, factory, timeout, bindAddress, self)
        c.connect()
        return c

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The handler of a loop the reactor owns: errors are logged, other exceptions end run().

        A callback raising something that is not an Exception (KeyboardInterrupt
        aside, which the loop re-raises itself: a test runner's timeout,
        GeneratorExit...) would otherwise be logged and the loop would go on.
        """
        exc = context.get("exception")
        if isinstance(exc, BaseException) and not isinstance(exc, Exception):
            self._fatal = exc
            loop.stop()
            return
        _report_loop_error(loop, context)

    def disconnectAll(self) -> None:
        """Close every port and drop every connection (ConnectionLost), as other backends do."""
        super().disconnectAll()
        for port in list(self._live_ports):
            port._close()
        for transport in list(self._live_transports):
            transport._drop()


def _noop() -> None:
    pass


def _ignore_write(data: object) -> None:
    pass


def _report_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Report errors the loop caught (a protocol callback raised) like other backends do."""
    exc = context.get("exception")
    message = context.get("message", "Unhandled error in the event loop")
    if isinstance(exc, BaseException):
        log_failure(Failure(exc), f"{message}:", "torsion.reactor")
    else:
        loop.default_exception_handler(context)


class AsyncioTCPTransport:
    """A torsion ``ITCPTransport`` over an asyncio transport.

    ``write`` is the asyncio transport's own method, so the data path adds no
    Python call; flow control comes from asyncio's ``pause_writing`` /
    ``resume_writing`` and is relayed to a registered producer.
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
        self._transport.close()

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
        self._transport.abort()

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
        self.write = _ignore_write
        self.writeSequence = _ignore_write

    def loseWriteConnection(self) -> None:
        """Half-close: send what is buffered, then shut down our sending side."""
        if self.disconnected or self._write_eof_sent:
            return
        self._write_eof_sent = True
        if self._transport.can_write_eof():
            self._transport.write_eof()
        self._stop_writing()
        if self._read_eof:
            self._transport.close()  # both directions are done
        writeConnectionLost = getattr(self.protocol, "writeConnectionLost", None)
        if writeConnectionLost is not None:
            self.reactor._asyncioEventloop.call_soon(writeConnectionLost)

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
        if self.producer is not None:
            raise RuntimeError(
                f"cannot register producer {producer!r}: {self.producer!r} is registered"
            )
        if self.disconnected:
            producer.stopProducing()
            return
        self.producer = producer
        self.streamingProducer = bool(streaming)
        if streaming:
            if self._write_paused:
                producer.pauseProducing()
        else:
            self._pull()

    def unregisterProducer(self) -> None:
        self.producer = None
        if self.disconnecting and not self.disconnected:
            self._transport.close()

    def _pull(self) -> None:
        """Ask a pull producer for more while the write buffer has room."""
        producer = self.producer
        if producer is None or self.streamingProducer or self.disconnected:
            return
        if not self._write_paused:
            producer.resumeProducing()
            if self.producer is producer and not self._write_paused:
                self.reactor._asyncioEventloop.call_soon(self._pull)

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
                self._pull()

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
        if self._torsion_transport is not None:
            self._torsion_transport._resume_writing()

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


class AsyncioPort:
    """A listening TCP socket served by the loop; provides ``IListeningPort``."""

    def __init__(
        self, port: int, factory: Any, backlog: int, interface: str, reactor: AsyncioReactor
    ) -> None:
        self.port = port
        self.factory = factory
        self.backlog = backlog
        self.interface = interface
        self.reactor = reactor
        self.connected = False
        self._socket: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None
        self._serving: asyncio.Task[Any] | None = None

    def startListening(self) -> None:
        family = socket.AF_INET6 if ":" in self.interface else socket.AF_INET
        skt = socket.socket(family, socket.SOCK_STREAM)
        try:
            skt.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and self.interface in ("::", ""):
                skt.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            skt.bind((self.interface, self.port))
            skt.listen(self.backlog)
            skt.setblocking(False)
        except OSError as exc:
            skt.close()
            raise error.CannotListenError(self.interface, self.port, exc) from exc
        self._socket = skt
        self.factory.doStart()
        self.connected = True
        self.reactor._live_ports.add(self)
        loop = self.reactor._asyncioEventloop
        reactor = self.reactor

        def make_adapter() -> _ProtocolAdapter:
            return _ProtocolAdapter(reactor, self.factory.buildProtocol)

        async def serve() -> None:
            self._server = await loop.create_server(make_adapter, sock=skt, backlog=self.backlog)

        self._serving = loop.create_task(serve())

    def getHost(self) -> IPv4Address | IPv6Address:
        if self._socket is None:
            raise error.NotListeningError("the port is not listening")
        return _address(self._socket.getsockname())

    def stopListening(self) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        if not self.connected:
            d.callback(None)
            return d
        self.connected = False
        loop = self.reactor._asyncioEventloop

        def close() -> None:
            self._close()
            d.callback(None)

        loop.call_soon(close)
        return d

    def _close(self) -> None:
        """Close the listening socket now and stop the factory (once)."""
        if self not in self.reactor._live_ports:
            return
        self.reactor._live_ports.discard(self)
        self.connected = False
        if self._server is not None:
            self._server.close()
        elif self._socket is not None:
            if self._serving is not None:
                self._serving.cancel()
            self._socket.close()
        self.factory.doStop()

    loseConnection = stopListening

    def __repr__(self) -> str:
        return f"<{type(self.factory).__name__} on asyncio TCP port {self.port}>"


class AsyncioConnector:
    """An outgoing TCP connection through ``loop.create_connection``; provides ``IConnector``."""

    def __init__(
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float | None,
        bindAddress: tuple[str, int] | None,
        reactor: AsyncioReactor,
    ) -> None:
        self.host = host
        self.port = port
        self.factory = factory
        self.timeout = timeout
        self.bindAddress = bindAddress
        self.reactor = reactor
        self.state = "disconnected"
        self.transport: AsyncioTCPTransport | None = None
        self._attempt: asyncio.Task[Any] | None = None
        self.factoryStarted = False

    def connect(self) -> None:
        if self.state != "disconnected":
            raise RuntimeError(f"can't connect in this state: {self.state}")
        self.state = "connecting"
        if not self.factoryStarted:
            self.factory.doStart()
            self.factoryStarted = True
        loop = self.reactor._asyncioEventloop
        self._attempt = loop.create_task(self._connect())
        self.factory.startedConnecting(self)

    async def _connect(self) -> None:
        loop = self.reactor._asyncioEventloop

        def build(addr: Any) -> Any:
            self.state = "connected"
            return self.factory.buildProtocol(addr)

        def make_adapter() -> _ProtocolAdapter:
            return _ProtocolAdapter(self.reactor, build, self._connection_lost, self)

        try:
            attempt = loop.create_connection(
                make_adapter, self.host, self.port, local_addr=self.bindAddress
            )
            if self.timeout is not None:
                _, adapter = await asyncio.wait_for(attempt, self.timeout)
            else:
                _, adapter = await attempt
        except asyncio.CancelledError:
            self._failed(error.UserError())
            return
        except TimeoutError:
            self._failed(error.TimeoutError())
            return
        except socket.gaierror as exc:
            self._failed(error.DNSLookupError(f"address {self.host!r} not found: {exc}"))
            return
        except OSError as exc:
            self._failed(error.getConnectError(exc))
            return
        self.transport = adapter._torsion_transport

    def _failed(self, reason: BaseException) -> None:
        self.state = "disconnected"
        self.transport = None
        self.factory.clientConnectionFailed(self, Failure(reason))
        if self.state == "disconnected":
            self.factory.doStop()
            self.factoryStarted = False

    def _connection_lost(self, reason: Failure) -> None:
        self.state = "disconnected"
        self.transport = None
        self.factory.clientConnectionLost(self, reason)
        if self.state == "disconnected":
            self.factory.doStop()
            self.factoryStarted = False

    def stopConnecting(self) -> None:
        if self.state != "connecting" or self._attempt is None:
            raise error.NotConnectingError("we're not trying to connect")
        self._attempt.cancel()

    def disconnect(self) -> None:
        if self.state == "connecting":
            self.stopConnecting()
        elif self.state == "connected" and self.transport is not None:
            self.transport.loseConnection()

    def getDestination(self) -> IPv4Address | IPv6Address:
        if ":" in self.host:
            return IPv6Address("TCP", self.host, self.port)
        return IPv4Address("TCP", self.host, self.port)

    def __repr__(self) -> str:
        return f"<AsyncioConnector to {self.getDestination()} ({self.state})>"
