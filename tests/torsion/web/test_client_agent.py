"""Agent, pool, redirects, decoders and getPage, deterministically.

The agent connects through ``PumpEndpoints``: each connection is a memory pair with a
sans-IO server (``client_support.SansIOServer``); ``flush()`` moves the bytes and a
``Clock`` is the reactor. Pins URL handling, pool reuse and its counts, the stale
keep-alive retry, the redirect rules, content decoding and getPage's errors.
"""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Any

import pytest
from client_support import PumpEndpoints, Reply, echo_handler

from torsion import error
from torsion.task import Clock
from torsion.testing import failure_result_of, success_result_of
from torsion.web.client import (
    URI,
    Agent,
    BrowserLikeRedirectAgent,
    BytesBodyProducer,
    ContentDecoderAgent,
    DeflateDecoder,
    Error,
    FileBodyProducer,
    GzipDecoder,
    Headers,
    HTTPConnectionPool,
    InfiniteRedirection,
    PageRedirect,
    RedirectAgent,
    RedirectLimit,
    RedirectWithNoLocation,
    Response,
    ResponseFailed,
    ResponseNeverReceived,
    ResponseTimeout,
    ResponseTooLarge,
    SchemeNotSupported,
    getPage,
    readBody,
)
from torsion.web.sansio import RemoteProtocolError
from torsion.web.sansio import Request as WireRequest

# -- URIs ------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("http://example.com", (b"http", b"example.com", 80, b"/", b"example.com")),
    (b"https://Example.COM/a/b?x=1#frag",
     (b"https", b"example.com", 443, b"/a/b?x=1", b"example.com")),
    ("http://127.0.0.1:8080/", (b"http", b"127.0.0.1", 8080, b"/", b"127.0.0.1:8080")),
    ("http://[::1]:81/p", (b"http", b"::1", 81, b"/p", b"[::1]:81")),
    ("https://[::1]/p", (b"https", b"::1", 443, b"/p", b"[::1]")),
    ("http://h/caf\u00e9 x?q=\u00e9", (b"http", b"h", 80, b"/caf%C3%A9%20x?q=%C3%A9", b"h")),
    ("http://b\u00fccher.example/", (b"http", b"xn--bcher-kva.example", 80, b"/",
                                     b"xn--bcher-kva.example")),
    ("http://user:pw@h:80/", (b"http", b"h", 80, b"/", b"h")),
    (b"http://h/%7Efoo%20bar", (b"http", b"h", 80, b"/%7Efoo%20bar", b"h")),
])
def test_uri_parsing(url: str | bytes, expected: tuple[Any, ...]) -> None:
    """Scheme, host (IDNA, no brackets), port (default by scheme), request-target
    (percent-encoded, no fragment) and the Host value."""
    uri = URI.fromBytes(url)
    assert (uri.scheme, uri.host, uri.port, uri.originForm, uri.hostHeader()) == expected


@pytest.mark.parametrize(("url", "exc"), [
    ("ftp://h/", SchemeNotSupported),
    ("h/path", SchemeNotSupported),
    ("http:///path", ValueError),
    ("http://h:99999/", ValueError),
])
def test_uri_errors(url: str, exc: type[Exception]) -> None:
    """Unsupported schemes and bad URLs are refused with a message naming the URL."""
    with pytest.raises(exc):
        URI.fromBytes(url)


# -- the agent over memory connections ----------------------------------------------------


def make(handler: Any = echo_handler, persistent: bool = True, **pool_args: Any
         ) -> tuple[Agent, PumpEndpoints, Clock, HTTPConnectionPool]:
    clock = Clock()
    endpoints = PumpEndpoints(handler)
    pool = HTTPConnectionPool(clock, persistent, **pool_args)
    return Agent.usingEndpointFactory(clock, endpoints, pool), endpoints, clock, pool


def fetch(agent: Any, endpoints: PumpEndpoints, method: bytes | str = b"GET",
          url: bytes | str = b"http://a.test/x", headers: Any = None, body: Any = None
          ) -> tuple[Response, bytes]:
    d = agent.request(method, url, headers, body)
    endpoints.flush()
    response = success_result_of(d)
    body_d = readBody(response)
    endpoints.flush()
    return response, success_result_of(body_d)


