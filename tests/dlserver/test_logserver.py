"""LogCollector: batching on a fake clock, malformed datagrams, a real 10,000-event UDP
burst on 127.0.0.1, and the ``udp:`` endpoint strings."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from dlserver.events import DownloadEvent, EventEmitter, EventKind, ItemKind, encode_event
from dlserver.logserver import (
    CollectorStats,
    LogCollector,
    LogStore,
    collector_metrics,
    parse_udp_endpoint,
    top_items,
)
from torsion.metrics import Registry
from torsion.task import Clock, deferLater

LOCAL = "127.0.0.1"
T0 = 1709251200.0  # 2024-03-01T00:00:00Z


def event(n: int, kind: EventKind = EventKind.FINISHED) -> DownloadEvent:
    return DownloadEvent(kind, f"d{n}", ItemKind.TRACK, str(n % 10), "192.0.2.1",
                         bytes_sent=n, timestamp=T0 + n, pid=3)


def make(tmp_path: Path, clock: Clock, **options: Any) -> LogCollector:
    clock.advance(T0)
    return LogCollector(LogStore(tmp_path, clock.seconds), clock, now=clock.seconds, **options)


def test_batches_by_count(tmp_path: Path) -> None:
    """Every batch_size events are one commit, written as the last one arrives."""
    clock = Clock()
    collector = make(tmp_path, clock, batch_size=100, flush_interval=5)
    for n in range(250):
        collector.datagramReceived(encode_event(event(n)), (LOCAL, 1))
    assert collector.statistics() == CollectorStats(
        received=250, malformed=0, stored=200, lost=0, pending=50, commits=2)
    clock.advance(5)
    assert collector.statistics().stored == 250 and collector.store.commits == 3
    assert clock.getDelayedCalls() == []


def test_timer_flushes_a_partial_batch(tmp_path: Path) -> None:
    """A partial batch waits flush_interval after its first event, no longer; the
    timer is armed once per batch, and cancelled when a full batch goes first."""
    clock = Clock()
    collector = make(tmp_path, clock, batch_size=10, flush_interval=0.25)
    collector.datagramReceived(encode_event(event(1)), (LOCAL, 1))
    clock.advance(0.2)
    collector.datagramReceived(encode_event(event(2)), (LOCAL, 1))
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(0.049)
    assert collector.stored == 0
    clock.advance(0.001)
    assert (collector.stored, collector.store.commits) == (2, 1)
    for n in range(10):
        collector.datagramReceived(encode_event(event(n)), (LOCAL, 1))
    assert collector.stored == 12 and clock.getDelayedCalls() == []


def test_malformed_datagrams_are_counted_and_dropped(tmp_path: Path) -> None:
    """Garbage, wrong versions and bad fields are counted; good events around them are
    stored; nothing raises."""
    clock = Clock()
    collector = make(tmp_path, clock, batch_size=1000)
    good = encode_event(event(1))
    bad = [b"", b"\x00\xff", b"{}", b'{"v":2}', good[:-1], good.replace(b'"track"', b'"x"'),
           b"[" * 5000, json.dumps({**json.loads(good), "b": -1}).encode()]
    for datagram in [good, *bad, good]:
        collector.datagramReceived(datagram, (LOCAL, 1))
    collector.flush()
    assert collector.statistics() == CollectorStats(
        received=10, malformed=8, stored=2, lost=0, pending=0, commits=1)


def test_failing_store_loses_the_batch_and_goes_on(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A store that cannot write (its directory is a file) counts the batch as lost,
    logs it, and the collector keeps working."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    clock = Clock()
    clock.advance(T0)
    collector = LogCollector(LogStore(blocker / "logs", clock.seconds), clock, batch_size=2,
                             now=clock.seconds)
    for n in range(5):
        collector.datagramReceived(encode_event(event(n)), (LOCAL, 1))
    collector.stopProtocol()
    assert collector.statistics() == CollectorStats(5, 0, 0, 5, 0, 0)
    assert "could not store 2 download events" in caplog.text


def test_collector_metrics(tmp_path: Path) -> None:
    """The collector's counters appear as dlserver_logserver_* samples."""
    clock = Clock()
    collector = make(tmp_path, clock, batch_size=1)
    registry = Registry()
    collector_metrics(registry, collector)
    collector.datagramReceived(b"junk", (LOCAL, 1))
    collector.datagramReceived(encode_event(event(1)), (LOCAL, 1))
    text = registry.exposition()
    assert 'dlserver_logserver_datagrams_total{outcome="received"} 2\n' in text
    assert 'dlserver_logserver_datagrams_total{outcome="malformed"} 1\n' in text
    assert 'dlserver_logserver_datagrams_total{outcome="stored"} 1\n' in text
    assert "dlserver_logserver_commits_total 1\n" in text
    with pytest.raises(ValueError):
        LogCollector(collector.store, clock, batch_size=0)


