"""The HTTP/1.1 server over a StringTransport: requests in, responses out, no sockets.

Every response is parsed back by the sans-IO core acting as a client
(``test_server_support.parse_responses``), so these tests also check that what the
server writes is valid HTTP/1.1.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_server_support import CLIENT, Conn, connect, one, parse_responses

from torsion import error
from torsion.defer import Deferred, succeed
from torsion.failure import Failure
from torsion.web.resource import Resource, Router
from torsion.web.sansio import LocalProtocolError
from torsion.web.server import CACHED, NOT_DONE_YET, Request, Site

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain")
        return b"Hello, World!"


class Echo(Resource):
    """Answers with what it saw of the request."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        return repr(
            (request.method, request.uri, request.path, request.args, request.clientproto,
             request.prepath, request.postpath)
        ).encode()

    def render_POST(self, request: Request) -> bytes:
        return b"%d:%s" % (len(request.content.read()), repr(request.args).encode())


class Later(Resource):
    """Holds every response until the test fires ``pending``."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[tuple[Request, Deferred[bytes]]] = []

    def render_GET(self, request: Request) -> Deferred[bytes]:
        d: Deferred[bytes] = Deferred()
        self.pending.append((request, d))
        return d


def closed(conn: Conn) -> bool:
    return bool(conn.transport.disconnecting or conn.transport.writeDisconnecting)


# -- the basics -------------------------------------------------------------------------

def test_get() -> None:
    """A GET gets 200 with the body, its Content-Length, Date, Server and the type set."""
    conn = connect(Hello())
    conn.send(GET)
    reply = one(conn.take())
    assert (reply.status, reply.body) == (200, b"Hello, World!")
    assert reply.header(b"content-length") == b"13"
    assert reply.header(b"content-type") == b"text/plain"
    assert reply.header(b"server") == b"torsion"
    assert reply.header(b"date", ).endswith(b" GMT")  # type: ignore[union-attr]
    assert not closed(conn)


def test_head_uses_get_without_body() -> None:
    """HEAD is answered by render_GET: same headers (Content-Length of the GET body), no body."""
    conn = connect(Hello())
    conn.send(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
    head, get = parse_responses(conn.take(), [b"HEAD", b"GET"])
    assert head.header(b"content-length") == b"13" and head.body == b""
    assert get.body == b"Hello, World!"


def test_keep_alive_serves_requests_one_after_another() -> None:
    """Three requests sent one at a time on one connection get three responses."""
    conn = connect(Hello())
    for _ in range(3):
        conn.send(GET)
        assert one(conn.take()).status == 200
    assert not closed(conn)
    assert conn.channel.requestsServed == 3


def test_pipelined_requests_answered_in_order() -> None:
    """Three requests in one write: each waits for the one before, answers come in order."""
    later = Later()
    conn = connect(later)
    conn.send(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % i for i in range(3)))
    assert len(later.pending) == 1 and conn.take() == b""
    later.pending[0][1].callback(b"first")
    assert len(later.pending) == 2
    later.pending[1][1].callback(b"second")
    later.pending[2][1].callback(b"third")
    bodies = [r.body for r in parse_responses(conn.take(), [b"GET"] * 3)]
    assert bodies == [b"first", b"second", b"third"]
    assert [r.uri for r, _ in later.pending] == [b"/0", b"/1", b"/2"]


def test_request_attributes() -> None:
    """method, uri, path, args (bytes to lists), clientproto, prepath and postpath."""
    conn = connect(Echo())
    conn.send(b"GET /a/b%20c?x=1&x=2&y= HTTP/1.1\r\nHost: t\r\n\r\n")
    seen = eval(one(conn.take()).body)
    assert seen == (
        b"GET", b"/a/b%20c?x=1&x=2&y=", b"/a/b%20c", {b"x": [b"1", b"2"], b"y": [b""]},
        b"HTTP/1.1", [], [b"a", b"b c"],
    )


def test_request_headers_and_client_address() -> None:
    """requestHeaders is a case-insensitive Headers; getHeader and getClientAddress work."""
    seen: dict[str, Any] = {}

    class Look(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> bytes:
            seen["raw"] = request.requestHeaders.getRawHeaders(b"X-Thing")
            seen["get"] = request.getHeader("x-THING")
            seen["missing"] = request.getHeader(b"nope")
            seen["peer"] = request.getClientAddress()
            seen["host"] = request.getRequestHostname()
            return b""

    conn = connect(Look())
    conn.send(b"GET / HTTP/1.1\r\nHost: example.com:8080\r\nX-Thing: a\r\nx-thing: b\r\n\r\n")
    assert one(conn.take()).status == 200
    assert seen == {"raw": [b"a", b"b"], "get": b"a", "missing": None, "peer": CLIENT,
                    "host": b"example.com"}


def test_absolute_form_target_routes_on_its_path() -> None:
    """A proxy-style absolute URI is routed on its path; uri keeps what was sent."""
    conn = connect(Echo())
    conn.send(b"GET http://t/p/q?z=1 HTTP/1.1\r\nHost: t\r\n\r\n")
    seen = eval(one(conn.take()).body)
    assert seen[1:4] == (b"http://t/p/q?z=1", b"/p/q", {b"z": [b"1"]})


# -- HTTP/1.0 and Connection: close ----------------------------------------------------

def test_http10_closes_after_response() -> None:
    """An HTTP/1.0 request without keep-alive: the response carries Connection: close and
    the connection closes."""
    conn = connect(Hello())
    conn.send(b"GET / HTTP/1.0\r\n\r\n")
    reply = one(conn.take())
    assert reply.status == 200 and reply.header(b"connection") == b"close"
    assert conn.transport.disconnecting


def test_http10_keep_alive_when_asked() -> None:
    """HTTP/1.0 with Connection: keep-alive keeps the connection and says so."""
    conn = connect(Hello())
    conn.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert one(conn.take()).header(b"connection") == b"keep-alive"
    assert not closed(conn)


def test_http10_streamed_body_ends_with_the_connection() -> None:
    """Without a Content-Length an HTTP/1.0 client gets the body delimited by the close."""

    class Stream(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> int:
            request.write(b"abc")
            request.write(b"def")
            request.finish()
            return NOT_DONE_YET

    conn = connect(Stream())
    conn.send(b"GET / HTTP/1.0\r\n\r\n")
    data = conn.take()
    assert b"chunked" not in data.lower()
    assert one(data, eof=True).body == b"abcdef"
    assert conn.transport.disconnecting


def test_connection_close_request() -> None:
    """Connection: close from an HTTP/1.1 client is answered, then the connection closes."""
    conn = connect(Hello())
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + GET)
    data = conn.take()
    assert one(data).header(b"connection") == b"close"
    assert data.count(b"HTTP/1.1 200") == 1  # the request after the close is not served
    assert conn.transport.disconnecting


def test_chunked_response_for_streamed_writes() -> None:
    """NOT_DONE_YET with several writes and no length: chunked for an HTTP/1.1 client."""

    class Stream(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> int:
            request.write(b"hello ")
            request.write(b"")
            request.write(b"world")
            request.finish()
            return NOT_DONE_YET

    conn = connect(Stream())
    conn.send(GET + GET)
    data = conn.take()
    assert data.count(b"Transfer-Encoding: chunked") == 2
    assert [r.body for r in parse_responses(data, [b"GET", b"GET"])] == [b"hello world"] * 2


# -- request bodies --------------------------------------------------------------------

def test_post_body_read_before_render() -> None:
    """A Content-Length body arriving in pieces is in request.content when render runs;
    a url-encoded form lands in args."""
    conn = connect(Echo())
    conn.send(b"POST /?q=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 7\r\n"
              b"Content-Type: application/x-www-form-urlencoded\r\n\r\na=1")
    assert conn.take() == b""
    conn.send(b"&b=2")
    assert one(conn.take(), b"POST").body == b"7:" + repr(
        {b"q": [b"1"], b"a": [b"1"], b"b": [b"2"]}).encode()


def test_chunked_request_body() -> None:
    """A chunked body (with a trailer) is reassembled into request.content."""
    conn = connect(Echo())
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Sum: 1\r\n\r\n")
    assert one(conn.take(), b"POST").body.startswith(b"7:")


def test_expect_continue_answered_for_buffered_body() -> None:
    """Expect: 100-continue gets 100 Continue at once when the body is to be read."""
    conn = connect(Echo())
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert conn.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.send(b"abc")
    assert one(conn.take(), b"POST").body.startswith(b"3:")


class Upload(Resource):
    """Reads the body itself, as it arrives."""

    isLeaf = True
    streamRequestBody = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Request] = []

    def render_POST(self, request: Request) -> int:
        self.requests.append(request)
        return NOT_DONE_YET


def test_expect_continue_waits_for_a_streaming_reader() -> None:
    """A streaming resource is rendered at the head; 100 Continue goes out only when it
    starts reading the body."""
    upload = Upload()
    conn = connect(upload)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    assert len(upload.requests) == 1 and conn.take() == b""
    request = upload.requests[0]
    first = request.readChunk()
    assert conn.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.send(b"abc")
    chunks: list[bytes] = []
    first.addCallback(chunks.append)
    request.readChunk().addCallback(chunks.append)
    assert chunks == [b"abc", b""]
    request.write(b"ok")
    request.finish()
    assert one(conn.take(), b"POST").body == b"ok"


def test_streaming_body_is_flow_controlled() -> None:
    """Past 64 KiB of body waiting unread, the transport stops reading; reading resumes it."""
    upload = Upload()
    conn = connect(upload)
    size = 200 * 1024
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % size)
    for _ in range(size // 8192):
        conn.send(b"x" * 8192)
    assert conn.transport.producerState == "paused"
    request = upload.requests[0]
    got = 0
    while True:
        chunks: list[bytes] = []
        request.readChunk().addCallback(chunks.append)
        if not chunks or not chunks[0]:
            break
        got += len(chunks[0])
    assert got == size
    assert conn.transport.producerState == "producing"


async def test_body_async_iterator() -> None:
    """``async for chunk in request.body`` yields the body, then stops."""
    upload = Upload()
    conn = connect(upload)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n")
    request = upload.requests[0]
    assert b"".join([c async for c in request.body]) == b"abcd"


def test_buffered_body_too_large_gets_413_streaming_does_not() -> None:
    """maxBufferedBodySize refuses a large Content-Length with 413 and closes; a streaming
    resource is not limited by it."""
    conn = connect(Echo(), maxBufferedBodySize=10)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n")
    reply = one(conn.take(), b"POST")
    assert reply.status == 413 and reply.header(b"connection") == b"close"
    assert closed(conn)
    upload = Upload()
    conn = connect(upload, maxBufferedBodySize=10)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n" + b"y" * 11)
    assert upload.requests and conn.take() == b""


def test_unread_body_is_drained_to_keep_the_connection() -> None:
    """A response sent before the body arrived: the body is read and dropped, and the
    next request on the connection is served."""

    upload = Upload()
    conn = connect(upload)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab")
    upload.requests[0].finish()
    conn.send(b"cde" + b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
    upload.requests[1].finish()
    assert [r.status for r in parse_responses(conn.take(), [b"POST", b"POST"])] == [200, 200]
    assert not closed(conn)


# -- render results --------------------------------------------------------------------

def test_render_results() -> None:
    """str is sent as UTF-8 HTML, a Deferred and a coroutine are awaited, None finishes."""

    class Many(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> object:
            kind = request.args[b"k"][0]
            if kind == b"str":
                return "caf\u00e9"
            if kind == b"deferred":
                return succeed(b"from a deferred")

            async def coro() -> str:
                return "from a coroutine"

            if kind == b"coro":
                return coro()
            request.write(b"written")
            return None

    conn = connect(Many())
    for kind in (b"str", b"deferred", b"coro", b"none"):
        conn.send(b"GET /?k=%s HTTP/1.1\r\nHost: t\r\n\r\n" % kind)
    replies = parse_responses(conn.take(), [b"GET"] * 4)
    assert [r.body for r in replies] == [
        "caf\u00e9".encode(), b"from a deferred", b"from a coroutine", b"written"]
    assert replies[0].header(b"content-type") == b"text/html; charset=utf-8"


def test_async_render_method() -> None:
    """An ``async def render_GET`` is run to completion and its result sent."""

    class Async(Resource):
        isLeaf = True

        async def render_GET(self, request: Request) -> bytes:
            await succeed(None)
            return b"async"

    conn = connect(Async())
    conn.send(GET)
    assert one(conn.take()).body == b"async"


def test_router_and_async_iterator_body() -> None:
    """Router handlers: patterns with {name}, async iterators streamed as chunks, 404/405."""
    router = Router()

    @router.route("/hello/{name}")
    async def hello(request: Request) -> str:
        return f"hello {request.routeArgs['name']}"

    @router.route("/count")
    def count(request: Request) -> Any:
        async def gen() -> Any:
            for i in range(3):
                yield b"%d," % i

        return gen()

    conn = connect(router)
    conn.send(b"GET /hello/w%C3%B6rld HTTP/1.1\r\nHost: t\r\n\r\n"
              b"GET /count HTTP/1.1\r\nHost: t\r\n\r\n"
              b"GET /nothing HTTP/1.1\r\nHost: t\r\n\r\n"
              b"DELETE /count HTTP/1.1\r\nHost: t\r\n\r\n")
    replies = parse_responses(conn.take(), [b"GET", b"GET", b"GET", b"DELETE"])
    assert replies[0].body == "hello w\u00f6rld".encode()
    assert replies[1].body == b"0,1,2," and replies[1].header(b"transfer-encoding") == b"chunked"
    assert replies[2].status == 404
    assert replies[3].status == 405 and replies[3].header(b"allow") == b"GET, HEAD"


def test_405_lists_allowed_methods_and_501_for_unknown() -> None:
    """A method the resource lacks: 405 with Allow; a method HTTP does not define: 501."""
    conn = connect(Hello())
    conn.send(b"PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
              b"BREW / HTTP/1.1\r\nHost: t\r\n\r\n")
    put, brew = parse_responses(conn.take(), [b"PUT", b"BREW"])
    assert put.status == 405 and put.header(b"allow") == b"GET, HEAD"
    assert brew.status == 501


def test_exception_gives_500_and_is_logged(logged_failures: Any) -> None:
    """An exception in render (sync, Deferred or async) gives a 500, logged; the
    connection stays usable."""

    class Broken(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> object:
            kind = request.args.get(b"k", [b"sync"])[0]
            if kind == b"sync":
                raise ValueError("boom")
            if kind == b"deferred":
                return Deferred.fromCoroutine(self.fail()) if hasattr(
                    Deferred, "fromCoroutine") else self.fail()
            return self.fail()

        async def fail(self) -> bytes:
            raise KeyError("async boom")

    conn = connect(Broken())
    for kind in (b"sync", b"deferred", b"coro"):
        conn.send(b"GET /?k=%s HTTP/1.1\r\nHost: t\r\n\r\n" % kind)
    replies = parse_responses(conn.take(), [b"GET"] * 3)
    assert [r.status for r in replies] == [500, 500, 500]
    assert b"boom" not in replies[0].body  # no traceback unless displayTracebacks
    assert len(logged_failures.flush(ValueError, KeyError)) == 3
    assert not closed(conn)


def test_failure_after_response_started_closes(logged_failures: Any) -> None:
    """A failure once the head is sent cannot become a 500: the connection closes."""

    class Half(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> Deferred[bytes]:
            request.write(b"partial")
            d: Deferred[bytes] = Deferred()
            d.errback(RuntimeError("late"))
            return d

    conn = connect(Half())
    conn.send(GET)
    assert b"partial" in conn.take()
    assert conn.transport.disconnecting
    assert logged_failures.flush(RuntimeError)


def test_bad_render_result_is_a_500(logged_failures: Any) -> None:
    """render returning something that is not a body is a 500 naming the type."""

    class Odd(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> object:
            return 3.5

    conn = connect(Odd())
    conn.send(GET)
    assert one(conn.take()).status == 500
    [failure] = logged_failures.flush(TypeError)
    assert "float" in failure.getErrorMessage()


# -- the response API --------------------------------------------------------------------

def test_write_after_finish_raises_and_finish_twice_warns(caplog: Any) -> None:
    """write after finish raises RuntimeError; a second finish only logs a warning."""
    requests: list[Request] = []

    class Keep(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> int:
            requests.append(request)
            return NOT_DONE_YET

    conn = connect(Keep())
    conn.send(GET)
    request = requests[0]
    request.setResponseCode(201, b"Made")
    request.finish()
    with pytest.raises(RuntimeError):
        request.write(b"more")
    request.finish()
    assert "finish called twice" in caplog.text
    reply = one(conn.take())
    assert reply.status == 201 and reply.header(b"content-length") == b"0"


def test_header_values_cannot_inject_lines() -> None:
    """CR/LF in a header value become spaces; a bad header name is refused."""
    errors: list[Exception] = []

    class Inject(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> bytes:
            request.setHeader(b"x-a", b"1\r\nSet-Cookie: evil=1")
            try:
                request.setHeader(b"bad name", b"x")
            except ValueError as exc:
                errors.append(exc)
            return b""

    conn = connect(Inject())
    conn.send(GET)
    reply = one(conn.take())
    assert reply.header(b"x-a") == b"1  Set-Cookie: evil=1"
    assert b"set-cookie" not in reply.headers and len(errors) == 1


def test_notify_finish() -> None:
    """notifyFinish fires when the response ends, and fails if the client goes first;
    finish after that raises, write is ignored."""
    requests: list[Request] = []

    class Keep(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> int:
            requests.append(request)
            return NOT_DONE_YET

    conn = connect(Keep())
    conn.send(GET)
    done: list[object] = []
    requests[0].notifyFinish().addBoth(done.append)
    requests[0].finish()
    assert done == [None]
    requests[0].notifyFinish().addBoth(done.append)
    assert done == [None, None]

    conn.send(GET)
    lost: list[Failure] = []
    requests[1].notifyFinish().addErrback(lost.append)
    conn.channel.connectionLost(Failure(error.ConnectionLost("gone")))
    assert lost and lost[0].check(error.ConnectionLost)
    requests[1].write(b"ignored")
    with pytest.raises(RuntimeError):
        requests[1].finish()


class Producing(Resource):
    isLeaf = True

    def __init__(self, streaming: bool) -> None:
        super().__init__()
        self.streaming = streaming
        self.requests: list[Request] = []

    def render_GET(self, request: Request) -> int:
        self.requests.append(request)
        return NOT_DONE_YET


class Countdown:
    """Writes ``n`` pieces, one per resumeProducing, then finishes the request."""

    def __init__(self, request: Request, n: int) -> None:
        self.request = request
        self.n = n
        self.paused = False
        self.stopped = False

    def resumeProducing(self) -> None:
        self.paused = False
        if self.n:
            self.request.write(b"%d;" % self.n)
            self.n -= 1
        if not self.n:
            self.request.unregisterProducer()
            self.request.finish()

    def pauseProducing(self) -> None:
        self.paused = True

    def stopProducing(self) -> None:
        self.stopped = True


def test_push_producer_is_registered_with_the_transport() -> None:
    """registerProducer(streaming=True) hands the producer to the transport; a second
    registration is refused; the response finishes normally."""
    resource = Producing(True)
    conn = connect(resource)
    conn.send(GET)
    request = resource.requests[0]
    producer = Countdown(request, 3)
    request.registerProducer(producer, True)
    registered = conn.transport.producer
    assert registered.producer is producer and conn.transport.streaming is True
    with pytest.raises(ValueError):
        request.registerProducer(Countdown(request, 1), True)
    for _ in range(3):
        producer.resumeProducing()
    # Between bodies the channel itself watches the transport's buffer again.
    assert conn.transport.producer is conn.channel
    assert one(conn.take()).body == b"3;2;1;"


def test_pull_producer_is_driven_once_per_turn() -> None:
    """A pull producer is asked for one piece per reactor turn until it finishes."""
    resource = Producing(False)
    conn = connect(resource)
    conn.send(GET)
    request = resource.requests[0]
    request.registerProducer(Countdown(request, 3), False)
    for _ in range(5):
        conn.clock.advance(0)
    assert one(conn.take()).body == b"3;2;1;"


def test_producer_stopped_when_client_leaves() -> None:
    """The client disconnecting stops the registered producer."""
    resource = Producing(True)
    conn = connect(resource)
    conn.send(GET)
    request = resource.requests[0]
    producer = Countdown(request, 3)
    request.registerProducer(producer, True)
    conn.channel.connectionLost(Failure(error.ConnectionLost("gone")))
    assert producer.stopped


# -- malformed requests ---------------------------------------------------------------

BAD = [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"a" * 17000 + b"\r\n\r\n", 431),
    (b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
    (b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: t\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    (b"GET / HTTP/1.1\nHost: t\n\n", 400),
    (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
]


@pytest.mark.parametrize(("data", "status"), BAD)
def test_malformed_request_gets_status_hint_and_close(data: bytes, status: int) -> None:
    """A malformed request gets the core's status with Connection: close, then the
    connection closes (after a short lingering drain)."""
    conn = connect(Echo())
    conn.send(data)
    reply = one(conn.take())
    assert reply.status == status
    assert reply.header(b"connection") == b"close"
    assert conn.transport.writeDisconnecting
    conn.send(b"more bytes after the error are dropped")
    assert conn.take() == b""
    conn.clock.advance(3)
    assert conn.transport.disconnecting


@pytest.mark.parametrize("smuggle", [
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n"
    b"GET /admin HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n"
    b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n"
    b"0\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n",
])
def test_smuggling_attempts_get_400_and_close(smuggle: bytes) -> None:
    """Ambiguous framing is refused with 400 and the smuggled request is never served."""
    conn = connect(Echo())
    conn.send(smuggle)
    data = conn.take()
    assert one(data).status == 400 and b"/admin" not in data
    assert data.count(b"HTTP/1.1 ") == 1
    assert conn.transport.writeDisconnecting


def test_body_over_core_limit_gets_413() -> None:
    """maxRequestBodySize is the core's limit: a chunked body past it gets 413."""
    conn = connect(Upload(), maxRequestBodySize=4)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n")
    assert one(conn.take()).status == 413