def test_request_adds_host_and_sends_method_target_body() -> None:
    """Host from the URL (port when not the default), str or bytes arguments, headers
    given as a mapping, a body producer."""
    agent, endpoints, _, _ = make()
    response, body = fetch(agent, endpoints, "PUT", "http://a.test:8080/p?q=1",
                           {"X-Thing": "1"}, BytesBodyProducer(b"data"))
    assert response.code == 200 and body == b"PUT /p?q=1\ndata"
    request, _ = endpoints.log.requests[0]
    assert request.headers.get(b"host") == b"a.test:8080"
    assert request.headers.get(b"x-thing") == b"1"
    assert request.headers.get(b"content-length") == b"4"


def test_given_host_header_is_kept() -> None:
    """A Host header given by the caller is sent as it is."""
    agent, endpoints, _, _ = make()
    fetch(agent, endpoints, headers=Headers({b"Host": [b"virtual.test"]}))
    assert endpoints.log.requests[0][0].headers.get(b"host") == b"virtual.test"


def test_bad_url_fails_the_deferred() -> None:
    """Errors in the arguments arrive as failed Deferreds, not exceptions."""
    agent, _, _, _ = make()
    failure_result_of(agent.request(b"GET", b"gopher://x/"), SchemeNotSupported)
    failure_result_of(agent.request("G\u00c9T", b"http://x/"), ValueError)


def test_persistent_pool_reuses_one_connection() -> None:
    """Sequential requests on a persistent pool share one connection; the statistics
    count the reuses."""
    agent, endpoints, _, pool = make()
    for i in range(5):
        _, body = fetch(agent, endpoints, url=f"http://a.test/{i}")
        assert body == f"GET /{i}\n".encode()
    stats = pool.statistics()
    assert endpoints.connects == 1 and endpoints.log.connections == 1
    assert (stats.opened, stats.reused, stats.idle) == (1, 4, 1)


def test_request_from_the_body_callback_reuses_the_connection() -> None:
    """The connection is back in the pool before readBody fires, so a request made from
    its callback reuses it."""
    agent, endpoints, _, pool = make()
    second: list[Any] = []

    def again(_: bytes) -> None:
        second.append(agent.request(b"GET", b"http://a.test/2"))

    d = agent.request(b"GET", b"http://a.test/1")
    endpoints.flush()
    readBody(success_result_of(d)).addCallback(again)
    endpoints.flush()
    assert success_result_of(second[0]).code == 200
    assert endpoints.connects == 1 and pool.statistics().reused == 1


def test_default_pool_is_not_persistent() -> None:
    """Agent without a pool: one connection per request, each closed (as Twisted)."""
    clock, endpoints = Clock(), PumpEndpoints()
    agent = Agent.usingEndpointFactory(clock, endpoints)
    for _ in range(3):
        fetch(agent, endpoints)
    assert endpoints.connects == 3 and endpoints.log.lost == 3
    assert endpoints.log.requests[0][0].headers.get(b"connection") == b"close"


def test_concurrent_requests_open_connections_and_keep_max_idle() -> None:
    """Three at once: three connections; afterwards maxPersistentPerHost (2) stay idle
    and the third is closed."""
    agent, endpoints, _, pool = make()
    ds = [agent.request(b"GET", b"http://a.test/") for _ in range(3)]
    endpoints.flush()
    bodies = [readBody(success_result_of(d)) for d in ds]
    endpoints.flush()
    assert all(success_result_of(b) for b in bodies)
    assert endpoints.connects == 3
    assert pool.statistics().idle == 2 and endpoints.log.lost == 1


def test_connections_per_host_limit_queues_requests() -> None:
    """maxConnectionsPerHost=1: the second request waits, then takes the first one's
    connection as soon as its response is complete (its body is kept for readBody)."""
    agent, endpoints, _, pool = make(maxConnectionsPerHost=1)
    d1 = agent.request(b"GET", b"http://a.test/1")
    d2 = agent.request(b"GET", b"http://a.test/2")
    assert pool.statistics().waiting == 1 and endpoints.connects == 1
    endpoints.flush()
    b1, b2 = readBody(success_result_of(d1)), readBody(success_result_of(d2))
    endpoints.flush()
    assert (success_result_of(b1), success_result_of(b2)) == (b"GET /1\n", b"GET /2\n")
    assert endpoints.connects == 1 and pool.statistics().reused == 1


def test_idle_connection_closed_after_cached_connection_timeout() -> None:
    """An idle connection is closed after cachedConnectionTimeout seconds."""
    agent, endpoints, clock, pool = make(cachedConnectionTimeout=10)
    fetch(agent, endpoints)
    clock.advance(9)
    assert pool.statistics().idle == 1
    clock.advance(1)
    endpoints.flush()
    assert pool.statistics().idle == 0 and endpoints.log.lost == 1
    assert not clock.getDelayedCalls()


