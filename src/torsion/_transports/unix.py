"""UNIX-domain sockets: listening ports, stream connections and datagram ports.

Names mirror Twisted's ``twisted.internet.unix`` (``Port``, ``Server``,
``Client``, ``Connector``, ``DatagramPort``, ``ConnectedDatagramPort``); the
reactor methods are those of ``IReactorUNIX`` and ``IReactorUNIXDatagram``.
Stream connections pass file descriptors as ``IUNIXTransport`` does:
``transport.sendFileDescriptor(fd)`` sends ``fd`` with the next write, and a
protocol with a ``fileDescriptorReceived(fd)`` method gets each descriptor
the peer sent, before the ``dataReceived`` call holding the bytes it came with.

The datagram ports live in :mod:`torsion._transports._unix_datagram`, and
what both kinds share about paths (length, stale files, error wording) in
:mod:`torsion._transports._unix_paths`.

Example, an echo server on a socket file::

    port = reactor.listenUNIX("/run/echo.sock", Factory.forProtocol(Echo), mode=0o660)

Hard-won facts kept here:

* An address starting with a NUL byte lives in Linux's abstract namespace
  (``"\\0name"``): there is no file, so no mode, no stale file and nothing to
  unlink.  ``getsockname`` reports such names as bytes; they are decoded to
  str.  An unnamed end (a client) has the address ``UNIXAddress(None)``.
* A non-blocking ``connect`` on a UNIX stream socket completes or fails at
  once: it never returns EINPROGRESS.  When the listener's backlog is full it
  returns EAGAIN and nothing says when room frees up, so the attempt is
  retried on a timer (until the connector's timeout).
* Descriptors sent with SCM_RIGHTS ride with the first byte of the
  ``sendmsg`` carrying them; the receiver gets them from the ``recvmsg`` that
  reads that byte.  That read may begin with earlier bytes, but it ends with
  the carrying ``sendmsg``'s data.  So descriptors are delivered in order,
  before the ``dataReceived`` call holding the byte they came with (which may
  also hold bytes written before).  They are received with MSG_CMSG_CLOEXEC.
  A control buffer too small sets MSG_CTRUNC and the kernel closes the
  excess: the buffer has room for SCM_MAX_FD (253) descriptors and at most
  that many ride with one byte.  Descriptors queued with no data written
  after them are never sent (as in Twisted); they are closed with the
  connection.
* ``mode`` is applied with chmod right after bind, so for an instant the
  socket has the umask's permissions (as in Twisted).  When that matters, put
  the socket in a directory only the right users may enter.
* Stale socket files.  Twisted refuses to bind over an existing file
  (EADDRINUSE) unless ``wantPID`` found the lock of a dead process.  torsion
  also replaces a socket file nobody listens on (a probe ``connect`` is
  refused), as most servers do; a live server, or a file that is not a
  socket, still gives ``CannotListenError``.  (A live server sees the probe
  as a connection closed at once.)  The file is removed on ``stopListening``
  only if it is still the one this port created.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
from array import array
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from torsion import error
from torsion._transports._client import ClientConnection
from torsion._transports._connector import BaseConnector
from torsion._transports._listening import ListeningPort, ServerConnection
from torsion._transports._stream import CONNECTION_DONE, StreamTransport
from torsion._transports._unix_datagram import ConnectedDatagramPort, DatagramPort
from torsion._transports._unix_paths import (
    UNIXPath,
    address_name,
    bind_path,
    check_length,
    coerce_path,
    connect_error,
    explain,
    is_abstract,
    unlink_if_ours,
)
from torsion.address import UNIXAddress
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.lockfile import FilesystemLock, isLocked

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer as Buffer

__all__ = [
    "Client",
    "ConnectedDatagramPort",
    "Connector",
    "DatagramPort",
    "Port",
    "Server",
    "UNIXMixin",
    "UNIXPath",
]

_log = logging.getLogger("torsion.unix")

_SCM_MAX_FD = 253  # the most descriptors Linux takes in one SCM_RIGHTS message
_INT_SIZE = array("i").itemsize
_CMSG_SPACE = socket.CMSG_SPACE(_SCM_MAX_FD * _INT_SIZE)
_RETRY_DELAYS = (0.001, 0.1)  # first and largest wait between EAGAIN connect retries


# -- descriptor passing ---------------------------------------------------------


def _head(buffers: Iterable[Buffer], limit: int) -> list[memoryview]:
    """The first ``limit`` bytes of ``buffers``, as views."""
    out: list[memoryview] = []
    for buffer in buffers:
        if limit <= 0:
            break
        view = memoryview(buffer).cast("B")
        if len(view) > limit:
            view = view[:limit]
        out.append(view)
        limit -= len(view)
    return out


def _close_all(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class _PassingSocket(socket.socket):
    """A UNIX stream socket that sends queued descriptors with the right byte.

    The transport attaches descriptors to a position in the outgoing byte
    stream; ``send``/``sendmsg`` (all the transport calls) stop short of a
    marked byte and send it with its descriptors.  The transport's own write
    path, buffering and partial sends are unchanged.
    """

    __slots__ = ("_marks", "_sent")

    def __init__(self, fileno: int | None = None) -> None:
        super().__init__(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno)
        self._sent = 0  # bytes the kernel took, ever
        self._marks: deque[tuple[int, list[int]]] = deque()

    @property
    def sent_total(self) -> int:
        """How many bytes were sent on this socket."""
        return self._sent

    def attach(self, offset: int, fds: list[int]) -> None:
        """Send ``fds`` (then close them) with byte number ``offset`` of the stream."""
        self._marks.append((offset, fds))

    def send(self, data: Buffer, flags: int = 0, /) -> int:
        sent = self._send_marked([data], flags) if self._marks else super().send(data, flags)
        self._sent += sent
        return sent

    def sendmsg(
        self,
        buffers: Iterable[Buffer],
        ancdata: Iterable[tuple[int, int, Buffer]] = (),
        flags: int = 0,
        address: Any = None,
        /,
    ) -> int:
        if self._marks and not ancdata and address is None:
            sent = self._send_marked(buffers, flags)
        else:
            sent = super().sendmsg(buffers, ancdata, flags, address)
        self._sent += sent
        return sent

    def _send_marked(self, buffers: Iterable[Buffer], flags: int) -> int:
        offset, fds = self._marks[0]
        gap = offset - self._sent
        if gap > 0:
            return super().sendmsg(_head(buffers, gap), (), flags)
        # This byte carries ``fds``; send no further than the next marked byte.
        if len(self._marks) > 1:
            data: Iterable[Buffer] = _head(buffers, self._marks[1][0] - offset)
        else:
            data = buffers
        rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array("i", fds))]
        sent = super().sendmsg(data, rights, flags)
        if sent:
            self._marks.popleft()
            _close_all(fds)
        return sent

    def close(self) -> None:
        marks, self._marks = self._marks, deque()
        for _, fds in marks:
            _close_all(fds)
        super().close()


def _received_fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            numbers = array("i")
            numbers.frombytes(payload[: len(payload) - len(payload) % _INT_SIZE])
            fds.extend(numbers)
    return fds


# -- stream connections ------------------------------------------------------------


class _UNIXConnection(StreamTransport):
    """A connected UNIX stream socket; provides ``IUNIXTransport``."""

    socket: _PassingSocket
    _fds_to_send: list[int]

    def __init__(self, skt: _PassingSocket, protocol: Any, reactor: Any) -> None:
        super().__init__(skt, protocol, reactor)
        self._fds_to_send = []

    def sendFileDescriptor(self, descriptor: int) -> None:
        """Send ``descriptor`` to the peer with the next write.

        The descriptor is duplicated at once, so the caller may close its own
        copy; the duplicate is closed once sent (or with the connection).  It
        is sent with the first byte of the next :meth:`write`: with no write,
        it is never sent.

        Example::

            r, w = os.pipe()
            transport.sendFileDescriptor(r)
            transport.write(b"here is a pipe")
            os.close(r)

        Raises:
            OSError: when ``descriptor`` is not an open descriptor.
        """
        self._fds_to_send.append(os.dup(descriptor))

    def write(self, data: bytes) -> None:
        """Send ``data`` (with any descriptors queued by :meth:`sendFileDescriptor`)."""
        if (
            self._fds_to_send
            and isinstance(data, bytes | bytearray | memoryview)
            and self.connected
            and not self._writeDisconnected
            and not self._aborting
        ):
            self._attach_fds(memoryview(data).nbytes)
        super().write(data)

    def writeSequence(self, iovec: Iterable[bytes]) -> None:
        """Write each of ``iovec`` in order."""
        if not self._fds_to_send:
            super().writeSequence(iovec)
            return
        for chunk in list(iovec):
            self.write(chunk)

    def _attach_fds(self, size: int) -> None:
        """Mark the next ``size`` bytes to carry the queued descriptors (253 per byte)."""
        offset = self.socket.sent_total + self._buffered
        fds = self._fds_to_send
        taken = 0
        for index in range(min(size, -(-len(fds) // _SCM_MAX_FD))):
            batch = fds[taken : taken + _SCM_MAX_FD]
            self.socket.attach(offset + index, batch)
            taken += len(batch)
        self._fds_to_send = fds[taken:]

    def doRead(self) -> BaseException | None:
        """Read once; hand descriptors, then bytes, to the protocol."""
        try:
            data, ancdata, flags, _ = self.socket.recvmsg(
                self.bufferSize, _CMSG_SPACE, socket.MSG_CMSG_CLOEXEC
            )
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            return error.ConnectionLost(exc.strerror or str(exc))
        if ancdata or flags & socket.MSG_CTRUNC:
            self._deliver_fds(_received_fds(ancdata), flags)
        if not data:
            return CONNECTION_DONE
        self.protocol.dataReceived(data)
        return None

    def _deliver_fds(self, fds: list[int], flags: int) -> None:
        if flags & socket.MSG_CTRUNC:
            _log.warning("%s: some file descriptors received were dropped by the kernel "
                         "(control buffer too small)", self.logPrefix())
        if not fds:
            return
        receiver = getattr(self.protocol, "fileDescriptorReceived", None)
        if receiver is None:
            _close_all(fds)
            _log.warning(
                "%s has no fileDescriptorReceived: closed %d file descriptor(s) from %r",
                self.logPrefix(), len(fds), self.getPeer(),
            )
            return
        for index, fd in enumerate(fds):
            try:
                receiver(fd)
            except BaseException:
                _close_all(fds[index + 1 :])
                raise

    def connectionLost(self, reason: Failure) -> None:
        fds, self._fds_to_send = self._fds_to_send, []
        _close_all(fds)
        super().connectionLost(reason)

    def getPeer(self) -> UNIXAddress:  # pragma: no cover - overridden
        """The other end's address."""
        raise NotImplementedError

    def getHost(self) -> UNIXAddress:
        """Our end's address (``UNIXAddress(None)`` for an unnamed client)."""
        try:
            return UNIXAddress(address_name(self.socket.getsockname()))
        except OSError:
            return UNIXAddress(None)


