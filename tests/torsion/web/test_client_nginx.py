"""The client against nginx (Debian ``nginx-light``), a server no one here wrote.

The fixture starts nginx in the foreground with a minimal configuration on a free port
of 127.0.0.1, serving a temporary folder; each response carries nginx's connection
number (``X-Conn``), so keep-alive reuse is seen from the server's side. Pins GET,
HEAD, Range (206), keep-alive reuse, gzip (chunked) decoding, redirects, error statuses
and a large file. Skipped when nginx is missing, except in CI (``CI`` set), where it
must be installed.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.peers import stop
from torsion.defer import gatherResults
from torsion.web.client import (
    Agent,
    ContentDecoderAgent,
    DecodedResponse,
    Error,
    GzipDecoder,
    HTTPConnectionPool,
    getPage,
    readBody,
)

HELLO = b"Hello from nginx, served to torsion.\n" * 40
BIG = os.urandom(256 * 1024) * 12  # 3 MiB


def _nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_CONFIG = """
daemon off;
master_process off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 128; }}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    types {{ text/plain txt; application/octet-stream bin; }}
    keepalive_requests 1000;
    gzip on;
    gzip_types text/plain;
    gzip_min_length 0;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        add_header X-Conn $connection always;
        location = /moved {{ return 301 /hello.txt; }}
    }}
}}
"""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of an nginx serving hello.txt and big.bin."""
    binary = _nginx()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is required in CI (Debian package nginx-light) but is missing")
        pytest.skip("nginx is not installed (Debian package: nginx-light)")
    root = tmp_path_factory.mktemp("nginx")
    (root / "www").mkdir()
    (root / "tmp").mkdir()
    (root / "www" / "hello.txt").write_bytes(HELLO)
    (root / "www" / "big.bin").write_bytes(BIG)
    port = _free_port()
    config = root / "nginx.conf"
    config.write_text(_CONFIG.format(root=root, port=port))
    process = subprocess.Popen(
        [binary, "-c", str(config), "-p", str(root), "-e", str(root / "error.log")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, process, root)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        if process.stderr is not None:
            process.stderr.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (root / "error.log").read_text(errors="replace")[-1000:]
            raise RuntimeError(f"nginx exited with {process.returncode}: {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start listening")


async def test_get_and_head(reactor: Any, nginx: str) -> None:
    """GET: the file, its length; HEAD: the same headers, no body."""
    agent = Agent(reactor)
    response = await agent.request(b"GET", nginx + "/hello.txt")
    assert response.code == 200 and response.length == len(HELLO)
    assert response.headers.getRawHeaders(b"server", [b""])[0].startswith(b"nginx")
    assert await readBody(response) == HELLO
    head = await agent.request(b"HEAD", nginx + "/hello.txt")
    assert head.code == 200 and head.length == 0
    assert head.headers.getRawHeaders(b"content-length") == [b"%d" % len(HELLO)]
    assert await readBody(head) == b""


async def test_range_request(reactor: Any, nginx: str) -> None:
    """Range: 206 Partial Content with exactly the bytes asked for."""
    response = await Agent(reactor).request(b"GET", nginx + "/big.bin",
                                            {b"Range": b"bytes=100000-100099"})
    assert response.code == 206
    assert response.headers.getRawHeaders(b"content-range") == [
        b"bytes 100000-100099/%d" % len(BIG)]
    assert await readBody(response) == BIG[100000:100100]


async def test_keep_alive_reuse_seen_by_nginx(reactor: Any, nginx: str) -> None:
    """Ten requests through a persistent pool ride one nginx connection (one X-Conn)."""
    pool = HTTPConnectionPool(reactor)
    agent = Agent(reactor, pool=pool)
    seen = set()
    for _ in range(10):
        response = await agent.request(b"GET", nginx + "/hello.txt")
        seen.update(response.headers.getRawHeaders(b"x-conn", []))
        assert await readBody(response) == HELLO
    assert len(seen) == 1
    assert pool.statistics().opened == 1 and pool.statistics().reused == 9
    await pool.closeCachedConnections()


async def test_gzip_decoded(reactor: Any, nginx: str) -> None:
    """nginx gzips text for a client that accepts it (chunked): decoded to the file."""
    agent = ContentDecoderAgent(Agent(reactor), [(b"gzip", GzipDecoder)])
    response = await agent.request(b"GET", nginx + "/hello.txt")
    assert isinstance(response, DecodedResponse)
    assert response.original.headers.getRawHeaders(b"content-encoding") == [b"gzip"]
    assert await readBody(response) == HELLO
    assert await getPage(nginx + "/hello.txt", reactor=reactor, decompress=True) == HELLO
    raw = await getPage(nginx + "/hello.txt", reactor=reactor,
                        headers={b"Accept-Encoding": b"gzip"})
    assert gzip.decompress(raw) == HELLO  # not asked to decode: the bytes as sent


async def test_get_page_redirect_error_and_large_file(reactor: Any, nginx: str) -> None:
    """A 301 followed; a 404 as Error with nginx's page; a 3 MiB file intact."""
    assert await getPage(nginx + "/moved", reactor=reactor) == HELLO
    with pytest.raises(Error) as info:
        await getPage(nginx + "/missing", reactor=reactor)
    assert info.value.code == 404 and b"nginx" in (info.value.response or b"")
    assert await getPage(nginx + "/big.bin", reactor=reactor) == BIG


async def test_parallel_requests(reactor: Any, nginx: str) -> None:
    """Fifty requests at once (fifty connections), every body intact."""
    pages = await gatherResults([getPage(nginx + "/hello.txt", reactor=reactor)
                                 for _ in range(50)])
    assert pages == [HELLO] * 50
