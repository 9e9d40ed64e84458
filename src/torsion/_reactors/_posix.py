"""What the file-descriptor backends (select, poll, epoll) share.

:class:`PosixReactorBase` keeps the map from descriptors to selectables, the
waker, and the TCP methods; a backend supplies ``addReader``/``addWriter``/
``removeReader``/``removeWriter`` and ``doIteration``.

A selectable's ``doRead``/``doWrite`` returns None when all is well, or an
exception (or Failure) saying why it must be closed; the backend then calls
:meth:`PosixReactorBase._disconnectSelectable`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torsion import error
from torsion._logging import log_failure
from torsion._reactors._base import ReactorBase
from torsion._reactors._mixins import ProcessMixin, SSLMixin, UDPMixin, UNIXMixin
from torsion.failure import Failure

if TYPE_CHECKING:
    from torsion._transports.tcp import Connector, Port
    from torsion.interfaces import IReadDescriptor, IWriteDescriptor

__all__ = ["CONNECTION_DONE", "CONNECTION_LOST", "PosixReactorBase"]

CONNECTION_DONE = error.ConnectionDone()
CONNECTION_LOST = error.ConnectionLost()


class _Waker:
    """A descriptor the reactor reads; writing to it wakes a sleeping loop."""

    disconnected = 0

    def __init__(self) -> None:
        self._pending = False
        if hasattr(os, "eventfd"):
            self._read_fd = self._write_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._token = (1).to_bytes(8, "little")
        else:  # pragma: no cover - non-Linux
            self._read_fd, self._write_fd = os.pipe()
            os.set_blocking(self._read_fd, False)
            os.set_blocking(self._write_fd, False)
            self._token = b"x"

    def fileno(self) -> int:
        return self._read_fd

    def wakeUp(self) -> None:
        if self._pending:
            return
        self._pending = True
        try:
            os.write(self._write_fd, self._token)
        except BlockingIOError:  # already full of wake-ups
            pass
        except OSError as exc:
            if exc.errno != errno.EBADF:  # closed at shutdown
                raise

    def doRead(self) -> None:
        # Drain first, then clear the flag.  The other order loses wake-ups: a
        # thread writing between the two would have its token drained while
        # ``_pending`` stays True, so every later wakeUp() would skip writing
        # and a sleeping loop would never hear of thread calls again.
        try:
            os.read(self._read_fd, 8192)
        except BlockingIOError:
            pass
        self._pending = False

    def connectionLost(self, reason: Failure) -> None:
        self.close()

    def close(self) -> None:
        for fd in {self._read_fd, self._write_fd}:
            try:
                os.close(fd)
            except OSError:
                pass
        self._read_fd = self._write_fd = -1

    def logPrefix(self) -> str:
        return "waker"


class PosixReactorBase(ReactorBase, UDPMixin, UNIXMixin, SSLMixin, ProcessMixin):
    """A reactor over file descriptors, with TCP."""

    def __init__(self) -> None:
        super().__init__()
        self._closed = False
        self._waker = _Waker()
        self.addReader(self._waker)
        self._internalReaders = {self._waker}

    # -- backend interface (see IReactorFDSet) --------------------------------
    def addReader(self, reader: IReadDescriptor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def addWriter(self, writer: IWriteDescriptor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def removeReader(self, reader: IReadDescriptor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def removeWriter(self, writer: IWriteDescriptor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def getReaders(self) -> list[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def getWriters(self) -> list[Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def removeAll(self) -> list[Any]:
        """Stop watching every descriptor (but the waker); return them."""
        removed = []
        for reader in self.getReaders():
            if reader not in self._internalReaders:
                self.removeReader(reader)
                removed.append(reader)
        for writer in self.getWriters():
            self.removeWriter(writer)
            if writer not in removed:
                removed.append(writer)
        return removed

    def wakeUp(self) -> None:
        """Interrupt ``doIteration`` (from any thread)."""
        self._waker.wakeUp()

    def close(self) -> None:
        """Release the reactor's own descriptors (the waker, the poller).

        For a reactor that will not run again (tests create many): it closes
        neither connections nor ports, which the shutdown event does.  Calling
        it twice does nothing.

        Raises:
            RuntimeError: when the reactor is running.
        """
        if self._started:
            raise RuntimeError("can't close a running reactor: stop it first")
        if self._closed:
            return
        self._closed = True
        self._closing()
        self.removeReader(self._waker)
        self._internalReaders.discard(self._waker)
        self._waker.close()
        self._close_poller()

    def _closing(self) -> None:
        """What a backend stops first when it closes (before the waker goes)."""

    def _close_poller(self) -> None:
        """Close the backend's own descriptor, if it has one."""

    def disconnectAll(self) -> None:
        """Close every connection with ConnectionLost (part of shutdown)."""
        for selectable in self.removeAll():
            self._disconnectSelectable(selectable, CONNECTION_LOST, False)

    def _disconnectSelectable(
        self, selectable: Any, why: BaseException | Failure, isRead: bool
    ) -> None:
        """Close ``selectable`` because ``why``; half-close on a clean EOF if it can."""
        self.removeReader(selectable)
        half_closeable = hasattr(selectable, "readConnectionLost")
        if isRead and type(why) is error.ConnectionDone and half_closeable:
            selectable.readConnectionLost(Failure(why))
            return
        self.removeWriter(selectable)
        reason = why if isinstance(why, Failure) else Failure(why)
        try:
            selectable.connectionLost(reason)
        except BaseException:
            log_failure(Failure(), "Unhandled error in connectionLost:", "torsion.reactor")

    def _dispatchPollEvents(
        self,
        events: list[tuple[int, int]],
        selectables: dict[int, Any],
        reads: dict[int, Any],
        writes: dict[int, Any],
        in_mask: int,
        out_mask: int,
        hup_mask: int,
    ) -> None:
        """Dispatch ``(fd, event mask)`` pairs from poll or epoll to ``doRead``/``doWrite``."""
        for fd, event in events:
            selectable = selectables.get(fd)
            if selectable is None:
                continue  # removed by an earlier callback in this batch
            why: BaseException | Failure | None = None
            is_read = False
            try:
                if event & hup_mask and not event & in_mask:
                    if fd in reads:
                        is_read = True
                        why = CONNECTION_DONE
                    elif fd in writes:
                        # Let the writer find out why: a failed connect reads
                        # its errno (refused, unreachable), a send its error.
                        why = selectable.doWrite()
                        if not why and selectables.get(fd) is selectable:
                            why = CONNECTION_LOST
                    else:
                        why = CONNECTION_LOST
                else:
                    if event & in_mask:
                        is_read = True
                        why = selectable.doRead()
                    if not why and event & out_mask:
                        current = selectables.get(fd)
                        if current is selectable is not None:
                            is_read = False
                            why = current.doWrite()
            except BaseException:
                why = self._dispatch_failed(selectable)
            if why:
                self._disconnectSelectable(selectable, why, is_read)

    def _dispatch_failed(self, selectable: Any) -> Failure:
        failure = Failure()
        log_failure(failure, f"Unhandled error in {_prefix(selectable)}:", "torsion.reactor")
        return failure

    # -- IReactorTCP ------------------------------------------------------------
    def listenTCP(
        self, port: int, factory: Any, backlog: int = 50, interface: str = "",
        reusePort: bool = False,
    ) -> Port:
        """Listen for TCP connections; each gets a protocol from ``factory``.

        Args:
            port: the port number; 0 picks a free one (see ``getHost()``).
            factory: builds a protocol per connection.
            backlog: the listen queue length.
            interface: the address to bind ("" for all IPv4; an IPv6 address
                such as "::" or "::1" listens on IPv6).
            reusePort: set ``SO_REUSEPORT``, so that several processes (each with
                it set) listen on the same port and share its connections.

        Raises:
            CannotListenError: when the port cannot be bound.
        """
        from torsion._transports.tcp import Port  # noqa: PLC0415 - avoids a cycle

        p = Port(port, factory, backlog, interface, self, reusePort)
        p.startListening()
        return p

    def connectTCP(
        self,
        host: str,
        port: int,
        factory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> Connector:
        """Connect over TCP; ``factory`` (a ClientFactory) hears how it went.

        Host names are resolved first (through :meth:`resolve`).  Failures go
        to ``factory.clientConnectionFailed`` (refused, timed out, DNS...).
        """
        from torsion._transports.tcp import Connector  # noqa: PLC0415 - avoids a cycle

        c = Connector(host, port, factory, timeout, bindAddress, self)
        c.connect()
        return c


def _prefix(selectable: Any) -> str:
    log_prefix: Callable[[], str] | None = getattr(selectable, "logPrefix", None)
    if log_prefix is None:
        return repr(selectable)
    try:
        return log_prefix()
    except BaseException:
        return repr(selectable)
