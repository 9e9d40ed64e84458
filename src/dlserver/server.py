"""The download server: signed track and album-zip downloads over HTTP, queued and limited.

::

    config = ServerConfig(Path("data"), listen=("tcp:8080:interface=127.0.0.1",))
    server = DownloadServer(config, reactor)
    ports = await server.listen()        # one port per endpoint of config.listen
    ...
    await server.stop()

URLs (see :mod:`dlserver._http_routes`): ``/dl/t/<id>/<name>`` (a track) and
``/dl/a/<id>/<name>.zip`` (an album as a streamed zip), both signed links
(:mod:`dlserver.links`); ``/status?client=<ip>`` (JSON: queue positions and counts);
``/operator/`` (the operator page: live throughput, downloads, queues, top albums) and
``/metrics`` (Prometheus, see :mod:`dlserver.metrics`).

Every download holds a slot of a :class:`~dlserver.queues.SlotManager` (FIFO queue above
``max_downloads`` or ``max_per_client``), sends its body with ``sendfile`` (or under a
bandwidth limit when ``rate`` is set), and reports ``started`` then ``finished`` or
``aborted`` to the event collector when ``log_udp`` is set. Only torsion's public API is
used.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from dlserver._http_download import QUEUE_HEADER, cached_layout, plain, serve_download
from dlserver._http_routes import RouteKind, route
from dlserver.catalog import Album, Catalog
from dlserver.config import ServerConfig
from dlserver.events import EventEmitter, emitter_metrics
from dlserver.links import LinkSigner, signer_for
from dlserver.metrics import ServerMetrics
from dlserver.monitor import ActiveDownload, Monitor
from dlserver.operator import OperatorPage
from dlserver.queues import LocalSlots, RedisSlots, SlotManager
from dlserver.ratelimit import Bandwidth, BandwidthLimits
from dlserver.zipstream import ZipLayout
from torsion.defer import maybeDeferred
from torsion.endpoints import serverFromString
from torsion.metrics import Registry
from torsion.web.metrics import MetricsResource
from torsion.web.resource import Resource
from torsion.web.server import Site

__all__ = ["QUEUE_HEADER", "DownloadServer", "build_site"]


class _Root(Resource):
    """Every URL: routed on the raw path (the signature covers it as sent), except the
    operator's pages: ``/operator/`` (the live page) and ``/metrics`` (Prometheus)."""

    def __init__(self, server: DownloadServer) -> None:
        super().__init__()
        self._server = server
        self._operator = OperatorPage(server.monitor)
        self._metrics = MetricsResource(server.registry)

    def getChildWithDefault(self, path: bytes, request: Any) -> Any:
        if len(request.prepath) == 1:  # the first segment only: the rest is routed on the path
            if path == b"operator" and request.postpath:
                return self._operator
            if path == b"metrics" and not request.postpath:
                return self._metrics
        request.postpath.clear()  # a leaf for everything else
        return self

    def render(self, request: Any) -> object:
        found = route(request.method, request.path)
        if found.kind is RouteKind.BAD_METHOD:
            request.setHeader(b"allow", b"GET, HEAD")
            return plain(request, 405, "method not allowed")
        if found.kind in (RouteKind.TRACK, RouteKind.ALBUM):
            return serve_download(self._server, request, found)
        if found.kind is RouteKind.STATUS:
            return self._server.status(request)
        if found.kind is RouteKind.OPERATOR:
            request.redirect(b"/operator/")
            return b""
        return plain(request, 404, "not found")


