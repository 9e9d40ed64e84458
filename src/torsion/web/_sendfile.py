"""Sending (parts of) a file as a response body: zero-copy ``sendfile`` or read-and-write.

:func:`send_file_body` writes a body made of literal bytes and file regions through the
request, so the sans-IO core still frames it (Content-Length, chunked, or nothing for
HEAD): a :class:`FileRegion` stands for its bytes in ``send_with_data_passthrough`` and
comes back untouched between the framing pieces.

Two ways to move the region's bytes:

* :class:`_SendfileProducer`, on a plain TCP (or UNIX) socket transport: the kernel
  copies file pages to the socket (``os.sendfile``), never through Python. It is a
  pull producer of the transport, so it starts only once the transport's buffer is
  empty (the response head sent), and it never writes through the transport while
  it runs, so bytes stay in order. On ``EAGAIN`` it waits for the socket to be
  writable on a duplicate of the socket's descriptor registered with
  ``reactor.addWriter`` (the transport keeps its own registration); after 8 MiB in a
  row it also yields to the reactor, so one fast client cannot starve the others.
* :class:`_ReadProducer` everywhere else (TLS, the asyncio reactors, multipart
  ranges): a push producer reading 64 KiB at a time with ``os.pread``, paused by the
  transport above its high-water mark, so memory stays bounded.

Hard-won facts:

* ``os.sendfile`` on a non-blocking socket returns a short count or raises
  ``BlockingIOError``; it returns 0 only at the end of the file (the file shrank:
  the response can no longer be completed, so the connection is closed).
* The transport only knows its own buffer; checking it is empty before each burst is
  what keeps the head and the body in order. A ``StreamTransport.sendfile`` method
  would make this module's private access unnecessary (see the module's caller).
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence
from typing import Any, cast

from torsion import error
from torsion._logging import log_failure
from torsion._transports._stream import StreamTransport
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.web.sansio import Data

__all__ = ["FileRegion", "can_sendfile", "send_file_body"]

_READ_SIZE = 65536
_READS_PER_TURN = 16  # 1 MiB per reactor turn at most
_SENDFILE_CHUNK = 4 * 1024 * 1024
_SENDFILE_BURST = 8 * 1024 * 1024


class FileRegion:
    """``count`` bytes of the open file ``fd`` from ``offset``: stands for bytes in ``Data``.

    Example:
        >>> len(FileRegion(0, 10, 90))
        90
    """

    __slots__ = ("count", "fd", "offset")

    def __init__(self, fd: int, offset: int, count: int) -> None:
        self.fd = fd
        self.offset = offset
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"FileRegion(fd={self.fd}, offset={self.offset}, count={self.count})"


def can_sendfile(transport: Any) -> bool:
    """Whether ``transport`` is a plain socket transport ``os.sendfile`` can write to."""
    if not isinstance(transport, StreamTransport) or not hasattr(os, "sendfile"):
        return False
    handle = transport.getHandle()
    return isinstance(handle, socket.socket) and handle.type == socket.SOCK_STREAM


def send_file_body(
    request: Any, parts: Sequence[bytes | FileRegion], *, use_sendfile: bool = True,
    close_fd: int | None = None,
) -> Deferred[None]:
    """Write ``parts`` as the response body of ``request``, then finish it.

    Args:
        request: the request, its head set (Content-Length included when known).
        parts: literal bytes and file regions, in order.
        use_sendfile: allow the zero-copy path when the transport can take it.
        close_fd: a descriptor to close once done (the file the regions are from).

    Returns:
        A Deferred firing with None when the response is finished, or failing if the
        connection is lost (or the file cannot be read) first.
    """
    done: Deferred[None] = Deferred()
    pieces = _framed(request, parts)
    if pieces is None:
        _close(close_fd)
        done.errback(error.ConnectionLost("the connection was lost"))
        return done
    regions = [p for p in pieces if isinstance(p, FileRegion)]
    transport = request.transport
    if not regions:
        # HEAD (the core discarded the body) or an all-bytes body.
        for piece in pieces:
            transport.write(piece)
        _close(close_fd)
        request.finish()
        done.callback(None)
    elif use_sendfile and len(regions) == 1 and can_sendfile(transport):
        _SendfileProducer(request, pieces, done, close_fd).start()
    else:
        _ReadProducer(request, pieces, done, close_fd).start()
    return done


def _framed(request: Any, parts: Sequence[bytes | FileRegion]) -> list[bytes | FileRegion] | None:
    """The pieces to send: the head (if not sent) and each part framed by the core."""
    if request._disconnected:
        return None
    events: list[Any] = []
    if not request.startedWriting:
        request.startedWriting = 1
        events.append(request._head_event())
    events.extend(Data(cast(bytes, part)) for part in parts if len(part))
    pieces = request._send(*events)
    if pieces is None:
        return None
    request.sentLength += sum(len(part) for part in parts)
    return cast("list[bytes | FileRegion]", pieces)


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


class _Writable:
    """A duplicate of the socket's descriptor, watched for writability."""

    def __init__(self, sock_fd: int, wake: Any) -> None:
        self._fd = os.dup(sock_fd)
        self._wake = wake

    def fileno(self) -> int:
        return self._fd

    def logPrefix(self) -> str:
        return "sendfile"

    def doRead(self) -> None:
        return None

    def doWrite(self) -> None:
        self._wake()

    def connectionLost(self, reason: Failure) -> None:
        self._wake()

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class _SendfileProducer:
    """Sends one file region with ``os.sendfile``, between the framing bytes."""

    def __init__(
        self, request: Any, pieces: list[bytes | FileRegion], done: Deferred[None],
        close_fd: int | None,
    ) -> None:
        self._request = request
        self._transport: StreamTransport = request.transport
        self._reactor = request.channel.reactor
        self._pieces = pieces
        self._done = done
        self._close_fd = close_fd
        self._stopped = False
        self._waiting = False
        self._writable: _Writable | None = None
        self._sock_fd = self._transport.getHandle().fileno()

    def start(self) -> None:
        # Bytes before the region (a chunk header) go through the transport first.
        while self._pieces and isinstance(self._pieces[0], bytes):
            self._transport.write(cast(bytes, self._pieces.pop(0)))
        self._request._register_transport_producer(self, False)

    def resumeProducing(self) -> None:
        """The transport's buffer is empty (or just registered): send."""
        self._pump()

    def pauseProducing(self) -> None:
        """Not used: a pull producer is only resumed."""

    def stopProducing(self) -> None:
        """The connection is gone: release the file and the descriptor."""
        if self._stopped:
            return
        self._end(Failure(error.ConnectionLost("the connection was lost")))

    def _pump(self) -> None:
        if self._stopped or self._transport._buffered:
            return  # the head is still buffered: the transport resumes us once it is sent
        region = cast(FileRegion, self._pieces[0])
        burst = 0
        while region.count:
            try:
                sent = os.sendfile(
                    self._sock_fd, region.fd, region.offset, min(region.count, _SENDFILE_CHUNK)
                )
            except (BlockingIOError, InterruptedError):
                self._wait()
                return
            except OSError as exc:
                lost = exc.errno in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN)
                message = "the client went away" if lost else "sendfile failed"
                self._fail(error.ConnectionLost(f"{message}: {exc.strerror}"), log=not lost)
                return
            if sent == 0:
                self._fail(OSError(f"{region} ended early: the file shrank"), log=True)
                return
            region.offset += sent
            region.count -= sent
            burst += sent
            if region.count and burst >= _SENDFILE_BURST:
                self._wait()  # let the reactor serve others; the socket says when
                return
        self._pieces.pop(0)
        self._finish()

    def _wait(self) -> None:
        # Stay registered until the region is sent: level-triggered readiness calls
        # us back each time the socket has room, with no epoll_ctl per EAGAIN.
        if self._writable is None:
            self._writable = _Writable(self._sock_fd, self._woken)
        if not self._waiting:
            self._waiting = True
            self._reactor.addWriter(self._writable)

    def _woken(self) -> None:
        if not self._stopped:
            self._pump()

    def _release(self) -> None:
        self._stopped = True
        writable, self._writable = self._writable, None
        if writable is not None:
            if self._waiting:
                self._reactor.removeWriter(writable)
            writable.close()
        self._waiting = False
        _close(self._close_fd)
        self._close_fd = None

    def _finish(self) -> None:
        self._release()
        request = self._request
        request.unregisterProducer()
        for piece in self._pieces:
            self._transport.write(cast(bytes, piece))  # only framing bytes are left
        if not request._disconnected:
            request.finish()
        self._done.callback(None)

    def _fail(self, exc: BaseException, log: bool) -> None:
        reason = Failure(exc)
        if log:
            log_failure(reason, f"Error sending a file for {self._request!r}:", "torsion.web")
        self._request.unregisterProducer()
        self._end(reason)
        self._transport.loseConnection()

    def _end(self, reason: Failure) -> None:
        self._release()
        if not self._done.called:
            self._done.errback(reason)


