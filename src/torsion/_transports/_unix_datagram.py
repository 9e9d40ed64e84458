"""UNIX datagram sockets: ``listenUNIXDatagram`` and ``connectUNIXDatagram`` ports.

Names mirror Twisted's ``twisted.internet.unix.DatagramPort`` and
``ConnectedDatagramPort``.  A datagram the kernel has no room for is dropped,
as in Twisted (a UNIX datagram socket would otherwise block the sender).
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import Any

from torsion import error
from torsion._transports._listening import SocketPort
from torsion._transports._unix_paths import (
    UNIXPath,
    address_name,
    bind_path,
    check_length,
    coerce_path,
    connect_error,
    explain,
    unlink_if_ours,
)
from torsion.address import UNIXAddress
from torsion.defer import Deferred
from torsion.failure import Failure

__all__ = ["ConnectedDatagramPort", "DatagramPort"]

_log = logging.getLogger("torsion.unix")

_DATAGRAMS_PER_READ = 64


class DatagramPort(SocketPort):
    """A bound UNIX datagram socket (``listenUNIXDatagram``).

    The protocol's ``datagramReceived(data, address)`` gets each datagram and
    the sender's path (None when the sender is unnamed: it cannot be answered).

    Attributes:
        port: the bound path (or abstract name); None when unbound.
        protocol: the ``DatagramProtocol``.
        maxPacketSize: the largest datagram read (longer ones are truncated).
    """

    def __init__(
        self, address: str | None, protocol: Any, maxPacketSize: int, mode: int, reactor: Any
    ) -> None:
        self.port = address
        self.protocol = protocol
        self.maxPacketSize = maxPacketSize
        self.mode = mode
        self.reactor = reactor
        self.connected = False
        self.disconnected = False
        self.socket: socket.socket | None = None
        self._fileno = -1
        self._ident: tuple[int, int] | None = None
        self._stopped_deferreds: list[Deferred[None]] = []

    def __repr__(self) -> str:
        return f"<{type(self.protocol).__name__} on {self.port!r}>"

    def logPrefix(self) -> str:
        return f"{type(self.protocol).__name__} (UNIX datagram)"

    def startListening(self) -> None:
        """Bind and start the protocol.

        Raises:
            CannotListenError: naming the cause.
        """
        try:
            skt = self._bound_socket()
        except OSError as exc:
            raise error.CannotListenError("unix", self.port or "", exc) from exc
        self._start(skt)

    def _bound_socket(self) -> socket.socket:
        skt = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            if self.port is not None:
                self._ident = bind_path(skt, self.port, self.mode)
            skt.setblocking(False)
        except OSError:
            skt.close()
            raise
        return skt

    def _start(self, skt: socket.socket) -> None:
        self.socket = skt
        self._fileno = skt.fileno()
        self.connected = True
        self.protocol.makeConnection(self)
        self.reactor.addReader(self)

    def doRead(self) -> None:
        """Read the datagrams waiting (a bounded number per call)."""
        skt = self.socket
        for _ in range(_DATAGRAMS_PER_READ):
            if skt is None or not self.connected:
                return
            try:
                data, addr = skt.recvfrom(self.maxPacketSize)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno == errno.ECONNREFUSED:
                    self.protocol.connectionRefused()
                    continue
                _log.warning("%s: error reading a datagram: %s", self.logPrefix(), exc)
                return
            self._deliver(data, addr)

    def _deliver(self, data: bytes, addr: object) -> None:
        self.protocol.datagramReceived(data, address_name(addr))

    def write(self, datagram: bytes, address: UNIXPath) -> int:
        """Send ``datagram`` to the socket at ``address``.

        A datagram the kernel has no room for now is dropped (as in Twisted).

        Returns:
            The number of bytes sent (0 when dropped).

        Raises:
            MessageLengthError: when the datagram is too long.
            OSError: when ``address`` cannot be sent to (no such socket,
                nobody bound, permission denied), naming it.
        """
        return self._send(datagram, coerce_path(address))

    def _send(self, datagram: bytes, address: str | None) -> int:
        skt = self.socket
        if skt is None:
            raise error.NotListeningError("the datagram port is not bound")
        try:
            if address is None:
                return skt.send(datagram)
            return skt.sendto(datagram, address)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                raise error.MessageLengthError(
                    f"{len(datagram)} bytes is too long for a UNIX datagram"
                ) from exc
            if exc.errno == errno.ENOBUFS:
                return 0
            raise explain(exc, "sending to", address or "the peer") from exc

    def _closed(self) -> None:
        # The socket file goes with the port.
        if self.port is not None:
            unlink_if_ours(self.port, self._ident)

    def _stop_user(self) -> None:
        self.protocol.doStop()

    def getHost(self) -> UNIXAddress:
        """The bound address (``UNIXAddress(None)`` when unbound)."""
        return UNIXAddress(self.port)

    def setLogStr(self) -> None:
        """Kept for Twisted compatibility; log lines use :meth:`logPrefix`."""


class ConnectedDatagramPort(DatagramPort):
    """A UNIX datagram socket connected to one peer (``connectUNIXDatagram``).

    The protocol (a ``ConnectedDatagramProtocol``) gets ``datagramReceived(data)``
    with no address, as in Twisted; ``connectionRefused()`` when the peer is
    gone; ``connectionFailed(failure)`` when connecting fails.
    """

    def __init__(
        self,
        address: str,
        protocol: Any,
        maxPacketSize: int,
        mode: int,
        bindAddress: str | None,
        reactor: Any,
    ) -> None:
        super().__init__(bindAddress, protocol, maxPacketSize, mode, reactor)
        self.remoteaddr = address

    def startListening(self) -> None:
        """Bind (to ``bindAddress``), connect and start the protocol.

        A failure goes to the protocol's ``connectionFailed``.
        """
        try:
            skt = self._bound_socket()
        except OSError as exc:
            self.protocol.connectionFailed(Failure(error.ConnectBindError(
                exc.errno, exc.strerror or str(exc)
            )))
            return
        try:
            check_length(self.remoteaddr)
            skt.connect(self.remoteaddr)
        except OSError as exc:
            skt.close()
            if self.port is not None:
                unlink_if_ours(self.port, self._ident)
            if exc.errno is None:
                reason: error.ConnectError = error.ConnectError(string=str(exc))
            else:
                reason = connect_error(exc.errno, self.remoteaddr)
            self.protocol.connectionFailed(Failure(reason))
            return
        self._start(skt)

    def _deliver(self, data: bytes, addr: object) -> None:
        self.protocol.datagramReceived(data)

    def write(self, data: bytes) -> int:  # type: ignore[override]
        """Send ``data`` to the peer; ``connectionRefused`` if it is gone.

        Raises:
            MessageLengthError: when the datagram is too long.
        """
        try:
            return self._send(data, None)
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT, errno.ENOTCONN):
                self.protocol.connectionRefused()
                return 0
            raise

    def getPeer(self) -> UNIXAddress:
        """The address connected to."""
        return UNIXAddress(self.remoteaddr)
