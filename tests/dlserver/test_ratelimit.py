"""Token buckets, the per-download + global limiter and ThrottledSender, on a fake clock."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dlserver.ratelimit import (
    Bandwidth,
    BandwidthLimits,
    DownloadLimiter,
    Grant,
    ThrottledSender,
    TokenBucket,
    default_burst,
)
from torsion.error import ConnectionLost
from torsion.task import Clock
from torsion.testing import failure_result_of, success_result_of

KiB = 1024
MiB = 1024 * KiB


class Consumer:
    """Records (time, bytes) of each write; can be told to pause its producer."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.writes: list[tuple[float, int]] = []
        self.producer: Any = None
        self.streaming: bool | None = None
        self.pause_after: int | None = None  # pause the producer once this many bytes came

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer, self.streaming = producer, streaming

    def unregisterProducer(self) -> None:
        self.producer = None

    def write(self, data: bytes) -> None:
        self.writes.append((self.clock.seconds(), len(data)))
        if self.pause_after is not None and self.total() >= self.pause_after:
            self.pause_after = None
            self.producer.pauseProducing()

    def total(self) -> int:
        return sum(n for _, n in self.writes)


def run_until(clock: Clock, done: Any, limit: float = 10_000.0) -> None:
    """Advance the clock from one due call to the next until ``done()``."""
    while not done():
        assert clock.calls, "nothing scheduled and not done"
        step = clock.calls[0].getTime() - clock.seconds()
        assert clock.seconds() + step < limit
        clock.advance(max(step, 0.0))


# -- TokenBucket --------------------------------------------------------------------------


def test_bucket_starts_full_then_refills_at_rate(clock: Clock) -> None:
    """A full bucket lets a burst go at once; then n bytes wait n / rate seconds."""
    bucket = TokenBucket(1000, 500, clock)
    assert bucket.tokens() == 500
    assert bucket.delay(500) == 0
    assert bucket.reserve(500) == 0
    assert bucket.delay(100) == pytest.approx(0.1)
    clock.advance(0.25)
    assert bucket.tokens() == pytest.approx(250)
    assert bucket.delay(250) == 0
    clock.advance(10)
    assert bucket.tokens() == 500  # never above the burst


def test_bucket_reservations_queue_in_order(clock: Clock) -> None:
    """Reservations made at once are spaced by size / rate, in the order made."""
    bucket = TokenBucket(1000, 100, clock)
    starts = [bucket.reserve(100) for _ in range(4)]
    assert starts == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert bucket.tokens() == pytest.approx(-300)


def test_bucket_configure_keeps_the_debt(clock: Clock) -> None:
    """A new rate applies at once; bytes already owed are paid at the new rate."""
    bucket = TokenBucket(1000, 100, clock)
    bucket.reserve(100)
    bucket.reserve(100)  # 200 bytes to refill before 100 may go: 0.2 s at 1000 B/s
    assert bucket.delay(100) == pytest.approx(0.2)
    bucket.configure(500, 100)
    assert (bucket.rate, bucket.burst) == (500, 100)
    assert bucket.delay(100) == pytest.approx(0.4)


@pytest.mark.parametrize(("rate", "burst"), [(0, 10), (-1, 10), (float("inf"), 10), (10, 0)])
def test_bucket_refuses_bad_settings(clock: Clock, rate: float, burst: int) -> None:
    """Rates must be finite and positive, bursts at least one byte."""
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate, burst, clock)


@given(
    sizes=st.lists(st.integers(1, 5000), min_size=1, max_size=60),
    gaps=st.lists(st.floats(0, 3), min_size=60, max_size=60),
)
def test_bursts_bounded(sizes: list[int], gaps: list[float]) -> None:
    """Whatever the request pattern, bytes starting in any window <= burst + rate * window."""
    clock = Clock()
    rate, burst = 2000.0, 5000
    bucket = TokenBucket(rate, burst, clock)
    starts: list[tuple[float, int]] = []
    for size, gap in zip(sizes, gaps, strict=False):
        clock.advance(gap)
        starts.append((bucket.reserve(size), size))
    starts.sort()
    for i in range(len(starts)):
        for j in range(i, len(starts)):
            window = starts[j][0] - starts[i][0]
            sent = sum(n for _, n in starts[i : j + 1])
            assert sent <= burst + rate * window + 1e-6


