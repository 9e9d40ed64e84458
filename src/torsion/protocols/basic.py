"""Basic protocol helpers, mirroring ``twisted.protocols.basic``.

Names (camelCase included) are Twisted's, so code ported from Twisted keeps
working after changing its imports.

:class:`FileSender` streams a file to a consumer (a transport) as a pull
producer: one chunk is read each time the consumer asks for more, so a file of
any size is sent with one chunk in memory at a time::

    d = FileSender().beginFileTransfer(open(path, "rb"), protocol.transport)
    d.addCallback(lambda lastByte: protocol.transport.loseConnection())
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from torsion.defer import Deferred
from torsion.interfaces import IConsumer

__all__ = ["FileSender"]


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class FileSender:
    """A pull producer sending a file's contents to a consumer, optionally transformed.

    Attributes:
        CHUNK_SIZE: bytes read from the file per ``resumeProducing`` (Twisted
            reads 16 KiB; 64 KiB costs fewer calls per megabyte and matches
            the transports' read size).
        lastSent: the last byte written (``b""`` before any).
        deferred: the transfer's Deferred until it fires, then None.
    """

    CHUNK_SIZE = 65536

    lastSent = b""
    deferred: Deferred[bytes] | None = None

    def __init__(self) -> None:
        self.file: _Readable | None = None
        self.consumer: IConsumer | None = None
        self.transform: Callable[[bytes], bytes] | None = None

    def beginFileTransfer(
        self,
        file: _Readable,
        consumer: IConsumer,
        transform: Callable[[bytes], bytes] | None = None,
    ) -> Deferred[bytes]:
        """Start sending ``file`` to ``consumer``; registers itself as a pull producer.

        Args:
            file: read with ``read(CHUNK_SIZE)`` until it returns ``b""``.
            consumer: gets each chunk through ``write`` (a transport, usually).
            transform: applied to every chunk before it is written.

        Returns:
            A Deferred firing with the last byte written once the whole file
            has been handed to the consumer (the producer is unregistered
            first), or failing if the consumer stops the transfer.
        """
        self.file = file
        self.consumer = consumer
        self.transform = transform
        deferred: Deferred[bytes] = Deferred()
        self.deferred = deferred
        consumer.registerProducer(self, False)
        return deferred

    def resumeProducing(self) -> None:
        """Write the next chunk; at the end of the file, unregister and fire the Deferred."""
        chunk = self.file.read(self.CHUNK_SIZE) if self.file is not None else b""
        consumer = self.consumer
        if not chunk:
            self.file = None
            if consumer is not None:
                consumer.unregisterProducer()
            self._finish()
            return
        if self.transform is not None:
            chunk = self.transform(chunk)
        if consumer is not None:
            consumer.write(chunk)
        self.lastSent = chunk[-1:]

    def _finish(self) -> None:
        d, self.deferred = self.deferred, None
        if d is not None:
            d.callback(self.lastSent)

    def pauseProducing(self) -> None:
        """Nothing to do: a pull producer only writes when asked."""

    def stopProducing(self) -> None:
        """The consumer gave up (the connection was lost): fail the transfer's Deferred."""
        d, self.deferred = self.deferred, None
        if d is not None:
            d.errback(Exception("Consumer asked us to stop producing"))
