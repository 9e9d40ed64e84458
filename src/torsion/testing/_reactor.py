"""A reactor that records what it is asked to do, for tests.

``MemoryReactor`` and ``MemoryReactorClock`` mirror ``twisted.internet.testing``:
``listenTCP``, ``connectTCP`` and friends append their arguments, as a tuple,
to a list (``tcpServers``, ``tcpClients``...) and return a fake port or
connector; nothing touches the network.  A test then plays the network's
part: it takes the factory from the recorded tuple, calls ``buildProtocol``
and connects the protocol to a ``StringTransport``.  camelCase names are the
Twisted contract.

Differences from Twisted's: ``crash`` sets ``running`` to False (not None);
``listenUDP`` is recorded in ``udpServers``; ``addSystemEventTrigger``
returns an ID, so ``removeSystemEventTrigger`` and ``fireSystemEvent`` work;
``resolve`` answers IP addresses, and names put in ``hostnames``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any, Literal

from torsion import error
from torsion.address import IPv4Address, IPv6Address, UNIXAddress
from torsion.defer import Deferred, fail, succeed
from torsion.interfaces import IAddress, IReadDescriptor, IWriteDescriptor
from torsion.task import Clock

__all__ = ["FakeConnector", "FakePort", "MemoryReactor", "MemoryReactorClock"]

#: A recorded call: ``(callable, args, kwargs)``.
Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_PHASES = ("before", "during", "after")


def _is_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _is_ip(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return _is_ipv6(host)
    return True


def _ip_address(
    host: str, port: int, kind: Literal["TCP", "UDP"] = "TCP"
) -> IPv4Address | IPv6Address:
    if _is_ipv6(host):
        return IPv6Address(kind, host, port)
    return IPv4Address(kind, host, port)


class FakePort:
    """The listening port a :class:`MemoryReactor` returns; it listens to nothing.

    Attributes:
        listening: False once ``stopListening`` was called.
    """

    def __init__(self, hostAddress: IAddress) -> None:
        """Pretend to listen on ``hostAddress`` (what ``getHost`` returns)."""
        self._host = hostAddress
        self.listening = True

    def startListening(self) -> None:
        """Set ``listening``."""
        self.listening = True

    def stopListening(self) -> Deferred[None] | None:
        """Clear ``listening``; returns None (stopping is immediate)."""
        self.listening = False
        return None

    def getHost(self) -> IAddress:
        """Return the address given at creation."""
        return self._host


class FakeConnector:
    """The connector a :class:`MemoryReactor` returns; it connects to nothing.

    Attributes:
        stoppedConnecting: True once ``stopConnecting`` was called.
        disconnected: True once ``disconnect`` was called.
        connectCount: how many times ``connect`` was called (retries).
    """

    stoppedConnecting = False
    disconnected = False
    connectCount = 0

    def __init__(self, address: IAddress) -> None:
        """Pretend to connect to ``address`` (what ``getDestination`` returns)."""
        self._address = address

    def stopConnecting(self) -> None:
        """Set ``stoppedConnecting``."""
        self.stoppedConnecting = True

    def disconnect(self) -> None:
        """Set ``disconnected``."""
        self.disconnected = True

    def connect(self) -> None:
        """Count a new attempt in ``connectCount``."""
        self.connectCount += 1

    def getDestination(self) -> IAddress:
        """Return the address given at creation."""
        return self._address


class MemoryReactor:
    """A reactor that records calls instead of doing I/O.

    Example::

        reactor = MemoryReactor()
        client.connect(reactor)                  # calls reactor.connectTCP
        host, port, factory, timeout, bind = reactor.tcpClients[0]
        proto = factory.buildProtocol(None)
        proto.makeConnection(StringTransport())

    Attributes:
        running: True only while ``run`` runs its hooks.
        hasInstalled, hasRun, hasStopped, hasCrashed: whether ``install``,
            ``run``, ``stop`` and ``crash`` were called.
        whenRunningHooks: ``(callable, args, kwargs)`` given to
            ``callWhenRunning`` before ``run``.
        triggers: ``{phase: {eventType: [(callable, args, kwargs), ...]}}``.
        tcpServers: ``(port, factory, backlog, interface)`` per ``listenTCP``.
        tcpClients: ``(host, port, factory, timeout, bindAddress)`` per
            ``connectTCP``.
        sslServers: ``(port, factory, contextFactory, backlog, interface)``.
        sslClients: ``(host, port, factory, contextFactory, timeout,
            bindAddress)``.
        unixServers: ``(address, factory, backlog, mode, wantPID)``.
        unixClients: ``(address, factory, timeout, checkPID)``.
        udpServers: ``(port, protocol, interface, maxPacketSize)``.
        adoptedPorts: ``(fileno, addressFamily, factory)`` per
            ``adoptStreamPort`` and ``(fileno, addressFamily, protocol,
            maxPacketSize)`` per ``adoptDatagramPort``.
        adoptedStreamConnections: ``(fileDescriptor, addressFamily, factory)``.
        connectors: every :class:`FakeConnector` returned, in order.
        readers, writers: the descriptors added and not removed.
        hostnames: name to address answers for ``resolve``.
    """

    def __init__(self) -> None:
        """Create a reactor that has recorded nothing."""
        self.hasInstalled = False
        self.running = False
        self.hasRun = False
        self.hasStopped = False
        self.hasCrashed = False
        self.whenRunningHooks: list[Hook] = []
        self.triggers: dict[str, dict[str, list[Hook]]] = {}
        self.tcpServers: list[tuple[int, Any, int, str]] = []
        self.tcpClients: list[tuple[str, int, Any, float, tuple[str, int] | None]] = []
        self.sslServers: list[tuple[int, Any, Any, int, str]] = []
        self.sslClients: list[tuple[str, int, Any, Any, float, tuple[str, int] | None]] = []
        self.unixServers: list[tuple[str, Any, int, int, bool]] = []
        self.unixClients: list[tuple[str, Any, float, bool]] = []
        self.udpServers: list[tuple[int, Any, str, int]] = []
        self.adoptedPorts: list[tuple[Any, ...]] = []
        self.adoptedStreamConnections: list[tuple[int, socket.AddressFamily, Any]] = []
        self.connectors: list[FakeConnector] = []
        self.readers: set[IReadDescriptor] = set()
        self.writers: set[IWriteDescriptor] = set()
        self.hostnames: dict[str, str] = {}

    # -- IReactorCore ------------------------------------------------------

    def install(self) -> None:
        """Record that installing was asked for (sets ``hasInstalled``)."""
        self.hasInstalled = True

    def run(self) -> None:
        """Run the ``callWhenRunning`` hooks, then stop at once.

        ``running`` is True while the hooks run; ``hasRun`` and
        ``hasStopped`` are set.  Triggers are not fired.

        Raises:
            ReactorAlreadyRunning: when called from a hook.
        """
        if self.running:
            raise error.ReactorAlreadyRunning()
        self.running = True
        self.hasRun = True
        hooks, self.whenRunningHooks = self.whenRunningHooks, []
        for f, args, kwargs in hooks:
            f(*args, **kwargs)
        self.stop()

    def stop(self) -> None:
        """Record a stop: clears ``running``, sets ``hasStopped``."""
        self.running = False
        self.hasStopped = True

    def crash(self) -> None:
        """Record a crash: clears ``running``, sets ``hasCrashed``."""
        self.running = False
        self.hasCrashed = True

    def iterate(self, delay: float = 0) -> None:
        """Do nothing: there is no I/O to wait for."""

    def callWhenRunning(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Call ``callable`` now if ``run`` was called, else keep it for ``run``."""
        if self.running or self.hasRun:
            callable(*args, **kw)
        else:
            self.whenRunningHooks.append((callable, args, kw))

    def addSystemEventTrigger(
        self, phase: str, eventType: str, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> tuple[str, str, Hook]:
        """Record a trigger in ``triggers[phase][eventType]``.

        Returns:
            An ID for :meth:`removeSystemEventTrigger`.

        Raises:
            KeyError: when ``phase`` is not "before", "during" or "after".
        """
        if phase not in _PHASES:
            raise KeyError(f"{phase!r} is not a valid phase; use one of {_PHASES}")
        hook: Hook = (callable, args, kw)
        self.triggers.setdefault(phase, {}).setdefault(eventType, []).append(hook)
        return (phase, eventType, hook)

    def removeSystemEventTrigger(self, triggerID: tuple[str, str, Hook]) -> None:
        """Remove a trigger by the ID ``addSystemEventTrigger`` returned.

        Raises:
            ValueError: when there is no such trigger (any more).
        """
        phase, eventType, hook = triggerID
        hooks = self.triggers.get(phase, {}).get(eventType, [])
        for index, candidate in enumerate(hooks):
            if candidate is hook:
                del hooks[index]
                return
        raise ValueError(f"no such trigger: {triggerID!r}")

    def fireSystemEvent(self, eventType: str) -> None:
        """Call the triggers of ``eventType`` now: "before", "during", then "after".

        Deferreds returned by triggers are not waited for.
        """
        for phase in _PHASES:
            for f, args, kwargs in list(self.triggers.get(phase, {}).get(eventType, [])):
                f(*args, **kwargs)

    def resolve(self, name: str, timeout: Sequence[int] = (1, 3, 11, 45)) -> Deferred[str]:
        """Return a fired Deferred: ``name`` if it is an IP address, else ``hostnames[name]``.

        A name that is neither fails the Deferred with ``DNSLookupError``.
        """
        if _is_ip(name):
            return succeed(name)
        if name in self.hostnames:
            return succeed(self.hostnames[name])
        return fail(error.DNSLookupError(name))

    # -- ports and connections ---------------------------------------------

    def _connector(self, address: IAddress, factory: Any) -> FakeConnector:
        connector = FakeConnector(address)
        factory.startedConnecting(connector)
        self.connectors.append(connector)
        return connector

    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> FakePort:
        """Record the call in ``tcpServers``; return a port on ``interface`` (0.0.0.0)."""
        self.tcpServers.append((port, factory, backlog, interface))
        return FakePort(_ip_address(interface or "0.0.0.0", port))

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> FakeConnector:
        """Record the call in ``tcpClients``; tell ``factory.startedConnecting``."""
        self.tcpClients.append((host, port, factory, timeout, bindAddress))
        return self._connector(_ip_address(host, port), factory)

    def listenSSL(
        self,
        port: int,
        factory: Any,
        contextFactory: Any,
        backlog: int = 50,
        interface: str = "",
    ) -> FakePort:
        """Record the call in ``sslServers``; return a port."""
        self.sslServers.append((port, factory, contextFactory, backlog, interface))
        return FakePort(_ip_address(interface or "0.0.0.0", port))

    def connectSSL(
        self,
        host: str,
        port: int,
        factory: Any,
        contextFactory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> FakeConnector:
        """Record the call in ``sslClients``; tell ``factory.startedConnecting``."""
        self.sslClients.append((host, port, factory, contextFactory, timeout, bindAddress))
        return self._connector(_ip_address(host, port), factory)

    def listenUNIX(
        self,
        address: str,
        factory: Any,
        backlog: int = 50,
        mode: int = 0o666,
        wantPID: bool = False,
    ) -> FakePort:
        """Record the call in ``unixServers``; return a port."""
        self.unixServers.append((address, factory, backlog, mode, wantPID))
        return FakePort(UNIXAddress(address))

    def connectUNIX(
        self, address: str, factory: Any, timeout: float = 30, checkPID: bool = False
    ) -> FakeConnector:
        """Record the call in ``unixClients``; tell ``factory.startedConnecting``."""
        self.unixClients.append((address, factory, timeout, checkPID))
        return self._connector(UNIXAddress(address), factory)

    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> FakePort:
        """Record the call in ``udpServers``; return a port (the protocol is not started)."""
        self.udpServers.append((port, protocol, interface, maxPacketSize))
        return FakePort(_ip_address(interface or "0.0.0.0", port, "UDP"))

    def adoptStreamPort(
        self, fileno: int, addressFamily: socket.AddressFamily, factory: Any
    ) -> FakePort:
        """Record the call in ``adoptedPorts``; return a port on 1234.

        Raises:
            UnsupportedAddressFamily: for a family other than AF_INET(6).
        """
        address = self._adopted_address(addressFamily, "TCP")
        self.adoptedPorts.append((fileno, addressFamily, factory))
        return FakePort(address)

    def adoptStreamConnection(
        self, fileDescriptor: int, addressFamily: socket.AddressFamily, factory: Any
    ) -> None:
        """Record the call in ``adoptedStreamConnections``."""
        self.adoptedStreamConnections.append((fileDescriptor, addressFamily, factory))

    def adoptDatagramPort(
        self,
        fileno: int,
        addressFamily: socket.AddressFamily,
        protocol: Any,
        maxPacketSize: int = 8192,
    ) -> FakePort:
        """Record the call in ``adoptedPorts``; return a port on 1234.

        Raises:
            UnsupportedAddressFamily: for a family other than AF_INET(6).
        """
        address = self._adopted_address(addressFamily, "UDP")
        self.adoptedPorts.append((fileno, addressFamily, protocol, maxPacketSize))
        return FakePort(address)

    @staticmethod
    def _adopted_address(
        family: socket.AddressFamily, kind: Literal["TCP", "UDP"]
    ) -> IPv4Address | IPv6Address:
        if family == socket.AF_INET:
            return _ip_address("0.0.0.0", 1234, kind)
        if family == socket.AF_INET6:
            return _ip_address("::", 1234, kind)
        raise error.UnsupportedAddressFamily(family)

    # -- IReactorFDSet -----------------------------------------------------

    def addReader(self, reader: IReadDescriptor) -> None:
        """Add ``reader`` to ``readers``."""
        self.readers.add(reader)

    def removeReader(self, reader: IReadDescriptor) -> None:
        """Remove ``reader`` from ``readers`` (if there)."""
        self.readers.discard(reader)

    def addWriter(self, writer: IWriteDescriptor) -> None:
        """Add ``writer`` to ``writers``."""
        self.writers.add(writer)

    def removeWriter(self, writer: IWriteDescriptor) -> None:
        """Remove ``writer`` from ``writers`` (if there)."""
        self.writers.discard(writer)

    def getReaders(self) -> list[IReadDescriptor]:
        """Return the readers, as a new list."""
        return list(self.readers)

    def getWriters(self) -> list[IWriteDescriptor]:
        """Return the writers, as a new list."""
        return list(self.writers)

    def removeAll(self) -> list[IReadDescriptor | IWriteDescriptor]:
        """Empty ``readers`` and ``writers``; return what they held (each once)."""
        everything: set[IReadDescriptor | IWriteDescriptor] = {*self.readers, *self.writers}
        self.readers.clear()
        self.writers.clear()
        return list(everything)


class MemoryReactorClock(MemoryReactor, Clock):
    """A :class:`MemoryReactor` that is also a :class:`torsion.task.Clock`.

    Example::

        reactor = MemoryReactorClock()
        d = ClientCreator(reactor, MyProtocol).connectTCP("10.0.0.2", 80)
        reactor.tcpClients[0][2].buildProtocol(None)
        reactor.advance(0)                      # d fires with the protocol
    """

    def __init__(self) -> None:
        """Create a reactor at time 0.0 that has recorded nothing."""
        MemoryReactor.__init__(self)
        Clock.__init__(self)

    def iterate(self, delay: float = 0) -> None:
        """Run the calls due now (time does not move)."""
        self.advance(0)
