"""Small helpers of :class:`~torsion.web.server.Request`: producers, body reading, targets.

* :class:`WriteGate`: a push producer registered with the transport only to learn when
  a response streamed from an async iterator may go on (flow control).
* :class:`PullDriver`: drives a pull producer once per reactor turn, as a push producer
  of the transport.
* :class:`BodyIterator`: ``async for chunk in request.body``.
* :func:`split_target` and :func:`query_args`: the path and query of a request-target.
"""

from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import parse_qs

from torsion import error
from torsion.defer import Deferred
from torsion.failure import Failure

__all__ = [
    "BodyIterator",
    "PullDriver",
    "WriteGate",
    "fail",
    "query_args",
    "split_target",
    "succeed",
]


class _Reader(Protocol):
    def readChunk(self) -> Deferred[bytes]: ...


class _Driven(Protocol):
    producer: Any
    channel: Any


class WriteGate:
    """A push producer registered with the transport to learn when writing may go on."""

    __slots__ = ("paused", "waiter")

    def __init__(self) -> None:
        self.paused = False
        self.waiter: Deferred[None] | None = None

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            waiter.callback(None)

    def stopProducing(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None:
            waiter.errback(error.ConnectionLost("the connection was lost"))

    def wait(self) -> Deferred[None]:
        waiter: Deferred[None] = Deferred()
        self.waiter = waiter
        return waiter


class PullDriver:
    """Drives a pull producer once per reactor turn while the transport takes data."""

    def __init__(self, request: _Driven, producer: Any) -> None:
        self._request = request
        self._producer = producer
        self._paused = False
        self._stopped = False
        self._call: Any = None
        self._schedule()

    def _schedule(self) -> None:
        if self._call is None and not self._paused and not self._stopped:
            self._call = self._request.channel.reactor.callLater(0, self._pull)

    def _pull(self) -> None:
        self._call = None
        if self._paused or self._stopped or self._request.producer is not self._producer:
            return
        self._producer.resumeProducing()
        self._schedule()

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._schedule()

    def stopProducing(self) -> None:
        self._stopped = True
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self._producer.stopProducing()


class BodyIterator:
    """``async for chunk in request.body``: each ``__anext__`` awaits a chunk."""

    __slots__ = ("_request",)

    def __init__(self, request: _Reader) -> None:
        self._request = request

    def __aiter__(self) -> BodyIterator:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._request.readChunk()
        if not chunk:
            raise StopAsyncIteration
        return chunk


def split_target(target: bytes) -> tuple[bytes, bytes | None]:
    """The path and the query (None without ``?``) of a request-target."""
    if target[:1] != b"/":
        if target.startswith((b"http://", b"https://")):
            # absolute-form (RFC 9112 section 3.2.2): route on its path.
            rest = target.split(b"//", 1)[1]
            slash = rest.find(b"/")
            target = rest[slash:] if slash >= 0 else b"/"
        elif target == b"*":
            return b"*", None
    path, sep, query = target.partition(b"?")
    return path, (query if sep else None)


def query_args(query: bytes) -> dict[bytes, list[bytes]]:
    try:
        return parse_qs(query, keep_blank_values=True)
    except ValueError:  # pragma: no cover - the parser admits visible ASCII only
        return {}


def succeed(value: bytes) -> Deferred[bytes]:
    d: Deferred[bytes] = Deferred()
    d.callback(value)
    return d


def fail(reason: Failure) -> Deferred[bytes]:
    d: Deferred[bytes] = Deferred()
    d.errback(reason)
    return d

