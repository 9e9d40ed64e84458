"""What the socket and pipe transports share about writing: the buffer and its producer.

A transport writes what the kernel takes at once and buffers the rest as a queue
of chunks (:meth:`WriteBuffer._consume` drops what a later send took).  A
streaming (push) producer is paused when the buffer grows past ``highWater``
bytes and resumed once it is back to ``lowWater``; a pull producer is asked for
more by the transport (each when its buffer empties).
"""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["WriteBuffer", "as_bytes"]


def as_bytes(data: object) -> bytes:
    """``data`` as bytes, for ``write``.

    Raises:
        TypeError: when ``data`` is not bytes-like (``str`` included).
    """
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise TypeError(f"data must be bytes, not {type(data).__name__}")


def claim_producer(transport: Any, producer: Any, streaming: bool) -> bool:
    """Make ``producer`` the one of ``transport``: the start of ``registerProducer``.

    Returns False (and stops the producer) when the transport is disconnected already.

    Raises:
        RuntimeError: when another producer is registered.
    """
    if transport.producer is not None:
        raise RuntimeError(
            f"cannot register producer {producer!r}: {transport.producer!r} is registered"
        )
    if transport.disconnected:
        producer.stopProducing()
        return False
    transport.producer = producer
    transport.streamingProducer = bool(streaming)
    return True


class WriteBuffer:
    """The write buffer of a transport driven by a reactor, and its producer.

    Attributes:
        bufferSize: the most bytes read at once.
        highWater: buffered bytes above which a streaming producer is paused.
        lowWater: buffered bytes at or below which it is resumed.
        producer: the registered producer, if any.
    """

    bufferSize = 65536
    highWater = 65536
    lowWater = 16384

    reactor: Any
    disconnected: Any

    def __init__(self) -> None:
        self._buffer: deque[bytes | memoryview] = deque()
        self._buffered = 0
        self._write_failure: BaseException | None = None
        self._reading = False
        self._writing = False
        self.producer: Any = None
        self.streamingProducer = False
        self.producerPaused = False

    def _consume(self, sent: int) -> bool:
        """Drop ``sent`` bytes from the buffer; return whether all of it went."""
        buffer = self._buffer
        self._buffered -= sent
        while sent:
            head = buffer[0]
            if sent >= len(head):
                sent -= len(head)
                buffer.popleft()
            else:
                buffer[0] = memoryview(head)[sent:]
                return False
        self._maybe_resume_producer()
        return not buffer

    def _maybe_resume_producer(self) -> None:
        if (
            self.producerPaused
            and self.streamingProducer
            and self._buffered <= self.lowWater
            and self.producer is not None
        ):
            self.producerPaused = False
            self.producer.resumeProducing()

    def _maybe_pause_producer(self) -> None:
        if (
            self._buffered > self.highWater
            and self.producer is not None
            and self.streamingProducer
            and not self.producerPaused
        ):
            self.producerPaused = True
            self.producer.pauseProducing()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Attach a producer: push (``streaming``) or pull.

        Raises:
            RuntimeError: when another producer is registered.
        """
        if not claim_producer(self, producer, streaming):
            return
        self.producerPaused = False
        if not streaming:
            producer.resumeProducing()
        elif self._buffered > self.highWater:
            self.producerPaused = True
            producer.pauseProducing()

    def stopReading(self) -> None:
        if self._reading:
            self._reading = False
            self.reactor.removeReader(self)

    def stopWriting(self) -> None:
        if self._writing:
            self._writing = False
            self.reactor.removeWriter(self)
