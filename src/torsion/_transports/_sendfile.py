"""Sending a file's bytes on a stream transport, in order with its writes.

:class:`SendfileMixin` gives :class:`~torsion._transports._stream.StreamTransport` its
``sendfile(file, offset, count)`` (``ISendfileTransport``): the region is queued in the
transport's write buffer as an entry standing for ``count`` bytes, so it goes out after
what was written before and before what is written after, a pending
``loseConnection`` closes only once it is out, and flow control counts its bytes like
buffered ones (a push producer stays paused while a large file drains).

How the bytes move:

* on a plain socket (TCP, or a UNIX socket not passing descriptors) with
  ``os.sendfile``: the kernel copies file pages to the socket, never through Python;
* otherwise (a UNIX socket that counts the bytes it sends for descriptor passing,
  or a file ``sendfile`` refuses: ``EINVAL``/``ENOSYS`` on the first call), 256 KiB
  ``os.pread`` pieces sent with the transport's own ``send``.

One ``doWrite`` sends at most 8 MiB of files before giving the reactor back (the
descriptor stays watched, level-triggered, so it is called again next turn): one fast
client cannot starve the others.

:func:`send_file` is the same operation for any transport: ``transport.sendfile`` when
it has one, else a push producer writing ``pread`` pieces (TLS, the asyncio and uvloop
transports); with that fallback nothing else may be written until its Deferred fires.

Hard-won facts: ``os.sendfile`` on a non-blocking socket returns a short count or raises
``BlockingIOError``; it returns 0 only at the end of the file (the file shrank: the
stream can no longer be completed, so the connection is closed). ``EBADF`` is
ambiguous (the socket or the file); it is reported as a failure of the file.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from torsion import error
from torsion.defer import Deferred
from torsion.failure import Failure

__all__ = ["FileLike", "SendfileMixin", "send_file"]

_SENDFILE_CHUNK = 4 * 1024 * 1024  # one os.sendfile call at most
_COPY_CHUNK = 256 * 1024  # one pread at most (copy mode)
_TURN_BUDGET = 8 * 1024 * 1024  # file bytes one doWrite sends before yielding
_GATHER = 512  # bytes chunks gathered into one sendmsg (as the stream transport does)
_REFUSED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSOCK})
_FALLBACK_READ = 65536
_FALLBACK_READS_PER_TURN = 16


class _HasFileno(Protocol):
    def fileno(self) -> int: ...


FileLike = int | _HasFileno
"""A file descriptor, or an object with ``fileno()`` (an open binary file)."""


def _region(file: FileLike, offset: int, count: int | None) -> tuple[int, int]:
    """The descriptor and the byte count to send; ``ValueError`` for a bad range."""
    fd = file if isinstance(file, int) else file.fileno()
    if offset < 0 or (count is not None and count < 0):
        raise ValueError(f"offset ({offset}) and count ({count}) must not be negative")
    if count is None:
        count = max(0, os.fstat(fd).st_size - offset)
    return fd, count


def _lost(reason: str) -> Deferred[int]:
    d: Deferred[int] = Deferred()
    d.errback(Failure(error.ConnectionLost(reason)))
    return d


class _FileEntry:
    """``count`` bytes of ``fd`` from ``offset``, queued in a transport's write buffer."""

    __slots__ = ("count", "deferred", "error", "fd", "file", "offset", "pending", "sent",
                 "zero_copy")

    def __init__(self, file: FileLike, fd: int, offset: int, count: int, zero_copy: bool) -> None:
        self.file: FileLike | None = file  # kept alive (not closed) until the end
        self.fd = fd
        self.offset = offset
        self.count = count
        self.sent = 0
        self.zero_copy = zero_copy
        self.pending: memoryview | None = None  # read (copy mode), not yet sent
        self.error: BaseException | None = None
        self.deferred: Deferred[int] = Deferred()

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"<file region fd={self.fd} offset={self.offset} count={self.count}>"