# -- timeouts ----------------------------------------------------------------------------

def test_header_timeout_is_not_extended_by_a_trickle() -> None:
    """Slowloris: a head sent one byte a second is cut off headerTimeout seconds after
    its first byte, with 408."""
    conn = connect(Hello(), headerTimeout=10)
    for byte in GET[:-2]:
        conn.send(bytes([byte]))
        conn.clock.advance(1)
        if closed(conn):
            break
    assert conn.clock.seconds() == 10
    assert conn.take().startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert conn.transport.disconnecting


def test_silent_connection_closed_quietly() -> None:
    """A connection that sends nothing is closed at headerTimeout, without a response."""
    conn = connect(Hello(), headerTimeout=5)
    conn.clock.advance(4.9)
    assert not closed(conn)
    conn.clock.advance(0.2)
    assert conn.transport.disconnecting and conn.take() == b""


def test_idle_keep_alive_timeout() -> None:
    """After a response, an idle connection lives ``timeout`` seconds, then closes quietly."""
    conn = connect(Hello(), timeout=60, headerTimeout=30)
    conn.clock.advance(20)
    conn.send(GET)
    conn.take()
    conn.clock.advance(59)
    assert not closed(conn)
    conn.send(GET)  # activity moves the deadline
    conn.take()
    conn.clock.advance(59)
    assert not closed(conn)
    conn.clock.advance(2)
    assert conn.transport.disconnecting and conn.take() == b""