# -- DownloadLimiter --------------------------------------------------------------------


def test_limiter_without_limits_grants_everything_now(clock: Clock) -> None:
    """No bucket: the whole request, at once."""
    assert DownloadLimiter(None, None, clock).request(10 * MiB) == Grant(10 * MiB, 0.0)


def test_limiter_caps_a_grant_at_the_smaller_burst(clock: Clock) -> None:
    """No grant carries more than one burst of either bucket."""
    limiter = DownloadLimiter(TokenBucket(1e6, 4000, clock), TokenBucket(1e6, 3000, clock), clock)
    assert limiter.request(10_000) == Grant(3000, 0.0)
    with pytest.raises(ValueError, match="want must be >= 1"):
        limiter.request(0)


def test_limiter_held_by_own_bucket_reserves_nothing_globally(clock: Clock) -> None:
    """Waiting on its own limit, a download takes nothing from the shared bucket."""
    shared = TokenBucket(1e6, 10_000, clock)
    limiter = DownloadLimiter(TokenBucket(1000, 1000, clock), shared, clock)
    assert limiter.request(1000) == Grant(1000, 0.0)
    grant = limiter.request(1000)
    assert grant.size == 0 and grant.delay == pytest.approx(1.0)
    assert shared.tokens() == pytest.approx(9000)


def simulate(clock: Clock, limiters: list[DownloadLimiter], seconds: float) -> list[int]:
    """Each limiter's producer sends 64 KiB chunks as fast as allowed; return bytes each."""
    sent = [0] * len(limiters)

    def ask(i: int) -> None:
        grant = limiters[i].request(64 * KiB)
        if grant.size:
            clock.callLater(grant.delay, send, i, grant.size)
        else:
            clock.callLater(grant.delay, ask, i)

    def send(i: int, size: int) -> None:
        if clock.seconds() <= seconds:
            sent[i] += size
            ask(i)

    for i in range(len(limiters)):
        ask(i)
    run_until(clock, lambda: not clock.calls or clock.seconds() > seconds)
    return sent


def test_long_run_average_within_one_percent(clock: Clock) -> None:
    """Over 100 s a per-download limit of 1 MiB/s averages within 1% of it."""
    bandwidth = Bandwidth(BandwidthLimits(per_download_rate=MiB), clock)
    (sent,) = simulate(clock, [bandwidth.limiter()], 100.0)
    assert sent / 100.0 == pytest.approx(MiB, rel=0.01)


def test_global_bucket_shared_fairly(clock: Clock) -> None:
    """Four unlimited downloads under a 4 MiB/s global limit get 1 MiB/s each (2%)."""
    bandwidth = Bandwidth(BandwidthLimits(global_rate=4 * MiB), clock)
    sent = simulate(clock, [bandwidth.limiter() for _ in range(4)], 60.0)
    assert sum(sent) / 60.0 == pytest.approx(4 * MiB, rel=0.01)
    for each in sent:
        assert each / 60.0 == pytest.approx(MiB, rel=0.02)


def test_download_slowed_by_its_own_limit_leaves_the_rest_to_others(clock: Clock) -> None:
    """Max-min fairness: 3 MiB/s global, one download capped at 0.5 MiB/s, two free."""
    shared = TokenBucket(3 * MiB, default_burst(3 * MiB), clock)
    slow = DownloadLimiter(TokenBucket(MiB / 2, 64 * KiB, clock), shared, clock)
    fast = [DownloadLimiter(None, shared, clock) for _ in range(2)]
    sent = simulate(clock, [slow, *fast], 60.0)
    assert sent[0] / 60.0 == pytest.approx(MiB / 2, rel=0.02)
    assert sent[1] / 60.0 == pytest.approx(1.25 * MiB, rel=0.02)
    assert sent[2] / 60.0 == pytest.approx(1.25 * MiB, rel=0.02)


