"""One download over HTTP: link check, catalog lookup, a slot from the queue, the body.

The order matters:

1. The signed link is verified on the raw path and query, before anything else: a
   refused link gets 403 with the reason in plain text, and nothing about the file.
2. The catalog says what the ID is (404 if nothing).
3. A GET waits for a download slot (:mod:`dlserver.queues`): above the caps it waits
   in the FIFO queue, the response not started, so a client sees a slow first byte,
   not an error. A client that leaves while waiting gives its place back at once
   (``notifyFinish`` fails), and one that leaves while downloading its slot. HEAD
   takes no slot: it sends no body.
4. The representation is served by :func:`torsion.web.representation.serve_representation`
   (ranges, conditional requests, HEAD, ``sendfile``), with ``Content-Disposition``
   naming the file and ``X-Queue-Position-At-Arrival`` saying how far back in the
   queue the request started (0: served at once).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dlserver._http_album import OpenFiles, album_layout
from dlserver._http_routes import Route, RouteKind
from dlserver._http_throttle import ThrottledBody
from dlserver.catalog import Album, CatalogError, Track
from dlserver.events import EventKind, ItemKind
from dlserver.links import album_filename, track_filename
from dlserver.monitor import ActiveDownload
from dlserver.queues import SlotsError
from dlserver.zipstream import ZipLayout
from torsion.defer import CancelledError
from torsion.failure import Failure
from torsion.web.representation import FileRegion, content_disposition, serve_representation
from torsion.web.server import NOT_DONE_YET

if TYPE_CHECKING:
    from dlserver.server import DownloadServer

__all__ = ["QUEUE_HEADER", "serve_download"]

#: The response header that tells the queue position a request had when it arrived.
QUEUE_HEADER = b"x-queue-position-at-arrival"

_ids = itertools.count(1)


def plain(request: Any, code: int, text: str) -> bytes:
    """A short plain-text answer (errors meant for people and scripts alike)."""
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    request.setHeader(b"cache-control", b"no-store")
    return (text + "\n").encode("utf-8")


def client_address(request: Any) -> str:
    """The client's IP address as the connection shows it (``"unix"`` for a socket)."""
    return str(getattr(request.getClientAddress(), "host", "unix"))


async def serve_download(server: DownloadServer, request: Any, found: Route) -> object:
    """Answer a request for a track or an album zip (``found`` is its route)."""
    client = client_address(request)
    responses = server.metrics.responses
    request.notifyFinish().addBoth(lambda _: responses.labels(code=str(request.code)).inc())
    _, _, query = request.uri.partition(b"?")
    verdict = server.signer.verify(found.path, query.decode("ascii", "replace"),
                                   server.now(), client)
    if not verdict.ok:
        return plain(request, 403, f"forbidden: {verdict.reason.value}")
    item: Track | Album | None
    if found.kind is RouteKind.TRACK:
        assert found.item_id is not None
        item = server.catalog.track(found.item_id)
    else:
        assert found.item_id is not None
        item = server.catalog.album(found.item_id)
    if item is None or (isinstance(item, Album) and not item.tracks):
        return plain(request, 404, "not found")
    position = 0
    if request.method == b"GET":
        key = f"{'track' if isinstance(item, Track) else 'album'}/{item.id}"
        arrived = time.monotonic()
        ticket = server.slots.acquire(client, key)
        position = ticket.position()
        # One hook for every ending: a waiter leaves the queue, a holder frees its slot.
        request.notifyFinish().addBoth(lambda _: ticket.cancel())
        try:
            await ticket.granted
        except CancelledError:
            return NOT_DONE_YET  # the client left while waiting: nothing to answer
        except SlotsError as exc:
            return plain(request, 503, f"download queue unavailable: {exc}")
        server.metrics.queue_wait.observe(time.monotonic() - arrived)
    request.setHeader(QUEUE_HEADER, b"%d" % position)
    try:
        if isinstance(item, Track):
            return _Download(server, request, client, item).serve_track()
        return _Download(server, request, client, item).serve_album()
    except (OSError, CatalogError) as exc:
        server.log.warning("cannot serve %s: %s", found.path, exc)
        return plain(request, 503 if isinstance(exc, OSError) else 404, "file unavailable")


