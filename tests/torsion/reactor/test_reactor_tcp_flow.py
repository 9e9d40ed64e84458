"""Flow control over TCP on every backend: pausing reads, producers, large transfers, FileSender."""

from __future__ import annotations

import gc
import hashlib
from pathlib import Path
from typing import Any

import pytest
from reactor_support import (
    Recorder,
    RecordingFactory,
    connected_pair,
    listen,
    run_for,
    run_until,
    vm_rss,
    write_buffer_size,
)

from torsion.defer import Deferred
from torsion.error import ConnectionDone
from torsion.protocols.basic import FileSender

CHUNK = 64 * 1024
MiB = 1024 * 1024


def _pair(reactor: Any, server_protocol: Any = Recorder,
          client_protocol: Any = Recorder) -> tuple[Recorder, Recorder]:
    factory = RecordingFactory(server_protocol)
    port = listen(reactor, factory)
    pair: tuple[Recorder, Recorder] = run_until(
        reactor, connected_pair(reactor, factory, port, client_protocol))
    return pair


class Counter(Recorder):
    """Counts and hashes what it receives instead of keeping it; can read slowly.

    Every ``pause_every`` bytes it pauses its transport for ``pause_for`` seconds.
    """

    pause_every = 0
    pause_for = 0.002

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.digest = hashlib.sha256()
        self.rss_peak = 0
        self._next_pause = self.pause_every
        self._next_sample = 0
        self.pauses = 0

    def dataReceived(self, data: bytes) -> None:
        self.count += len(data)
        self.digest.update(data)
        if self.count >= self._next_sample:
            self._next_sample = self.count + MiB
            self.rss_peak = max(self.rss_peak, vm_rss())
        if self.pause_every and self.count >= self._next_pause:
            self._next_pause = self.count + self.pause_every
            self.pauses += 1
            self.transport.pauseProducing()
            self.transport.reactor.callLater(self.pause_for, self.transport.resumeProducing)
        self._check_count()

    def wait_count(self, count: int) -> Deferred[None]:
        d: Deferred[None] = Deferred()
        self._count_waiters.append((count, d))
        self._check_count()
        return d

    @property
    def _count_waiters(self) -> list[tuple[int, Deferred[None]]]:
        waiters: list[tuple[int, Deferred[None]]] = self.__dict__.setdefault("_cw", [])
        return waiters

    def _check_count(self) -> None:
        for entry in [e for e in self._count_waiters if self.count >= e[0]]:
            self._count_waiters.remove(entry)
            entry[1].callback(None)


class SlowCounter(Counter):
    pause_every = MiB