class SendfileMixin:
    """``sendfile`` for :class:`~torsion._transports._stream.StreamTransport`.

    The stream transport calls :meth:`_send_with_files` from ``doWrite`` and
    :meth:`_files_lost` from ``connectionLost`` while files are queued.
    """

    _sendfile_jobs: list[_FileEntry] | None = None

    if TYPE_CHECKING:
        socket: socket.socket
        protocol: Any
        connected: int
        _fileno: int
        _buffer: deque[Any]
        _buffered: int
        _write_failure: BaseException | None
        _writeDisconnected: bool
        _aborting: bool
        _send: Callable[[Any], int]

        def _consume(self, sent: int) -> bool: ...
        def _maybe_pause_producer(self) -> None: ...
        def _maybe_resume_producer(self) -> None: ...
        def startWriting(self) -> None: ...

    def sendfile(self, file: FileLike, offset: int = 0, count: int | None = None) -> Deferred[int]:
        """Send ``count`` bytes of ``file`` from ``offset``, after what was written before.

        Zero-copy (``os.sendfile``) on a plain socket; see ``ISendfileTransport``. The
        file is neither read from its position nor closed: close it once the Deferred
        fires (either way).

        Args:
            file: a descriptor or an object with ``fileno()``; a regular file.
            offset: the first byte to send.
            count: how many bytes; None for up to the end of the file (as it is now).

        Returns:
            A Deferred firing with the number of bytes sent, once they are all handed
            to the kernel; failing with ``ConnectionLost`` if the connection is lost
            first (or was already), or with the ``OSError`` of a file that cannot be
            read or ended early (the connection is then closed: the stream is cut).

        Raises:
            ValueError: a negative offset or count.
            RuntimeError: TLS was started on this connection (send through the TLS
                transport instead: these bytes would not be encrypted).
        """
        tls = sys.modules.get("torsion._transports.tls")
        if tls is not None and isinstance(self.protocol, tls.TLSMemoryBIO):
            raise RuntimeError("TLS is on: bytes sent here would not be encrypted")
        fd, count = _region(file, offset, count)
        if not self.connected or self._writeDisconnected or self._aborting:
            return _lost("the connection is closed")
        if count == 0:
            done: Deferred[int] = Deferred()
            done.callback(0)
            return done
        # A socket subclass (descriptor passing) counts what it sends: keep to its send.
        zero_copy = type(self.socket) is socket.socket and hasattr(os, "sendfile")
        entry = _FileEntry(file, fd, offset, count, zero_copy)
        if self._sendfile_jobs is None:
            self._sendfile_jobs = []
        self._sendfile_jobs.append(entry)
        self._buffer.append(entry)
        self._buffered += count
        self.startWriting()
        self._maybe_pause_producer()
        return entry.deferred

    def _send_with_files(self) -> bool:
        """Send the buffer, files included, in order: ``doWrite`` while files are queued.

        Returns:
            True once no file is left queued (the caller sends any bytes left and
            finishes as usual); False to wait for writability, with
            ``_write_failure`` set when the connection must close.
        """
        buffer = self._buffer
        budget = _TURN_BUDGET
        while buffer and self._sendfile_jobs and self._fileno != -1:
            head = buffer[0]
            if type(head) is not _FileEntry:
                if not self._send_bytes(buffer):
                    return False
                continue
            if budget <= 0:
                return False  # still watched: the next turn goes on
            sent = self._send_region(head)
            if sent <= 0:
                return False
            budget -= sent
            head.offset += sent
            head.count -= sent
            head.sent += sent
            self._buffered -= sent
            self._maybe_resume_producer()
            if not head.count:
                buffer.popleft()
                self._sendfile_jobs.remove(head)
                head.file = None
                head.deferred.callback(head.sent)  # may write, close or abort: look again
        return not self._sendfile_jobs

    def _send_bytes(self, buffer: deque[Any]) -> bool:
        """Send the bytes chunks before the next file; whether they all went."""
        chunks: list[Any] = []
        for item in buffer:
            if type(item) is _FileEntry or len(chunks) == _GATHER:
                break
            chunks.append(item)
        try:
            sent = self._send(chunks[0]) if len(chunks) == 1 else self.socket.sendmsg(chunks)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            self._write_failure = error.ConnectionLost(exc.strerror or str(exc))
            return False
        self._consume(sent)
        return sent == sum(len(c) for c in chunks)

    def _send_region(self, entry: _FileEntry) -> int:
        """Send some of ``entry``: the count, 0 when the socket is full, -1 on failure."""
        if entry.zero_copy:
            try:
                sent = os.sendfile(
                    self._fileno, entry.fd, entry.offset, min(entry.count, _SENDFILE_CHUNK)
                )
            except (BlockingIOError, InterruptedError):
                return 0
            except OSError as exc:
                if exc.errno in _REFUSED and not entry.sent:
                    entry.zero_copy = False  # this file (or socket) cannot: copy instead
                    return self._send_region(entry)
                return self._region_failed(entry, exc)
            if sent == 0:
                return self._region_failed(entry, _shrank(entry))
            return sent
        pending = entry.pending
        if not pending:
            try:
                data = os.pread(entry.fd, min(entry.count, _COPY_CHUNK), entry.offset)
            except OSError as exc:
                return self._region_failed(entry, exc, socket_error=False)
            if not data:
                return self._region_failed(entry, _shrank(entry))
            pending = memoryview(data)
        try:
            sent = self._send(pending)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            return self._region_failed(entry, exc)
        entry.pending = pending[sent:]
        return sent

    def _region_failed(self, entry: _FileEntry, exc: OSError, socket_error: bool = True) -> int:
        from torsion._transports._stream import _LOST_ERRNOS  # noqa: PLC0415 - it imports us

        if socket_error and exc.errno in _LOST_ERRNOS:
            self._write_failure = error.ConnectionLost(exc.strerror or str(exc))
        else:
            entry.error = exc
            self._write_failure = error.ConnectionLost(f"sending a file failed: {exc}")
        return -1

    def _files_lost(self, reason: Failure) -> None:
        """The connection is gone: fail every queued file's Deferred, drop the files."""
        jobs, self._sendfile_jobs = self._sendfile_jobs or [], None
        for entry in jobs:
            entry.file = None
            unsent = entry.count
            failure = entry.error or error.ConnectionLost(
                f"the connection was lost with {unsent} bytes of the file unsent: "
                f"{reason.getErrorMessage()}"
            )
            entry.deferred.errback(Failure(failure))


