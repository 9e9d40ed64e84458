"""The contracts between reactors, their helpers and application code.

This module mirrors ``twisted.internet.interfaces``, with ``typing.Protocol``
classes in place of ``zope.interface`` interfaces: an object provides an
interface by having the right methods, with no declaration.  Each class is
``runtime_checkable``, so ``isinstance(obj, IReactorTime)`` checks that the
methods exist (not their signatures or behaviour).  The docstrings state the
behaviour every provider promises; the conformance suites test it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from torsion.defer import Deferred
    from torsion.failure import Failure

__all__ = [
    "IAddress",
    "IConnector",
    "IConsumer",
    "IDelayedCall",
    "IFileDescriptorReceiver",
    "IHalfCloseableProtocol",
    "IListeningPort",
    "IMulticastTransport",
    "IProcessProtocol",
    "IProcessTransport",
    "IProducer",
    "IProtocol",
    "IProtocolFactory",
    "IPullProducer",
    "IPushProducer",
    "IReactorCore",
    "IReactorFDSet",
    "IReactorFromThreads",
    "IReactorMulticast",
    "IReactorProcess",
    "IReactorSSL",
    "IReactorTCP",
    "IReactorThreads",
    "IReactorTime",
    "IReactorUDP",
    "IReactorUNIX",
    "IReactorUNIXDatagram",
    "IReadDescriptor",
    "IReadWriteDescriptor",
    "IResolverSimple",
    "ISendfileTransport",
    "IStreamClientEndpoint",
    "IStreamServerEndpoint",
    "ITCPTransport",
    "ITransport",
    "IUDPTransport",
    "IUNIXTransport",
    "IWriteDescriptor",
]

#: Any address object a transport reports (``torsion.address`` classes).
IAddress = Any


@runtime_checkable
class IDelayedCall(Protocol):
    """A call scheduled to run once at a given time, as returned by ``callLater``.

    A delayed call is *active* from its creation until it either runs or is
    cancelled; both are final.  Every method but ``getTime`` and ``active``
    raises once the call is no longer active.
    """

    def getTime(self) -> float:
        """Return when the call is due.

        Returns:
            The due time, on the same scale as the ``seconds()`` of the
            reactor that scheduled it.  Reflects any ``delay`` or ``reset``.
        """
        ...

    def cancel(self) -> None:
        """Unschedule the call so that it never runs.

        Raises:
            AlreadyCancelled: The call was already cancelled.
            AlreadyCalled: The call has already run (or is running).
        """
        ...

    def delay(self, secondsLater: float) -> None:
        """Move the due time by ``secondsLater`` seconds relative to the current due time.

        A negative value moves the call earlier.

        Raises:
            AlreadyCancelled: The call was already cancelled.
            AlreadyCalled: The call has already run.
        """
        ...

    def reset(self, secondsFromNow: float) -> None:
        """Make the call due ``secondsFromNow`` seconds after the reactor's current time.

        Raises:
            AlreadyCancelled: The call was already cancelled.
            AlreadyCalled: The call has already run.
        """
        ...

    def active(self) -> bool:
        """Return True while the call has neither run nor been cancelled."""
        ...


@runtime_checkable
class IReactorTime(Protocol):
    """Time-based scheduling: what ``LoopingCall``, ``deferLater`` and timeouts need.

    Providers include every reactor and the deterministic ``torsion.task.Clock``.
    """

    def seconds(self) -> float:
        """Return the provider's current time in seconds.

        This is the scale used by ``IDelayedCall.getTime`` and by the delays
        given to ``callLater``.  A reactor returns wall-clock time (which the
        system may step); a fake clock returns whatever it was advanced to.
        """
        ...

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall:
        """Arrange for ``callable(*args, **kw)`` to run ``delay`` seconds from now.

        The call never runs synchronously inside ``callLater``, even with a
        delay of 0: it runs on a later turn of the reactor (or ``advance`` of
        a clock).  Calls due at the same time run in the order they were
        scheduled.  An exception raised by the callable is logged by a
        reactor and does not stop other calls from running.

        Args:
            delay: Seconds from now, ``>= 0``.
            callable: What to call.
            *args: Positional arguments for ``callable``.
            **kw: Keyword arguments for ``callable``.

        Returns:
            An ``IDelayedCall`` that can cancel or reschedule the call.
        """
        ...

    def getDelayedCalls(self) -> Sequence[IDelayedCall]:
        """Return every call that is scheduled and has not yet run or been cancelled.

        The order of the sequence is unspecified; callers must not mutate it.
        """
        ...


@runtime_checkable
class IReactorCore(Protocol):
    """Running and stopping the loop, and the triggers around it."""

    running: bool

    def run(self) -> None:
        """Run the loop until ``stop()``; runs startup triggers first.

        Raises:
            ReactorAlreadyRunning: when it is running already.
            ReactorNotRestartable: when it has already run and stopped.
        """
        ...

    def stop(self) -> None:
        """Stop the loop after running the shutdown triggers.

        Raises:
            ReactorNotRunning: when it is not running (or already stopping).
        """
        ...

    def crash(self) -> None:
        """Stop the loop at once, without running shutdown triggers."""
        ...

    def callWhenRunning(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Call ``callable`` once the loop is running (now, if it already is)."""
        ...

    def addSystemEventTrigger(
        self, phase: str, eventType: str, callable: Callable[..., Any], *args: Any, **kw: Any
    ) -> Any:
        """Call ``callable`` in ``phase`` ("before", "during", "after") of ``eventType``.

        ``eventType`` is "startup" or "shutdown".  A "before" trigger may
        return a Deferred; the event waits for it.  Returns an ID for
        :meth:`removeSystemEventTrigger`.
        """
        ...

    def removeSystemEventTrigger(self, triggerID: Any) -> None:
        """Remove a trigger added with :meth:`addSystemEventTrigger`."""
        ...

    def fireSystemEvent(self, eventType: str) -> None:
        """Run the triggers of ``eventType`` now."""
        ...

    def resolve(self, name: str, timeout: Sequence[int] = ...) -> Deferred[str]:
        """Return a Deferred with an IP address for host ``name``."""
        ...


