"""Stream protocols and a push producer that record what happens to them."""

from __future__ import annotations

from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import Protocol


class Recorder(Protocol):
    """A protocol that records everything that happens to it.

    Attributes:
        received: every byte received, in order.
        reasons: each ``connectionLost`` reason (a correct transport gives exactly one).
        made_count: how many times ``connectionMade`` was called.
        made: fires with this protocol on the first ``connectionMade``.
        handshake: fires with None on ``handshakeCompleted`` (TLS transports).
        lost: fires with None on the first ``connectionLost``.
    """

    def __init__(self) -> None:
        self.received = bytearray()
        self.reasons: list[Failure] = []
        self.made_count = 0
        self.made: Deferred[Recorder] = Deferred()
        self.handshake: Deferred[None] = Deferred()
        self.lost: Deferred[None] = Deferred()
        self._waiting: list[tuple[int, Deferred[bytes]]] = []

    def connectionMade(self) -> None:
        self.made_count += 1
        if not self.made.called:
            self.made.callback(self)

    def handshakeCompleted(self) -> None:
        self.handshake.callback(None)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        self._check()

    def connectionLost(self, reason: Failure = Failure(Exception("unset"))) -> None:  # noqa: B008
        self.reasons.append(reason)
        if len(self.reasons) == 1:
            self.lost.callback(None)
        for _, d in self._waiting:
            d.errback(reason)
        self._waiting.clear()

    def wait_bytes(self, count: int) -> Deferred[bytes]:
        """A Deferred firing with ``received`` once at least ``count`` bytes arrived."""
        d: Deferred[bytes] = Deferred()
        self._waiting.append((count, d))
        self._check()
        return d

    def _check(self) -> None:
        ready = [(n, d) for n, d in self._waiting if len(self.received) >= n]
        for entry in ready:
            self._waiting.remove(entry)
            entry[1].callback(bytes(self.received))


class Echo(Recorder):
    """Records, and writes back what it receives."""

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        self.transport.write(data)


class RecordingPushProducer:
    """A push producer that only records what the transport tells it, in ``events``."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def pauseProducing(self) -> None:
        self.events.append("pause")

    def resumeProducing(self) -> None:
        self.events.append("resume")

    def stopProducing(self) -> None:
        self.events.append("stop")
