"""Protocols and factories: what a connection calls back.

Mirrors ``twisted.internet.protocol`` (camelCase names are the contract).  A
:class:`Protocol` gets ``connectionMade``, ``dataReceived`` for every chunk of
bytes, and ``connectionLost`` exactly once; a :class:`Factory` builds one
protocol per connection.

Example, an echo server::

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    reactor.listenTCP(8000, Factory.forProtocol(Echo), interface="127.0.0.1")
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from torsion import error
from torsion.defer import CancelledError, Deferred
from torsion.failure import Failure

if TYPE_CHECKING:
    from torsion.interfaces import IAddress, IConnector, IReactorTime

__all__ = [
    "AbstractDatagramProtocol",
    "BaseProtocol",
    "ClientCreator",
    "ClientFactory",
    "ConnectedDatagramProtocol",
    "DatagramProtocol",
    "Factory",
    "ProcessProtocol",
    "Protocol",
    "ReconnectingClientFactory",
    "ServerFactory",
    "connectionDone",
]

_log = logging.getLogger("torsion.protocol")

#: The reason given to ``connectionLost`` for a clean close.
connectionDone = Failure(error.ConnectionDone())
connectionDone.cleanFailure()

_P = TypeVar("_P", bound="BaseProtocol")


class BaseProtocol:
    """What every protocol has: a transport and a ``connected`` flag."""

    connected = 0
    transport: Any = None

    def makeConnection(self, transport: Any) -> None:
        """Attach ``transport`` and call :meth:`connectionMade` (called by transports)."""
        self.connected = 1
        self.transport = transport
        self.connectionMade()

    def connectionMade(self) -> None:
        """Called once the connection is up; ``self.transport`` is set."""


class Protocol(BaseProtocol):
    """A stream protocol; subclass it and override the event methods.

    Attributes:
        factory: the factory that built this protocol, if any.
        transport: the connection's transport (``write``, ``loseConnection``...).
    """

    factory: Factory | None = None

    def logPrefix(self) -> str:
        """A short name for log lines: the class name."""
        return type(self).__name__

    def dataReceived(self, data: bytes) -> None:
        """Called with each chunk of bytes received, in order; chunk sizes are arbitrary."""

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Called once when the connection is closed.

        Args:
            reason: ``ConnectionDone`` for a clean close, ``ConnectionLost``
                (or another error) otherwise.
        """


class Factory:
    """Builds a protocol for each connection.

    Set ``protocol`` to a Protocol class, or override :meth:`buildProtocol`.
    ``startFactory``/``stopFactory`` run when the first port starts and the
    last one stops using the factory.
    """

    protocol: Callable[[], Any] | None = None
    numPorts = 0
    noisy = True

    @classmethod
    def forProtocol(cls, protocol: Callable[..., Any], *args: Any, **kwargs: Any) -> Self:
        """Return a factory of this class whose ``protocol`` is ``protocol``.

        Extra arguments go to the factory's constructor.
        """
        factory = cls(*args, **kwargs)
        factory.protocol = protocol
        return factory

    def logPrefix(self) -> str:
        return type(self).__name__

    def doStart(self) -> None:
        """Count a port using this factory; the first one starts it."""
        if not self.numPorts:
            if self.noisy:
                _log.debug("Starting factory %r", self)
            self.startFactory()
        self.numPorts += 1

    def doStop(self) -> None:
        """Uncount a port; the last one stops the factory."""
        if self.numPorts == 0:
            return
        self.numPorts -= 1
        if not self.numPorts:
            if self.noisy:
                _log.debug("Stopping factory %r", self)
            self.stopFactory()

    def startFactory(self) -> None:
        """Called before the first connection is served (open files, databases...)."""

    def stopFactory(self) -> None:
        """Called after the last port using this factory has stopped."""

    def buildProtocol(self, addr: IAddress) -> Any:
        """Return a new protocol for a connection from ``addr`` (None refuses it)."""
        if self.protocol is None:
            raise NotImplementedError(f"{type(self).__name__}.protocol is not set")
        p = self.protocol()
        p.factory = self
        return p


class ServerFactory(Factory):
    """A factory for servers (``listenTCP`` and friends)."""


class ClientFactory(Factory):
    """A factory for clients; told when connecting starts, fails or ends."""

    def startedConnecting(self, connector: IConnector) -> None:
        """Called when a connection attempt starts."""

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        """Called when a connection attempt failed (refused, timed out, no route...)."""

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        """Called when an established connection was lost."""