def test_long_running_response_has_no_timeout() -> None:
    """While a response is in progress no timer closes the connection."""
    later = Later()
    conn = connect(later, timeout=5, headerTimeout=5, bodyTimeout=5)
    conn.send(GET)
    conn.clock.advance(100)
    assert not closed(conn)
    later.pending[0][1].callback(b"late")
    assert one(conn.take()).body == b"late"


def test_body_timeout() -> None:
    """A request body that stalls for bodyTimeout gets 408 and the connection closes."""
    conn = connect(Echo(), bodyTimeout=5)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
    conn.clock.advance(4)
    conn.send(b"cd")
    conn.clock.advance(4)
    assert not closed(conn)
    conn.clock.advance(2)
    assert one(conn.take()).status == 408
    assert closed(conn)


# -- the site --------------------------------------------------------------------------

def test_max_connections_answers_503() -> None:
    """Past maxConnections a new connection gets 503 and is closed."""
    conn = connect(Hello(), maxConnections=1)
    extra = conn.site.buildProtocol(CLIENT)
    transport = type(conn.transport)()
    extra.makeConnection(transport)
    assert transport.value().startswith(b"HTTP/1.1 503 ")
    assert transport.disconnecting
    conn.channel.connectionLost(Failure(error.ConnectionDone()))
    assert isinstance(conn.site.buildProtocol(CLIENT), type(conn.channel))


