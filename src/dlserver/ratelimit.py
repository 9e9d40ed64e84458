"""Bandwidth limits: per download and global, as token buckets; a throttled file sender.

Configure once, then make one limiter per download::

    bandwidth = Bandwidth(BandwidthLimits(global_rate=100e6, per_download_rate=2e6), reactor)
    limiter = bandwidth.limiter()                 # for one download
    sender = ThrottledSender(limiter, reactor)
    d = sender.beginFileTransfer(open(path, "rb"), request.transport)

A producer of its own asks ``limiter.request(n)`` and gets ``Grant(size,
delay)``: "send ``size`` bytes after ``delay`` seconds", or, with ``size ==
0``, "nothing yet, ask again after ``delay``".  Downloads ready to send share
the global rate round robin; one held back by its own limit leaves its share
to the others.  These limits are per process (``--workers N`` gives each
worker its own global bucket: divide the global rate by N).
"""

from __future__ import annotations

from dataclasses import dataclass

from dlserver._ratelimit_buckets import DownloadLimiter, Grant, TokenBucket, _Clock
from dlserver._ratelimit_sender import ThrottledSender

__all__ = [
    "Bandwidth",
    "BandwidthLimits",
    "DownloadLimiter",
    "Grant",
    "ThrottledSender",
    "TokenBucket",
    "default_burst",
]

# A burst of a tenth of a second of traffic keeps timers to about ten per
# second per download at any rate; never below one 64 KiB chunk.
_BURST_SECONDS = 0.1
_MIN_BURST = 65536


def default_burst(rate: float) -> int:
    """Return the burst used when none is configured: 0.1 s of ``rate``, at least 64 KiB."""
    return max(_MIN_BURST, int(rate * _BURST_SECONDS))


@dataclass(frozen=True, slots=True)
class BandwidthLimits:
    """The configured limits; a rate of None means unlimited.

    Attributes:
        global_rate: Bytes per second for all downloads together.
        per_download_rate: Bytes per second for each download.
        global_burst: The global bucket's size (default: :func:`default_burst`).
        per_download_burst: Each download's bucket size (same default).
    """

    global_rate: float | None = None
    per_download_rate: float | None = None
    global_burst: int | None = None
    per_download_burst: int | None = None


class Bandwidth:
    """The global bucket, and a :class:`DownloadLimiter` for each download.

    Args:
        limits: What to enforce.
        clock: The reactor, or ``torsion.task.Clock`` in tests.

    Raises:
        ValueError: A rate is not > 0 or a burst is below 1.
    """

    def __init__(self, limits: BandwidthLimits, clock: _Clock) -> None:
        self._clock = clock
        self._limits = limits
        self.shared = _bucket(limits.global_rate, limits.global_burst, clock)

    @property
    def limits(self) -> BandwidthLimits:
        """The limits in force."""
        return self._limits

    def configure(self, limits: BandwidthLimits) -> None:
        """Change the limits: the global one at once, per-download ones for new downloads.

        Raises:
            ValueError: As for the constructor.
        """
        if limits.global_rate is None:
            self.shared = None
        elif self.shared is None:
            self.shared = _bucket(limits.global_rate, limits.global_burst, self._clock)
        else:
            burst = limits.global_burst or default_burst(limits.global_rate)
            self.shared.configure(limits.global_rate, burst)
        self._limits = limits

    def limiter(self) -> DownloadLimiter:
        """Return a new download's limiter (its own bucket, full; the shared one)."""
        own = _bucket(self._limits.per_download_rate, self._limits.per_download_burst, self._clock)
        return _SharedView(own, self)


class _SharedView(DownloadLimiter):
    # Reads Bandwidth.shared at each request, so configure() reaches
    # downloads already running (including turning the global limit on or off).
    def __init__(self, own: TokenBucket | None, bandwidth: Bandwidth) -> None:
        super().__init__(own, bandwidth.shared, bandwidth._clock)
        self._bandwidth = bandwidth

    def request(self, want: int) -> Grant:
        self.shared = self._bandwidth.shared
        return super().request(want)


def _bucket(rate: float | None, burst: int | None, clock: _Clock) -> TokenBucket | None:
    if rate is None:
        return None
    return TokenBucket(rate, burst or default_burst(rate), clock)
