"""A helper for benchmarking the HTTP/1.1 core: parse N pipelined requests.

``parse_pipelined(data, n)`` is the operation to time (to be wired into a bench
section and compared with httptools): a server Connection parses ``n`` pipelined GET
requests with typical browser headers, answering each with an empty 204 and starting
the next cycle, as a keep-alive server must. ``parse_only`` times the parser alone:
each request goes to a fresh Connection, no response written.

Run directly for a quick figure::

    python bench/http_parse.py 10000
"""

from __future__ import annotations

import sys
from time import perf_counter

from torsion.web.sansio import (
    NEED_DATA,
    PAUSED,
    Connection,
    EndOfMessage,
    Request,
    Response,
    Role,
)

REQUEST = (
    b"GET /downloads/file-%d.zip HTTP/1.1\r\n"
    b"Host: downloads.example.com\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Connection: keep-alive\r\n"
    b"Cookie: session=0123456789abcdef; theme=dark\r\n"
    b"\r\n"
)
"""One request of about 400 bytes, 7 header fields; ``%d`` makes each target differ."""

_NO_CONTENT = Response(status_code=204)
_END = EndOfMessage()


def pipelined_requests(n: int) -> bytes:
    """``n`` requests back to back, as a pipelining client would send them."""
    return b"".join(REQUEST % i for i in range(n))


def parse_pipelined(data: bytes, n: int) -> int:
    """Parse ``data`` (``n`` pipelined requests) on one server Connection.

    Returns:
        The number of requests parsed (checked against ``n``).
    """
    conn = Connection(Role.SERVER)
    conn.receive_data(data)
    count = 0
    while True:
        event = conn.next_event()
        if isinstance(event, Request):
            count += 1
        elif event is PAUSED or (event is NEED_DATA and count == n):
            conn.send(_NO_CONTENT)
            conn.send(_END)
            if count == n:
                break
            conn.start_next_cycle()
        elif event is NEED_DATA:
            raise AssertionError(f"parsed {count} of {n} requests")
    if count != n:
        raise AssertionError(f"parsed {count} of {n} requests")
    return count


def parse_only(data: bytes) -> Request:
    """Parse one request head on a fresh Connection (the parser alone)."""
    conn = Connection(Role.SERVER)
    conn.receive_data(data)
    event = conn.next_event()
    assert isinstance(event, Request)
    return event


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 10_000
    data = pipelined_requests(n)
    timings = []
    for _ in range(5):
        start = perf_counter()
        parse_pipelined(data, n)
        timings.append(perf_counter() - start)
    best = min(timings)
    one = REQUEST % 0
    start = perf_counter()
    for _ in range(n):
        parse_only(one)
    alone = perf_counter() - start
    print(f"{n} pipelined requests, full cycles: best {best * 1e3:.1f} ms, "
          f"{n / best:,.0f} requests/s ({best / n * 1e6:.2f} us each)")
    print(f"{n} heads parsed alone: {alone * 1e3:.1f} ms ({alone / n * 1e6:.2f} us each)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
