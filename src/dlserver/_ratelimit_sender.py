"""ThrottledSender: a push producer writing a file to a transport under a DownloadLimiter.

Two brakes, both honoured: the limiter (timers on the reactor) and the
transport's own flow control (``pauseProducing`` when its buffer is full).
"""

from __future__ import annotations

from typing import Protocol

from dlserver._ratelimit_buckets import DownloadLimiter
from torsion.defer import Deferred
from torsion.error import ConnectionLost
from torsion.interfaces import IConsumer, IDelayedCall, IReactorTime

__all__ = ["ThrottledSender"]

# Writes made in one reactor turn before yielding to other work, when the
# limiter lets everything through at once (no limit, or a large burst).
_WRITES_PER_TURN = 16


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


class ThrottledSender:
    """Send a file to a consumer no faster than a :class:`DownloadLimiter` allows.

    Registers itself as a streaming (push) producer, so the transport can
    also pause it.  Reading the file happens in the reactor thread, one
    chunk ahead of the writes: fine for local files and in-memory data.

    Args:
        limiter: The download's limits.
        clock: The reactor (``callLater`` and ``seconds``).
        chunk_size: Bytes asked for per write (the limiter may grant fewer).

    Attributes:
        sent: Bytes written so far.
    """

    def __init__(
        self, limiter: DownloadLimiter, clock: IReactorTime, chunk_size: int = 65536
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
        self._limiter = limiter
        self._clock = clock
        self._chunk = chunk_size
        self._file: _Readable | None = None
        self._consumer: IConsumer | None = None
        self._deferred: Deferred[int] | None = None
        self._call: IDelayedCall | None = None
        self._buffer = b""  # read from the file, not yet sent
        self._reserved = 0  # bytes of it granted
        self._due = 0.0  # when they may go
        self._paused = False
        self.sent = 0

    def beginFileTransfer(self, file: _Readable, consumer: IConsumer) -> Deferred[int]:
        """Start sending ``file`` to ``consumer``.

        Returns:
            A Deferred firing with the number of bytes sent once the whole file
            was written (the producer is unregistered first), or failing with
            ``ConnectionLost`` if the consumer stops the transfer.
        """
        if self._deferred is not None:
            raise RuntimeError("a transfer is already running")
        self._file = file
        self._consumer = consumer
        self._deferred = Deferred()
        deferred = self._deferred
        consumer.registerProducer(self, True)
        self._step()
        return deferred

    def _step(self) -> None:
        self._call = None
        for _ in range(_WRITES_PER_TURN):
            if self._paused or self._deferred is None:
                return
            if not self._buffer:
                # Read ahead of the grant: the end of the file is seen as soon as
                # the last byte went, not one grant later (the peer may close
                # the moment it has everything).
                assert self._file is not None
                self._buffer = self._file.read(self._chunk)
                if not self._buffer:
                    self._finish()
                    return
            if not self._reserved:
                grant = self._limiter.request(len(self._buffer))
                if not grant.size:
                    self._schedule(grant.delay)
                    return
                self._reserved = grant.size
                self._due = self._clock.seconds() + grant.delay
            wait = self._due - self._clock.seconds()
            if wait > 0:
                self._schedule(wait)
                return
            self._send()
        self._schedule(0)

    def _send(self) -> None:
        assert self._consumer is not None
        data, self._buffer = self._buffer[: self._reserved], self._buffer[self._reserved :]
        self._reserved = 0
        self.sent += len(data)
        self._consumer.write(data)  # may call pauseProducing, or stopProducing

    def _schedule(self, delay: float) -> None:
        self._call = self._clock.callLater(max(0.0, delay), self._step)

    def _cancel_call(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def _finish(self) -> None:
        self._cancel_call()
        d, self._deferred = self._deferred, None
        consumer, self._consumer = self._consumer, None
        self._file = None
        self._buffer = b""
        if consumer is not None:
            consumer.unregisterProducer()
        if d is not None:
            d.callback(self.sent)

    def pauseProducing(self) -> None:
        """The consumer's buffer is full: stop writing (a granted chunk stays reserved)."""
        self._paused = True
        self._cancel_call()

    def resumeProducing(self) -> None:
        """The consumer drained: carry on (at once, or when the reserved chunk is due)."""
        if not self._paused and self._call is not None:
            return
        self._paused = False
        if self._deferred is not None and self._call is None:
            self._step()

    def stopProducing(self) -> None:
        """The consumer went away: stop, and fail the transfer with ``ConnectionLost``."""
        self._cancel_call()
        self._file = None
        self._consumer = None
        self._buffer = b""
        d, self._deferred = self._deferred, None
        if d is not None:
            d.errback(ConnectionLost("the consumer stopped the transfer"))