class _ReadProducer:
    """Reads the regions with ``pread`` and writes them through the request."""

    def __init__(
        self, request: Any, pieces: list[bytes | FileRegion], done: Deferred[None],
        close_fd: int | None,
    ) -> None:
        self._request = request
        self._transport = request.transport
        self._reactor = request.channel.reactor
        self._pieces = pieces
        self._done = done
        self._close_fd = close_fd
        self._paused = False
        self._stopped = False
        self._call: Any = None

    def start(self) -> None:
        self._request._register_transport_producer(self, True)
        self._produce()

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        if self._call is None and not self._stopped:
            self._call = self._reactor.callLater(0, self._produce)

    def stopProducing(self) -> None:
        if not self._stopped:
            self._end(Failure(error.ConnectionLost("the connection was lost")))

    def _next(self) -> bytes | None:
        pieces = self._pieces
        while pieces:
            piece = pieces[0]
            if isinstance(piece, bytes):
                pieces.pop(0)
                return piece
            if not piece.count:
                pieces.pop(0)
                continue
            data = os.pread(piece.fd, min(piece.count, _READ_SIZE), piece.offset)
            if not data:
                raise OSError(f"{piece} ended early: the file shrank")
            piece.offset += len(data)
            piece.count -= len(data)
            return data
        return None

    def _produce(self) -> None:
        self._call = None
        transport = self._transport
        for _ in range(_READS_PER_TURN):
            if self._paused or self._stopped:
                return
            try:
                data = self._next()
            except OSError as exc:
                reason = Failure(exc)
                log_failure(reason, f"Error reading a file for {self._request!r}:", "torsion.web")
                self._end(reason)
                transport.loseConnection()
                return
            if data is None:
                self._finish()
                return
            transport.write(data)
        self.resumeProducing()

    def _finish(self) -> None:
        self._release()
        request = self._request
        request.unregisterProducer()
        if not request._disconnected:
            request.finish()
        self._done.callback(None)

    def _release(self) -> None:
        self._stopped = True
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()
        _close(self._close_fd)
        self._close_fd = None

    def _end(self, reason: Failure) -> None:
        self._release()
        if self._request.producer is self or self._request._transport_producer is self:
            self._request.unregisterProducer()
        if not self._done.called:
            self._done.errback(reason)
