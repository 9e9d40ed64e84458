"""The smallest torsion.web application: ``GET /`` answers ``Hello, World!``.

    python examples/hello.py --port 8080 [--reactor epoll|poll|select|asyncio|uvloop]

It listens on 127.0.0.1 (``--port 0`` picks a free port), prints ``ready PORT`` once it
accepts connections, and stops cleanly on SIGTERM or SIGINT. It is the server of the
hello-world benchmark (``bench/run --only http``).
"""

from __future__ import annotations

import argparse
import sys

import torsion.reactor
from torsion.web.resource import Resource
from torsion.web.server import Site


class Hello(Resource):
    """Answers every GET (and HEAD) with a short plain-text greeting."""

    isLeaf = True

    def render_GET(self, request: object) -> bytes:
        request.setHeader(b"content-type", b"text/plain")  # type: ignore[attr-defined]
        return b"Hello, World!"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Hello, World! over HTTP on torsion.")
    parser.add_argument("--port", type=int, default=8080, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument(
        "--reactor", choices=sorted(torsion.reactor.BACKENDS), help="reactor backend"
    )
    args = parser.parse_args(argv)
    reactor = torsion.reactor.install(args.reactor)
    port = reactor.listenTCP(args.port, Site(Hello(), reactor=reactor), interface="127.0.0.1")
    reactor.callWhenRunning(print, f"ready {port.getHost().port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