def _shrank(entry: _FileEntry) -> OSError:
    return OSError(errno.ENODATA, f"the file ended before {entry!r} was sent: it shrank")


def send_file(
    transport: Any, file: FileLike, offset: int = 0, count: int | None = None, *,
    reactor: Any = None,
) -> Deferred[int]:
    """Send ``count`` bytes of ``file`` from ``offset`` on any stream transport.

    ``transport.sendfile`` when the transport has it (zero copy, queued in order with
    writes); otherwise a push producer registered with the transport writes 64 KiB
    ``pread`` pieces while it has room (TLS, the asyncio transports), so memory stays
    bounded: then write nothing else, and register no producer, until the Deferred fires.

    Args:
        transport: a connected transport (``write`` and ``registerProducer``).
        file: a descriptor or an object with ``fileno()``; a regular file.
        offset: the first byte to send.
        count: how many bytes; None for up to the end of the file.
        reactor: schedules the fallback's reads; ``transport.reactor`` by default.

    Returns:
        A Deferred firing with the number of bytes sent (handed to the transport), or
        failing with ``ConnectionLost`` or the file's ``OSError``.

    Example:
        >>> # with open(path, "rb") as f: sent = await send_file(self.transport, f)
    """
    method = getattr(transport, "sendfile", None)
    if method is not None:
        return method(file, offset, count)  # type: ignore[no-any-return]
    fd, count = _region(file, offset, count)
    sender = _CopySender(transport, reactor or transport.reactor, fd, offset, count)
    return sender.start()


class _CopySender:
    """A push producer writing ``pread`` pieces of a file, a turn at a time."""

    def __init__(self, transport: Any, reactor: Any, fd: int, offset: int, count: int) -> None:
        self._transport = transport
        self._reactor = reactor
        self._fd = fd
        self._offset = offset
        self._left = count
        self._sent = 0
        self._paused = False
        self._call: Any = None
        self._deferred: Deferred[int] = Deferred()

    def start(self) -> Deferred[int]:
        try:
            self._transport.registerProducer(self, True)
        except RuntimeError:
            self._deferred.errback(Failure())
            return self._deferred
        if not self._deferred.called:  # a closed transport stops us at once
            self._produce()
        return self._deferred

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._schedule()

    def stopProducing(self) -> None:
        self._end(Failure(error.ConnectionLost(
            f"the connection was lost with {self._left} bytes of the file unsent")))

    def _produce(self) -> None:
        self._call = None
        for _ in range(_FALLBACK_READS_PER_TURN):
            if self._paused or self._deferred.called:
                return
            if not self._left:
                self._transport.unregisterProducer()
                self._end(None)
                return
            try:
                data = os.pread(self._fd, min(self._left, _FALLBACK_READ), self._offset)
                if not data:
                    raise OSError(errno.ENODATA, "the file ended early: it shrank")
            except OSError:
                failure = Failure()
                self._transport.unregisterProducer()
                self._end(failure)
                self._transport.loseConnection()  # the stream is cut short
                return
            self._offset += len(data)
            self._left -= len(data)
            self._sent += len(data)
            self._transport.write(data)
        self._schedule()

    def _schedule(self) -> None:
        # Not resumeProducing: the last write may just have paused us.
        if self._call is None and not self._paused and not self._deferred.called:
            self._call = self._reactor.callLater(0, self._produce)

    def _end(self, failure: Failure | None) -> None:
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()
        if self._deferred.called:
            return
        if failure is None:
            self._deferred.callback(self._sent)
        else:
            self._deferred.errback(failure)