@runtime_checkable
class IReactorThreads(Protocol):
    """Running code in other threads, and getting back to the reactor thread."""

    def callFromThread(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Call ``callable`` in the reactor thread soon; safe from any thread.

        Calls run in the order they were made, and wake a sleeping loop.
        """
        ...

    def callInThread(self, callable: Callable[..., Any], *args: Any, **kw: Any) -> None:
        """Run ``callable`` in the reactor's thread pool."""
        ...

    def suggestThreadPoolSize(self, size: int) -> None:
        """Set the thread pool's maximum size."""
        ...

    def getThreadPool(self) -> Any:
        """Return the reactor's thread pool (started on first use)."""
        ...


@runtime_checkable
class IReadDescriptor(Protocol):
    """Something the reactor watches for readability (an open file descriptor)."""

    def fileno(self) -> int:
        """The descriptor; -1 when closed."""
        ...

    def doRead(self) -> Failure | BaseException | None:
        """Read what is available.  A returned exception or Failure closes it."""
        ...

    def connectionLost(self, reason: Failure) -> None:
        """The descriptor is gone (closed, or ``doRead``/``doWrite`` failed)."""
        ...

    def logPrefix(self) -> str:
        """A short name for log lines."""
        ...


@runtime_checkable
class IWriteDescriptor(Protocol):
    """Something the reactor watches for writability."""

    def fileno(self) -> int: ...

    def doWrite(self) -> Failure | BaseException | None:
        """Write what is buffered.  A returned exception or Failure closes it."""
        ...

    def connectionLost(self, reason: Failure) -> None: ...

    def logPrefix(self) -> str: ...


@runtime_checkable
class IReadWriteDescriptor(IReadDescriptor, IWriteDescriptor, Protocol):
    """A descriptor watched for both directions."""


@runtime_checkable
class IReactorFDSet(Protocol):
    """Watching file descriptors: the part every backend implements."""

    def addReader(self, reader: IReadDescriptor) -> None:
        """Call ``reader.doRead()`` whenever its descriptor is readable."""
        ...

    def addWriter(self, writer: IWriteDescriptor) -> None:
        """Call ``writer.doWrite()`` whenever its descriptor is writable."""
        ...

    def removeReader(self, reader: IReadDescriptor) -> None: ...

    def removeWriter(self, writer: IWriteDescriptor) -> None: ...

    def removeAll(self) -> list[IReadDescriptor | IWriteDescriptor]:
        """Stop watching everything; return what was watched."""
        ...

    def getReaders(self) -> list[IReadDescriptor]: ...

    def getWriters(self) -> list[IWriteDescriptor]: ...


@runtime_checkable
class IConsumer(Protocol):
    """Accepts data from a producer (a transport is a consumer)."""

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Attach ``producer``: push (``streaming``), or pull (resumed for each chunk).

        Raises:
            RuntimeError: when another producer is registered.
        """
        ...

    def unregisterProducer(self) -> None: ...

    def write(self, data: bytes) -> None: ...


@runtime_checkable
class IProducer(Protocol):
    def stopProducing(self) -> None:
        """Stop for good; called when the consumer goes away."""
        ...


@runtime_checkable
class IPushProducer(IProducer, Protocol):
    """Produces on its own until paused."""

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...


@runtime_checkable
class IPullProducer(IProducer, Protocol):
    """Produces one chunk each time it is asked."""

    def resumeProducing(self) -> None: ...


@runtime_checkable
class ITransport(Protocol):
    """One end of a connection, as a protocol sees it.

    ``write`` never blocks and never loses data: what cannot be sent now is
    buffered and sent in order later.  ``loseConnection`` sends what is
    buffered first; ``connectionLost`` is called on the protocol exactly once.
    """

    def write(self, data: bytes) -> None: ...

    def writeSequence(self, data: Iterable[bytes]) -> None: ...

    def loseConnection(self) -> None: ...

    def getPeer(self) -> IAddress: ...

    def getHost(self) -> IAddress: ...


@runtime_checkable
class ITCPTransport(ITransport, Protocol):
    """A TCP connection's transport."""

    def abortConnection(self) -> None:
        """Close at once, dropping buffered data."""
        ...

    def loseWriteConnection(self) -> None:
        """Half-close: send buffered data, then shut down our sending side."""
        ...

    def getTcpNoDelay(self) -> bool: ...

    def setTcpNoDelay(self, enabled: bool) -> None: ...

    def getTcpKeepAlive(self) -> bool: ...

    def setTcpKeepAlive(self, enabled: bool) -> None: ...


@runtime_checkable
class ISendfileTransport(Protocol):
    """A stream transport that sends file regions itself (zero copy where it can).

    ``sendfile`` is to a file what ``write`` is to bytes: the region is queued after
    what was written before it and before what is written after it; it never
    blocks; a ``loseConnection`` closes only once the region is out; a streaming
    producer is paused while the queued bytes (the region's included) are above
    the high-water mark.  The file is read at ``offset`` (its position is neither
    used nor moved) and never closed by the transport: the caller closes it once
    the Deferred has fired, either way.
    """

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> Deferred[int]:
        """Send ``count`` bytes (None: to the end) of ``file`` from ``offset``.

        Args:
            file: a descriptor, or an object with ``fileno()``, of a regular file.
            offset: the first byte to send.
            count: how many bytes, or None for the rest of the file.

        Returns:
            A Deferred firing with the number of bytes sent once they are all
            handed to the kernel, or failing with ``ConnectionLost`` if the
            connection is (or was already) lost first, or with the ``OSError`` of
            a file that cannot be read or ends early (the connection is then
            closed, as the stream is cut short).

        Raises:
            ValueError: a negative ``offset`` or ``count``.
        """
        ...


@runtime_checkable
class IProtocol(Protocol):
    def makeConnection(self, transport: Any) -> None: ...

    def connectionMade(self) -> None: ...

    def dataReceived(self, data: bytes) -> None: ...

    def connectionLost(self, reason: Failure) -> None: ...


@runtime_checkable
class IHalfCloseableProtocol(Protocol):
    """A protocol told when the peer half-closes instead of losing the connection."""

    def readConnectionLost(self) -> None: ...

    def writeConnectionLost(self) -> None: ...


@runtime_checkable
class IProtocolFactory(Protocol):
    def buildProtocol(self, addr: IAddress) -> Any: ...

    def doStart(self) -> None: ...

    def doStop(self) -> None: ...


@runtime_checkable
class IListeningPort(Protocol):
    """A listening socket."""

    def startListening(self) -> None: ...

    def stopListening(self) -> Deferred[None] | None:
        """Stop accepting; the Deferred fires once the socket is closed."""
        ...

    def getHost(self) -> IAddress: ...


@runtime_checkable
class IConnector(Protocol):
    """An outgoing connection attempt, which can be retried."""

    def stopConnecting(self) -> None: ...

    def disconnect(self) -> None: ...

    def connect(self) -> None: ...

    def getDestination(self) -> IAddress: ...


@runtime_checkable
class IReactorTCP(Protocol):
    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = ""
    ) -> IListeningPort: ...

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> IConnector: ...