async def _until(reactor: Any, condition: Any) -> None:
    """Let the reactor turn until ``condition()`` holds (bounded by the test timeout)."""
    while not condition():
        await deferLater(reactor, 0.001, lambda: None)


@pytest.mark.torsion_timeout(120)
async def test_burst_of_10000_events_over_udp_all_stored_in_batches(
    reactor: Any, tmp_path: Path
) -> None:
    """10,000 events from an EventEmitter through 127.0.0.1 all reach the database in
    10,000 / batch_size commits; the sender is paced by what the collector has
    received (a window), so the kernel's receive buffer cannot overflow."""
    store = LogStore(tmp_path, time.time)
    collector = LogCollector(store, reactor, batch_size=500, flush_interval=3600)
    port = reactor.listenUDP(0, collector, interface=LOCAL)
    emitter = EventEmitter(reactor, (LOCAL, port.getHost().port))
    total, window = 10_000, 100
    for start in range(0, total, window):
        for n in range(start, start + window):
            emitter.emit(event(n, EventKind.FINISHED if n % 2 else EventKind.STARTED))
        await _until(reactor, lambda start=start: collector.received >= start + window)
    assert emitter.statistics().sent == total and emitter.dropped == 0
    assert collector.statistics() == CollectorStats(
        received=total, malformed=0, stored=total, lost=0, pending=0, commits=20)
    await emitter.close()
    await port.stopListening()
    store.close()
    tops = top_items(tmp_path, 0, T0 + 86400 * 2, limit=10)
    assert sum(t.started for t in tops) == 5000 and sum(t.downloads for t in tops) == 5000
    assert sum(t.bytes for t in tops) == sum(range(1, total, 2))


async def test_stopping_the_port_flushes(reactor: Any, tmp_path: Path) -> None:
    """Events waiting for their batch are written when the port stops."""
    store = LogStore(tmp_path, time.time)
    collector = LogCollector(store, reactor, batch_size=500, flush_interval=3600)
    port = reactor.listenUDP(0, collector, interface=LOCAL)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for n in range(3):
            s.sendto(encode_event(event(n)), (LOCAL, port.getHost().port))
        s.sendto(b"garbage", (LOCAL, port.getHost().port))
    await _until(reactor, lambda: collector.received == 4)
    assert collector.stored == 0
    await port.stopListening()
    assert collector.statistics() == CollectorStats(4, 1, 3, 0, 0, 1)
    store.close()


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("udp:9514", (9514, "")),
        ("udp:0:interface=127.0.0.1", (0, "127.0.0.1")),
        ("udp:port=53:interface=0.0.0.0", (53, "0.0.0.0")),
        ("udp:9514:interface=\\:\\:1", (9514, "::1")),
        ("udp:9514:interface=[::1]", (9514, "::1")),
        ("udp:interface=::", (None, "")),
    ],
)
def test_parse_udp_endpoint(description: str, expected: tuple[int | None, str]) -> None:
    """udp:PORT[:interface=IP] with Twisted-style escapes or brackets for IPv6."""
    if expected[0] is None:
        with pytest.raises(ValueError):
            parse_udp_endpoint(description)
    else:
        assert parse_udp_endpoint(description) == expected


@pytest.mark.parametrize(
    "description",
    ["tcp:9514", "udp:", "udp:x", "udp:70000", "udp:-1", "udp:1:interface=example.com",
     "udp:1:backlog=5", "udp:1:port=2", "udp:1:interface=1.2.3.4:interface=1.2.3.4"],
)
def test_parse_udp_endpoint_refuses(description: str) -> None:
    """Other types, bad ports, host names, unknown or repeated parameters are refused."""
    with pytest.raises(ValueError):
        parse_udp_endpoint(description)
