"""UDP: datagram ports, connected UDP, and multicast.

Names mirror Twisted's ``IReactorUDP``/``IReactorMulticast`` and
``IUDPTransport``/``IUDPConnectedTransport``/``IMulticastTransport``
(``listenUDP``, ``datagramReceived``, ``joinGroup``, ``setTTL``...), so this
module keeps their camelCase.

Facts learnt the hard way (Linux):

* An ICMP port-unreachable answering a datagram from a *connected* socket
  sets a pending socket error: the next ``recv``/``send`` fails with
  ``ECONNREFUSED``.  An unconnected socket never sees it.
* While that error is pending, poll/epoll report ``POLLERR`` without
  ``POLLIN``, which the descriptor backends treat as end-of-file and report
  through ``readConnectionLost``.  A datagram socket has no end-of-file:
  :meth:`Port.readConnectionLost` reads the error and keeps listening (the
  reference Twisted closes the port there instead).
* A multicast datagram goes to every socket bound to the group's port that
  joined the group; two sockets may bind one port only if both set
  ``SO_REUSEADDR`` (``listenMultiple=True``).  Unicast datagrams to such a
  port go to one of them.
* ``lo`` takes IPv4 multicast with ``IP_MULTICAST_IF`` 127.0.0.1, but has no
  IPv6 multicast route: joining an IPv6 group on it works, sending fails
  with ``ENETUNREACH``.
* ``IP_MULTICAST_LOOP`` only governs the local copy of a datagram sent out
  of a real interface: sent through ``lo``, it comes back whatever the mode.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from torsion import error
from torsion._logging import log_failure
from torsion.address import IPv4Address, IPv6Address
from torsion.defer import Deferred, succeed
from torsion.error import MulticastJoinError
from torsion.failure import Failure
from torsion.protocol import AbstractDatagramProtocol

__all__ = ["MulticastJoinError", "MulticastPort", "Port", "UDPMixin"]

_log = logging.getLogger("torsion.udp")

# Errors a connected socket's recv reports for an ICMP message about an
# earlier datagram: not the port's fault, so it keeps listening.
_ICMP_ERRNOS = frozenset(
    {
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
        errno.EMSGSIZE,
        errno.EPROTO,
        errno.ENOPROTOOPT,
    }
)


class _UDPReactor(Protocol):
    """What a UDP port needs from its reactor."""

    def addReader(self, reader: Any) -> None: ...  # any IReadDescriptor

    def removeReader(self, reader: Any) -> None: ...

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> Any: ...  # an IDelayedCall

    def resolve(self, name: str) -> Deferred[str]: ...


def _is_ipv4(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET, host)
    except (OSError, TypeError, ValueError):
        return False
    return True


def _is_ipv6(host: str) -> bool:
    if not isinstance(host, str):
        return False
    try:
        socket.inet_pton(socket.AF_INET6, host.partition("%")[0])
    except (OSError, ValueError):
        return False
    return True


def _family_for(interface: str) -> socket.AddressFamily:
    if interface == "" or _is_ipv4(interface):
        return socket.AF_INET
    if _is_ipv6(interface):
        return socket.AF_INET6
    raise error.InvalidAddressError(
        interface, "not an IPv4 or IPv6 address: UDP ports bind IP literals, not host names"
    )


class Port:
    """A UDP socket bound to a local port; provides ``IUDPTransport``.

    Made by ``reactor.listenUDP``.  Each datagram received goes to
    ``protocol.datagramReceived(data, (host, port))``; up to
    :attr:`maxDatagrams` datagrams (and :attr:`maxThroughput` bytes) are read
    per readiness event.  An error raised by the protocol is logged and the
    port keeps listening.

    Example::

        class Echo(DatagramProtocol):
            def datagramReceived(self, data, addr):
                self.transport.write(data, addr)

        port = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
        print(port.getHost().port)

    Attributes:
        protocol: the datagram protocol.
        maxPacketSize: the largest datagram received whole; longer ones are
            truncated to this size.
        connected: True while listening.
        disconnected: True once the socket is closed.
        maxThroughput: the most bytes read per readiness event.
        maxDatagrams: the most datagrams read per readiness event.
    """

    maxThroughput = 256 * 1024
    maxDatagrams = 256

    def __init__(
        self,
        port: int,
        proto: AbstractDatagramProtocol,
        interface: str = "",
        maxPacketSize: int = 8192,
        reactor: _UDPReactor | None = None,
    ) -> None:
        """Prepare a port; :meth:`startListening` binds it.

        Raises:
            InvalidAddressError: when ``interface`` is not an IP literal.
        """
        if reactor is None:
            raise TypeError("a UDP port needs its reactor")
        self.addressFamily = _family_for(interface)
        self.port = port
        self.protocol = proto
        self.interface = interface
        self.maxPacketSize = maxPacketSize
        self.reactor = reactor
        self.connected = False
        self.disconnected = False
        self.socket: socket.socket | None = None
        self._fileno = -1
        self._realPortNumber: int | None = None
        self._connectedAddr: tuple[str, int] | None = None
        self._stopping = False
        self._stopped_deferreds: list[Deferred[None]] = []

    def __repr__(self) -> str:
        where = self._realPortNumber if self._realPortNumber is not None else "not listening"
        return f"<{type(self.protocol).__name__} on UDP {where}>"

    # -- descriptor --------------------------------------------------------
    def fileno(self) -> int:
        """The socket's descriptor (-1 once closed)."""
        return self._fileno

    def getHandle(self) -> socket.socket:
        """The underlying socket object.

        Raises:
            NotListeningError: when the port is closed.
        """
        return self._socket()

    def logPrefix(self) -> str:
        """The protocol's log prefix, with " (UDP)"."""
        prefix = getattr(self.protocol, "logPrefix", None)
        name = prefix() if callable(prefix) else type(self.protocol).__name__
        return f"{name} (UDP)"

    def _socket(self) -> socket.socket:
        if self.socket is None:
            raise error.NotListeningError(f"the UDP port {self._describe()} is closed")
        return self.socket

    def _describe(self) -> str:
        return f"{self.interface or '*'}:{self._realPortNumber or self.port}"

    # -- lifecycle ---------------------------------------------------------
    def _make_socket(self) -> socket.socket:
        """A new non-blocking datagram socket of this port's family."""
        skt = socket.socket(self.addressFamily, socket.SOCK_DGRAM)
        skt.setblocking(False)
        return skt

    def startListening(self) -> None:
        """Bind the socket, start the protocol, and start reading.

        Raises:
            CannotListenError: when the address cannot be bound.
        """
        try:
            skt = self._make_socket()
        except OSError as exc:
            raise error.CannotListenError(self.interface, self.port, exc) from exc
        try:
            skt.bind((self.interface, self.port))
        except (OSError, OverflowError) as exc:
            skt.close()
            raise error.CannotListenError(self.interface, self.port, exc) from exc
        self.socket = skt
        self._fileno = skt.fileno()
        self._realPortNumber = skt.getsockname()[1]
        self.connected = True
        _log.debug("%s starting on %s", self.logPrefix(), self._realPortNumber)
        self.reactor.addReader(self)
        try:
            self.protocol.makeConnection(self)
        except BaseException:
            # startProtocol failed: the protocol never started, so no doStop.
            self.reactor.removeReader(self)
            self._close_socket()
            self.connected = False
            self.disconnected = True
            raise

    def stopListening(self) -> Deferred[None]:
        """Stop reading and close the socket on the next reactor iteration.

        The protocol's ``doStop`` runs then, and the returned Deferred fires
        with None after it.  Calling it again, or on a closed port, returns a
        Deferred that fires when (or since) the port is closed.
        """
        d: Deferred[None] = Deferred()
        if self.disconnected:
            d.callback(None)
            return d
        self._stopped_deferreds.append(d)
        if not self._stopping:
            self._stopping = True
            self.reactor.removeReader(self)
            self.reactor.callLater(0, self.connectionLost, Failure(error.ConnectionDone()))
        return d

    loseConnection = stopListening

    def connectionLost(self, reason: Failure | None = None) -> None:
        """Close the socket, stop the protocol, and fire the stop Deferreds.

        Called by :meth:`stopListening`, or by the reactor (shutdown, a fatal
        socket error).  Only the first call does anything.
        """
        if self.disconnected:
            return
        self.disconnected = True
        self.connected = False
        self._stopping = True
        _log.debug("(UDP port %s closed)", self._realPortNumber)
        self.reactor.removeReader(self)
        self._close_socket()
        try:
            self.protocol.doStop()
        except BaseException:
            log_failure(Failure(), f"Unhandled error stopping {self.logPrefix()}:", "torsion.udp")
        finally:
            waiting, self._stopped_deferreds = self._stopped_deferreds, []
            for d in waiting:
                d.callback(None)

    def _close_socket(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        self._fileno = -1

    # -- reading -----------------------------------------------------------
    def doRead(self) -> BaseException | None:
        """Read the datagrams waiting (within the bounds) and hand them over.

        Returns:
            None, or the socket error that must close the port.
        """
        skt = self.socket
        if skt is None:
            return None
        read = 0
        for _ in range(self.maxDatagrams):
            try:
                data, addr = skt.recvfrom(self.maxPacketSize)
            except (BlockingIOError, InterruptedError):
                return None
            except ConnectionRefusedError:
                self._refused()
                continue
            except OSError as exc:
                if exc.errno in _ICMP_ERRNOS:
                    _log.debug("%s: %s", self.logPrefix(), exc)
                    continue
                return exc
            if self.addressFamily == socket.AF_INET6:
                addr = addr[:2]
            try:
                self.protocol.datagramReceived(data, addr)
            except BaseException:
                log_failure(
                    Failure(),
                    f"Unhandled error in {self.logPrefix()} datagramReceived:",
                    "torsion.udp",
                )
            read += len(data)
            if read >= self.maxThroughput or self.socket is not skt or self._stopping:
                return None
        return None

    def readConnectionLost(self, reason: Failure) -> None:
        """Handle the backends' "end of file": a pending socket error.

        The reactor has stopped reading by now; read the error (and any
        datagrams), then read on.
        """
        if self._stopping or self.disconnected:
            return
        why = self.doRead()
        if why is not None:
            self.connectionLost(Failure(why))
        elif not self._stopping and not self.disconnected:
            self.reactor.addReader(self)

    def doWrite(self) -> None:
        """Never called: a UDP port does not wait to write."""

    def _refused(self) -> None:
        if self._connectedAddr is None:
            return
        refused = getattr(self.protocol, "connectionRefused", None)
        if refused is None:
            return
        try:
            refused()
        except BaseException:
            log_failure(
                Failure(),
                f"Unhandled error in {self.logPrefix()} connectionRefused:",
                "torsion.udp",
            )

    # -- writing -----------------------------------------------------------
    def write(self, datagram: bytes, addr: tuple[str, int] | None = None) -> None:
        """Send one datagram, at once.

        Args:
            datagram: the bytes to send.
            addr: ``(host, port)`` with an IP literal of the port's family
                (``"<broadcast>"`` too, on IPv4); omit it on a connected port.

        Raises:
            InvalidAddressError: for a host name, an address of the other
                family, a missing address, or a different one on a connected port.
            MessageLengthError: when the datagram is too long (EMSGSIZE).
            NotListeningError: when the port is closed.
            OSError: other send errors (``BlockingIOError`` when the send
                buffer is full: the datagram is dropped).

        Example::

            port.write(b"ping", ("127.0.0.1", 9999))
        """
        skt = self._socket()
        if self._connectedAddr is not None:
            if addr is not None and tuple(addr) != self._connectedAddr:
                raise error.InvalidAddressError(
                    addr, f"this port is connected to {self._connectedAddr}: write() to it only"
                )
            try:
                skt.send(datagram)
            except ConnectionRefusedError:
                self._refused()
            except OSError as exc:
                self._raise_send_error(exc, datagram, self._connectedAddr)
            return
        if addr is None:
            raise error.InvalidAddressError(
                addr, "write() needs an address (host, port) on a port that is not connected"
            )
        self._check_destination(addr[0])
        try:
            skt.sendto(datagram, addr)
        except ConnectionRefusedError:
            pass  # a stale ICMP error of no use to an unconnected port
        except OSError as exc:
            self._raise_send_error(exc, datagram, addr)

    def writeSequence(self, seq: Iterable[bytes], addr: tuple[str, int] | None = None) -> None:
        """Send the joined chunks of ``seq`` as one datagram (see :meth:`write`)."""
        self.write(b"".join(seq), addr)

    @staticmethod
    def _raise_send_error(exc: OSError, datagram: bytes, addr: object) -> None:
        if exc.errno == errno.EMSGSIZE:
            raise error.MessageLengthError(
                f"{len(datagram)} bytes to {addr} ({exc.strerror})"
            ) from exc
        raise exc

    def _check_destination(self, host: str) -> None:
        v6_port = self.addressFamily == socket.AF_INET6
        if host == "<broadcast>" or _is_ipv4(host):
            if v6_port:
                raise error.InvalidAddressError(
                    host, "an IPv6 port can't write() to an IPv4 or broadcast address"
                )
        elif _is_ipv6(host):
            if not v6_port:
                raise error.InvalidAddressError(
                    host, "an IPv4 port can't write() to an IPv6 address"
                )
        else:
            raise error.InvalidAddressError(
                host, "write() takes IP addresses, not host names: resolve it first"
            )

    def connect(self, host: str, port: int) -> None:
        """Connect to one peer: ``write(data)`` then needs no address, only
        that peer's datagrams are received, and ICMP refusals reach
        ``protocol.connectionRefused()``.

        Raises:
            RuntimeError: when already connected (reconnecting is not supported).
            InvalidAddressError: when ``host`` is not an IP literal of the
                port's family.
        """
        if self._connectedAddr is not None:
            raise RuntimeError(
                f"already connected to {self._connectedAddr}: a UDP port can't reconnect"
            )
        if not (_is_ipv4(host) or _is_ipv6(host)):
            raise error.InvalidAddressError(host, "connect() takes an IP address, not a host name")
        self._check_destination(host)
        self._socket().connect((host, port))
        self._connectedAddr = (host, port)

    # -- addresses and options ---------------------------------------------
    def getHost(self) -> IPv4Address | IPv6Address:
        """The bound address (with the real port when 0 was asked).

        Raises:
            NotListeningError: when the port is closed.
        """
        name = self._socket().getsockname()
        if self.addressFamily == socket.AF_INET6:
            host, port, flowinfo, scope_id = name
            return IPv6Address("UDP", host, port, flowinfo, scope_id)
        return IPv4Address("UDP", name[0], name[1])

    def setBroadcastAllowed(self, enabled: bool) -> None:
        """Allow (or forbid) sending to broadcast addresses (``SO_BROADCAST``)."""
        self._socket().setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, int(bool(enabled)))

    def getBroadcastAllowed(self) -> bool:
        """Whether broadcast sending is allowed."""
        return bool(self._socket().getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST))