@runtime_checkable
class IResolverSimple(Protocol):
    def getHostByName(self, name: str, timeout: Sequence[int] = ...) -> Deferred[str]:
        """Resolve ``name`` to one IP address."""
        ...


@runtime_checkable
class IReactorFromThreads(Protocol):
    """Getting back to the reactor thread from any other thread."""

    def callFromThread(self, callable: Callable[..., Any], /, *args: Any, **kw: Any) -> None:
        """Call ``callable`` in the reactor thread soon; safe from any thread."""
        ...


@runtime_checkable
class IUDPTransport(Protocol):
    """A UDP port, as its DatagramProtocol sees it."""

    def write(self, packet: bytes, addr: tuple[str, int] | None = None) -> None:
        """Send one datagram to ``addr`` (IP literal and port; omitted when connected).

        Raises:
            MessageLengthError: when the datagram is too large.
        """
        ...

    def connect(self, host: str, port: int) -> None:
        """Talk to one peer only; refusals reach ``connectionRefused``."""
        ...

    def getHost(self) -> IAddress: ...

    def stopListening(self) -> Deferred[None]: ...

    def setBroadcastAllowed(self, enabled: bool) -> None: ...

    def getBroadcastAllowed(self) -> bool: ...


@runtime_checkable
class IMulticastTransport(IUDPTransport, Protocol):
    """A UDP port that can join multicast groups."""

    def joinGroup(self, addr: str, interface: str = "") -> Deferred[None]: ...

    def leaveGroup(self, addr: str, interface: str = "") -> Deferred[None]: ...

    def getTTL(self) -> int: ...

    def setTTL(self, ttl: int) -> None: ...

    def getLoopbackMode(self) -> bool: ...

    def setLoopbackMode(self, mode: bool) -> None: ...

    def getOutgoingInterface(self) -> str | int: ...

    def setOutgoingInterface(self, addr: str) -> Deferred[int]: ...