class ReconnectingClientFactory(ClientFactory):
    """A client factory that reconnects with exponential back-off and jitter.

    After each failure the delay is multiplied by ``factor`` (capped at
    ``maxDelay``) and randomised by ``jitter``; :meth:`resetDelay` (call it
    once connected) starts over.  :meth:`stopTrying` gives up.

    Attributes:
        maxDelay: the longest wait between attempts, in seconds.
        initialDelay: the first wait.
        factor: how much the wait grows per failure (e).
        jitter: the relative random spread of each wait.
        maxRetries: give up after this many attempts (None: never).
        clock: what schedules retries (the default reactor when None).
    """

    maxDelay = 3600.0
    initialDelay = 1.0
    factor = 2.7182818284590451
    jitter = 0.11962656472
    delay = initialDelay
    retries = 0
    maxRetries: int | None = None
    _callID: Any = None
    connector: IConnector | None = None
    clock: IReactorTime | None = None
    continueTrying = 1

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        if self.continueTrying:
            self.connector = connector
            self.retry()

    def clientConnectionLost(self, connector: IConnector, unused_reason: Failure) -> None:
        if self.continueTrying:
            self.connector = connector
            self.retry()

    def retry(self, connector: IConnector | None = None) -> None:
        """Schedule the next attempt after the next back-off delay."""
        if not self.continueTrying:
            return
        if connector is None:
            if self.connector is None:
                raise ValueError("no connector to retry on")
            connector = self.connector
        self.retries += 1
        if self.maxRetries is not None and self.retries > self.maxRetries:
            if self.noisy:
                _log.info("Abandoning %r after %d retries.", connector, self.retries)
            return
        self.delay = min(self.delay * self.factor, self.maxDelay)
        if self.jitter:
            jittered = random.normalvariate(self.delay, self.delay * self.jitter)
            # A draw at or below zero (likely only with a large jitter) would
            # retry at once and, as the delay compounds, for ever: keep the
            # delay unjittered this time instead.
            if jittered > 0:
                self.delay = jittered
        if self.noisy:
            _log.info("%r will retry in %d seconds", connector, self.delay)

        def reconnector() -> None:
            self._callID = None
            connector.connect()

        clock = self.clock
        if clock is None:
            from torsion._globalreactor import defaultReactor  # noqa: PLC0415

            clock = defaultReactor("set ReconnectingClientFactory.clock")  # type: ignore[assignment]
            self.clock = clock
        assert clock is not None
        self._callID = clock.callLater(self.delay, reconnector)

    def stopTrying(self) -> None:
        """Stop reconnecting (cancelling a scheduled attempt and a pending connect)."""
        if self._callID is not None:
            self._callID.cancel()
            self._callID = None
        self.continueTrying = 0
        if self.connector is not None:
            with contextlib.suppress(error.NotConnectingError):
                self.connector.stopConnecting()

    def resetDelay(self) -> None:
        """Start the back-off over; call it once a connection succeeded."""
        self.delay = self.initialDelay
        self.retries = 0
        self._callID = None
        self.continueTrying = 1

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key in ("connector", "retries", "delay", "continueTrying", "_callID", "clock"):
            state.pop(key, None)
        return state


class _InstanceFactory(ClientFactory, Generic[_P]):
    """The one-connection factory behind :class:`ClientCreator`."""

    noisy = False

    def __init__(self, reactor: Any, instance: _P, deferred: Deferred[_P]) -> None:
        self.reactor = reactor
        self.instance = instance
        self.deferred: Deferred[_P] | None = deferred

    def buildProtocol(self, addr: IAddress) -> _P:
        self.reactor.callLater(0, self._fire, self.instance)
        return self.instance

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        self.reactor.callLater(0, self._fire, reason)

    def _fire(self, result: Any) -> None:
        d, self.deferred = self.deferred, None
        if d is not None:
            d.callback(result)


