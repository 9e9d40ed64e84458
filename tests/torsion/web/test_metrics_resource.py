"""MetricsResource on a real Site on 127.0.0.1, scraped with curl (Debian ``curl``)."""

from __future__ import annotations

from typing import Any

from support.peers import need
from torsion.metrics import Counter, Gauge, Histogram, Registry
from torsion.utils import getProcessOutputAndValue
from torsion.web.metrics import MetricsResource
from torsion.web.resource import Resource
from torsion.web.server import Site

LOCAL = "127.0.0.1"


async def test_curl_scrapes_metrics(reactor: Any) -> None:
    """curl GETs /metrics: 200, the 0.0.4 content type, and the exposition text with
    gauge callbacks evaluated at each scrape; HEAD has the headers and no body; POST is 405."""
    registry = Registry()
    served = Counter("bytes_served_total", "Bytes sent.", ["kind"], registry=registry)
    queue: list[str] = []
    Gauge("queue_length", 'Queued "jobs".', registry=registry).set_function(lambda: len(queue))
    Histogram("latency_seconds", "Latency.", buckets=(0.5,), registry=registry).observe(0.25)
    served.labels(kind="zip\n\"x\"").inc(1024)
    root = Resource()
    root.putChild(b"metrics", MetricsResource(registry))
    port = reactor.listenTCP(0, Site(root, reactor=reactor), interface=LOCAL)
    url = f"http://{LOCAL}:{port.getHost().port}/metrics"
    curl = need("curl")

    out, err, code = await getProcessOutputAndValue(
        curl, ["-sS", "-D", "-", url], reactor=reactor)
    assert code == 0, err
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8" in head.lower()
    assert body == (
        b"# HELP bytes_served_total Bytes sent.\n"
        b"# TYPE bytes_served_total counter\n"
        b'bytes_served_total{kind="zip\\n\\"x\\""} 1024\n'
        b'# HELP queue_length Queued "jobs".\n'
        b"# TYPE queue_length gauge\n"
        b"queue_length 0\n"
        b"# HELP latency_seconds Latency.\n"
        b"# TYPE latency_seconds histogram\n"
        b'latency_seconds_bucket{le="0.5"} 1\n'
        b'latency_seconds_bucket{le="+Inf"} 1\n'
        b"latency_seconds_sum 0.25\n"
        b"latency_seconds_count 1\n"
    )

    queue.extend(["a", "b", "c"])
    out, err, code = await getProcessOutputAndValue(curl, ["-sS", url], reactor=reactor)
    assert code == 0 and b"\nqueue_length 3\n" in out

    out, err, code = await getProcessOutputAndValue(curl, ["-sS", "-I", url], reactor=reactor)
    assert code == 0 and b"version=0.0.4" in out and b"# HELP" not in out

    out, err, code = await getProcessOutputAndValue(
        curl, ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", url],
        reactor=reactor)
    assert out == b"405"
    await port.stopListening()