def test_graceful_shutdown() -> None:
    """shutdown closes idle connections, lets the one in progress finish (with
    Connection: close), refuses new ones, and fires when all are gone."""
    later = Later()
    busy = connect(later)
    site = busy.site
    idle_channel = site.buildProtocol(CLIENT)
    idle = type(busy.transport)()
    idle_channel.makeConnection(idle)
    busy.send(GET)
    done: list[object] = []
    site.shutdown().addCallback(done.append)
    assert idle.disconnecting and not busy.transport.disconnecting
    assert site.buildProtocol(CLIENT) is None
    idle_channel.connectionLost(Failure(error.ConnectionDone()))
    later.pending[0][1].callback(b"last")
    reply = one(busy.take())
    assert reply.body == b"last" and reply.header(b"connection") == b"close"
    assert busy.transport.disconnecting and done == []
    busy.channel.connectionLost(Failure(error.ConnectionDone()))
    assert done == [None]


def test_shutdown_timeout_aborts() -> None:
    """Connections still busy after shutdownTimeout are aborted."""
    later = Later()
    conn = connect(later, shutdownTimeout=5)
    conn.send(GET)
    conn.site.shutdown()
    conn.clock.advance(5)
    assert conn.transport.disconnected


def test_shutdown_hooked_to_reactor_shutdown() -> None:
    """While listening, the site's shutdown is a "before shutdown" trigger."""
    conn = connect(Hello())
    conn.site.doStart()
    triggers = conn.clock.triggers.get("before", {}).get("shutdown", [])
    assert any(getattr(f, "__self__", None) is conn.site for f, _, _ in triggers)
    conn.site.doStop()
    triggers = conn.clock.triggers.get("before", {}).get("shutdown", [])
    assert not any(getattr(f, "__self__", None) is conn.site for f, _, _ in triggers)