class DownloadServer:
    """The download server's state: catalog, link signer, slots, limits, events, site.

    Args:
        config: what to serve and how.
        reactor: the reactor to run on.
        slots: the slot manager (default: :class:`~dlserver.queues.LocalSlots` with the
            config's caps; pass a ``RedisSlots`` to share them between processes).
        now: the clock links are checked against (unix seconds).

    Raises:
        CatalogError, OSError: the catalog cannot be opened.
        KeysFileError: the keys file is unreadable or not private.
    """

    def __init__(self, config: ServerConfig, reactor: Any, *, slots: SlotManager | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.config = config
        self.reactor = reactor
        self.now = now
        self.log = logging.getLogger("dlserver.server")
        self.catalog = Catalog.open_data_dir(config.data_dir)
        if config.link_keys is not None:
            self.signer = LinkSigner(config.link_keys)
        else:
            self.signer = signer_for(config.data_dir)
        self._redis: RedisSlots | None = None
        if slots is None and config.redis_url is not None:
            slots = self._redis = RedisSlots(
                config.redis_url, config.max_downloads, config.max_per_client, reactor=reactor
            )
        self.slots: SlotManager = slots or LocalSlots(config.max_downloads, config.max_per_client)
        self.bandwidth: Bandwidth | None = None
        if config.rate is not None or config.global_rate is not None:
            limits = BandwidthLimits(global_rate=config.global_rate, per_download_rate=config.rate)
            self.bandwidth = Bandwidth(limits, reactor)
        self.emitter: EventEmitter | None = None
        if config.log_udp is not None:
            self.emitter = EventEmitter(reactor, config.log_udp)
        self.registry = Registry()
        self.metrics = ServerMetrics(self.registry, self._queue_figures)
        if self.emitter is not None:
            emitter_metrics(self.registry, self.emitter)
        self.monitor = Monitor(reactor, queues=self._queue_figures)
        self.site = Site(_Root(self), reactor=reactor, logPath=config.access_log,
                         sendTimeout=config.send_timeout)
        self.ports: list[Any] = []
        self._stopped = False
        self._layouts: dict[int, tuple[Album, ZipLayout[str]]] = {}

    def __repr__(self) -> str:
        return f"<DownloadServer {self.config.data_dir} ports={len(self.ports)}>"

    def _queue_figures(self) -> tuple[int, int]:
        stats = self.slots.stats()
        return stats.active, stats.waiting

    def download_started(
        self, kind: str, item_id: int, title: str, client: str, progress: Callable[[], int]
    ) -> ActiveDownload:
        """A download got its slot and its response began (for metrics and the monitor)."""
        self.metrics.started.labels(kind=kind).inc()
        return self.monitor.started(kind, item_id, title, client, progress)

    def download_ended(
        self, download: ActiveDownload | None, kind: str, *, complete: bool, sent: int,
        seconds: float,
    ) -> None:
        """A download ended, complete or aborted, after ``seconds`` and ``sent`` bytes."""
        self.metrics.ended(kind, complete=complete, sent=sent, seconds=seconds)
        if download is not None:
            self.monitor.ended(download, complete=complete)

    def layout_for(self, album: Album) -> ZipLayout[str]:
        """The zip layout of ``album`` (cached while the album is unchanged)."""
        return cached_layout(self._layouts, album)

    def sign(self, path: str, client_ip: str | None = None) -> str:
        """A signed link (path and query) for ``path``, valid for ``config.link_ttl``."""
        return self.signer.sign(path, int(self.now()) + self.config.link_ttl, client_ip)

    def status(self, request: Any) -> bytes:
        """``/status[?client=IP]``: the queue as JSON (no names, no paths)."""
        stats = self.slots.stats()
        document: dict[str, object] = {
            "active": stats.active,
            "waiting": stats.waiting,
            "max_downloads": stats.global_limit,
            "max_per_client": stats.per_client_limit,
        }
        client = request.args.get(b"client", [None])[0]
        if client is not None:
            name = client.decode("utf-8", "replace")
            counts = stats.clients.get(name)
            document["client"] = {
                "address": name,
                "active": counts.active if counts else 0,
                "waiting": counts.waiting if counts else 0,
                "positions": self.slots.positions_for(name),
            }
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    async def listen(self) -> list[Any]:
        """Listen on every endpoint of the config; returns the ports, in config order.

        Raises:
            ValueError: a malformed endpoint description.
            CannotListenError: an endpoint cannot listen (the others are then closed).
        """
        endpoints = [
            serverFromString(self.reactor, with_backlog(text)) for text in self.config.listen
        ]
        if self._redis is not None:
            await self._redis.start()  # SlotsError when Redis cannot be reached
        self.monitor.start()
        try:
            for endpoint in endpoints:
                self.ports.append(await endpoint.listen(self.site))
        except BaseException:
            await self.stop_listening()
            raise
        return list(self.ports)

    async def stop_listening(self) -> None:
        """Close the listening ports (connections in progress go on)."""
        ports, self.ports = self.ports, []
        for port in ports:
            await maybeDeferred(port.stopListening)

    async def stop(self) -> None:
        """Stop listening, let responses in progress end, close the catalog and emitter.

        A second call does nothing.
        """
        if self._stopped:
            return
        self._stopped = True
        await self.stop_listening()
        self.monitor.stop()
        await self.site.shutdown()
        self.catalog.close()
        if self.emitter is not None:
            await self.emitter.close()
        if self._redis is not None:
            await self._redis.close()


LISTEN_BACKLOG = 1024
"""The accept queue of the server's ports unless an endpoint sets ``backlog``: torsion's
default (50, Twisted's) drops connections when hundreds of clients arrive at once;
nginx uses 511, and Linux caps it at ``net.core.somaxconn`` (4096)."""


def with_backlog(description: str) -> str:
    """``description`` with ``backlog=LISTEN_BACKLOG`` unless it sets one.

    Example:
        >>> with_backlog("tcp:8080:interface=127.0.0.1")
        'tcp:8080:interface=127.0.0.1:backlog=1024'
    """
    if "backlog=" in description or description.split(":", 1)[0] not in (
        "tcp", "tcp6", "ssl", "unix"
    ):
        return description
    return f"{description}:backlog={LISTEN_BACKLOG}"


def build_site(config: ServerConfig, reactor: Any) -> Site:
    """The HTTP site serving ``config`` (a :class:`DownloadServer`'s, not yet listening)."""
    return DownloadServer(config, reactor).site
