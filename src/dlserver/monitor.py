"""Live figures of a download server, for its operator page and status endpoints.

The server tells a :class:`Monitor` what happens (a download started, bytes went out,
a download ended) and says where to read its queue lengths; the monitor keeps
running totals, the downloads in progress, the most downloaded albums, and a history
sampled every ``interval`` seconds (throughput, active downloads, waiting requests)
for the plots. :meth:`Monitor.snapshot` is what ``/operator/stats.json`` returns.

Example::

    monitor = Monitor(reactor)
    monitor.start()
    download = monitor.started("album", 3, "Zoë Ångström - Été (Live)", "192.0.2.7")
    monitor.sent(download, 65536)
    monitor.ended(download, complete=True)
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torsion.task import LoopingCall

__all__ = ["ActiveDownload", "Monitor", "QueueFigures"]

QueueFigures = Callable[[], tuple[int, int]]
"""Returns ``(active, waiting)``: downloads holding a slot, requests queued for one."""


@dataclass(slots=True)
class ActiveDownload:
    """A download in progress."""

    id: int
    kind: str  # "track" or "album"
    item_id: int
    title: str
    client: str
    started_at: float
    sent: int = 0
    progress: Callable[[], int] | None = None
    """Bytes sent so far, read at each sample (when the server can tell)."""


@dataclass(slots=True)
class _Totals:
    downloads: int = 0
    completed: int = 0
    aborted: int = 0
    bytes: int = 0
    by_album: Counter[tuple[int, str]] = field(default_factory=Counter)


class Monitor:
    """Running figures and a sampled history of one server process.

    Args:
        reactor: gives the clock (``seconds``) and runs the sampling timer.
        interval: seconds between two samples.
        history: how many samples are kept (300 at 1 s: the last five minutes).
        queues: where to read ``(active, waiting)`` at each sample; by default the
            downloads the monitor knows of, and nobody waiting.
    """

    def __init__(
        self,
        reactor: Any,
        *,
        interval: float = 1.0,
        history: int = 300,
        queues: QueueFigures | None = None,
    ) -> None:
        if interval <= 0 or history < 1:
            raise ValueError("interval must be > 0 and history >= 1")
        self._reactor = reactor
        self.interval = interval
        self.queues: QueueFigures = queues or (lambda: (len(self._active), 0))
        self._ids = itertools.count(1)
        self._active: dict[int, ActiveDownload] = {}
        self._totals = _Totals()
        self._history: deque[tuple[float, float, int, int]] = deque(maxlen=history)
        self._last_bytes = 0
        self._last_time = reactor.seconds()
        self._sampler = LoopingCall(self.sample)
        self._sampler.clock = reactor

    # -- what the server reports -----------------------------------------------------

    def started(
        self,
        kind: str,
        item_id: int,
        title: str,
        client: str,
        progress: Callable[[], int] | None = None,
    ) -> ActiveDownload:
        """A download starts (it holds a slot); returns its handle for the calls below.

        ``progress``, when given, returns the bytes sent so far: the monitor reads it
        at each sample instead of waiting for :meth:`sent` calls.
        """
        download = ActiveDownload(
            next(self._ids), kind, item_id, title, client, self._reactor.seconds(),
            progress=progress,
        )
        self._active[download.id] = download
        self._totals.downloads += 1
        if kind == "album":
            self._totals.by_album[(item_id, title)] += 1
        return download

    def sent(self, download: ActiveDownload, count: int) -> None:
        """``count`` more bytes of ``download`` went out."""
        download.sent += count
        self._totals.bytes += count

    def ended(self, download: ActiveDownload, *, complete: bool) -> None:
        """``download`` finished (``complete``) or was aborted; a second call is ignored."""
        if self._active.pop(download.id, None) is None:
            return
        self._catch_up(download)
        if complete:
            self._totals.completed += 1
        else:
            self._totals.aborted += 1

    # -- sampling ----------------------------------------------------------------------

    def start(self) -> None:
        """Sample every ``interval`` seconds until :meth:`stop`."""
        if not self._sampler.running:
            self._sampler.start(self.interval, now=False)

    def stop(self) -> None:
        """Stop sampling."""
        if self._sampler.running:
            self._sampler.stop()

    def _catch_up(self, download: ActiveDownload) -> None:
        if download.progress is not None:
            behind = download.progress() - download.sent
            if behind > 0:
                self.sent(download, behind)

    def sample(self) -> None:
        """Record one point of history: throughput since the last sample, queue lengths."""
        for download in self._active.values():
            self._catch_up(download)
        now = self._reactor.seconds()
        elapsed = now - self._last_time
        sent = self._totals.bytes - self._last_bytes
        throughput = sent / elapsed if elapsed > 0 else 0.0
        active, waiting = self.queues()
        self._history.append((now, throughput, active, waiting))
        self._last_time = now
        self._last_bytes = self._totals.bytes

    # -- reading -----------------------------------------------------------------------

    @property
    def active(self) -> list[ActiveDownload]:
        """The downloads in progress, oldest first."""
        return list(self._active.values())

    def top_albums(self, count: int = 10) -> list[tuple[int, str, int]]:
        """``(album id, title, downloads)`` of the most downloaded albums."""
        return [(key[0], key[1], n) for key, n in self._totals.by_album.most_common(count)]

    def snapshot(self, top: int = 10) -> dict[str, Any]:
        """Everything the operator page shows, as JSON-ready data."""
        now = self._reactor.seconds()
        active, waiting = self.queues()
        totals = self._totals
        last = self._history[-1][1] if self._history else 0.0
        return {
            "time": now,
            "wall_time": time.time(),
            "pid": os.getpid(),  # which worker answered (``serve --workers N``)
            "interval": self.interval,
            "throughput": last,
            "active": active,
            "waiting": waiting,
            "downloads": totals.downloads,
            "completed": totals.completed,
            "aborted": totals.aborted,
            "bytes": totals.bytes,
            "history": [list(point) for point in self._history],
            "in_progress": [
                {
                    "kind": d.kind,
                    "id": d.item_id,
                    "title": d.title,
                    "client": d.client,
                    "sent": d.sent,
                    "seconds": round(now - d.started_at, 1),
                }
                for d in self._active.values()
            ],
            "top_albums": [
                {"id": album_id, "title": title, "downloads": n}
                for album_id, title, n in self.top_albums(top)
            ],
        }