def _chunk(i: int, size: int = CHUNK) -> bytes:
    """The i-th chunk of a transfer: distinct contents, so order and loss show in the hash."""
    head = i.to_bytes(8, "big")
    return (head * (size // 8 + 1))[:size]


def _expected_digest(chunks: int, size: int = CHUNK) -> str:
    digest = hashlib.sha256()
    for i in range(chunks):
        digest.update(_chunk(i, size))
    return digest.hexdigest()


class PushProducer:
    """Writes chunks while not paused; records pauses and the largest write buffer seen."""

    def __init__(self, transport: Any, chunks: int, size: int = CHUNK) -> None:
        self.transport = transport
        self.chunks = chunks
        self.size = size
        self.next = 0
        self.paused = False
        self.pauses = 0
        self.stops = 0
        self.max_buffered = 0
        self._scheduled = False
        self.done: Deferred[None] = Deferred()

    def start(self) -> None:
        self.transport.registerProducer(self, True)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.transport.reactor.callLater(0, self._produce)

    def _produce(self) -> None:
        self._scheduled = False
        # At most 64 chunks per turn, so a transport that never pauses us
        # shows up as a large max_buffered, not as a loop that never yields.
        for _ in range(64):
            if self.paused or self.next >= self.chunks or self.stops:
                break
            self.transport.write(_chunk(self.next, self.size))
            self.next += 1
            self.max_buffered = max(self.max_buffered, write_buffer_size(self.transport))
        else:
            if self.max_buffered < 256 * MiB:
                self._schedule()
        if self.next == self.chunks and not self.done.called:
            self.transport.unregisterProducer()
            self.transport.loseConnection()
            self.done.callback(None)

    def pauseProducing(self) -> None:
        self.paused = True
        self.pauses += 1

    def resumeProducing(self) -> None:
        self.paused = False
        self._schedule()

    def stopProducing(self) -> None:
        self.stops += 1


class PullProducer:
    """Writes one chunk each time it is asked; unregisters after the last."""

    def __init__(self, transport: Any, chunks: int, size: int = CHUNK,
                 close: bool = True) -> None:
        self.transport = transport
        self.chunks = chunks
        self.size = size
        self.close = close
        self.next = 0
        self.asked = 0
        self.stops = 0
        self.max_buffered = 0
        self.done: Deferred[None] = Deferred()

    def resumeProducing(self) -> None:
        self.asked += 1
        if self.next == self.chunks:
            return
        self.transport.write(_chunk(self.next, self.size))
        self.next += 1
        self.max_buffered = max(self.max_buffered, write_buffer_size(self.transport))
        if self.next == self.chunks:
            self.transport.unregisterProducer()
            if self.close:
                self.transport.loseConnection()
            self.done.callback(None)

    def stopProducing(self) -> None:
        self.stops += 1


def test_pause_and_resume_reading(reactor: Any) -> None:
    """``pauseProducing`` on a transport stops delivery; ``resumeProducing`` resumes it."""
    client, server = _pair(reactor)
    server.transport.pauseProducing()
    client.transport.write(b"held back")
    run_for(reactor, 0.1)
    assert bytes(server.received) == b""
    server.transport.resumeProducing()
    assert run_until(reactor, server.wait_bytes(9)) == b"held back"


def test_paused_reader_holds_back_the_writer(reactor: Any) -> None:
    """A reader that stops reading makes the writer's buffer grow; resuming drains it all."""
    client, server = _pair(reactor, Counter)
    server.transport.pauseProducing()
    total = 16 * MiB
    for i in range(total // CHUNK):
        client.transport.write(_chunk(i))
    run_for(reactor, 0.1)
    assert isinstance(server, Counter)
    assert server.count == 0
    assert write_buffer_size(client.transport) > 0, "16 MiB cannot all fit in socket buffers"
    server.transport.resumeProducing()
    run_until(reactor, server.wait_count(total), timeout=30)
    assert server.digest.hexdigest() == _expected_digest(total // CHUNK)
    assert write_buffer_size(client.transport) == 0


def test_register_producer_twice_is_refused(reactor: Any) -> None:
    """A second ``registerProducer`` while one is registered raises RuntimeError."""
    client, _ = _pair(reactor)
    first = PullProducer(client.transport, 0)
    client.transport.registerProducer(first, True)
    with pytest.raises(RuntimeError):
        client.transport.registerProducer(PullProducer(client.transport, 0), True)
    client.transport.unregisterProducer()


def test_push_producer_is_paused_and_resumed(reactor: Any) -> None:
    """A push producer is paused past the high-water mark and resumed; the buffer stays bounded."""
    client, server = _pair(reactor, SlowCounter)
    chunks = 256  # 16 MiB
    producer = PushProducer(client.transport, chunks)
    producer.start()
    run_until(reactor, server.lost, timeout=30)
    assert isinstance(server, Counter)
    assert server.count == chunks * CHUNK
    assert server.digest.hexdigest() == _expected_digest(chunks)
    assert producer.pauses > 0
    high = client.transport.highWater
    assert producer.max_buffered <= high + CHUNK, (producer.max_buffered, high)
    assert server.reasons[0].check(ConnectionDone)


def test_pull_producer_is_asked_for_each_chunk(reactor: Any) -> None:
    """A pull producer is asked for more as the buffer drains, until it unregisters."""
    client, server = _pair(reactor, Counter)
    chunks = 200
    producer = PullProducer(client.transport, chunks, size=16 * 1024)
    client.transport.registerProducer(producer, False)
    run_until(reactor, server.lost, timeout=30)
    assert isinstance(server, Counter)
    assert server.count == chunks * 16 * 1024
    assert server.digest.hexdigest() == _expected_digest(chunks, 16 * 1024)
    assert producer.asked >= chunks
    assert producer.max_buffered <= client.transport.highWater + 16 * 1024
    assert producer.stops == 0


def test_lose_connection_waits_for_a_pull_producer(reactor: Any) -> None:
    """``loseConnection`` with a pull producer registered closes only after it unregisters."""
    client, server = _pair(reactor, Counter)
    chunks = 50
    producer = PullProducer(client.transport, chunks, size=16 * 1024, close=False)
    client.transport.registerProducer(producer, False)
    client.transport.loseConnection()
    run_until(reactor, server.lost, timeout=30)
    assert isinstance(server, Counter)
    assert server.count == chunks * 16 * 1024
    assert server.reasons[0].check(ConnectionDone)


def test_producer_stopped_when_the_connection_is_lost(reactor: Any) -> None:
    """A registered producer gets ``stopProducing`` once when the connection goes away."""
    client, server = _pair(reactor)
    producer = PushProducer(client.transport, 10**9)
    client.transport.registerProducer(producer, True)
    server.transport.abortConnection()
    run_until(reactor, client.lost)
    run_for(reactor, 0.02)
    assert producer.stops == 1


def test_register_producer_on_a_closed_transport_stops_it(reactor: Any) -> None:
    """Registering a producer on a disconnected transport calls its ``stopProducing``."""
    client, _ = _pair(reactor)
    client.transport.loseConnection()
    run_until(reactor, client.lost)
    producer = PushProducer(client.transport, 1)
    client.transport.registerProducer(producer, True)
    assert producer.stops == 1


def test_large_transfer_to_a_slow_reader_keeps_memory_bounded(reactor: Any) -> None:
    """64 MiB through one connection to a reader that keeps pausing: memory stays bounded."""
    client, server = _pair(reactor, SlowCounter)
    assert isinstance(server, Counter)
    chunks = 64 * MiB // CHUNK
    gc.collect()
    baseline = vm_rss()
    producer = PushProducer(client.transport, chunks)
    producer.start()
    run_until(reactor, server.lost, timeout=60)
    assert server.count == 64 * MiB
    assert server.digest.hexdigest() == _expected_digest(chunks)
    assert server.pauses >= 32, "the reader was meant to pause every MiB"
    assert producer.max_buffered <= client.transport.highWater + CHUNK
    growth = server.rss_peak - baseline
    assert growth < 2 * CHUNK + 16 * MiB, f"resident memory grew by {growth / MiB:.1f} MiB"


def test_file_sender_streams_a_large_file(reactor: Any, tmp_path: Path) -> None:
    """``FileSender`` streams a 32 MiB file with bounded memory; fires with the last byte."""
    path = tmp_path / "big.bin"
    chunks = 32 * MiB // CHUNK
    with path.open("wb") as f:
        for i in range(chunks):
            f.write(_chunk(i))
    client, server = _pair(reactor, SlowCounter)
    assert isinstance(server, Counter)
    gc.collect()
    baseline = vm_rss()
    with path.open("rb") as f:
        sender = FileSender()
        d = sender.beginFileTransfer(f, client.transport)
        last = run_until(reactor, d, timeout=60)
        client.transport.loseConnection()
        run_until(reactor, server.lost, timeout=60)
    assert last == _chunk(chunks - 1)[-1:]
    assert server.count == 32 * MiB
    assert server.digest.hexdigest() == _expected_digest(chunks)
    growth = server.rss_peak - baseline
    assert growth < 2 * FileSender.CHUNK_SIZE + 16 * MiB, f"memory grew {growth / MiB:.1f} MiB"


def test_file_sender_transform_and_empty_file(reactor: Any, tmp_path: Path) -> None:
    """``transform`` is applied to each chunk; an empty file fires at once with b""."""
    path = tmp_path / "small.txt"
    path.write_bytes(b"abc" * 50000)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    client, server = _pair(reactor)
    with empty.open("rb") as f:
        assert run_until(reactor, FileSender().beginFileTransfer(f, client.transport)) == b""
    with path.open("rb") as f:
        d = FileSender().beginFileTransfer(f, client.transport, bytes.upper)
        assert run_until(reactor, d) == b"C"
    client.transport.loseConnection()
    run_until(reactor, server.lost)
    assert bytes(server.received) == b"ABC" * 50000


def test_file_sender_fails_when_the_connection_is_lost(reactor: Any, tmp_path: Path) -> None:
    """A transfer cut short by the peer fails its Deferred (the consumer stopped it)."""
    path = tmp_path / "big.bin"
    path.write_bytes(b"\0" * (16 * MiB))
    client, server = _pair(reactor)
    server.transport.pauseProducing()  # nobody reads: the transfer cannot finish
    with path.open("rb") as f:
        d = FileSender().beginFileTransfer(f, client.transport)
        run_for(reactor, 0.05)
        server.transport.abortConnection()
        with pytest.raises(Exception, match="stop producing"):
            run_until(reactor, d)


class IdlePullProducer:
    """A pull producer with nothing to say: counts how often it is asked."""

    def __init__(self) -> None:
        self.asked = 0

    def resumeProducing(self) -> None:
        self.asked += 1

    def stopProducing(self) -> None:
        pass


def test_a_pull_producer_that_writes_nothing_is_not_asked_again(reactor: Any) -> None:
    """A pull producer is asked again only after something was written: one with
    nothing to write is not asked on every loop turn (a busy loop)."""
    client, server = _pair(reactor)
    producer = IdlePullProducer()
    client.transport.registerProducer(producer, False)
    run_for(reactor, 0.2)
    assert producer.asked == 1
    # A write from elsewhere (a timer, another connection) drains, then it is asked again.
    client.transport.write(b"from a timer")
    run_until(reactor, server.wait_bytes(12))
    run_for(reactor, 0.1)
    assert producer.asked == 2
    client.transport.unregisterProducer()


class CloseOnResume:
    """A push producer that ends the connection when it is resumed after a pause."""

    def __init__(self, transport: Any, abort: bool) -> None:
        self.transport = transport
        self.abort = abort
        self.pauses = 0
        self.resumes = 0

    def pauseProducing(self) -> None:
        self.pauses += 1

    def resumeProducing(self) -> None:
        self.resumes += 1
        self.transport.unregisterProducer()
        if self.abort:
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    def stopProducing(self) -> None:
        pass


@pytest.mark.parametrize("abort", [False, True], ids=["lose", "abort"])
def test_closing_from_resume_producing(reactor: Any, abort: bool) -> None:
    """A producer that closes (or aborts) the connection from ``resumeProducing`` — called
    as the write buffer drains — ends it once: one connectionLost, no error logged.
    (asyncio's selector transport used to run connection_lost twice there.)"""
    client, server = _pair(reactor, Counter)
    assert isinstance(server, Counter)
    server.transport.pauseProducing()  # so that the writer's buffer fills up
    total = 16 * MiB
    for i in range(total // CHUNK):
        client.transport.write(_chunk(i))
    assert write_buffer_size(client.transport) > 0, "16 MiB cannot all fit in socket buffers"
    producer = CloseOnResume(client.transport, abort)
    client.transport.registerProducer(producer, True)
    server.transport.resumeProducing()
    run_until(reactor, client.lost, timeout=30)
    run_until(reactor, server.lost, timeout=30)
    run_for(reactor, 0.05)  # a second connectionLost would come now
    assert producer.pauses == 1 and producer.resumes == 1
    assert len(client.reasons) == 1 and len(server.reasons) == 1
    if not abort:
        assert server.count == total
        assert client.reasons[0].check(ConnectionDone), client.reasons[0]
