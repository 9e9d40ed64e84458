"""Token buckets and the per-download + global limiter; pure, over an injected clock.

A bucket is kept as a "theoretical arrival time" (GCRA): ``tat`` is when
everything reserved so far is paid off.  At time ``t`` the bucket holds
``burst - max(0, tat - t) * rate`` tokens, and ``n`` bytes may start at the
first time it holds ``n``.  Reserving moves ``tat`` on by ``n / rate``.  One
float per bucket, no refill bookkeeping, and reservations made ahead of time
queue up in order, which is what shares the global bucket fairly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

__all__ = ["DownloadLimiter", "Grant", "TokenBucket"]


class _Clock(Protocol):
    def seconds(self) -> float: ...


def _check(rate: float, burst: int) -> None:
    if not (rate > 0 and math.isfinite(rate)):
        raise ValueError(f"rate must be a finite number > 0, not {rate}")
    if burst < 1:
        raise ValueError(f"burst must be >= 1 byte, not {burst}")


class TokenBucket:
    """``rate`` bytes per second on average, at most ``burst`` bytes at once.

    Over any interval of ``T`` seconds, the bytes reserved to start in it are
    at most ``burst + rate * T`` (for reservations of at most ``burst`` bytes).
    The bucket starts full.

    Args:
        rate_bytes_per_s: The long-run rate (> 0).
        burst: The bucket's size in bytes (>= 1): the most that may go at once.
        clock: Anything with ``seconds()``: a reactor, or ``torsion.task.Clock``.

    Raises:
        ValueError: ``rate`` is not > 0, or ``burst`` is below 1.
    """

    def __init__(self, rate_bytes_per_s: float, burst: int, clock: _Clock) -> None:
        _check(rate_bytes_per_s, burst)
        self._rate = float(rate_bytes_per_s)
        self._burst = burst
        self._clock = clock
        self._tat = clock.seconds()

    @property
    def rate(self) -> float:
        """The long-run rate, bytes per second."""
        return self._rate

    @property
    def burst(self) -> int:
        """The bucket's size, bytes."""
        return self._burst

    def configure(self, rate_bytes_per_s: float, burst: int) -> None:
        """Change rate and burst now; bytes already reserved stay owed, at the new rate.

        Raises:
            ValueError: As for the constructor.
        """
        _check(rate_bytes_per_s, burst)
        now = self._clock.seconds()
        owed = max(0.0, self._tat - now) * self._rate
        self._rate = float(rate_bytes_per_s)
        self._burst = burst
        self._tat = now + owed / self._rate

    def tokens(self) -> float:
        """Return the bytes that may go now (negative while reservations are ahead)."""
        return self._burst - max(0.0, self._tat - self._clock.seconds()) * self._rate

    def start_time(self, n: int, not_before: float | None = None) -> float:
        """Return when ``n`` bytes could start, not before ``not_before`` (default: now)."""
        return max(self._earliest(not_before), self._tat - (self._burst - n) / self._rate)

    def delay(self, n: int) -> float:
        """Return the seconds until ``n`` bytes could start (0.0: now)."""
        return self.start_time(n) - self._clock.seconds()

    def reserve(self, n: int, not_before: float | None = None) -> float:
        """Reserve ``n`` bytes at the first time allowed; return that time (clock seconds).

        The caller must not send them before then.  Reservations queue in
        the order they are made.
        """
        earliest = self._earliest(not_before)
        start = self.start_time(n, earliest)
        # Paid off n / rate later than before, or than now if it was paid off.
        self._tat = max(self._tat, earliest) + n / self._rate
        return start

    def _earliest(self, not_before: float | None) -> float:
        now = self._clock.seconds()
        return now if not_before is None else max(now, not_before)

    def __repr__(self) -> str:
        return f"<TokenBucket {self._rate:.0f} B/s burst={self._burst} tokens={self.tokens():.0f}>"


@dataclass(frozen=True, slots=True)
class Grant:
    """The limiter's answer to "how much may I send now, and when should I ask again".

    Attributes:
        size: Bytes reserved for the caller (0: nothing; ask again after ``delay``).
        delay: Seconds to wait: before sending ``size`` bytes, or before asking again.
    """

    size: int
    delay: float


class DownloadLimiter:
    """One download's limits: its own bucket and a bucket shared by all downloads.

    Both are optional (None: no such limit).  The shared bucket is reserved
    only once the download's own bucket allows the chunk, and its
    reservations queue in order: downloads ready to send are served round
    robin, and a download slowed by its own limit leaves the rest of the
    global rate to the others (max-min fair).  The own bucket is charged when
    the grant is made, so its bound holds for grant times; sends can lag them
    by the shared bucket's queue (at most one chunk per download ahead).

    Args:
        own: This download's bucket.
        shared: The global bucket.
        clock: The clock both buckets read.
    """

    def __init__(self, own: TokenBucket | None, shared: TokenBucket | None, clock: _Clock) -> None:
        self.own = own
        self.shared = shared
        self._clock = clock

    def largest_grant(self) -> int | None:
        """Return the most bytes one grant may carry (the smaller burst), None if unlimited."""
        bursts = [b.burst for b in (self.own, self.shared) if b is not None]
        return min(bursts) if bursts else None

    def request(self, want: int) -> Grant:
        """Ask to send up to ``want`` bytes (>= 1).

        Returns:
            ``Grant(size, delay)``: ``size`` bytes (at most ``want`` and at most
            a burst) are reserved and may be sent after ``delay`` seconds; or
            ``size == 0``: nothing reserved, ask again after ``delay``.

        Raises:
            ValueError: ``want`` is below 1.
        """
        if want < 1:
            raise ValueError(f"want must be >= 1, not {want}")
        largest = self.largest_grant()
        size = want if largest is None else min(want, largest)
        now = self._clock.seconds()
        if self.own is not None:
            wait = self.own.delay(size)
            if wait > 0:
                return Grant(0, wait)
        if self.own is not None:
            # Charged now, not at the shared start: time spent queueing for the
            # shared bucket must not cost this download its own rate.
            self.own.reserve(size)
        start = now if self.shared is None else self.shared.reserve(size)
        return Grant(size, start - now)
