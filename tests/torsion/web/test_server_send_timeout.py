"""Clients that do not read: output flow control and ``sendTimeout``.

Between response bodies the channel is its transport's push producer: a full
transport buffer (a client sending requests but reading no responses) stops the
reading of requests, and after ``sendTimeout`` without the buffer draining the
connection is aborted. A body producer is watched for the same timeout, and a close
that cannot flush is aborted after it too. Deterministic tests drive the producer
calls by hand on a fake clock; the loopback test floods a real server.
"""

from __future__ import annotations

import socket
import time
from typing import Any

from test_server_loopback import LOCAL, Hello, reactor  # noqa: F401 - the fixture
from test_server_requests import GET, Countdown, Producing
from test_server_support import connect, one

from support.deferreds import run_in_thread
from torsion.web.server import Site


def test_a_full_output_stops_reading_and_times_out() -> None:
    conn = connect(Hello(), sendTimeout=5)
    conn.send(GET)
    assert one(conn.take()).status == 200
    assert conn.transport.producer is conn.channel
    conn.channel.pauseProducing()  # what the transport does when its buffer is full
    assert conn.transport.producerState == "paused"  # no more requests read
    conn.clock.advance(4.9)
    assert not conn.transport.disconnecting
    conn.channel.resumeProducing()  # it drained in time
    assert conn.transport.producerState == "producing"
    conn.clock.advance(10)
    assert not conn.transport.disconnecting
    conn.channel.pauseProducing()
    conn.clock.advance(5)
    assert conn.transport.disconnected  # aborted: the client reads nothing


def test_a_stalled_body_producer_times_out() -> None:
    resource = Producing(True)
    conn = connect(resource, sendTimeout=3)
    conn.send(GET)
    request = resource.requests[0]
    producer = Countdown(request, 3)
    request.registerProducer(producer, True)
    conn.transport.producer.pauseProducing()
    assert producer.paused
    conn.clock.advance(2.9)
    assert not conn.transport.disconnected
    conn.transport.producer.resumeProducing()
    conn.clock.advance(100)
    assert not conn.transport.disconnected
    conn.transport.producer.pauseProducing()
    conn.clock.advance(3)
    assert conn.transport.disconnected


def test_a_close_that_cannot_flush_is_aborted() -> None:
    conn = connect(Hello(), sendTimeout=2)
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert conn.transport.disconnecting and not conn.transport.disconnected
    assert conn.transport.producer is None  # our gate does not hold the close back
    conn.clock.advance(2)
    assert conn.transport.disconnected


def test_no_send_timeout_means_wait() -> None:
    conn = connect(Hello(), sendTimeout=None)
    conn.send(GET)
    conn.channel.pauseProducing()
    conn.clock.advance(3600)
    assert not conn.transport.disconnected


async def test_pipelining_client_that_never_reads(reactor: Any) -> None:  # noqa: F811
    """A client pipelining requests without reading is stopped (the server stops
    reading, so the client's sends block) and then aborted after sendTimeout."""
    site = Site(Hello(), reactor=reactor, sendTimeout=1.0)
    port = reactor.listenTCP(0, site, interface=LOCAL)
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"

    def flood() -> tuple[int, float, str]:
        with socket.socket() as s:
            # A small receive window, set before connecting so that it holds.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect((LOCAL, port.getHost().port))
            s.settimeout(0.5)
            sent = 0
            start = time.monotonic()
            ended = "still open"
            while time.monotonic() - start < 20:
                try:
                    s.sendall(request * 100)
                    sent += 100
                except TimeoutError:
                    continue  # the server stopped reading: our buffer is full
                except OSError as exc:
                    ended = type(exc).__name__
                    break
            return sent, time.monotonic() - start, ended

    sent, seconds, ended = await run_in_thread(reactor, flood)
    # Without flow control the server would go on reading and answering into memory
    # (never pausing, so never timing out): the client would still be sending at 20 s.
    # With it, the kernel's buffers fill (a few MB of requests), the server's output
    # stays full, and the connection is reset about sendTimeout later (a few seconds
    # here; more on a loaded machine).
    assert ended in ("ConnectionResetError", "BrokenPipeError"), (ended, sent, seconds)
    port.stopListening()


class Pull:
    """A pull producer that does nothing: what the sendfile body path hands the
    transport (``_register_transport_producer(..., False)``), its file queued whole."""

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def test_a_pull_body_is_watched_by_its_progress() -> None:
    resource = Producing(False)
    conn = connect(resource, sendTimeout=4)
    queued = [10_000]
    conn.transport.getWriteBufferSize = lambda: queued[0]  # type: ignore[attr-defined]
    conn.send(GET)
    resource.requests[0]._register_transport_producer(Pull(), False)
    for _ in range(10):  # 10 s of a slow reader that takes something each second
        conn.clock.advance(1)
        queued[0] -= 100
    assert not conn.transport.disconnected
    conn.clock.pump([1, 1, 1])  # nothing taken since the check at 11 s: still in time
    assert not conn.transport.disconnected
    conn.clock.pump([1, 1])
    assert conn.transport.disconnected  # 4 s without progress


def test_a_finished_pull_body_stops_the_watch() -> None:
    resource = Producing(False)
    conn = connect(resource, sendTimeout=4)
    conn.transport.getWriteBufferSize = lambda: 10_000  # type: ignore[attr-defined]
    conn.send(GET)
    request = resource.requests[0]
    request._register_transport_producer(Pull(), False)
    request.finish()  # unregisters it
    conn.clock.advance(100)
    assert not conn.transport.disconnected