class MulticastPort(Port):
    """A UDP port that can join multicast groups; provides ``IMulticastTransport``.

    Made by ``reactor.listenMulticast``.  IPv4 interfaces are named by
    address ("" for any); IPv6 ones by name ("lo"), index, or "" for any.

    Example::

        port = reactor.listenMulticast(8005, proto, listenMultiple=True)
        port.setLoopbackMode(True)
        d = port.joinGroup("228.0.0.5", interface="127.0.0.1")
    """

    def __init__(
        self,
        port: int,
        proto: AbstractDatagramProtocol,
        interface: str = "",
        maxPacketSize: int = 8192,
        reactor: _UDPReactor | None = None,
        listenMultiple: bool = False,
    ) -> None:
        super().__init__(port, proto, interface, maxPacketSize, reactor)
        self.listenMultiple = listenMultiple

    def _make_socket(self) -> socket.socket:
        skt = super()._make_socket()
        if self.listenMultiple:
            try:
                skt.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if hasattr(socket, "SO_REUSEPORT"):
                    skt.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            except OSError:
                skt.close()
                raise
        return skt

    @property
    def _v6(self) -> bool:
        return self.addressFamily == socket.AF_INET6

    def _level(self) -> int:
        return socket.IPPROTO_IPV6 if self._v6 else socket.IPPROTO_IP

    # -- loopback and TTL ------------------------------------------------------
    def setLoopbackMode(self, mode: bool | int) -> None:
        """Whether our own multicast datagrams come back to this host."""
        option = socket.IPV6_MULTICAST_LOOP if self._v6 else socket.IP_MULTICAST_LOOP
        self._socket().setsockopt(self._level(), option, int(bool(mode)))

    def getLoopbackMode(self) -> bool:
        """Whether multicast loopback is on (it is by default)."""
        option = socket.IPV6_MULTICAST_LOOP if self._v6 else socket.IP_MULTICAST_LOOP
        return bool(self._socket().getsockopt(self._level(), option))

    def setTTL(self, ttl: int) -> None:
        """Set the time-to-live (IPv6: hop limit) of multicast datagrams sent.

        Raises:
            ValueError: when ``ttl`` is not within 0-255.
        """
        if not 0 <= ttl <= 255:
            raise ValueError(f"multicast ttl must be within 0-255, not {ttl}")
        option = socket.IPV6_MULTICAST_HOPS if self._v6 else socket.IP_MULTICAST_TTL
        self._socket().setsockopt(self._level(), option, ttl)

    def getTTL(self) -> int:
        """The multicast time-to-live (1 unless set)."""
        option = socket.IPV6_MULTICAST_HOPS if self._v6 else socket.IP_MULTICAST_TTL
        return int(self._socket().getsockopt(self._level(), option))

    # -- outgoing interface ------------------------------------------------
    def setOutgoingInterface(self, addr: str | int) -> Deferred[int]:
        """Send multicast through this interface (IPv4: its address, maybe a
        host name; IPv6: a name or index).

        Returns:
            A Deferred firing with 1, or failing with the resolution or socket error.
        """
        if self._v6:
            try:
                self._socket().setsockopt(
                    socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, _interface_index(addr)
                )
            except (OSError, ValueError) as exc:
                return _failed(exc)
            return succeed(1)

        def set_interface(address: str) -> int:
            self._socket().setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address)
            )
            return 1

        return self._resolve(str(addr)).addCallback(set_interface)

    def getOutgoingInterface(self) -> str | int:
        """The multicast interface: an IPv4 address ("0.0.0.0" for the
        default), or an IPv6 interface index (0 for the default)."""
        skt = self._socket()
        if self._v6:
            return int(skt.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF))
        return socket.inet_ntoa(skt.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4))

    # -- groups ------------------------------------------------------------
    def joinGroup(self, addr: str, interface: str | int = "") -> Deferred[None]:
        """Join the multicast group ``addr`` on ``interface`` (any by default).

        Returns:
            A Deferred firing with None once joined, or failing with
            :class:`MulticastJoinError` (or the resolver's error).
        """
        return self._membership(addr, interface, join=True)

    def leaveGroup(self, addr: str, interface: str | int = "") -> Deferred[None]:
        """Leave the multicast group ``addr`` (as :meth:`joinGroup`)."""
        return self._membership(addr, interface, join=False)

    def _membership(self, addr: str, interface: str | int, join: bool) -> Deferred[None]:
        if self._v6:
            try:
                request = socket.inet_pton(socket.AF_INET6, addr) + struct.pack(
                    "@I", _interface_index(interface)
                )
            except (OSError, ValueError) as exc:
                return _failed(MulticastJoinError(addr, interface, 0, str(exc)))
            option = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
            try:
                self._set_membership(option, request, addr, interface)
            except MulticastJoinError as exc:
                return _failed(exc)
            return succeed(None)

        def with_group(group: str) -> Deferred[None]:
            return self._resolve(str(interface)).addCallback(with_interface, group)

        def with_interface(local: str, group: str) -> None:
            try:
                request = socket.inet_aton(group) + socket.inet_aton(local)
            except OSError as exc:
                raise MulticastJoinError(group, local, 0, f"not IPv4 addresses: {exc}") from exc
            option = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
            self._set_membership(option, request, group, local)

        return self._resolve(addr).addCallback(with_group)

    def _set_membership(
        self, option: int, request: bytes, group: str, interface: str | int
    ) -> None:
        try:
            self._socket().setsockopt(self._level(), option, request)
        except OSError as exc:
            raise MulticastJoinError(group, interface, exc.errno, exc.strerror) from exc

    def _resolve(self, name: str) -> Deferred[str]:
        if name == "" or _is_ipv4(name):
            return succeed(name or "0.0.0.0")
        return self.reactor.resolve(name)