@runtime_checkable
class IReactorUDP(Protocol):
    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> IUDPTransport:
        """Bind a UDP port; ``protocol.datagramReceived`` gets each datagram.

        Raises:
            CannotListenError: when the port cannot be bound.
        """
        ...


@runtime_checkable
class IReactorMulticast(Protocol):
    def listenMulticast(
        self,
        port: int,
        protocol: Any,
        interface: str = "",
        maxPacketSize: int = 8192,
        listenMultiple: bool = False,
    ) -> IMulticastTransport: ...


@runtime_checkable
class IUNIXTransport(ITransport, Protocol):
    """A UNIX stream connection: it can pass file descriptors."""

    def sendFileDescriptor(self, descriptor: int) -> None:
        """Send a copy of ``descriptor`` along with the next write."""
        ...


@runtime_checkable
class IFileDescriptorReceiver(Protocol):
    """A protocol that accepts descriptors passed over a UNIX socket."""

    def fileDescriptorReceived(self, descriptor: int) -> None:
        """A descriptor arrived; it is ours to close.  Called before its data."""
        ...


@runtime_checkable
class IReactorUNIX(Protocol):
    def listenUNIX(
        self, address: str, factory: Any, backlog: int = 50, mode: int = 0o666,
        wantPID: bool = False,
    ) -> IListeningPort: ...

    def connectUNIX(
        self, address: str, factory: Any, timeout: float = 30, checkPID: bool = False
    ) -> IConnector: ...


