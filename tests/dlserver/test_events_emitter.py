"""EventEmitter: real datagrams to a plain socket; no collector; full buffers; closed ports."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from dlserver.events import (
    DownloadEvent,
    EmitterStats,
    EventEmitter,
    EventKind,
    ItemKind,
    decode_event,
    emitter_metrics,
)
from torsion.metrics import Registry

LOCAL = "127.0.0.1"


@pytest.fixture
def collector() -> Iterator[socket.socket]:
    """A plain UDP socket on 127.0.0.1 standing in for the log server."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCAL, 0))
        s.settimeout(5)
        yield s


def _event(n: int, kind: EventKind = EventKind.STARTED) -> DownloadEvent:
    return DownloadEvent(kind, f"d-{n}", ItemKind.TRACK, str(n), "198.51.100.7",
                         bytes_sent=n, timestamp=1700000000.0 + n, pid=7)


def test_events_arrive_at_a_plain_udp_socket(reactor: Any, collector: socket.socket) -> None:
    """Each emit is one datagram from the emitter's port; they decode to the events
    sent; event() stamps the clock's time and the pid."""
    emitter = EventEmitter(reactor, collector.getsockname(), pid=99, clock=lambda: 1234.5)
    sent = [_event(n) for n in range(50)]
    for event in sent:
        emitter.emit(event)
    made = emitter.event(EventKind.FINISHED, "d-x", ItemKind.ZIP, "z1", client="::1",
                         bytes_sent=10, duration=0.5, status=200)
    emitter.emit(made)
    received = [collector.recvfrom(2048) for _ in range(51)]
    assert [decode_event(data) for data, _ in received] == [*sent, made]
    assert made.timestamp == 1234.5 and made.pid == 99
    assert {addr[0] for _, addr in received} == {LOCAL}
    assert emitter.statistics() == EmitterStats(sent=51, dropped=0, refused=0)
    assert "sent=51" in repr(emitter)
    emitter.close()


def _dead_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on (bound, then freed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCAL, 0))
        port: int = s.getsockname()[1]
    return port


def test_no_collector_10000_emits_never_raise_never_block(reactor: Any) -> None:
    """With nobody listening, 10,000 emits return quickly, raise nothing, and the
    ICMP refusals (ECONNREFUSED on the connected socket) are counted as drops."""
    emitter = EventEmitter(reactor, (LOCAL, _dead_port()))
    started = time.monotonic()
    for n in range(10_000):
        emitter.emit(_event(n))
    elapsed = time.monotonic() - started
    stats = emitter.statistics()
    assert stats.sent + stats.dropped == 10_000
    assert stats.dropped > 1000, stats  # loopback answers every other datagram at once
    assert stats.refused >= stats.dropped
    assert elapsed < 10, elapsed  # a blocking send would hang; this is ~0.1 s


async def test_refusals_read_by_the_reactor_are_counted(reactor: Any) -> None:
    """An ICMP refusal noticed by the reactor (not by a send) counts in refused only."""
    emitter = EventEmitter(reactor, (LOCAL, _dead_port()))
    emitter.emit(_event(1))
    for _ in range(200):
        if emitter.refused:
            break
        await _turn(reactor)
    assert emitter.statistics() == EmitterStats(sent=1, dropped=0, refused=1)
    await emitter.close()


async def _turn(reactor: Any) -> None:
    from torsion.task import deferLater  # noqa: PLC0415

    await deferLater(reactor, 0.01, lambda: None)


async def test_closed_emitter_drops(reactor: Any, collector: socket.socket) -> None:
    """After close, emits are counted as dropped, not raised; close twice is fine."""
    emitter = EventEmitter(reactor, collector.getsockname())
    await emitter.close()
    emitter.emit(_event(1))
    await emitter.close()
    assert emitter.statistics() == EmitterStats(sent=0, dropped=1, refused=0)


class _FakePort:
    """A UDP port whose sends fail with a chosen error."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.written: list[bytes] = []
        self.connected_to: tuple[str, int] | None = None
        self.protocol: Any = None

    def connect(self, host: str, port: int) -> None:
        self.connected_to = (host, port)

    def write(self, datagram: bytes, addr: Any = None) -> None:
        if self.error is not None:
            raise self.error
        self.written.append(datagram)

    def stopListening(self) -> Any:
        raise RuntimeError("already gone")


class _FakeReactor:
    def __init__(self) -> None:
        self.port = _FakePort()
        self.interface: str | None = None

    def listenUDP(self, port: int, protocol: Any, interface: str = "",
                  maxPacketSize: int = 8192) -> _FakePort:
        self.port.protocol = protocol
        self.interface = interface
        return self.port


def test_full_buffer_and_other_send_errors_are_drops() -> None:
    """EAGAIN (BlockingIOError), a vanished route and any other error just count."""
    fake = _FakeReactor()
    emitter = EventEmitter(fake, ("::1", 9514))
    assert fake.interface == "::" and fake.port.connected_to == ("::1", 9514)
    emitter.emit(_event(1))
    for error in (BlockingIOError(11, "EAGAIN"), OSError(101, "ENETUNREACH"),
                  RuntimeError("bug")):
        fake.port.error = error
        emitter.emit(_event(2))
    assert emitter.statistics() == EmitterStats(sent=1, dropped=3, refused=0)
    assert len(fake.port.written) == 1
    assert emitter.close().called  # a port that fails to stop is closed as far as we care


def test_refusal_reported_during_a_send_drops_that_event() -> None:
    """A port reporting ECONNREFUSED through connectionRefused inside write() means the
    event was not sent: it counts as dropped and refused."""
    fake = _FakeReactor()
    emitter = EventEmitter(fake, (LOCAL, 9514))
    assert fake.interface == ""

    def refusing(datagram: bytes, addr: Any = None) -> None:
        fake.port.protocol.connectionRefused()

    fake.port.write = refusing  # type: ignore[method-assign]
    emitter.emit(_event(1))
    assert emitter.statistics() == EmitterStats(sent=0, dropped=1, refused=1)
    fake.port.protocol.datagramReceived(b"ignored", (LOCAL, 1))


def test_unencodable_event_is_dropped_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    """A caller's broken event (a wrong type) is logged and dropped."""
    emitter = EventEmitter(_FakeReactor(), (LOCAL, 9514))
    broken = DownloadEvent(EventKind.STARTED, "d", ItemKind.TRACK, "1", "c",
                           bytes_sent="lots")  # type: ignore[arg-type]
    emitter.emit(broken)
    assert emitter.dropped == 1 and emitter.sent == 0
    assert "could not be encoded" in caplog.text


def test_counters_feed_metrics() -> None:
    """emitter_metrics registers counters read from the emitter at scrape time."""
    fake = _FakeReactor()
    emitter = EventEmitter(fake, (LOCAL, 9514))
    registry = Registry()
    emitter_metrics(registry, emitter)
    emitter.emit(_event(1))
    fake.port.error = BlockingIOError(11, "EAGAIN")
    emitter.emit(_event(2))
    emitter.emit(_event(3))
    fake.port.protocol.connectionRefused()
    assert registry.exposition() == (
        "# HELP dlserver_events_total Download events, by outcome.\n"
        "# TYPE dlserver_events_total counter\n"
        'dlserver_events_total{outcome="sent"} 1\n'
        'dlserver_events_total{outcome="dropped"} 2\n'
        "# HELP dlserver_events_refused_total ICMP refusals from the event collector.\n"
        "# TYPE dlserver_events_refused_total counter\n"
        "dlserver_events_refused_total 1\n"
    )