def _interface_index(interface: str | int) -> int:
    """An IPv6 interface index from an index, a name, or "" / "::" (any)."""
    if isinstance(interface, int):
        return interface
    if interface in ("", "::"):
        return 0
    if interface.isdigit():
        return int(interface)
    try:
        return socket.if_nametoindex(interface)
    except OSError as exc:
        raise ValueError(
            f"no network interface named {interface!r} (IPv6 multicast takes a name or index)"
        ) from exc


def _failed(exc: BaseException) -> Deferred[Any]:
    d: Deferred[Any] = Deferred()
    d.errback(Failure(exc))
    return d


class UDPMixin:
    """The reactor's ``IReactorUDP`` and ``IReactorMulticast`` methods."""

    def listenUDP(
        self: _UDPReactor,
        port: int,
        protocol: AbstractDatagramProtocol,
        interface: str = "",
        maxPacketSize: int = 8192,
    ) -> Port:
        """Bind a UDP port and start ``protocol`` on it.

        Args:
            port: the port number; 0 picks a free one (see ``getHost()``).
            protocol: a :class:`~torsion.protocol.DatagramProtocol`.
            interface: the IP address to bind ("" for all IPv4; an IPv6
                literal such as "::" or "::1" makes an IPv6 port).
            maxPacketSize: the largest datagram received whole.

        Returns:
            The listening :class:`Port` (``write``, ``connect``, ``stopListening``...).

        Raises:
            CannotListenError: when the address cannot be bound.
            InvalidAddressError: when ``interface`` is not an IP literal.

        Example::

            port = reactor.listenUDP(0, Echo(), interface="127.0.0.1")
        """
        p = Port(port, protocol, interface, maxPacketSize, self)
        p.startListening()
        return p

    def listenMulticast(
        self: _UDPReactor,
        port: int,
        protocol: AbstractDatagramProtocol,
        interface: str = "",
        maxPacketSize: int = 8192,
        listenMultiple: bool = False,
    ) -> MulticastPort:
        """Bind a UDP port that can join multicast groups.

        Args:
            port: the port number (the group's port); 0 picks a free one.
            protocol: a :class:`~torsion.protocol.DatagramProtocol`.
            interface: the address to bind: "" (all IPv4) to hear a group,
                "::" for IPv6 groups.
            maxPacketSize: the largest datagram received whole.
            listenMultiple: let several sockets (in this process or others)
                bind the same port, each receiving the group's datagrams.

        Raises:
            CannotListenError: when the address cannot be bound.

        Example::

            port = reactor.listenMulticast(8005, proto, listenMultiple=True)
            port.joinGroup("228.0.0.5")
        """
        p = MulticastPort(port, protocol, interface, maxPacketSize, self, listenMultiple)
        p.startListening()
        return p
