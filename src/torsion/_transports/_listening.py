"""What the TCP and UNIX listening ports share: the accept loop, stopping, closing.

A subclass binds its socket (``startListening``) and says how an accepted connection
becomes an address (``_peer``) and a transport (``_serve``); it may release more at
close (``_closed``: a UNIX socket's file and lock).
"""

from __future__ import annotations

import errno
import logging
import os
import socket as _socket
from typing import Any

from torsion._logging import log_failure
from torsion._transports._stream import CONNECTION_DONE
from torsion.defer import Deferred
from torsion.failure import Failure

__all__ = ["ListeningPort"]

# accept() errors that mean "out of resources": stop accepting for now (the connection
# waits in the backlog) rather than die.
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class ListeningPort:
    """A listening stream socket served by a reactor (``IListeningPort``)."""

    numberAccepts = 128
    """The most connections accepted per readiness event."""
    _system = "torsion"  # the logger accept errors go to

    socket: _socket.socket | None
    factory: Any
    reactor: Any
    connected: bool
    disconnected: bool
    _fileno: int
    _stopped_deferreds: list[Deferred[None]]

    def _peer(self, address: Any) -> Any:
        """The address object of an accepted connection's peer."""
        raise NotImplementedError

    def _serve(self, conn: _socket.socket, protocol: Any, peer: Any) -> Any:
        """The transport of an accepted connection (not yet told to its protocol)."""
        raise NotImplementedError

    def _closed(self) -> None:
        """Release what the port holds besides its socket (called once, at close)."""

    def fileno(self) -> int:
        return self._fileno

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

    def stopListening(self) -> Deferred[None]:
        """Stop accepting; the Deferred fires once the socket is closed."""
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

    def connectionLost(self, reason: Failure) -> None:
        """Close the listening socket, release the rest, stop the factory."""
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
            self.factory.doStop()
        finally:
            waiting, self._stopped_deferreds = self._stopped_deferreds, []
            for d in waiting:
                d.callback(None)
