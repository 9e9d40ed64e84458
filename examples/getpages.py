"""Fetch 100 pages in parallel with Deferreds, in one thread.

    python examples/getpages.py [--count 100] [--quiet]

The Twisted classic, ``getPage(url).addCallback(gotresults)``, a hundred times at once:
every fetch is a Deferred, ``gatherResults`` waits for them all, and everything (the
local web server included) runs in one thread on one reactor. Compare with
``examples/getpages_threads.py``, which does the same with a hundred threads and
``urllib.request``.

The script starts its own server first: ``torsion.web.server.Site`` on a free port of
127.0.0.1, serving ``/page/N``. It prints each page's number and size as it arrives,
then the time taken; it exits with status 1 if a fetch failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from torsion.defer import Deferred, gatherResults
from torsion.task import react
from torsion.web.client import getPage
from torsion.web.resource import Resource
from torsion.web.server import Site


class Pages(Resource):
    """``/page/N``: a small HTML page about N."""

    isLeaf = True

    def render_GET(self, request: Any) -> bytes:
        name = request.path.rsplit(b"/", 1)[-1].decode("ascii", "replace")
        items = "".join(f"<li>line {i} of page {name}</li>" for i in range(20))
        return (
            f"<html><head><title>Page {name}</title></head>"
            f"<body><h1>Page {name}</h1><ul>{items}</ul></body></html>"
        ).encode()


def start_server(reactor: Any, count: int) -> tuple[Any, str]:
    """Serve :class:`Pages` on 127.0.0.1; return the port and the URL pattern.

    The listen backlog holds every connection of a burst of ``count`` at once (a
    smaller one makes the kernel drop SYNs, and the client waits a second to retry).
    """
    port = reactor.listenTCP(0, Site(Pages()), backlog=max(128, 2 * count),
                             interface="127.0.0.1")
    return port, f"http://127.0.0.1:{port.getHost().port}/page/%d"


def fetch_all(reactor: Any, url: str, count: int, quiet: bool) -> Deferred[list[int]]:
    """Start every fetch at once; fire with the sizes, in page order."""

    def gotresults(page: bytes, n: int) -> int:
        if not quiet:
            print(f"page {n:3d}: {len(page)} bytes")
        return len(page)

    return gatherResults(
        [getPage(url % n, reactor=reactor).addCallback(gotresults, n) for n in range(count)],
        consumeErrors=True,
    )


async def main(reactor: Any, count: int, quiet: bool) -> None:
    port, url = start_server(reactor, count)
    try:
        started = time.perf_counter()
        sizes = await fetch_all(reactor, url, count, quiet)
        elapsed = time.perf_counter() - started
    finally:
        await port.stopListening()
    print(f"fetched {len(sizes)} pages ({sum(sizes)} bytes) with Deferreds in one thread "
          f"in {elapsed:.3f} s ({len(sizes) / elapsed:.0f} pages/s)")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="pages to fetch (100)")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be >= 1")
    return args


if __name__ == "__main__":
    options = parse_args(sys.argv[1:])
    react(main, [options.count, options.quiet])
