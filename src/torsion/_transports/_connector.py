"""What every outgoing stream connection attempt shares (TCP and UNIX).

A connector is the ``IConnector`` a client factory sees: it starts the
factory once, makes a transport per attempt (``_makeTransport``), enforces
the connect timeout, and tells the factory how each attempt ended.
``connect()`` may be called again after a failure or a lost connection; that
is how ReconnectingClientFactory retries.
"""

from __future__ import annotations

from typing import Any

from torsion import error
from torsion.failure import Failure

__all__ = ["BaseConnector"]


class BaseConnector:
    """The connection-attempt state machine; subclasses make the transport.

    Attributes:
        state: "disconnected", "connecting" or "connected".
        transport: the current attempt's transport, if any.
    """

    def __init__(self, factory: Any, timeout: float | None, reactor: Any) -> None:
        self.factory = factory
        self.timeout = timeout
        self.reactor = reactor
        self.state = "disconnected"
        self.transport: Any = None
        self.factoryStarted = False
        self.timeoutID: Any = None

    def _makeTransport(self) -> Any:  # pragma: no cover - abstract
        """Start one attempt; the transport calls back buildProtocol/connectionFailed."""
        raise NotImplementedError

    def connect(self) -> None:
        """Start connecting.

        Raises:
            RuntimeError: when already connecting or connected.
        """
        if self.state != "disconnected":
            raise RuntimeError(f"can't connect in this state: {self.state}")
        self.state = "connecting"
        if not self.factoryStarted:
            self.factory.doStart()
            self.factoryStarted = True
        self.transport = self._makeTransport()
        if self.timeout is not None and self.state == "connecting":
            self.timeoutID = self.reactor.callLater(self.timeout, self._timed_out)
        if self.state == "connecting":
            self.factory.startedConnecting(self)

    def _timed_out(self) -> None:
        self.timeoutID = None
        if self.transport is not None:
            self.transport.failIfNotConnected(error.TimeoutError())

    def _cancel_timeout(self) -> None:
        call, self.timeoutID = self.timeoutID, None
        if call is not None and call.active():
            call.cancel()

    def stopConnecting(self) -> None:
        """Cancel a connection attempt in progress.

        Raises:
            NotConnectingError: when not connecting.
        """
        if self.state != "connecting" or self.transport is None:
            raise error.NotConnectingError("we're not trying to connect")
        self.transport.stopConnecting()

    def disconnect(self) -> None:
        """Stop connecting, or close the connection."""
        if self.state == "connecting":
            self.stopConnecting()
        elif self.state == "connected" and self.transport is not None:
            self.transport.loseConnection()

    def buildProtocol(self, addr: Any) -> Any:
        self.state = "connected"
        self._cancel_timeout()
        return self.factory.buildProtocol(addr)

    def connectionFailed(self, reason: Failure) -> None:
        self._cancel_timeout()
        self.transport = None
        self.state = "disconnected"
        self.factory.clientConnectionFailed(self, reason)
        self._maybe_stop_factory()

    def connectionLost(self, reason: Failure) -> None:
        self.state = "disconnected"
        self.factory.clientConnectionLost(self, reason)
        self._maybe_stop_factory()

    def _maybe_stop_factory(self) -> None:
        # The factory may have reconnected from its callback: then it goes on.
        if self.state == "disconnected":
            self.factory.doStop()
            self.factoryStarted = False
