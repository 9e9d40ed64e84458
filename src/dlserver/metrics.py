"""The download server's Prometheus metrics (served at ``/metrics``).

=========================================  =========  ===================================
``dlserver_downloads_total{kind,outcome}``  counter    downloads ended: ``finished`` or
                                                       ``aborted``, per ``track``/``album``
``dlserver_downloads_started_total{kind}``  counter    downloads that got a slot and began
``dlserver_bytes_sent_total{kind}``         counter    body bytes of ended downloads
``dlserver_responses_total{code}``          counter    responses by status (403, 404, 503
                                                       are the errors worth alerting on)
``dlserver_downloads_active``               gauge      downloads holding a slot
``dlserver_queue_waiting``                  gauge      requests waiting for a slot
``dlserver_queue_wait_seconds``             histogram  time from arrival to slot
``dlserver_download_seconds{kind}``         histogram  time from slot to the last byte
=========================================  =========  ===================================

Gauges are read from the slot manager at scrape time; the event emitter adds its own
counters (:func:`dlserver.events.emitter_metrics`).
"""

from __future__ import annotations

from collections.abc import Callable

from torsion.metrics import Counter, Gauge, Histogram, Registry

__all__ = ["ServerMetrics"]

_WAIT_BUCKETS = (0.001, 0.01, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
_DOWNLOAD_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class ServerMetrics:
    """The metrics of one server process, registered in ``registry``.

    Args:
        registry: where they are registered (and exposed from).
        queue_figures: returns ``(active, waiting)`` from the slot manager.
    """

    def __init__(self, registry: Registry, queue_figures: Callable[[], tuple[int, int]]) -> None:
        self.registry = registry
        self.downloads = Counter(
            "dlserver_downloads_total", "Downloads ended, by item kind and outcome.",
            ["kind", "outcome"], registry=registry,
        )
        self.started = Counter(
            "dlserver_downloads_started_total", "Downloads that got a slot and began.",
            ["kind"], registry=registry,
        )
        self.bytes_sent = Counter(
            "dlserver_bytes_sent_total", "Body bytes of ended downloads, by item kind.",
            ["kind"], registry=registry,
        )
        self.responses = Counter(
            "dlserver_responses_total", "Download responses by status code.", ["code"],
            registry=registry,
        )
        Gauge("dlserver_downloads_active", "Downloads holding a slot.",
              registry=registry).set_function(lambda: queue_figures()[0])
        Gauge("dlserver_queue_waiting", "Requests waiting for a download slot.",
              registry=registry).set_function(lambda: queue_figures()[1])
        self.queue_wait = Histogram(
            "dlserver_queue_wait_seconds", "Time from a request's arrival to its slot.",
            buckets=_WAIT_BUCKETS, registry=registry,
        )
        self.duration = Histogram(
            "dlserver_download_seconds", "Time from a download's slot to its end.",
            ["kind"], buckets=_DOWNLOAD_BUCKETS, registry=registry,
        )

    def ended(self, kind: str, *, complete: bool, sent: int, seconds: float) -> None:
        """A download ended (``complete`` or aborted) after ``seconds``, ``sent`` bytes."""
        self.downloads.labels(kind=kind, outcome="finished" if complete else "aborted").inc()
        self.bytes_sent.labels(kind=kind).inc(sent)
        self.duration.labels(kind=kind).observe(seconds)
