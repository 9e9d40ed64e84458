"""Listening and connecting over an asyncio loop, for the asyncio (and uvloop) reactor.

:class:`AsyncioPort` serves a listening socket with ``loop.create_server``,
:class:`AsyncioConnector` connects with ``loop.create_connection``; each
connection is an :class:`~torsion._reactors._asyncio_tcp.AsyncioTCPTransport`.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any

from torsion import error
from torsion._reactors._asyncio_tcp import AsyncioTCPTransport, _address, _ProtocolAdapter
from torsion._transports.tcp import listening_socket, tcp_address
from torsion.address import IPv4Address, IPv6Address
from torsion.defer import Deferred
from torsion.failure import Failure

if TYPE_CHECKING:
    from torsion._reactors._asyncio import AsyncioReactor

__all__ = ["AsyncioConnector", "AsyncioPort"]


class AsyncioPort:
    """A listening TCP socket served by the loop; provides ``IListeningPort``."""

    def __init__(
        self, port: int, factory: Any, backlog: int, interface: str, reactor: AsyncioReactor,
        reusePort: bool = False,
    ) -> None:
        self.port = port
        self.factory = factory
        self.backlog = backlog
        self.interface = interface
        self.reactor = reactor
        self.reusePort = reusePort
        self.connected = False
        self._socket: socket.socket | None = None
        self._server: asyncio.AbstractServer | None = None
        self._serving: asyncio.Task[Any] | None = None

    def startListening(self) -> None:
        skt = listening_socket(self.interface, self.port, self.backlog, self.reusePort)
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
        self._timer: Any = None
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
        self.reactor._live_connectors.add(self)
        if self.timeout is not None:
            # On the reactor's clock, as every backend's connect timeout.
            self._timer = self.reactor.callLater(self.timeout, self._cancel, error.TimeoutError())
        self.factory.startedConnecting(self)

    async def _connect(self) -> None:
        loop = self.reactor._asyncioEventloop
        me = asyncio.current_task()

        build_errors: list[BaseException] = []

        def build(addr: Any) -> Any:
            if self._attempt is not me:
                return None  # given up on (_cancel) as it connected: the adapter closes it
            self.state = "connected"
            try:
                return self.factory.buildProtocol(addr)
            except BaseException as exc:
                build_errors.append(exc)  # the attempt fails with it, once it returns
                raise  # the adapter logs it and closes the connection

        def make_adapter() -> _ProtocolAdapter:
            return _ProtocolAdapter(self.reactor, build, self._connection_lost, self)

        reason: BaseException | None = None
        adapter: _ProtocolAdapter | None = None
        try:
            _, adapter = await loop.create_connection(
                make_adapter, self.host, self.port, local_addr=self.bindAddress
            )
        except asyncio.CancelledError:
            return  # only _cancel cancels, and it told the factory
        except socket.gaierror as exc:
            reason = error.DNSLookupError(f"address {self.host!r} not found: {exc}")
        except OSError as exc:
            reason = error.getConnectError(exc)
        if self._attempt is not me:
            return  # given up on while it ended: _cancel told the factory
        self._ended()
        if reason is None and build_errors:
            reason = build_errors[0]
        if reason is not None:
            self._failed(reason)
        elif adapter is not None:
            self.transport = adapter._torsion_transport

    def _ended(self) -> None:
        """The attempt is over (made, failed or given up): forget it and its timer."""
        self._attempt = None
        self.reactor._live_connectors.discard(self)
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

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
        self._cancel(error.UserError())

    def _cancel(self, reason: BaseException | None = None) -> None:
        """Give up the attempt under way: the factory hears ``reason`` now.

        The loop closes the half-made socket when the cancelled task ends
        (the reactor's ``close`` waits for that).  Without a reason it is
        ConnectionLost, as a connect cut short by the reactor's shutdown is
        on the other backends.
        """
        attempt = self._attempt
        if attempt is None or self.state != "connecting":
            return
        self._ended()
        attempt.cancel()
        self._failed(reason if reason is not None else error.ConnectionLost())

    def disconnect(self) -> None:
        if self.state == "connecting":
            self.stopConnecting()
        elif self.state == "connected" and self.transport is not None:
            self.transport.loseConnection()

    def getDestination(self) -> IPv4Address | IPv6Address:
        return tcp_address(self.host, self.port)

    def __repr__(self) -> str:
        return f"<AsyncioConnector to {self.getDestination()} ({self.state})>"