def test_access_log_combined_format(tmp_path: Any) -> None:
    """logPath gets one combined-format line per response, with the client address."""
    path = tmp_path / "access.log"
    conn = connect(Hello(), logPath=str(path))
    conn.site.doStart()
    conn.send(b"GET /x?y=1 HTTP/1.1\r\nHost: t\r\nReferer: http://r/\r\nUser-Agent: t\"ua\r\n\r\n")
    conn.send(b"GARBAGE\r\n\r\n")
    conn.site.doStop()
    first, second = path.read_text().splitlines()
    assert first.startswith("192.0.2.7 - - [")
    assert first.endswith('"GET /x?y=1 HTTP/1.1" 200 13 "http://r/" "t\\x22ua"')
    assert second.startswith("192.0.2.7 ") and '" 400 ' in second


def test_site_is_a_factory() -> None:
    """Site builds channels that know it; the request factory can be replaced."""

    class MyRequest(Request):
        pass

    seen: list[type] = []

    class Look(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> bytes:
            seen.append(type(request))
            return b""

    conn = connect(Look(), requestFactory=MyRequest)
    conn.send(GET)
    assert seen == [MyRequest]
    assert isinstance(conn.site, Site) and conn.channel.site is conn.site


def test_async_iterator_waits_while_transport_is_full() -> None:
    """A handler's async iterator is not advanced while the transport has paused the
    response; it goes on when the transport resumes; a client leaving closes it."""
    pulled: list[int] = []
    closed_gen: list[bool] = []
    router = Router()

    @router.route("/")
    def numbers(request: Request) -> Any:
        async def gen() -> Any:
            try:
                for i in range(3):
                    pulled.append(i)
                    if i == 0:
                        request.transport.producer.pauseProducing()  # as a full buffer would
                    yield b"%d" % i
            finally:
                closed_gen.append(True)

        return gen()

    conn = connect(router)
    conn.send(GET)
    assert pulled == [0]
    conn.transport.producer.resumeProducing()
    assert pulled == [0, 1, 2]
    assert one(conn.take()).body == b"012"

    pulled.clear()
    conn.send(GET)
    assert pulled == [0]
    conn.transport.producer.stopProducing()  # what the transport does when the client leaves
    conn.channel.connectionLost(Failure(error.ConnectionLost("gone")))
    assert pulled == [0] and closed_gen == [True, True]


def test_response_the_core_refuses_is_logged_and_closes(logged_failures: Any) -> None:
    """A body longer than the Content-Length the handler set is refused by the core:
    logged, and the connection closed (never a hang)."""

    class Liar(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> int:
            request.setHeader(b"content-length", b"2")
            request.write(b"too long")
            return NOT_DONE_YET

    conn = connect(Liar())
    conn.send(GET)
    assert conn.transport.disconnecting
    assert logged_failures.flush(LocalProtocolError)


def test_twisted_style_helpers() -> None:
    """setETag / setLastModified return CACHED with 304; cookies, Basic auth, redirect,
    addCookie, isSecure and prePathURL behave as in Twisted."""
    seen: dict[str, Any] = {}

    class Helpers(Resource):
        isLeaf = True

        def render_GET(self, request: Request) -> bytes:
            kind = request.args[b"k"][0]
            if kind == b"etag":
                return b"" if request.setETag(b'"v1"') is CACHED else b"fresh"
            if kind == b"date":
                return b"" if request.setLastModified(784111776.5) is CACHED else b"fresh"
            seen.update(cookie=request.getCookie(b"b"), cookies=request.received_cookies,
                        user=request.getUser(), password=request.getPassword(),
                        secure=request.isSecure(), url=request.prePathURL())
            request.addCookie(b"s", b"1", path=b"/", httpOnly=True, sameSite="lax")
            request.redirect(b"/elsewhere")
            return b""

    conn = connect(Helpers())
    conn.send(b"GET /?k=etag HTTP/1.1\r\nHost: t\r\nIf-None-Match: \"v0\", \"v1\"\r\n\r\n"
              b"GET /?k=date HTTP/1.1\r\nHost: t\r\n"
              b"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n"
              b"GET /?k=other HTTP/1.1\r\nHost: h:1\r\nCookie: a=1; b=2\r\n"
              b"Authorization: Basic dXNlcjpwYXNz\r\n\r\n")
    etag, date, other = parse_responses(conn.take(), [b"GET"] * 3)
    assert etag.status == 304 and etag.header(b"etag") == b'"v1"'
    assert date.status == 304
    assert other.status == 302 and other.header(b"location") == b"/elsewhere"
    assert other.header(b"set-cookie") == b"s=1; Path=/; HttpOnly; SameSite=Lax"
    assert seen == {"cookie": b"2", "cookies": {b"a": b"1", b"b": b"2"}, "user": b"user",
                    "password": b"pass", "secure": False, "url": b"http://h:1/"}
