"""TCP: listening ports, accepted connections, and outgoing connections.

Names mirror Twisted's ``twisted.internet.tcp`` (``Port``, ``Server``,
``Client``, ``Connector``).  Each class talks to its reactor only through the
``IReactorFDSet`` methods and ``callLater``, so every backend shares it.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from typing import Any

from torsion import error
from torsion._transports._client import ClientConnection
from torsion._transports._connector import BaseConnector
from torsion._transports._listening import ListeningPort, ServerConnection
from torsion._transports._stream import StreamTransport
from torsion.address import IPv4Address, IPv6Address
from torsion.defer import Deferred
from torsion.failure import Failure

__all__ = ["Client", "Connector", "Port", "Server", "listening_socket", "tcp_address"]

_log = logging.getLogger("torsion.tcp")


def _address(family: int, sockaddr: Any) -> IPv4Address | IPv6Address:
    if family == socket.AF_INET6:
        host, port, flowinfo, scope_id = sockaddr
        return IPv6Address("TCP", host, port, flowinfo, scope_id)
    host, port = sockaddr[:2]
    return IPv4Address("TCP", host, port)


def tcp_address(host: str, port: int) -> IPv4Address | IPv6Address:
    """The address of ``host`` (a name, or an IPv4 or IPv6 address) and ``port``."""
    return IPv6Address("TCP", host, port) if ":" in host else IPv4Address("TCP", host, port)


def _family_for(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listening_socket(
    interface: str, port: int, backlog: int, reusePort: bool = False
) -> socket.socket:
    """A bound, listening, non-blocking TCP socket (what every backend's port serves).

    ``SO_REUSEADDR`` always; ``SO_REUSEPORT`` when asked (several processes sharing
    the port); "::" or "" over IPv6 accept IPv4 too.

    Raises:
        CannotListenError: the socket cannot be made, bound or put to listen.
    """
    family = _family_for(interface)
    try:
        skt = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise error.CannotListenError(interface, port, exc) from exc
    try:
        skt.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reusePort:
            skt.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6 and interface in ("::", ""):
            skt.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        skt.bind((interface, port))
        skt.listen(backlog)
        skt.setblocking(False)
    except OSError as exc:
        skt.close()
        raise error.CannotListenError(interface, port, exc) from exc
    return skt


class _Connection(StreamTransport):
    """A connected TCP socket: TCP_NODELAY on by default, addresses from the socket."""

    _peer: IPv4Address | IPv6Address

    def __init__(self, skt: socket.socket, protocol: Any, reactor: Any) -> None:
        super().__init__(skt, protocol, reactor)
        try:
            # Sending on every write() without Nagle avoids the 40 ms stalls of
            # write-write-read exchanges; setTcpNoDelay(False) turns it back on.
            skt.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def getHost(self) -> IPv4Address | IPv6Address:
        """Our end's address."""
        return _address(self.socket.family, self.socket.getsockname())

    def getPeer(self) -> IPv4Address | IPv6Address:
        """The other end's address."""
        return self._peer


class Server(ServerConnection, _Connection):
    """A connection accepted by a :class:`Port`."""

    server: Port

    def __repr__(self) -> str:
        return f"<{self.logPrefix()} #{self.sessionno} on {self.server._realPort}>"


class Port(ListeningPort):
    """A listening TCP socket; provides ``IListeningPort``.

    Attributes:
        factory: builds a protocol for each accepted connection.
        connected: True while listening.
        numberAccepts: the most connections accepted per readiness event.
    """

    sessionno = 0
    _system = "torsion.tcp"

    def __init__(
        self, port: int, factory: Any, backlog: int, interface: str, reactor: Any,
        reusePort: bool = False,
    ) -> None:
        self.port = port
        self.factory = factory
        self.backlog = backlog
        self.interface = interface
        self.reactor = reactor
        self.reusePort = reusePort
        self.connected = False
        self.disconnected = False
        self.socket: socket.socket | None = None
        self._fileno = -1
        self._realPort = port
        self._stopped_deferreds: list[Deferred[None]] = []

    def __repr__(self) -> str:
        state = f"on {self._realPort}" if self.connected else "not listening"
        return f"<{type(self.factory).__name__} on TCP port {self.port} ({state})>"

    def logPrefix(self) -> str:
        return f"{type(self.factory).__name__} (TCP)"

    def _peer(self, address: Any) -> IPv4Address | IPv6Address:
        assert self.socket is not None
        return _address(self.socket.family, address)

    def _serve(self, conn: socket.socket, protocol: Any, peer: Any) -> Server:
        Port.sessionno += 1
        return Server(conn, protocol, peer, self, Port.sessionno, self.reactor)

    def startListening(self) -> None:
        """Bind and listen; start the factory.

        Raises:
            CannotListenError: when the address cannot be bound.
        """
        skt = listening_socket(self.interface, self.port, self.backlog, self.reusePort)
        self.socket = skt
        self._fileno = skt.fileno()
        self._realPort = skt.getsockname()[1]
        _log.debug("%s starting on %s", self.logPrefix(), self._realPort)
        self.factory.doStart()
        self.connected = True
        self.reactor.addReader(self)

    def getHost(self) -> IPv4Address | IPv6Address:
        """The address listened on (with the real port when 0 was asked)."""
        if self.socket is None:
            raise error.NotListeningError("the port is not listening")
        return _address(self.socket.family, self.socket.getsockname())


class Client(ClientConnection, _Connection):
    """An outgoing TCP connection, from resolving to connected.

    Until connected, the socket is watched for writability (that is how a
    non-blocking connect reports its outcome) and ``doWrite`` finishes it.
    """

    _system = "torsion.tcp"

    def __init__(
        self,
        host: str,
        port: int,
        bindAddress: tuple[str, int] | None,
        connector: Connector,
        reactor: Any,
    ) -> None:
        super().__init__(connector, reactor)
        self.addr = (host, port)
        self.bindAddress = bindAddress
        # Start on the next iteration, as Twisted does, so the connector's
        # startedConnecting always comes first, even for an instant failure.
        reactor.callLater(0, self._begin)

    def _begin(self) -> None:
        if self.disconnected:
            return
        d = self.reactor.resolve(self.addr[0])
        d.addCallbacks(self._resolved, self._resolve_failed)

    def _resolve_failed(self, failure: Failure) -> None:
        self.failIfNotConnected(failure.value)

    def _resolved(self, address: str) -> None:
        if self.disconnected:
            return
        port = self.addr[1]
        self.realAddress = (address, port)
        try:
            skt = socket.socket(_family_for(address), socket.SOCK_STREAM)
        except OSError as exc:
            self.failIfNotConnected(error.ConnectBindError(exc.errno, exc.strerror or ""))
            return
        skt.setblocking(False)
        if self.bindAddress is not None:
            try:
                skt.bind(self.bindAddress)
            except OSError as exc:
                skt.close()
                self.failIfNotConnected(error.ConnectBindError(exc.errno, exc.strerror or ""))
                return
        self.socket = skt
        self._fileno = skt.fileno()
        err = skt.connect_ex(self.realAddress)
        if err in (0, errno.EISCONN):
            self._connected()
        elif err in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR):
            self.startWriting()
        else:
            self.failIfNotConnected(self._connect_error(err))

    def _connect_error(self, code: int) -> BaseException:
        return error.getConnectError((code, os.strerror(code)))

    def _connected_peer(self) -> IPv4Address | IPv6Address:
        self._peer = _address(self.socket.family, self.socket.getpeername())
        return self._peer

    def getPeer(self) -> IPv4Address | IPv6Address:
        if self._connecting:
            return tcp_address(*self.addr)
        return self._peer

    def __repr__(self) -> str:
        return f"<{type(self).__name__} to {self.addr}>"


class Connector(BaseConnector):
    """An outgoing TCP connection attempt; provides ``IConnector``."""

    def __init__(
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float | None,
        bindAddress: tuple[str, int] | None,
        reactor: Any,
    ) -> None:
        if isinstance(port, str):
            try:
                port = socket.getservbyname(port, "tcp")
            except OSError as exc:
                raise error.ServiceNameUnknownError(string=f"{exc} ({port!r})") from exc
        super().__init__(factory, timeout, reactor)
        self.host = host
        self.port = port
        self.bindAddress = bindAddress

    def _makeTransport(self) -> Client:
        return Client(self.host, self.port, self.bindAddress, self, self.reactor)

    def getDestination(self) -> IPv4Address | IPv6Address:
        return tcp_address(self.host, self.port)

    def __repr__(self) -> str:
        return f"<Connector to {self.getDestination()} ({self.state})>"
