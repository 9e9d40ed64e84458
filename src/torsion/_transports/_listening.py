"""What the TCP and UNIX listening ports share: the accept loop, stopping, closing.

A subclass binds its socket (``startListening``) and says how an accepted connection
becomes an address (``_peer``) and a transport (``_serve``); it may release more at
close (``_closed``: a UNIX socket's file and lock).  Stopping and closing come from
:class:`SocketPort`, which the UNIX datagram ports share too.  An accepted
connection's class puts :class:`ServerConnection` before its family's connection
class in its bases.
"""

from __future__ import annotations

import errno
import logging
import os
import socket as _socket
from typing import Any

from torsion._logging import log_failure
from torsion._transports._stream import CONNECTION_DONE, StreamTransport
from torsion.defer import Deferred
from torsion.failure import Failure

__all__ = ["ListeningPort", "ServerConnection", "SocketPort"]

# accept() errors that mean "out of resources": stop accepting for now (the connection
# waits in the backlog) rather than die.
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class SocketPort:
    """A port's socket served by a reactor until ``stopListening``: stopping and closing.

    A subclass says what stops with the port (``_stop_user``: the factory or the
    protocol) and may release more at close (``_closed``).
    """

    socket: _socket.socket | None
    reactor: Any
    connected: bool
    disconnected: bool
    _fileno: int
    _stopped_deferreds: list[Deferred[None]]

    def _closed(self) -> None:
        """Release what the port holds besides its socket (called once, at close)."""

    def _stop_user(self) -> None:
        """Stop what uses the port (its factory's or protocol's ``doStop``)."""
        raise NotImplementedError

    def fileno(self) -> int:
        return self._fileno

    def stopListening(self) -> Deferred[None]:
        """Stop reading; the Deferred fires once the socket is closed."""
        d: Deferred[None] = Deferred()
        if not self.connected:
            d.callback(None)
            return d
        self._stopped_deferreds.append(d)
        self.reactor.removeReader(self)
        self.reactor.callLater(0, self.connectionLost, Failure(CONNECTION_DONE))
        self.connected = False
        return d

    loseConnection = stopListening

    def connectionLost(self, reason: Failure | None = None) -> None:
        """Close the socket, release the rest, stop the factory or protocol."""
        if self.disconnected:
            return
        self.disconnected = True
        self.connected = False
        self.reactor.removeReader(self)
        if self.socket is not None:
            self.socket.close()
        self._fileno = -1
        self._closed()
        try:
            self._stop_user()
        finally:
            waiting, self._stopped_deferreds = self._stopped_deferreds, []
            for d in waiting:
                d.callback(None)


class ListeningPort(SocketPort):
    """A listening stream socket served by a reactor (``IListeningPort``)."""

    numberAccepts = 128
    """The most connections accepted per readiness event."""
    _system = "torsion"  # the logger accept errors go to

    factory: Any

    def _peer(self, address: Any) -> Any:
        """The address object of an accepted connection's peer."""
        raise NotImplementedError

    def _serve(self, conn: _socket.socket, protocol: Any, peer: Any) -> Any:
        """The transport of an accepted connection (not yet told to its protocol)."""
        raise NotImplementedError

    def doRead(self) -> None:
        """Accept the connections waiting, each with a new protocol."""
        skt = self.socket
        if skt is None:
            return
        for _ in range(self.numberAccepts):
            try:
                conn, addr = skt.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno == errno.ECONNABORTED:
                    continue
                if exc.errno in _RESOURCE_ERRNOS:
                    logging.getLogger(self._system).error(
                        "Could not accept new connection (%s)", os.strerror(exc.errno))
                    return
                raise
            peer = self._peer(addr)
            try:
                protocol = self.factory.buildProtocol(peer)
            except BaseException:
                conn.close()
                log_failure(Failure(), "Unhandled error in buildProtocol:", self._system)
                continue
            if protocol is None:
                conn.close()
                continue
            transport = self._serve(conn, protocol, peer)
            try:
                protocol.makeConnection(transport)
            except BaseException:
                failure = Failure()
                log_failure(failure, "Unhandled error in connectionMade:", self._system)
                transport._lose_now(failure)

    def _stop_user(self) -> None:
        self.factory.doStop()


class ServerConnection(StreamTransport):
    """A connection accepted by a listening port, reading from the start.

    Attributes:
        server: the port that accepted it.
        sessionno: its number among the connections its port's class accepted.
    """

    def __init__(
        self, skt: _socket.socket, protocol: Any, peer: Any, port: Any, sessionno: int,
        reactor: Any,
    ) -> None:
        super().__init__(skt, protocol, reactor)
        self._peer = peer
        self.server = port
        self.sessionno = sessionno
        self.startReading()

    def getPeer(self) -> Any:
        """The other end's address."""
        return self._peer