@runtime_checkable
class IReactorUNIXDatagram(Protocol):
    def listenUNIXDatagram(
        self, address: str, protocol: Any, maxPacketSize: int = 8192, mode: int = 0o666
    ) -> Any: ...

    def connectUNIXDatagram(
        self,
        address: str,
        protocol: Any,
        maxPacketSize: int = 8192,
        mode: int = 0o666,
        bindAddress: str | None = None,
    ) -> Any: ...


@runtime_checkable
class IReactorSSL(Protocol):
    def listenSSL(
        self, port: int, factory: Any, contextFactory: Any, backlog: int = 50, interface: str = ""
    ) -> IListeningPort:
        """Listen for TLS connections (``contextFactory.getContext()`` or an SSLContext)."""
        ...

    def connectSSL(
        self,
        host: str,
        port: int,
        factory: Any,
        contextFactory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> IConnector: ...


@runtime_checkable
class IProcessProtocol(Protocol):
    """What ``spawnProcess`` calls on its protocol (``ProcessProtocol`` has it all)."""

    def makeConnection(self, transport: Any) -> None: ...

    def childDataReceived(self, childFD: int, data: bytes) -> None: ...

    def childConnectionLost(self, childFD: int) -> None: ...

    def processExited(self, reason: Failure) -> None: ...

    def processEnded(self, reason: Failure) -> None: ...


@runtime_checkable
class IProcessTransport(Protocol):
    """A running child as its protocol sees it."""

    pid: int | None

    def write(self, data: bytes) -> None: ...

    def writeToChild(self, childFD: int, data: bytes) -> None: ...

    def closeChildFD(self, childFD: int) -> None: ...

    def closeStdin(self) -> None: ...

    def loseConnection(self) -> None: ...

    def signalProcess(self, signalID: str | int) -> None:
        """Send a signal ("TERM", "KILL", "INT", "HUP" or a number).

        Raises:
            ProcessExitedAlready: once the child has exited.
        """
        ...


@runtime_checkable
class IReactorProcess(Protocol):
    def spawnProcess(
        self,
        processProtocol: Any,
        executable: str | bytes,
        args: Sequence[str | bytes] = (),
        env: Any = ...,
        path: str | None = None,
        uid: int | None = None,
        gid: int | None = None,
        usePTY: bool = False,
        childFDs: dict[int, str | int] | None = None,
    ) -> IProcessTransport: ...


@runtime_checkable
class IStreamServerEndpoint(Protocol):
    """Something to listen on."""

    def listen(self, protocolFactory: Any) -> Deferred[Any]:
        """Listen with ``protocolFactory``; fire with the listening port (or fail)."""
        ...


@runtime_checkable
class IStreamClientEndpoint(Protocol):
    """Something to connect to."""

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        """Connect; fire with the protocol once connected (cancel to give up)."""
        ...