def test_configure_reaches_running_downloads(clock: Clock) -> None:
    """A new global limit applies to downloads already made; None removes it."""
    bandwidth = Bandwidth(BandwidthLimits(global_rate=MiB), clock)
    limiter = bandwidth.limiter()
    bandwidth.configure(BandwidthLimits(global_rate=2 * MiB))
    (sent,) = simulate(clock, [limiter], 50.0)
    assert sent / 50.0 == pytest.approx(2 * MiB, rel=0.01)
    bandwidth.configure(BandwidthLimits())
    assert limiter.request(MiB) == Grant(MiB, 0.0)
    assert bandwidth.limits == BandwidthLimits()


# -- ThrottledSender ------------------------------------------------------------------------


def test_sender_paces_a_file(clock: Clock) -> None:
    """8 MiB at 1 MiB/s with a 64 KiB burst: ~8 s, every byte, in order, producer gone."""
    data = bytes(range(256)) * (8 * MiB // 256)
    consumer = Consumer(clock)
    limiter = Bandwidth(BandwidthLimits(per_download_rate=MiB, per_download_burst=64 * KiB), clock)
    sender = ThrottledSender(limiter.limiter(), clock)
    d = sender.beginFileTransfer(io.BytesIO(data), consumer)
    assert consumer.streaming is True
    run_until(clock, lambda: d.called)
    assert success_result_of(d) == len(data) == consumer.total()
    assert consumer.producer is None
    assert clock.seconds() == pytest.approx((len(data) - 64 * KiB) / MiB, abs=0.07)
    assert max(n for _, n in consumer.writes) <= 64 * KiB


def test_sender_honours_pause_and_resume(clock: Clock) -> None:
    """Paused by the consumer, it writes nothing until resumed, then completes."""
    consumer = Consumer(clock)
    consumer.pause_after = 128 * KiB
    limiter = DownloadLimiter(TokenBucket(MiB, 64 * KiB, clock), None, clock)
    sender = ThrottledSender(limiter, clock, chunk_size=64 * KiB)
    d = sender.beginFileTransfer(io.BytesIO(bytes(MiB)), consumer)
    run_until(clock, lambda: consumer.total() >= 128 * KiB)
    assert clock.calls == []  # paused: no timer left
    clock.advance(30)
    assert consumer.total() == 128 * KiB
    sender.resumeProducing()
    run_until(clock, lambda: d.called)
    assert success_result_of(d) == MiB


def test_sender_stopped_by_consumer_fails(clock: Clock) -> None:
    """stopProducing: ConnectionLost, and no timer left behind."""
    consumer = Consumer(clock)
    limiter = DownloadLimiter(TokenBucket(MiB, 64 * KiB, clock), None, clock)
    sender = ThrottledSender(limiter, clock)
    d = sender.beginFileTransfer(io.BytesIO(bytes(MiB)), consumer)
    clock.advance(0.2)
    sender.stopProducing()
    failure_result_of(d, ConnectionLost)
    assert clock.calls == []


def test_sender_unlimited_yields_between_turns(clock: Clock) -> None:
    """Without limits it writes a bounded number of chunks per turn, then reschedules."""
    consumer = Consumer(clock)
    sender = ThrottledSender(DownloadLimiter(None, None, clock), clock, chunk_size=KiB)
    d = sender.beginFileTransfer(io.BytesIO(bytes(100 * KiB)), consumer)
    assert 0 < len(consumer.writes) < 100
    run_until(clock, lambda: d.called)
    assert success_result_of(d) == 100 * KiB
