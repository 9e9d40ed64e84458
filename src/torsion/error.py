"""Exceptions raised by the reactor, transports and their helpers.

This module mirrors ``twisted.internet.error``: class names, base classes and
the text of ``str(exc)`` are part of the compatibility contract.  Each error
has a fixed ``MESSAGE``; arguments given when raising it are appended after a
colon, and the text ends with a full stop::

    >>> str(ConnectionRefusedError(string="127.0.0.1:9"))
    'Connection was refused by other side: 127.0.0.1:9.'
"""

from __future__ import annotations

import errno
import socket

__all__ = [
    "AlreadyCalled",
    "AlreadyCancelled",
    "AlreadyListened",
    "BadFileError",
    "BindError",
    "CannotListenError",
    "ConnectBindError",
    "ConnectError",
    "ConnectInProgressError",
    "ConnectingCancelledError",
    "ConnectionAborted",
    "ConnectionClosed",
    "ConnectionDone",
    "ConnectionFdescWentAway",
    "ConnectionLost",
    "ConnectionRefusedError",
    "DNSLookupError",
    "InvalidAddressError",
    "MessageLengthError",
    "MulticastJoinError",
    "NoProtocol",
    "NoRouteError",
    "NotConnectingError",
    "NotListeningError",
    "ProcessDone",
    "ProcessExitedAlready",
    "ProcessTerminated",
    "ReactorAlreadyInstalledError",
    "ReactorAlreadyRunning",
    "ReactorNotRestartable",
    "ReactorNotRunning",
    "ServiceNameUnknownError",
    "TCPTimedOutError",
    "TimeoutError",
    "UnknownHostError",
    "UnsupportedAddressFamily",
    "UnsupportedSocketType",
    "UserError",
    "getConnectError",
]


def _describe(message: str, args: tuple[object, ...]) -> str:
    """Render ``message`` plus any exception arguments, Twisted-style."""
    if args:
        message = f"{message}: {' '.join(str(arg) for arg in args)}"
    return f"{message}."


class _Described(Exception):
    """An error whose text is its MESSAGE followed by its arguments."""

    MESSAGE = "An error occurred"

    def __str__(self) -> str:
        return _describe(self.MESSAGE, self.args)


class AlreadyCalled(ValueError):
    """Tried to cancel or reschedule a delayed call that has already run."""

    MESSAGE = "Tried to cancel an already-called event"

    def __str__(self) -> str:
        return _describe(self.MESSAGE, self.args)


class AlreadyCancelled(ValueError):
    """Tried to cancel or reschedule a delayed call that was already cancelled."""

    MESSAGE = "Tried to cancel an already-cancelled event"

    def __str__(self) -> str:
        return _describe(self.MESSAGE, self.args)


class BindError(_Described):
    """An error binding to an address."""

    MESSAGE = "An error occurred binding to an interface"


class CannotListenError(BindError):
    """A port could not be listened on.

    Attributes:
        interface: the interface asked for ("" for all).
        port: the port number asked for.
        socketError: the OSError that prevented it.
    """

    def __init__(self, interface: str, port: int | str, socketError: BaseException) -> None:
        super().__init__(interface, port, socketError)
        self.interface = interface
        self.port = port
        self.socketError = socketError

    def __str__(self) -> str:
        iface = self.interface or "any"
        return f"Couldn't listen on {iface}:{self.port}: {self.socketError}."


class MessageLengthError(_Described):
    """A datagram was too long to send."""

    MESSAGE = "Message is too long to send"


class MulticastJoinError(Exception):
    """Joining or leaving a multicast group failed.

    Mirrors ``twisted.internet.error.MulticastJoinError``: the arguments are
    the group, the interface, then the OS error's number and text.
    """


class DNSLookupError(_Described, OSError):
    """A host name could not be resolved."""

    MESSAGE = "DNS lookup failed"


class ConnectInProgressError(Exception):
    """A connection attempt is already under way."""


class ConnectError(Exception):
    """A connection could not be made.

    Args:
        osError: the operating system's error (an errno value or message).
        string: more detail, such as the address.
    """

    MESSAGE = "An error occurred while connecting"

    def __init__(self, osError: object = None, string: str = "") -> None:
        super().__init__(string)
        self.osError = osError

    def __str__(self) -> str:
        text = self.MESSAGE
        if self.osError:
            text = f"{text}: {self.osError}"
        if self.args and self.args[0]:
            text = f"{text}: {self.args[0]}"
        return f"{text}."


class ConnectBindError(ConnectError):
    MESSAGE = "Couldn't bind"


class UnknownHostError(ConnectError):
    MESSAGE = "Hostname couldn't be looked up"


