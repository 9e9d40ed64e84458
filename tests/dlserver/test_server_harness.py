"""Helpers for the download server's loopback tests (this module holds no tests).

* :func:`demo_copy`: the demo catalog plus one large untagged track ("Big Band -
  Huge", 8 MiB: large enough that a client reading nothing cannot absorb it into
  socket buffers, and that aria2c splits it), built once per test module.
* :class:`Running`: a :class:`DownloadServer` on 127.0.0.1 port 0, signed URLs,
  and blocking peers (curl, wget, raw sockets) run off the reactor thread.

A peer program a test needs is :func:`support.peers.need`'s; a blocking call
off the reactor thread is :func:`support.deferreds.run_in_thread`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlserver.catalog import Album, Catalog, Track
from dlserver.config import ServerConfig
from dlserver.demo import build_demo
from dlserver.importer import import_folder
from dlserver.links import album_path, track_path
from dlserver.server import DownloadServer
from support.deferreds import run_in_thread
from support.peers import need
from torsion.defer import Deferred

LOCAL = "127.0.0.1"
BIG_FRAMES = 4 * 1024 * 1024  # 16-bit mono: 8 MiB of samples


def build_data(root: Path) -> Path:
    """A data directory with the demo catalog and the big track."""
    data = root / "data"
    build_demo(data)
    folder = data / "media" / "Big Band" / "Huge"
    folder.mkdir(parents=True)
    with wave.open(str(folder / "01 Long.wav"), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * (BIG_FRAMES * 2 // 256))
    with Catalog.open_data_dir(data) as catalog:
        import_folder(catalog)
    return data


class Running:
    """A started download server and the means to talk to it."""

    def __init__(self, server: DownloadServer, port: int) -> None:
        self.server = server
        self.reactor = server.reactor
        self.port = port
        self.base = f"http://{LOCAL}:{port}"

    @classmethod
    async def start(cls, reactor: Any, data: Path, **options: Any) -> Running:
        config = ServerConfig(data, listen=(f"tcp:0:interface={LOCAL}",), **options)
        server = DownloadServer(config, reactor)
        ports = await server.listen()
        return cls(server, ports[0].getHost().port)

    async def stop(self) -> None:
        await self.server.stop()

    # -- catalog and links --------------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        return self.server.catalog

    def album_named(self, title: str) -> Album:
        summary = next(a for a in self.catalog.albums() if a.title == title)
        album = self.catalog.album(summary.id)
        assert album is not None
        return album

    def track_titled(self, title: str) -> Track:
        found = self.catalog.search(title)
        return next(t for t in found if t.title == title)

    def media(self, track: Track) -> bytes:
        return self.catalog.media_path(track.file.path).read_bytes()

    def track_url(self, track: Track, *, expires_in: int = 3600,
                  client_ip: str | None = None) -> str:
        return self.base + self.server.signer.sign(
            track_path(track), int(time.time()) + expires_in, client_ip)

    def album_url(self, album: Album) -> str:
        return self.base + self.server.sign(album_path(album))

    # -- peers, off the reactor thread --------------------------------------------------

    def run(self, *argv: str, timeout: float = 60) -> Deferred[subprocess.CompletedProcess[bytes]]:
        return run_in_thread(self.reactor, lambda: subprocess.run(
            list(argv), capture_output=True, timeout=timeout, check=False))

    def curl(self, *args: str) -> Deferred[subprocess.CompletedProcess[bytes]]:
        return self.run(need("curl"), "-sS", *args)

    def status(self, client: str = LOCAL) -> dict[str, Any]:
        """``/status`` (blocking: call it from a thread)."""
        with urllib.request.urlopen(f"{self.base}/status?client={client}", timeout=10) as r:
            document: dict[str, Any] = json.load(r)
            return document

    def wait_status(self, predicate: Callable[[dict[str, Any]], bool],
                    timeout: float = 15) -> dict[str, Any]:
        """Poll ``/status`` until ``predicate`` holds (blocking; a thread's job)."""
        deadline = time.monotonic() + timeout
        while True:
            document = self.status()
            if predicate(document):
                return document
            if time.monotonic() > deadline:
                raise AssertionError(f"status never matched: {document}")
            time.sleep(0.02)  # polling a condition, not waiting for one to happen by time

    def stalled(self, url: str) -> socket.socket:
        """A connection that asks for ``url`` and reads nothing (blocking)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((LOCAL, self.port))
        target = url.removeprefix(self.base)
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {LOCAL}\r\n\r\n".encode("ascii"))
        return sock
