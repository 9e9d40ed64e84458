"""HTTP servers for the http benchmark: ``python -m bench.peers.http hello|files PEER [ROOT]``.

``hello``: ``GET /`` answers ``Hello, World!`` (text/plain), written the way a user of
each library would; torsion's is ``examples/hello.py`` itself. ``files``: the files
under ROOT, with each library's static file support (nginx: ``sendfile on``).

Each listens on 127.0.0.1, port 0 (nginx: a free port), prints ``ready PORT`` and
serves until SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HELLO = b"Hello, World!"


def torsion_hello(backend: str) -> None:
    if backend == "pure":  # the default backend without the C accelerator
        os.environ["TORSION_NO_SPEEDUPS"] = "1"
        backend = "epoll"
    sys.argv = ["hello.py", "--port", "0", "--reactor", backend]
    runpy.run_path(str(REPO / "examples" / "hello.py"), run_name="__main__")


def torsion_files(backend: str, root: str) -> None:
    import torsion.reactor  # noqa: PLC0415
    from torsion.web.server import Site  # noqa: PLC0415
    from torsion.web.static import File  # noqa: PLC0415

    reactor = torsion.reactor.install(backend)
    port = reactor.listenTCP(0, Site(File(root), reactor=reactor), interface="127.0.0.1")
    reactor.callWhenRunning(print, f"ready {port.getHost().port}", flush=True)
    reactor.run()


def twisted_server(resource_of: Any) -> None:
    from twisted.internet import epollreactor  # noqa: PLC0415

    epollreactor.install()
    from twisted.internet import reactor  # noqa: PLC0415
    from twisted.web import server  # noqa: PLC0415

    site = server.Site(resource_of())
    port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined]
    reactor.callWhenRunning(print, f"ready {port.getHost().port}", flush=True)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]


def twisted_hello() -> Any:
    from twisted.web import resource  # noqa: PLC0415

    class Hello(resource.Resource):
        isLeaf = True

        def render_GET(self, request: Any) -> bytes:
            request.setHeader(b"content-type", b"text/plain")
            return HELLO

    return Hello()


async def aiohttp_main(root: str | None) -> None:
    from aiohttp import web  # noqa: PLC0415

    app = web.Application()
    if root is None:

        async def hello(request: web.Request) -> web.Response:
            return web.Response(body=HELLO, content_type="text/plain")

        app.router.add_get("/", hello)
    else:
        base = Path(root)

        async def file(request: web.Request) -> web.FileResponse:
            return web.FileResponse(base / request.match_info["name"])

        app.router.add_get("/{name}", file)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)  # type: ignore[attr-defined]
    await asyncio.Event().wait()


async def _asgi_hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")]})
    await send({"type": "http.response.body", "body": HELLO})


def uvicorn_hello() -> None:
    import uvicorn  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(_asgi_hello, host="127.0.0.1", port=port, loop="uvloop",
                            http="httptools", log_level="warning", access_log=False,
                            lifespan="off")
    server = uvicorn.Server(config)

    async def run() -> None:
        task = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        print(f"ready {port}", flush=True)
        await task

    import uvloop  # noqa: PLC0415

    uvloop.run(run())


def nginx_files(root: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    prefix = tempfile.mkdtemp(prefix="bench-nginx-")
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = Path(prefix) / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\ndaemon off;\nerror_log stderr warn;\n"
        f"pid {prefix}/nginx.pid;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n access_log off;\n sendfile on;\n tcp_nopush on;\n"
        f" default_type application/octet-stream;\n"
        f" client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;\n"
        f" fastcgi_temp_path {prefix}/fcgi; uwsgi_temp_path {prefix}/uwsgi;"
        f" scgi_temp_path {prefix}/scgi;\n"
        f" server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n"
    )
    nginx = next((p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.path.exists(p)), "nginx")
    process = subprocess.Popen([nginx, "-p", prefix, "-c", str(conf)])
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None:
                raise SystemExit("nginx exited before listening") from None
            time.sleep(0.05)
    print(f"ready {port}", flush=True)
    process.wait()


def main(kind: str, peer: str, root: str | None = None) -> None:
    if kind == "hello":
        if peer.startswith("torsion"):
            torsion_hello(peer.partition("-")[2] or "epoll")
        elif peer == "twisted":
            twisted_server(twisted_hello)
        elif peer == "aiohttp":
            asyncio.run(aiohttp_main(None))
        elif peer == "uvicorn":
            uvicorn_hello()
        else:
            raise SystemExit(f"unknown peer {peer!r}")
        return
    assert root is not None
    if peer.startswith("torsion"):
        torsion_files(peer.partition("-")[2] or "epoll", root)
    elif peer == "twisted":
        from twisted.web import static  # noqa: PLC0415

        twisted_server(lambda: static.File(root))
    elif peer == "aiohttp":
        asyncio.run(aiohttp_main(root))
    elif peer == "nginx":
        nginx_files(root)
    else:
        raise SystemExit(f"unknown peer {peer!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
