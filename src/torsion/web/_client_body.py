"""Request bodies going out, response bodies coming in.

Going out, a *body producer* (``IBodyProducer``, as in Twisted) has a ``length`` (an int,
or :data:`UNKNOWN_LENGTH` to send it chunked) and ``startProducing(consumer)``, which
writes to the consumer and returns a Deferred firing when it is done; the transport's
flow control pauses and resumes it. :class:`FileBodyProducer` reads a file,
:class:`BytesBodyProducer` sends bytes (and can be sent again, for a 307/308 redirect).

Coming in, ``response.deliverBody(protocol)`` gives the body to a protocol;
:func:`readBody` collects it into bytes::

    d = agent.request(b"POST", b"http://example.com/", bodyProducer=BytesBodyProducer(b"x=1"))
    d.addCallback(readBody)     # Deferred[bytes]

Names mirror ``twisted.web.client`` and ``twisted.web.iweb`` (camelCase is the contract).
"""

from __future__ import annotations

import enum
import os
from typing import IO, Any, Final, Literal, Protocol, TypeAlias, runtime_checkable

from torsion.defer import CancelledError, Deferred
from torsion.failure import Failure
from torsion.interfaces import IConsumer

from ._client_errors import (
    PartialDownloadError,
    PotentialDataLoss,
    ResponseDone,
    ResponseTooLarge,
)

__all__ = [
    "UNKNOWN_LENGTH",
    "BytesBodyProducer",
    "FileBodyProducer",
    "IBodyProducer",
    "Length",
    "readBody",
]


class _Unknown(enum.Enum):
    UNKNOWN_LENGTH = "UNKNOWN_LENGTH"

    def __repr__(self) -> str:
        return "UNKNOWN_LENGTH"


UNKNOWN_LENGTH: Final = _Unknown.UNKNOWN_LENGTH
"""The ``length`` of a body whose size is not known in advance (sent chunked; a
response read until its end)."""

Length: TypeAlias = int | Literal[_Unknown.UNKNOWN_LENGTH]
"""A body length: a number of bytes, or :data:`UNKNOWN_LENGTH`."""


@runtime_checkable
class IBodyProducer(Protocol):
    """Produces a request body (``twisted.web.iweb.IBodyProducer``).

    ``startProducing`` writes the body to ``consumer`` (all at once, or over time) and
    returns a Deferred that fires once everything is written, or fails to abort the
    request. ``pauseProducing``/``resumeProducing`` are the transport's flow control;
    ``stopProducing`` means the request is abandoned (the Deferred need not fire).
    """

    length: Length

    def startProducing(self, consumer: IConsumer) -> Deferred[None]: ...

    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...

    def stopProducing(self) -> None: ...


class BytesBodyProducer:
    """A request body from bytes held in memory; it can be sent again.

    Example:
        >>> BytesBodyProducer(b"name=value").length
        10
    """

    def __init__(self, body: bytes) -> None:
        if not isinstance(body, bytes | bytearray | memoryview):
            raise TypeError(f"BytesBodyProducer takes bytes, not {type(body).__name__}")
        self.body = bytes(body)
        self.length: Length = len(self.body)

    def startProducing(self, consumer: IConsumer) -> Deferred[None]:
        """Write the whole body now; the Deferred has fired already."""
        if self.body:
            consumer.write(self.body)
        done: Deferred[None] = Deferred()
        done.callback(None)
        return done

    def pauseProducing(self) -> None:
        """Nothing to pause: everything was written at once."""

    def resumeProducing(self) -> None:
        """Nothing to resume."""

    def stopProducing(self) -> None:
        """Nothing to stop."""

    def replay(self) -> BytesBodyProducer:
        """A fresh producer of the same bytes (a 307/308 redirect sends the body again)."""
        return BytesBodyProducer(self.body)