class Server(ServerConnection, _UNIXConnection):
    """A connection accepted by a :class:`Port`; its peer is usually
    ``UNIXAddress(None)`` (clients are unnamed)."""

    server: Port

    def __repr__(self) -> str:
        return f"<{self.logPrefix()} #{self.sessionno} on {self.server.port!r}>"


class Port(ListeningPort):
    """A listening UNIX stream socket; provides ``IListeningPort``.

    Attributes:
        port: the socket's path (or abstract name), as Twisted names it.
        factory: builds a protocol per accepted connection.
        lockFile: the ``wantPID`` lock, while held.
        connected: True while listening.
    """

    _sessions = 0
    _system = "torsion.unix"

    def __init__(
        self, address: str, factory: Any, backlog: int, mode: int, wantPID: bool, reactor: Any
    ) -> None:
        self.port = address
        self.factory = factory
        self.backlog = backlog
        self.mode = mode
        self.wantPID = wantPID
        self.reactor = reactor
        self.connected = False
        self.disconnected = False
        self.socket: socket.socket | None = None
        self.lockFile: FilesystemLock | None = None
        self._fileno = -1
        self._ident: tuple[int, int] | None = None
        self._stopped_deferreds: list[Deferred[None]] = []

    def __repr__(self) -> str:
        state = "listening" if self.connected else "not listening"
        return f"<{type(self.factory).__name__} on {self.port!r} ({state})>"

    def logPrefix(self) -> str:
        return f"{type(self.factory).__name__} (UNIX)"

    def _peer(self, address: Any) -> UNIXAddress:
        return UNIXAddress(address_name(address))

    def _serve(self, conn: socket.socket, protocol: Any, peer: Any) -> Server:
        Port._sessions += 1
        return Server(
            _PassingSocket(conn.detach()), protocol, peer, self, Port._sessions, self.reactor
        )

    def _closed(self) -> None:
        unlink_if_ours(self.port, self._ident)
        self._release_lock()

    def startListening(self) -> None:
        """Take the lock (``wantPID``), bind, listen; start the factory.

        Raises:
            CannotListenError: naming the cause (a live lock holder, another
                server on the path, permission denied, no such directory, a
                path too long...).
        """
        try:
            self._take_lock()
        except OSError as exc:
            raise error.CannotListenError("unix", self.port, exc) from exc
        try:
            skt = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError as exc:
            self._release_lock()
            raise error.CannotListenError("unix", self.port, exc) from exc
        try:
            self._ident = bind_path(skt, self.port, self.mode)
            skt.listen(self.backlog)
            skt.setblocking(False)
        except OSError as exc:
            skt.close()
            self._release_lock()
            raise error.CannotListenError("unix", self.port, exc) from exc
        self.socket = skt
        self._fileno = skt.fileno()
        _log.debug("%s starting on %r", self.logPrefix(), self.port)
        self.factory.doStart()
        self.connected = True
        self.reactor.addReader(self)

    def _take_lock(self) -> None:
        if not self.wantPID or is_abstract(self.port):
            return
        lock = FilesystemLock(self.port + ".lock")
        try:
            held = lock.lock()
        except OSError as exc:
            raise explain(exc, "locking", lock.name) from exc
        if not held:
            try:
                holder = os.readlink(lock.name)
            except OSError:
                holder = "?"
            raise OSError(errno.EADDRINUSE, f"{lock.name!r} is held by live process {holder}")
        self.lockFile = lock
        if not lock.clean:
            # The lock's owner died: the socket it left is stale.
            with contextlib.suppress(OSError):
                if stat.S_ISSOCK(os.lstat(self.port).st_mode):
                    os.unlink(self.port)

    def _release_lock(self) -> None:
        lock, self.lockFile = self.lockFile, None
        if lock is not None:
            with contextlib.suppress(OSError, ValueError):
                lock.unlock()

    def getHost(self) -> UNIXAddress:
        """The address listened on."""
        return UNIXAddress(self.port)