class NoRouteError(ConnectError):
    MESSAGE = "No route to host"


class ConnectionRefusedError(ConnectError):
    MESSAGE = "Connection was refused by other side"


class TCPTimedOutError(ConnectError):
    MESSAGE = "TCP connection timed out"


class BadFileError(ConnectError):
    MESSAGE = "File used for UNIX socket is no good"


class ServiceNameUnknownError(ConnectError):
    MESSAGE = "Service name given as port is unknown"


class UserError(ConnectError):
    MESSAGE = "User aborted connection"


class TimeoutError(UserError):  # mirrors twisted.internet.error.TimeoutError
    MESSAGE = "User timeout caused connection failure"


class ConnectingCancelledError(Exception):
    """A connection attempt was cancelled; ``address`` is where it was going."""

    def __init__(self, address: object) -> None:
        super().__init__(address)
        self.address = address


_ERRNO_TO_CONNECT_ERROR: dict[int, type[ConnectError]] = {
    errno.ECONNREFUSED: ConnectionRefusedError,
    errno.ENETUNREACH: NoRouteError,
    errno.EHOSTUNREACH: NoRouteError,
    errno.ETIMEDOUT: TCPTimedOutError,
}


def getConnectError(e: BaseException | tuple[int, str]) -> ConnectError:
    """Return the ConnectError subclass instance matching an OS error."""
    if isinstance(e, tuple):
        number, string = e
    elif isinstance(e, OSError):
        number, string = e.errno or 0, e.strerror or str(e)
    else:
        return ConnectError(string=str(e))
    if isinstance(e, socket.gaierror):
        return UnknownHostError(string=string)
    klass = _ERRNO_TO_CONNECT_ERROR.get(number, ConnectError)
    return klass(number, string)


class ConnectionClosed(_Described):
    """The connection was closed, cleanly or not."""

    MESSAGE = "Connection was closed"


class ConnectionLost(ConnectionClosed):
    """The connection was closed in a non-clean fashion."""

    MESSAGE = "Connection to the other side was lost in a non-clean fashion"


class ConnectionAborted(ConnectionLost):
    """The connection was aborted locally (``abortConnection``)."""

    MESSAGE = "Connection was aborted locally using ITCPTransport.abortConnection"


class ConnectionDone(ConnectionClosed):
    """The connection was closed cleanly."""

    MESSAGE = "Connection was closed cleanly"


class ConnectionFdescWentAway(ConnectionLost):
    """The file descriptor was closed under us."""

    MESSAGE = "Uh"


class NoProtocol(Exception):
    """The factory's ``buildProtocol`` returned None: there is nothing to connect."""


class AlreadyListened(Exception):
    """The listening port was already started."""


class NotConnectingError(RuntimeError):
    """The connector is not trying to connect."""


class NotListeningError(RuntimeError):
    """The port is not listening."""


class ProcessDone(ConnectionDone):
    """A process exited cleanly (exit code 0)."""

    MESSAGE = "A process has ended without apparent errors"

    def __init__(self, status: int | None) -> None:
        super().__init__("process finished with exit code 0")
        self.exitCode = 0
        self.signal: int | None = None
        self.status = status


class ProcessTerminated(ConnectionLost):
    """A process exited with a non-zero code or was killed by a signal."""

    MESSAGE = "A process has ended with a probable error condition"

    def __init__(
        self, exitCode: int | None = None, signal: int | None = None, status: int | None = None
    ) -> None:
        self.exitCode = exitCode
        self.signal = signal
        self.status = status
        detail = []
        if exitCode is not None:
            detail.append(f"process ended with exit code {exitCode}")
        if signal is not None:
            detail.append(f"process ended by signal {signal}")
        super().__init__(*detail)


class ProcessExitedAlready(Exception):
    """The process has already exited; it cannot be signalled."""


class ReactorNotRunning(RuntimeError):
    """``stop()`` was called on a reactor that is not running."""


class ReactorNotRestartable(RuntimeError):
    """``run()`` was called on a reactor that has already stopped."""


class ReactorAlreadyRunning(RuntimeError):
    """``run()`` was called on a reactor that is already running."""


class ReactorAlreadyInstalledError(AssertionError):
    """A default reactor was already installed."""


class UnsupportedAddressFamily(Exception):
    """The address family is not supported here."""


class UnsupportedSocketType(Exception):
    """The socket type is not supported here."""


class InvalidAddressError(ValueError):
    """An address was not valid.

    Attributes:
        address: the address given.
        message: why it is not valid.
    """

    def __init__(self, address: object, message: str) -> None:
        super().__init__(address, message)
        self.address = address
        self.message = message
