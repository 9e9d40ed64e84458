"""Sending (parts of) a file as a response body: zero-copy ``sendfile`` or read-and-write.

:func:`send_file_body` writes a body made of literal bytes and file regions through the
request, so the sans-IO core still frames it (Content-Length, chunked, or nothing for
HEAD): a :class:`FileRegion` stands for its bytes in ``send_with_data_passthrough`` and
comes back untouched between the framing pieces.

Two ways to move the region's bytes:

* :class:`_QueuedSend`, on a transport with ``sendfile`` (``ISendfileTransport``:
  the plain TCP and UNIX transports of the epoll, poll and select reactors): each
  region is handed to ``transport.sendfile`` and each framing piece to ``write``, all
  at once; the transport keeps them in order, sends regions with ``os.sendfile``
  (the kernel copies file pages to the socket, never through Python), counts them
  in its flow control, and fails their Deferreds if the connection is lost. The
  response is finished once the last region is out.
* :class:`_ReadProducer` everywhere else (TLS, the asyncio reactors): a push
  producer reading 64 KiB at a time with ``os.pread``, paused by the transport
  above its high-water mark, so memory stays bounded.

A file that shrinks while it is sent cannot complete the response: the connection
is closed (by the transport on the sendfile path) and the Deferred fails.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from torsion import error
from torsion._logging import log_failure
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.web.sansio import Data

if TYPE_CHECKING:
    from torsion.interfaces import ISendfileTransport

__all__ = ["FileRegion", "can_sendfile", "send_file_body"]

_READ_SIZE = 65536
_READS_PER_TURN = 16  # 1 MiB per reactor turn at most


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
    """Whether ``transport`` sends file regions itself (``ISendfileTransport``)."""
    return callable(getattr(transport, "sendfile", None))


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
    elif use_sendfile and can_sendfile(transport):
        _QueuedSend(request, pieces, done, close_fd).start()
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


class _QueuedSend:
    """Queues the pieces on an ``ISendfileTransport``: bytes written, regions sendfile'd.

    The transport keeps them in order (and sends each region with ``os.sendfile``
    where it can); the response is finished once the last region is out.
    """

    def __init__(
        self, request: Any, pieces: list[bytes | FileRegion], done: Deferred[None],
        close_fd: int | None,
    ) -> None:
        self._request = request
        self._pieces = pieces
        self._done = done
        self._close_fd = close_fd

    def start(self) -> None:
        # Registered as the body's pull producer, as a body producer is: the channel
        # then lets the transport go (its own flow-control gate is unregistered).
        # The transport's flow control has nothing to ask of us (the regions are
        # queued already), so this producer does nothing.
        self._request._register_transport_producer(self, False)
        transport: ISendfileTransport = self._request.transport
        last: Deferred[int] | None = None
        for piece in self._pieces:
            if isinstance(piece, FileRegion):
                last = transport.sendfile(piece.fd, piece.offset, piece.count)
                last.addErrback(self._failed)
            else:
                # Framing after the last region: queued behind it by the transport.
                self._request.transport.write(piece)
        assert last is not None  # the caller sends all-bytes bodies itself
        last.addCallback(self._finish)

    def resumeProducing(self) -> None:
        """The transport's buffer is empty: nothing to do, the regions are queued."""

    def pauseProducing(self) -> None:
        """Not used: a pull producer is only resumed."""

    def stopProducing(self) -> None:
        """The connection is gone: the transport fails the regions' Deferreds."""

    def _finish(self, result: object) -> None:
        if result is None:
            return  # a region failed: _failed has ended it
        _close(self._close_fd)
        self._close_fd = None
        if not self._request._disconnected and not self._request.finished:
            self._request.finish()
        if not self._done.called:
            self._done.callback(None)

    def _failed(self, reason: Failure) -> None:
        # Every region after a failed one fails too (the connection closes): once is enough.
        _close(self._close_fd)
        self._close_fd = None
        if self._done.called:
            return
        if not reason.check(error.ConnectionLost):
            log_failure(reason, f"Error sending a file for {self._request!r}:", "torsion.web")
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
        if not self._paused and not self._stopped:
            # Not resumeProducing: the last write may just have paused us.
            self._call = self._reactor.callLater(0, self._produce)

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