class FileBodyProducer:
    """A request body read from a file, ``readSize`` bytes at a time.

    Its ``length`` is what remains from the current position to the end when the file
    is seekable, :data:`UNKNOWN_LENGTH` otherwise (the body is sent chunked). The file
    is closed once the body is sent or the request abandoned, as Twisted does.

    Without a ``cooperator`` the producer writes chunks while the transport accepts
    them and stops when the transport's flow control pauses it (above its high-water
    mark), so reading never runs ahead of the network by more than one buffer. With a
    ``cooperator`` (Twisted's way) one chunk is written per cooperative step.

    Example::

        with open("upload.bin", "rb") as f:
            d = agent.request(b"PUT", url, bodyProducer=FileBodyProducer(f))

    Args:
        inputFile: a binary file object open for reading.
        cooperator: a ``torsion.task.Cooperator`` to schedule reads, or None.
        readSize: bytes per read.
    """

    def __init__(
        self, inputFile: IO[bytes], cooperator: Any = None, readSize: int = 2**16
    ) -> None:
        if readSize < 1:
            raise ValueError("readSize must be >= 1")
        self._inputFile = inputFile
        self._cooperator = cooperator
        self._readSize = readSize
        self.length: Length = self._determine_length(inputFile)
        self._consumer: IConsumer | None = None
        self._done: Deferred[None] | None = None
        self._paused = False
        self._running = False
        self._stopped = False
        self._task: Any = None

    @staticmethod
    def _determine_length(inputFile: IO[bytes]) -> Length:
        try:
            here = inputFile.tell()
            end = inputFile.seek(0, os.SEEK_END)
            inputFile.seek(here, os.SEEK_SET)
        except (AttributeError, OSError, ValueError):
            return UNKNOWN_LENGTH
        return end - here

    def startProducing(self, consumer: IConsumer) -> Deferred[None]:
        """Start writing the file to ``consumer``; fire once it is all written."""
        self._consumer = consumer
        done: Deferred[None] = Deferred(lambda d: self.stopProducing())
        self._done = done
        if self._cooperator is not None:
            self._task = self._cooperator.cooperate(self._steps())
            self._task.whenDone().addCallbacks(lambda _: self._finish(None), self._finish)
        else:
            self._pump()
        return done

    def _steps(self) -> Any:
        assert self._consumer is not None
        while True:
            chunk = self._inputFile.read(self._readSize)
            if not chunk:
                return
            self._consumer.write(chunk)
            yield None

    def _pump(self) -> None:
        if self._running:
            return  # resumed from inside our own write(): the loop below carries on
        self._running = True
        try:
            while not self._paused and not self._stopped and self._done is not None:
                chunk = self._inputFile.read(self._readSize)
                if not chunk:
                    self._finish(None)
                    return
                assert self._consumer is not None
                self._consumer.write(chunk)
        except Exception:
            self._finish(Failure())
        finally:
            self._running = False

    def _finish(self, result: Failure | None) -> None:
        done, self._done = self._done, None
        self._close()
        if done is None or done.called:
            return
        if isinstance(result, Failure) and self._stopped:
            return  # stopped on purpose: the request is abandoned, nobody waits
        done.callback(None) if result is None else done.errback(result)

    def _close(self) -> None:
        try:
            self._inputFile.close()
        except Exception:
            pass

    def pauseProducing(self) -> None:
        """Stop reading until ``resumeProducing``."""
        self._paused = True
        if self._task is not None:
            self._task.pause()

    def resumeProducing(self) -> None:
        """Read and write again."""
        self._paused = False
        if self._task is not None:
            self._task.resume()
        elif self._done is not None:
            self._pump()

    def stopProducing(self) -> None:
        """Give up: close the file; the Deferred of ``startProducing`` will not fire."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            try:
                task.stop()
            except Exception:
                pass
        self._done = None
        self._close()


class _HasDeliverBody(Protocol):
    code: int
    phrase: bytes
    length: Length

    def deliverBody(self, protocol: Any) -> None: ...


class _ReadBodyProtocol:
    """Collects a body for :func:`readBody`."""

    def __init__(
        self, response: _HasDeliverBody, deferred: Deferred[bytes], maxSize: int | None
    ) -> None:
        self._response = response
        self._deferred = deferred
        self._maxSize = maxSize
        self._chunks: list[bytes] = []
        self._size = 0
        self.transport: Any = None

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        length = self._response.length
        if self._maxSize is not None and isinstance(length, int) and length > self._maxSize:
            self._too_large(length)

    def dataReceived(self, data: bytes) -> None:
        if self._deferred.called:
            return
        self._size += len(data)
        if self._maxSize is not None and self._size > self._maxSize:
            self._too_large(None)
            return
        self._chunks.append(data)

    def _too_large(self, length: int | None) -> None:
        assert self._maxSize is not None
        self._chunks = []
        self._deferred.errback(Failure(ResponseTooLarge(self._maxSize, length)))
        self.transport.stopProducing()

    def connectionLost(self, reason: Failure) -> None:
        if self._deferred.called:
            return
        body = b"".join(self._chunks)
        self._chunks = []
        if reason.check(ResponseDone):
            self._deferred.callback(body)
        elif reason.check(PotentialDataLoss):
            self._deferred.errback(Failure(PartialDownloadError(
                self._response.code, self._response.phrase or None, body
            )))
        else:
            self._deferred.errback(reason)


def readBody(response: _HasDeliverBody, *, maxSize: int | None = None) -> Deferred[bytes]:
    """Collect the whole body of ``response``.

    Example::

        body = await readBody(await agent.request(b"GET", b"http://example.com/"))

    Args:
        response: a response from an agent.
        maxSize: fail with ``ResponseTooLarge`` (and drop the connection) past this many
            bytes; None for no limit.

    Returns:
        A Deferred firing with the body; it fails with ``PartialDownloadError`` (its
        ``response`` holds the bytes) when the body ended with the connection and may be
        short, ``ResponseFailed`` when the connection broke, ``ResponseTooLarge``.
        Cancelling it drops the connection.
    """
    if maxSize is not None and maxSize < 0:
        raise ValueError("maxSize must be >= 0")
    protocol: _ReadBodyProtocol | None = None

    def cancel(d: Deferred[bytes]) -> None:
        d.errback(Failure(CancelledError("reading the body was cancelled")))
        if protocol is not None and protocol.transport is not None:
            protocol.transport.stopProducing()

    deferred: Deferred[bytes] = Deferred(cancel)
    protocol = _ReadBodyProtocol(response, deferred, maxSize)
    response.deliverBody(protocol)
    return deferred