class ClientCreator:
    """Connect and get the connected protocol instance back in a Deferred.

    Example::

        creator = ClientCreator(reactor, MyProtocol, "arg")
        d = creator.connectTCP("127.0.0.1", 8000)   # fires with the MyProtocol
    """

    def __init__(self, reactor: Any, protocolClass: Callable[..., _P], *args: Any, **kwargs: Any):
        self.reactor = reactor
        self.protocolClass = protocolClass
        self.args = args
        self.kwargs = kwargs

    def _connect(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
        def cancel(d: Deferred[Any]) -> None:
            connector.disconnect()
            if factory.deferred is d:
                factory.deferred = None
                d.errback(Failure(CancelledError()))

        d: Deferred[Any] = Deferred(cancel)
        factory = _InstanceFactory(self.reactor, self.protocolClass(*self.args, **self.kwargs), d)
        connector = method(factory=factory, *args, **kwargs)  # noqa: B026
        return d

    def connectTCP(
        self,
        host: str,
        port: int,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> Deferred[Any]:
        """Connect over TCP; the Deferred fires with the protocol instance."""
        return self._connect(
            self.reactor.connectTCP, host, port, timeout=timeout, bindAddress=bindAddress
        )

    def connectUNIX(
        self, address: str, timeout: float = 30, checkPID: bool = False
    ) -> Deferred[Any]:
        """Connect to a UNIX socket; the Deferred fires with the protocol instance."""
        return self._connect(self.reactor.connectUNIX, address, timeout=timeout, checkPID=checkPID)

    def connectSSL(
        self,
        host: str,
        port: int,
        contextFactory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> Deferred[Any]:
        """Connect over TLS; the Deferred fires with the protocol instance."""
        return self._connect(
            self.reactor.connectSSL,
            host,
            port,
            contextFactory=contextFactory,
            timeout=timeout,
            bindAddress=bindAddress,
        )


class ProcessProtocol(BaseProtocol):
    """Callbacks from a child process (see ``reactor.spawnProcess``)."""

    transport: Any = None

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        """Data from one of the child's descriptors; dispatches stdout and stderr."""
        if childFD == 1:
            self.outReceived(data)
        elif childFD == 2:
            self.errReceived(data)

    def outReceived(self, data: bytes) -> None:
        """Data from the child's standard output."""

    def errReceived(self, data: bytes) -> None:
        """Data from the child's standard error."""

    def childConnectionLost(self, childFD: int) -> None:
        """One of the child's descriptors was closed; dispatches the standard three."""
        if childFD == 0:
            self.inConnectionLost()
        elif childFD == 1:
            self.outConnectionLost()
        elif childFD == 2:
            self.errConnectionLost()

    def inConnectionLost(self) -> None:
        """The child's standard input was closed."""

    def outConnectionLost(self) -> None:
        """The child closed its standard output."""

    def errConnectionLost(self) -> None:
        """The child closed its standard error."""

    def processExited(self, reason: Failure) -> None:
        """The child exited (``ProcessDone`` or ``ProcessTerminated``)."""

    def processEnded(self, reason: Failure) -> None:
        """The child exited and all its descriptors are closed."""


class AbstractDatagramProtocol:
    """What datagram protocols share: a transport and start/stop hooks."""

    transport: Any = None
    numPorts = 0
    noisy = True

    def logPrefix(self) -> str:
        return type(self).__name__

    def doStart(self) -> None:
        if not self.numPorts:
            self.startProtocol()
        self.numPorts += 1

    def doStop(self) -> None:
        if self.numPorts == 0:
            return
        self.numPorts -= 1
        self.transport = None
        if not self.numPorts:
            self.stopProtocol()

    def startProtocol(self) -> None:
        """Called when the protocol starts listening."""

    def stopProtocol(self) -> None:
        """Called when the protocol stops listening."""

    def makeConnection(self, transport: Any) -> None:
        """Attach ``transport`` and start the protocol (called by the port)."""
        self.transport = transport
        self.doStart()

    def __getstate__(self) -> dict[str, Any]:
        # A transport is a live socket: a pickled protocol starts without one.
        state = self.__dict__.copy()
        state["transport"] = None
        return state

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """Called with each datagram and the address it came from."""


class DatagramProtocol(AbstractDatagramProtocol):
    """A UDP protocol."""

    def connectionRefused(self) -> None:
        """A connected UDP port's peer refused a datagram (an ICMP error)."""


class ConnectedDatagramProtocol(AbstractDatagramProtocol):
    """A protocol for a connected datagram socket (a UNIX datagram client).

    It only ever hears from its one peer, so ``datagramReceived`` takes no
    address.
    """

    def datagramReceived(self, datagram: bytes) -> None:  # type: ignore[override]
        """Called with each datagram from the peer."""

    def connectionFailed(self, failure: Failure) -> None:
        """Connecting failed."""

    def connectionRefused(self) -> None:
        """The peer refused a datagram (nobody is listening any more)."""