class Client(ClientConnection, _UNIXConnection):
    """An outgoing UNIX stream connection, from connecting to connected."""

    _system = "torsion.unix"

    def __init__(self, address: str, connector: Connector, checkPID: bool, reactor: Any) -> None:
        super().__init__(connector, reactor)
        self.address = address
        self.checkPID = checkPID
        self._fds_to_send = []
        self._retry_delay = _RETRY_DELAYS[0]
        # Start on the next iteration, as TCP does, so startedConnecting comes first.
        self._pending = reactor.callLater(0, self._begin)

    def _begin(self) -> None:
        self._pending = None
        address = self.address
        if self.checkPID and not is_abstract(address) and not isLocked(address + ".lock"):
            self.failIfNotConnected(error.BadFileError(
                string=f"no live process holds {address + '.lock'!r}"
            ))
            return
        try:
            check_length(address)
        except OSError as exc:
            self.failIfNotConnected(error.ConnectError(exc.errno, exc.strerror or str(exc)))
            return
        self._try_connect()

    def _try_connect(self) -> None:
        self._pending = None
        try:
            skt = _PassingSocket()
        except OSError as exc:
            self.failIfNotConnected(error.ConnectError(exc.errno, exc.strerror or str(exc)))
            return
        skt.setblocking(False)
        self.socket = skt
        self._fileno = skt.fileno()
        code = skt.connect_ex(self.address)
        if code in (0, errno.EISCONN):
            self._connected()
        elif code == errno.EAGAIN:
            # The listener's backlog is full and nothing will say when it is not:
            # try again later with a new socket.  No descriptor is held meanwhile,
            # so a reactor shut down while we wait leaks nothing.
            skt.close()
            self.socket = None  # type: ignore[assignment]
            self._fileno = -1
            self._pending = self.reactor.callLater(self._retry_delay, self._try_connect)
            self._retry_delay = min(self._retry_delay * 2, _RETRY_DELAYS[1])
        elif code in (errno.EINPROGRESS, errno.EALREADY, errno.EINTR):
            self.startWriting()
        else:
            self.failIfNotConnected(self._connect_error(code))

    def _connect_error(self, code: int) -> BaseException:
        return connect_error(code, self.address)

    def getPeer(self) -> UNIXAddress:
        """The address connected to."""
        return UNIXAddress(self.address)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} to {self.address!r}>"


