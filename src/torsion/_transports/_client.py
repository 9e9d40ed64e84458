"""What an outgoing stream connection shares from connecting to connected (TCP and UNIX).

:class:`ClientConnection` goes before the family's connection class in a client's
bases (``class Client(ClientConnection, _Connection)``).  It keeps the attempt's
state until the socket connects, then runs the connection class's ``__init__`` on
that socket and hands the connection to a protocol from the connector.  The family
finds the socket and starts the connect (calling :meth:`_connected` when it is made,
or :meth:`failIfNotConnected`), and says which error a failed connect's errno means
(:meth:`_connect_error`).
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from torsion import error
from torsion._logging import log_failure
from torsion._transports._stream import StreamTransport
from torsion.failure import Failure

if TYPE_CHECKING:
    from torsion._delayedcall import DelayedCall

__all__ = ["ClientConnection"]


class _NullProtocol:
    """Stands in when a client factory's buildProtocol returns None."""

    def dataReceived(self, data: bytes) -> None:
        pass

    def connectionLost(self, reason: Failure) -> None:
        pass


class ClientConnection(StreamTransport):
    """An outgoing connection: the attempt, then the connected transport.

    Attributes:
        connector: the ``IConnector`` told how the attempt and the connection end.
    """

    _system = "torsion"  # the logger a protocol's errors at connect go to
    _pending: DelayedCall | None = None  # a step of the attempt waiting on a timer

    def __init__(self, connector: Any, reactor: Any) -> None:
        # Not connected yet: the connection class's __init__ runs once connected.
        self.reactor = reactor
        self.connector = connector
        self.connected = 0
        self.disconnected = 0
        self.disconnecting = 0
        self._connecting = True
        self._fileno = -1
        self.socket = None  # type: ignore[assignment]
        self._writing = self._reading = False

    def _connect_error(self, code: int) -> BaseException:
        """The error a connect that failed with errno ``code`` is reported as."""
        raise NotImplementedError

    def getPeer(self) -> Any:  # pragma: no cover - overridden
        """The address connected (or being connected) to."""
        raise NotImplementedError

    def _connected_peer(self) -> Any:
        """The peer's address given to buildProtocol, once connected."""
        return self.getPeer()

    def doWrite(self) -> BaseException | None:
        if self._connecting:
            # Writable while connecting: the non-blocking connect has its outcome.
            code = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self.failIfNotConnected(self._connect_error(code))
            else:
                self._connected()
            return None
        return super().doWrite()

    def _connected(self) -> None:
        self.stopWriting()
        self._connecting = False
        super().__init__(self.socket, None, self.reactor)
        peer = self._connected_peer()
        try:
            protocol = self.connector.buildProtocol(peer)
        except BaseException:
            failure = Failure()
            log_failure(failure, "Unhandled error in buildProtocol:", self._system)
            # Back to "connecting" so that the attempt fails and the factory hears of it.
            self._connecting = True
            self.connected = 0
            self.failIfNotConnected(failure.value)
            return
        if protocol is None:
            self.protocol = _NullProtocol()
            self.startReading()
            self.loseConnection()
            return
        self.protocol = protocol
        self.startReading()
        try:
            protocol.makeConnection(self)
        except BaseException:
            failure = Failure()
            log_failure(failure, "Unhandled error in connectionMade:", self._system)
            self._lose_now(failure)

    def failIfNotConnected(self, err: BaseException) -> None:
        """Give up connecting (timeout, refusal, cancellation) with ``err``."""
        if self.connected or self.disconnected or not self._connecting:
            return
        self.disconnected = 1
        self._connecting = False
        pending, self._pending = self._pending, None
        if pending is not None and pending.active():
            pending.cancel()
        self.stopWriting()
        self.stopReading()
        if self.socket is not None:
            self._fileno = -1
            self.socket.close()
        self.connector.connectionFailed(Failure(err))

    def stopConnecting(self) -> None:
        """Cancel the attempt (``UserError``)."""
        self.failIfNotConnected(error.UserError())

    def connectionLost(self, reason: Failure) -> None:
        if self._connecting:
            # Shut down (or dropped) before the connection was made.
            self.failIfNotConnected(reason.value)
            return
        super().connectionLost(reason)

    def _connection_ended(self, reason: Failure) -> None:
        self.connector.connectionLost(reason)