def test_server_closing_idle_connection_removes_it() -> None:
    """The server closes an idle keep-alive connection: the pool forgets it and the
    next request opens a new one."""
    agent, endpoints, clock, pool = make()
    fetch(agent, endpoints)
    endpoints.pumps[0].server_transport.loseConnection()
    endpoints.flush()
    assert pool.statistics().idle == 0 and not clock.getDelayedCalls()
    fetch(agent, endpoints)
    assert endpoints.connects == 2


def test_close_cached_connections() -> None:
    """closeCachedConnections closes the idle ones; its Deferred fires once they are."""
    agent, endpoints, _, pool = make()
    fetch(agent, endpoints)
    done = pool.closeCachedConnections()
    endpoints.flush()
    success_result_of(done)
    assert pool.statistics().idle == 0 and endpoints.log.lost == 1


class DropSecond:
    """Answers the first request on each connection; silently closes on the second,
    like a server whose keep-alive timeout just expired."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, request: WireRequest, body: bytes) -> Reply:
        self.seen += 1
        if self.seen == 2:
            return Reply(raw=b"")
        return echo_handler(request, body)


@pytest.mark.parametrize(("method", "body", "retry", "retried"), [
    (b"GET", None, True, True),
    (b"DELETE", None, True, True),
    (b"PUT", BytesBodyProducer(b"x"), True, True),  # replayable body
    (b"POST", None, True, False),  # not idempotent
    (b"GET", None, False, False),  # retryAutomatically off
])
def test_stale_keep_alive_connection_is_retried_once(
    method: bytes, body: Any, retry: bool, retried: bool
) -> None:
    """An idempotent request that fails on a reused connection before any byte of the
    answer is sent again on a new connection; otherwise ResponseNeverReceived."""
    agent, endpoints, _, _pool = make(DropSecond(), retryAutomatically=retry)
    fetch(agent, endpoints)
    d = agent.request(method, b"http://a.test/again", None, body)
    endpoints.flush()
    if retried:
        response = success_result_of(d)
        readBody(response)
        endpoints.flush()
        assert endpoints.connects == 2 and response.code == 200
    else:
        f = failure_result_of(d, ResponseNeverReceived)
        assert f.value.reasons[0].check(error.ConnectionDone)
        assert endpoints.connects == 1


def test_failure_on_a_fresh_connection_is_not_retried() -> None:
    """A new connection closing without answer is a real failure: no retry."""
    agent, endpoints, _, _ = make(lambda r, b: Reply(raw=b""))
    d = agent.request(b"GET", b"http://a.test/")
    endpoints.flush()
    failure_result_of(d, ResponseNeverReceived)
    assert endpoints.connects == 1


def test_connect_error_passes_through() -> None:
    """The endpoint's error (refused, DNS...) is the request's failure, unwrapped."""
    agent, endpoints, _, pool = make()
    endpoints.refuse = error.ConnectionRefusedError(string="a.test:80")
    failure_result_of(agent.request(b"GET", b"http://a.test/"), error.ConnectionRefusedError)
    assert pool.statistics() == pool.statistics().__class__(0, 0, 0, 0, 1, 0)


def test_connection_lost_before_connect_reported() -> None:
    """The connection dies before the endpoint says it connected (a TLS handshake
    failure does that): the request fails with that reason, the pool is empty."""
    agent, endpoints, _, pool = make()
    endpoints.lose_at_once = True
    failure_result_of(agent.request(b"GET", b"http://a.test/"), error.ConnectionDone)
    stats = pool.statistics()
    assert (stats.idle, stats.active, stats.connecting) == (0, 0, 0)


def test_read_timeout_from_the_agent() -> None:
    """Agent(readTimeout=...) applies to every request."""
    clock, endpoints = Clock(), PumpEndpoints(lambda r, b: Reply(hang=True))
    agent = Agent.usingEndpointFactory(clock, endpoints, readTimeout=3)
    d = agent.request(b"GET", b"http://a.test/")
    endpoints.flush()
    clock.advance(3)
    f = failure_result_of(d, ResponseNeverReceived)
    assert f.value.reasons[0].check(ResponseTimeout)


# -- redirects ----------------------------------------------------------------------------


def redirecting(status: int, location: bytes = b"/target", times: int = 1) -> Any:
    count = [0]

    def handler(request: WireRequest, body: bytes) -> Reply:
        if request.target != b"/target" and count[0] < times:
            count[0] += 1
            return Reply(status, [(b"Location", location), (b"Content-Length", b"4")], b"gone")
        return echo_handler(request, body)

    return handler


@pytest.mark.parametrize(("agent_class", "status", "method", "outcome"), [
    (RedirectAgent, 301, b"GET", b"GET"),
    (RedirectAgent, 302, b"HEAD", b"HEAD"),
    (RedirectAgent, 303, b"POST", b"GET"),
    (RedirectAgent, 303, b"HEAD", b"HEAD"),
    (RedirectAgent, 307, b"POST", b"POST"),
    (RedirectAgent, 308, b"PUT", b"PUT"),
    (RedirectAgent, 301, b"POST", PageRedirect),
    (RedirectAgent, 302, b"DELETE", PageRedirect),
    (BrowserLikeRedirectAgent, 301, b"POST", b"GET"),
    (BrowserLikeRedirectAgent, 302, b"POST", b"GET"),
    (BrowserLikeRedirectAgent, 302, b"GET", b"GET"),
    (BrowserLikeRedirectAgent, 303, b"PUT", b"GET"),
    (BrowserLikeRedirectAgent, 307, b"POST", b"POST"),
    (BrowserLikeRedirectAgent, 308, b"POST", b"POST"),
])
def test_redirect_table(agent_class: type[RedirectAgent], status: int, method: bytes,
                        outcome: bytes | type[Exception]) -> None:
    """Which method (and body) each redirect status leads to, per agent."""
    base, endpoints, _, _ = make(redirecting(status))
    agent = agent_class(base)
    d = agent.request(method, b"http://a.test/start", {b"Content-Type": b"text/plain"},
                      BytesBodyProducer(b"payload") if method in (b"POST", b"PUT") else None)
    endpoints.flush()
    if isinstance(outcome, type):
        f = failure_result_of(d, ResponseFailed)
        assert f.value.reasons[0].check(outcome)
        assert f.value.response.code == status
        return
    response = success_result_of(d)
    assert response.code == 200 and response.previousResponse is not None
    assert response.previousResponse.code == status
    last, body = endpoints.log.requests[-1]
    assert last.method == outcome and last.target == b"/target"
    kept = outcome == method and method in (b"POST", b"PUT")
    assert body == (b"payload" if kept else b"")
    assert (last.headers.get(b"content-type") is not None) == kept or method not in (
        b"POST", b"PUT")


def test_redirect_with_unreplayable_body_is_refused() -> None:
    """307 with a body that cannot be sent again: PageRedirect, not a silent empty body."""
    base, endpoints, _, _ = make(redirecting(307))
    d = RedirectAgent(base).request(b"POST", b"http://a.test/", None,
                                    FileBodyProducer(io.BytesIO(b"abc")))
    endpoints.flush()
    f = failure_result_of(d, ResponseFailed)
    assert f.value.reasons[0].check(PageRedirect)


def test_redirect_limit() -> None:
    """A redirect loop stops after redirectLimit redirects: InfiniteRedirection."""
    base, endpoints, _, _ = make(redirecting(302, b"/loop", times=100))
    d = RedirectAgent(base, redirectLimit=3).request(b"GET", b"http://a.test/loop")
    endpoints.flush()
    f = failure_result_of(d, ResponseFailed)
    assert f.value.reasons[0].check(InfiniteRedirection) and RedirectLimit is InfiniteRedirection
    assert len(endpoints.log.requests) == 4


def test_redirect_without_location() -> None:
    """A 302 without Location: RedirectWithNoLocation naming the page."""
    base, endpoints, _, _ = make(lambda r, b: Reply(302, [(b"Content-Length", b"0")]))
    d = RedirectAgent(base).request(b"GET", b"http://a.test/here")
    endpoints.flush()
    f = failure_result_of(d, ResponseFailed)
    assert f.value.reasons[0].check(RedirectWithNoLocation)
    assert "http://a.test/here" in str(f.value)


def test_cross_origin_redirect_drops_credentials() -> None:
    """Authorization and Cookie go to the origin they were meant for only; the body of
    the redirect is read so the first connection is reused."""
    base, endpoints, _, pool = make(redirecting(302, b"http://b.test/target", times=2))
    agent = RedirectAgent(base)
    headers = {b"Authorization": b"Bearer secret", b"Cookie": b"s=1", b"Accept": b"*/*"}
    response = success_result_of(_flushed(agent.request(b"GET", b"http://a.test/1", headers),
                                          endpoints))
    assert response.code == 200
    [(first, _), (second, _)] = endpoints.log.requests
    assert first.headers.get(b"authorization") == b"Bearer secret"
    assert second.headers.get(b"authorization") is None and second.headers.get(b"cookie") is None
    assert second.headers.get(b"accept") == b"*/*" and second.headers.get(b"host") == b"b.test"
    assert endpoints.uris == [b"http://a.test/1", b"http://b.test/target"]
    assert pool.statistics().idle == 2  # both kept: the redirect body was drained


def test_same_origin_redirect_keeps_credentials_and_resolves_relative() -> None:
    """A relative Location is resolved against the URL; credentials stay."""
    base, endpoints, _, pool = make(redirecting(301, b"target"))
    agent = RedirectAgent(base)
    d = agent.request(b"GET", b"http://a.test/dir/page", {b"Authorization": b"x"})
    response = success_result_of(_flushed(d, endpoints))
    second, _ = endpoints.log.requests[1]
    assert second.target == b"/dir/target" and second.headers.get(b"authorization") == b"x"
    assert response.request is not None
    assert response.request.absoluteURI == b"http://a.test/dir/target"
    assert endpoints.connects == 1 and pool.statistics().reused == 1


def _flushed(d: Any, endpoints: PumpEndpoints) -> Any:
    endpoints.flush()
    return d


# -- content decoding ---------------------------------------------------------------------


def encoded(coding: bytes, data: bytes, chunked: bool = False) -> Any:
    def handler(request: WireRequest, body: bytes) -> Reply:
        headers = [(b"Content-Encoding", coding)]
        if not chunked:
            headers.append((b"Content-Length", b"%d" % len(data)))
        return Reply(200, headers, data)

    return handler


TEXT = b"The quick brown fox jumps over the lazy dog. " * 2000


@pytest.mark.parametrize(("coding", "data"), [
    (b"gzip", gzip.compress(TEXT)),
    (b"deflate", zlib.compress(TEXT)),
    (b"deflate", zlib.compress(TEXT)[2:-4]),  # raw deflate, as some servers send
    (b"x-unknown", b"not touched"),
])
def test_content_decoder_agent(coding: bytes, data: bytes) -> None:
    """Accept-Encoding goes out; gzip and deflate (zlib or raw) come back decoded,
    length unknown and Content-Encoding gone; unknown codings are left alone."""
    base, endpoints, _, _ = make(encoded(coding, data, chunked=True))
    agent = ContentDecoderAgent(base, [(b"gzip", GzipDecoder), (b"deflate", DeflateDecoder)])
    response, body = fetch(agent, endpoints)
    request, _ = endpoints.log.requests[0]
    assert request.headers.get(b"accept-encoding") == b"gzip, deflate"
    if coding == b"x-unknown":
        assert body == data and response.headers.getRawHeaders(b"content-encoding")
    else:
        assert body == TEXT
        assert not response.headers.hasHeader(b"content-encoding")
        assert not response.headers.hasHeader(b"content-length")


@pytest.mark.parametrize("data", [b"not gzip at all", gzip.compress(TEXT)[:-20]])
def test_corrupt_or_truncated_gzip_fails(data: bytes) -> None:
    """A corrupt or cut-short gzip stream fails the body with ResponseFailed(zlib.error)."""
    base, endpoints, _, _ = make(encoded(b"gzip", data))
    agent = ContentDecoderAgent(base, [(b"gzip", GzipDecoder)])
    d = agent.request(b"GET", b"http://a.test/")
    endpoints.flush()
    body = readBody(success_result_of(d))
    endpoints.flush()
    f = failure_result_of(body, ResponseFailed)
    assert f.value.reasons[0].check(zlib.error)


def test_decoded_size_is_bounded_by_max_size() -> None:
    """maxSize counts decoded bytes: a small gzip bomb is stopped."""
    bomb = gzip.compress(b"\0" * 5_000_000)
    base, endpoints, _, _ = make(encoded(b"gzip", bomb))
    agent = ContentDecoderAgent(base, [(b"gzip", GzipDecoder)])
    d = agent.request(b"GET", b"http://a.test/")
    endpoints.flush()
    body = readBody(success_result_of(d), maxSize=100_000)
    endpoints.flush()
    failure_result_of(body, ResponseTooLarge)


def test_head_with_gzip_encoding_has_empty_body() -> None:
    """A HEAD answer says gzip but has no body: empty, no error."""
    base, endpoints, _, _ = make(encoded(b"gzip", b""))
    agent = ContentDecoderAgent(base, [(b"gzip", GzipDecoder)])
    _, body = fetch(agent, endpoints, b"HEAD")
    assert body == b""


# -- getPage ------------------------------------------------------------------------------


def page(handler: Any, url: str = "http://a.test/", **kwargs: Any) -> tuple[Any, PumpEndpoints,
                                                                              Clock]:
    clock, endpoints = Clock(), PumpEndpoints(handler)
    agent = Agent.usingEndpointFactory(clock, endpoints)
    d = getPage(url, reactor=clock, agent=agent, **kwargs)
    endpoints.flush()
    return d, endpoints, clock


def test_get_page_returns_the_body() -> None:
    """getPage(url) fires with the body; it sends a User-Agent; no timer is left."""
    d, endpoints, clock = page(echo_handler)
    assert success_result_of(d) == b"GET /\n"
    assert endpoints.log.requests[0][0].headers.get(b"user-agent") == b"torsion getPage"
    assert not clock.getDelayedCalls()


def test_get_page_posts_data() -> None:
    """method and data (or postdata) make a request with a body."""
    d, _, _ = page(echo_handler, method=b"POST", data=b"a=1")
    assert success_result_of(d) == b"POST /\na=1"
    d, _, _ = page(echo_handler, method="PUT", postdata=b"b")
    assert success_result_of(d) == b"PUT /\nb"


def test_get_page_error_status() -> None:
    """A 404: Error with status, message and the body."""
    d, _, _ = page(lambda r, b: Reply(404, [(b"Content-Length", b"7")], b"missing"))
    f = failure_result_of(d, Error)
    assert (f.value.status, f.value.response) == (b"404", b"missing")
    assert f.value.code == 404 and f.value.body == b"missing"
    assert f.value.message == b"Not Found"  # the server sent no reason: the standard one
    assert str(f.value) == "404 Not Found"


def test_get_page_follows_redirects_unless_told_not_to() -> None:
    """Redirects are followed by default; followRedirect=False gives Error(302)."""
    d, _, _ = page(redirecting(302))
    assert success_result_of(d) == b"GET /target\n"
    d, _, _ = page(redirecting(302), followRedirect=False)
    assert failure_result_of(d, Error).value.code == 302


def test_get_page_too_many_redirects_is_unwrapped() -> None:
    """The redirect limit: InfiniteRedirection itself (not wrapped)."""
    d, _, _ = page(redirecting(302, b"/loop", times=100), redirectLimit=2)
    failure_result_of(d, InfiniteRedirection)


def test_get_page_overall_timeout() -> None:
    """timeout bounds the whole fetch: ResponseTimeout naming the URL; the connection
    is dropped."""
    d, endpoints, clock = page(lambda r, b: Reply(hang=True), timeout=5)
    clock.advance(5)
    f = failure_result_of(d, ResponseTimeout)
    assert "http://a.test/" in str(f.value) and "5" in str(f.value)
    endpoints.flush()
    assert endpoints.log.lost == 1


def test_get_page_max_size_and_decompress() -> None:
    """maxSize: ResponseTooLarge; decompress: the gzip body decoded."""
    d, _, _ = page(encoded(b"gzip", gzip.compress(TEXT)), decompress=True)
    assert success_result_of(d) == TEXT
    d, _, _ = page(encoded(b"gzip", gzip.compress(TEXT)), decompress=True, maxSize=1000)
    failure_result_of(d, ResponseTooLarge)


def test_get_page_malformed_response_is_response_failed() -> None:
    """A malformed response: ResponseFailed holding the core's RemoteProtocolError."""
    d, _, _ = page(lambda r, b: Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"))
    f = failure_result_of(d, ResponseFailed)
    assert f.value.reasons[0].check(RemoteProtocolError)


def test_get_page_connection_refused() -> None:
    """Refused: ConnectionRefusedError as is."""
    clock, endpoints = Clock(), PumpEndpoints()
    endpoints.refuse = error.ConnectionRefusedError(string="a.test:80")
    d = getPage("http://a.test/", reactor=clock,
                agent=Agent.usingEndpointFactory(clock, endpoints))
    failure_result_of(d, error.ConnectionRefusedError)
    assert not clock.getDelayedCalls()