class Connector(BaseConnector):
    """An outgoing UNIX connection attempt; provides ``IConnector``."""

    def __init__(
        self, address: str, factory: Any, timeout: float | None, checkPID: bool, reactor: Any
    ) -> None:
        super().__init__(factory, timeout, reactor)
        self.address = address
        self.checkPID = checkPID

    def _makeTransport(self) -> Client:
        return Client(self.address, self, self.checkPID, self.reactor)

    def getDestination(self) -> UNIXAddress:
        return UNIXAddress(self.address)

    def __repr__(self) -> str:
        return f"<Connector to {self.address!r} ({self.state})>"


# -- the reactor methods -----------------------------------------------------------


class UNIXMixin:
    """The reactor's ``IReactorUNIX`` and ``IReactorUNIXDatagram`` methods."""

    def listenUNIX(
        self,
        address: UNIXPath,
        factory: Any,
        backlog: int = 50,
        mode: int = 0o666,
        wantPID: bool = False,
    ) -> Port:
        """Listen on a UNIX socket; each connection gets a protocol from ``factory``.

        Example::

            port = reactor.listenUNIX("/tmp/echo.sock", Factory.forProtocol(Echo))
            reactor.listenUNIX("\\0echo", factory)     # Linux abstract namespace

        Args:
            address: a path, or a name starting with NUL for the abstract
                namespace.  A stale socket file there is replaced.
            factory: builds a protocol per connection.
            backlog: the listen queue length.
            mode: the socket file's permissions.
            wantPID: guard the path with a lock at ``address + ".lock"``
                holding our pid: a live holder makes this fail; the lock (and
                socket) of a dead process is replaced.

        Raises:
            CannotListenError: naming the cause.
        """
        port = Port(coerce_path(address), factory, backlog, mode, wantPID, self)
        port.startListening()
        return port

    def connectUNIX(
        self, address: UNIXPath, factory: Any, timeout: float = 30, checkPID: bool = False
    ) -> Connector:
        """Connect to a UNIX socket; ``factory`` (a ClientFactory) hears how it went.

        Failures (no such socket, refused, permission denied, timeout) go to
        ``factory.clientConnectionFailed``.

        Args:
            address: the server's path or abstract name.
            factory: the client factory.
            timeout: seconds before giving up (None: never).
            checkPID: fail with ``BadFileError`` unless a live process holds
                the ``address + ".lock"`` lock (see ``listenUNIX(wantPID=)``).
        """
        connector = Connector(coerce_path(address), factory, timeout, checkPID, self)
        connector.connect()
        return connector

    def listenUNIXDatagram(
        self, address: UNIXPath, protocol: Any, maxPacketSize: int = 8192, mode: int = 0o666
    ) -> DatagramPort:
        """Bind a UNIX datagram socket; ``protocol.datagramReceived(data, sender)``.

        Raises:
            CannotListenError: naming the cause.
        """
        port = DatagramPort(coerce_path(address), protocol, maxPacketSize, mode, self)
        port.startListening()
        return port

    def connectUNIXDatagram(
        self,
        address: UNIXPath,
        protocol: Any,
        maxPacketSize: int = 8192,
        mode: int = 0o666,
        bindAddress: UNIXPath | None = None,
    ) -> ConnectedDatagramPort:
        """Connect a UNIX datagram socket to ``address``.

        Bind it to ``bindAddress`` (with ``mode``) for the peer to answer.
        A failure goes to ``protocol.connectionFailed``.
        """
        bind = None if bindAddress is None else coerce_path(bindAddress)
        port = ConnectedDatagramPort(
            coerce_path(address), protocol, maxPacketSize, mode, bind, self
        )
        port.startListening()
        return port
