"""Fetch 100 pages in parallel with threads: the comparison for ``getpages.py``.

    python examples/getpages_threads.py [--count 100] [--quiet]

The same job as ``examples/getpages.py``, the thread way: one thread per page, each
calling ``urllib.request.urlopen``, results appended to a list guarded by a lock, and
the main thread joining them all. The server is the same (``torsion.web.server.Site``
serving ``/page/N`` on 127.0.0.1), run by a torsion reactor in a background thread. It
prints each page's number and size as it arrives, then the time taken; it exits with
status 1 if a fetch failed.
"""

from __future__ import annotations

import sys
import threading
import time
import urllib.request

from getpages import parse_args, start_server  # the sibling example, beside this script
from torsion.reactor import new_reactor


def fetch_all(url: str, count: int, quiet: bool) -> tuple[list[tuple[int, int]], list[str]]:
    """One thread per page; return ``(page, size)`` results and error messages."""
    results: list[tuple[int, int]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def fetch(n: int) -> None:
        try:
            with urllib.request.urlopen(url % n, timeout=60) as response:
                page = response.read()
        except Exception as exc:  # report every failure, like a failed Deferred
            with lock:
                errors.append(f"page {n}: {exc}")
            return
        with lock:
            results.append((n, len(page)))
            if not quiet:
                print(f"page {n:3d}: {len(page)} bytes")

    threads = [threading.Thread(target=fetch, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def main() -> int:
    options = parse_args(sys.argv[1:])
    reactor = new_reactor()
    port, url = start_server(reactor, options.count)
    server = threading.Thread(target=reactor.run, kwargs={"installSignalHandlers": False})
    server.start()
    try:
        started = time.perf_counter()
        results, errors = fetch_all(url, options.count, options.quiet)
        elapsed = time.perf_counter() - started
    finally:
        reactor.callFromThread(port.stopListening)
        reactor.callFromThread(reactor.stop)
        server.join(30)
    for message in errors:
        print(message, file=sys.stderr)
    size = sum(s for _, s in results)
    print(f"fetched {len(results)} pages ({size} bytes) with {options.count} threads "
          f"in {elapsed:.3f} s ({len(results) / elapsed:.0f} pages/s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