class _Download:
    """One response's body: its files, its events, its bandwidth limit."""

    def __init__(self, server: DownloadServer, request: Any, client: str,
                 item: Track | Album) -> None:
        self.server = server
        self.request = request
        self.client = client
        self.item = item
        self.download_id = f"{os.getpid():x}-{next(_ids)}"
        self.started = time.monotonic()
        self.kind = "track" if isinstance(item, Track) else "album"
        self.watched: ActiveDownload | None = None
        self.throttle: ThrottledBody | None = None
        if server.bandwidth is not None:
            self.throttle = ThrottledBody(server.bandwidth.limiter(), server.reactor)

    def serve_track(self) -> object:
        track = self.item
        assert isinstance(track, Track)
        real = self.server.catalog.media_path(track.file.path)
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        # The file as it is now, not as imported: its size makes Content-Length, and
        # its mtime and size the validators, as for any static file.
        return self._serve(
            size=info.st_size,
            etag=b'"t%d-%x-%x"' % (track.id, info.st_mtime_ns, info.st_size),
            last_modified=info.st_mtime,
            content_type=track.file.mime.encode("ascii", "replace"),
            body=lambda start, end: [FileRegion(fd, start, end - start)],
            filename=track_filename(track),
            close=lambda: os.close(fd),
        )

    def serve_album(self) -> object:
        album = self.item
        assert isinstance(album, Album)
        layout = self.server.layout_for(album)
        sizes = {track.file.path: track.file.size for track in album.tracks}
        files = OpenFiles(self.server.catalog.media_path, sizes)
        newest = max(track.file.mtime for track in album.tracks)
        return self._serve(
            size=layout.size,
            etag=layout.etag(),
            last_modified=newest,
            content_type=b"application/zip",
            body=lambda start, end: list(files.pieces(layout, start, end)),
            filename=album_filename(album),
            close=files.close,
        )

    def _serve(self, *, size: int, etag: bytes, last_modified: float, content_type: bytes,
               body: Callable[[int, int], list[bytes | FileRegion]], filename: str,
               close: Callable[[], None]) -> object:
        result = serve_representation(
            self.request, size=size, etag=etag, last_modified=last_modified,
            content_type=content_type, body=body,
            content_disposition=content_disposition(filename),
            close=close, sender=self.throttle,
        )
        if result is NOT_DONE_YET:
            self._event(EventKind.STARTED, 0)
            self.watched = self.server.download_started(
                self.kind, self.item.id, self._title(), self.client, self._sent
            )
            self.request.notifyFinish().addCallbacks(self._finished, self._aborted)
        return result

    def _title(self) -> str:
        return f"{self.item.artist.name} - {self.item.title}"

    def _sent(self) -> int:
        # Without a limiter the body is queued whole on the transport: what reached the
        # client is not known here, so this is the bytes written (an upper bound); a
        # limited download counts what it wrote, chunk by chunk.
        return self.throttle.sent if self.throttle is not None else self.request.sentLength

    def _finished(self, _: None) -> None:
        sent = self.request.sentLength
        self._event(EventKind.FINISHED, sent)
        self._ended(complete=True, sent=sent)

    def _aborted(self, _: Failure) -> None:
        sent = self._sent()
        self._event(EventKind.ABORTED, sent)
        self._ended(complete=False, sent=sent)

    def _ended(self, *, complete: bool, sent: int) -> None:
        self.server.download_ended(
            self.watched, self.kind, complete=complete, sent=sent,
            seconds=time.monotonic() - self.started,
        )

    def _event(self, kind: EventKind, sent: int) -> None:
        emitter = self.server.emitter
        if emitter is None:
            return
        item_kind = ItemKind.TRACK if isinstance(self.item, Track) else ItemKind.ZIP
        emitter.emit(emitter.event(
            kind, self.download_id, item_kind, str(self.item.id), client=self.client,
            bytes_sent=sent, duration=time.monotonic() - self.started,
            status=self.request.code,
        ))


def cached_layout(cache: dict[int, tuple[Album, ZipLayout[str]]], album: Album) -> ZipLayout[str]:
    """The layout of ``album`` from ``cache``, built when missing or the album changed."""
    hit = cache.get(album.id)
    if hit is not None and hit[0] == album:
        return hit[1]
    layout = album_layout(album)
    if len(cache) >= 256:
        del cache[next(iter(cache))]
    cache[album.id] = (album, layout)
    return layout
