"""The client over real sockets on 127.0.0.1, on a real reactor.

Peers: the sans-IO test server (``client_support.SansIOServer``) on the same reactor,
and the standard library's ``http.server`` (HTTP/1.0, threaded) in a thread. Pins
getPage end to end, refused and DNS errors, timeouts, TLS with a test CA (and its
refusals), keep-alive reuse counted on the server, and large bodies streamed both ways
under flow control.
"""

from __future__ import annotations

import http.server
import io
import socketserver
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from client_support import Reply, ServerFactory, echo_handler, listen, make_certs

from torsion import error
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.ssl import Certificate, PrivateCertificate, TLSCertificateError
from torsion.web.client import (
    UNKNOWN_LENGTH,
    URI,
    Agent,
    BrowserLikePolicyForHTTPS,
    FileBodyProducer,
    HTTPConnectionPool,
    ResponseDone,
    ResponseNeverReceived,
    ResponseTimeout,
    getPage,
    readBody,
)
from torsion.web.sansio import Request as WireRequest


async def test_get_page_over_tcp(reactor: Any) -> None:
    """getPage against a server on the same reactor, by address and by 'localhost'
    (the name's addresses are raced; the server listens on IPv4 only)."""
    port, _, number = listen(reactor)
    try:
        assert await getPage(f"http://127.0.0.1:{number}/a", reactor=reactor) == b"GET /a\n"
        assert await getPage(f"http://localhost:{number}/b", reactor=reactor) == b"GET /b\n"
    finally:
        await port.stopListening()


async def test_connection_refused(reactor: Any) -> None:
    """Nothing listens: ConnectionRefusedError naming the address."""
    port, _, number = listen(reactor)
    await port.stopListening()
    with pytest.raises(error.ConnectionRefusedError, match=f"127.0.0.1:{number}"):
        await getPage(f"http://127.0.0.1:{number}/", reactor=reactor)


async def test_dns_failure(reactor: Any) -> None:
    """A name that cannot exist (RFC 6761 .invalid): DNSLookupError naming it."""
    with pytest.raises(error.DNSLookupError, match=r"nonexistent\.invalid"):
        await getPage("http://nonexistent.invalid/", reactor=reactor)


async def test_overall_and_read_timeouts(reactor: Any) -> None:
    """A server that never answers: getPage's timeout gives ResponseTimeout; an
    Agent's readTimeout gives ResponseNeverReceived(ResponseTimeout); the server sees
    the connections closed."""
    port, factory, number = listen(reactor, lambda r, b: Reply(hang=True))
    try:
        with pytest.raises(ResponseTimeout, match=r"0\.2 seconds"):
            await getPage(f"http://127.0.0.1:{number}/", reactor=reactor, timeout=0.2)
        agent = Agent(reactor, readTimeout=0.2)
        with pytest.raises(ResponseNeverReceived) as info:
            await agent.request(b"GET", f"http://127.0.0.1:{number}/")
        assert info.value.reasons[0].check(ResponseTimeout)
        await _until(reactor, lambda: factory.log.lost == 2)
    finally:
        await port.stopListening()


def test_connect_timeout_reaches_the_endpoint() -> None:
    """Agent(connectTimeout=...) is the endpoint's timeout (default 30 s)."""
    agent = Agent(object(), connectTimeout=7)
    endpoint = agent._endpointFactory.endpointForURI(URI.fromBytes(b"http://h/"))
    assert endpoint._timeout == 7
    default = Agent(object())._endpointFactory.endpointForURI(URI.fromBytes(b"https://h/"))
    assert default._timeout == 30


async def test_pool_reuses_real_connections(reactor: Any) -> None:
    """Five sequential requests through a persistent pool: one TCP connection at the
    server; closeCachedConnections closes it."""
    port, factory, number = listen(reactor)
    pool = HTTPConnectionPool(reactor)
    agent = Agent(reactor, pool=pool)
    try:
        for i in range(5):
            response = await agent.request(b"GET", f"http://127.0.0.1:{number}/{i}")
            assert await readBody(response) == f"GET /{i}\n".encode()
        assert factory.log.connections == 1 and pool.statistics().reused == 4
        await pool.closeCachedConnections()
        await _until(reactor, lambda: factory.log.lost == 1)
    finally:
        await port.stopListening()


async def test_stale_connection_retried_over_tcp(reactor: Any) -> None:
    """The server closes an idle keep-alive connection while the client still holds
    it: the next GET is sent again on a new connection and succeeds."""
    port, factory, number = listen(reactor)
    pool = HTTPConnectionPool(reactor)
    agent = Agent(reactor, pool=pool)
    try:
        await readBody(await agent.request(b"GET", f"http://127.0.0.1:{number}/1"))
        # Close the server's side; the client has not noticed yet when it sends.
        factory.protocols[0].transport.loseConnection()
        response = await agent.request(b"GET", f"http://127.0.0.1:{number}/2")
        assert await readBody(response) == b"GET /2\n"
        assert factory.log.connections == 2
        await pool.closeCachedConnections()
    finally:
        await port.stopListening()


def _length_handler(request: WireRequest, body: bytes) -> Reply:
    text = b"%d" % len(body)
    return Reply(200, [(b"Content-Length", b"%d" % len(text))], text)


@pytest.mark.parametrize("seekable", [True, False])
async def test_large_upload_streams(reactor: Any, seekable: bool) -> None:
    """A 4 MiB upload from a file, with a length (Content-Length) or without (chunked),
    goes through the transport's flow control intact."""
    data = bytes(range(256)) * (16 * 1024)
    source: Any = io.BytesIO(data)
    if not seekable:
        source = _Unseekable(data)
    producer = FileBodyProducer(source)
    assert (producer.length is UNKNOWN_LENGTH) is not seekable
    port, _, number = listen(reactor, _length_handler)
    try:
        response = await Agent(reactor).request(
            b"PUT", f"http://127.0.0.1:{number}/", None, producer)
        assert await readBody(response) == b"%d" % len(data)
    finally:
        await port.stopListening()


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._source = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._source.read(size)

    def tell(self) -> int:
        raise OSError("not seekable")


class _SlowReader:
    """A body protocol that pauses after each piece and resumes a little later."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.received = 0
        self.pauses = 0
        self.done: Deferred[None] = Deferred()
        self.reason: Failure | None = None
        self.transport: Any = None

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport

    def dataReceived(self, data: bytes) -> None:
        self.received += len(data)
        self.pauses += 1
        self.transport.pauseProducing()
        self.reactor.callLater(0, self.transport.resumeProducing)

    def connectionLost(self, reason: Failure) -> None:
        self.reason = reason
        self.done.callback(None)


async def test_large_download_with_a_slow_reader(reactor: Any) -> None:
    """An 8 MiB response read by a protocol that pauses after every piece: all of it
    arrives, in many pieces, and ends with ResponseDone."""
    size = 8 * 1024 * 1024
    payload = b"z" * size
    port, _, number = listen(reactor, lambda r, b: Reply(200, [], payload))
    try:
        response = await Agent(reactor).request(b"GET", f"http://127.0.0.1:{number}/")
        assert response.length is UNKNOWN_LENGTH  # the test server sends it chunked
        reader = _SlowReader(reactor)
        response.deliverBody(reader)
        await reader.done
        assert reader.reason is not None and reader.reason.check(ResponseDone)
        assert reader.received == size
        assert reader.pauses > 10
    finally:
        await port.stopListening()


# -- the standard library's server (HTTP/1.0) ---------------------------------------------


class _StdlibHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/final")
            self.end_headers()
            return
        body = f"stdlib {self.path}".encode()
        self.send_response(200)
        if self.path != "/nolength":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stdlib_server() -> Iterator[int]:
    """``http.server`` (HTTP/1.0, a thread per connection) on a free port."""

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), _StdlibHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_against_stdlib_http_server(reactor: Any, stdlib_server: int) -> None:
    """An HTTP/1.0 server: a sized body, a body ending with the close (accepted by
    getPage), a redirect followed."""
    base = f"http://127.0.0.1:{stdlib_server}"
    assert await getPage(base + "/x", reactor=reactor) == b"stdlib /x"
    assert await getPage(base + "/nolength", reactor=reactor) == b"stdlib /nolength"
    assert await getPage(base + "/redirect", reactor=reactor) == b"stdlib /final"


# -- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs() -> Any:
    pytest.importorskip("cryptography")
    return make_certs()


async def test_https_with_a_test_ca(reactor: Any, certs: Any) -> None:
    """https with the test CA as trust root: by name and by IP address (SANs)."""
    options = PrivateCertificate.loadPEM(certs.server_pem).options()
    port = reactor.listenSSL(0, ServerFactory(echo_handler), options, interface="127.0.0.1")
    number = port.getHost().port
    policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(certs.ca_pem))
    try:
        for host in ("localhost", "127.0.0.1"):
            page = await getPage(f"https://{host}:{number}/tls", reactor=reactor,
                                 contextFactory=policy)
            assert page == b"GET /tls\n"
    finally:
        await port.stopListening()


async def test_https_verifies_by_default(reactor: Any, certs: Any) -> None:
    """Verification is on by default (the platform's CAs don't know the test CA); a
    certificate from an untrusted CA is refused even with the test CA trusted; so is a
    certificate for another name. getPage fails with the TLS error itself."""
    trusted = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(certs.ca_pem))
    other = make_certs(names=("other.test",), ips=())
    other_policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(other.ca_pem))
    for pem, context, reason in (
        (certs.server_pem, None, "unable to get local issuer certificate"),
        (certs.stranger_pem, trusted, "unable to get local issuer certificate"),
        (other.server_pem, other_policy, "Hostname mismatch"),
    ):
        options = PrivateCertificate.loadPEM(pem).options()
        port = reactor.listenSSL(0, ServerFactory(echo_handler), options,
                                 interface="127.0.0.1")
        try:
            with pytest.raises(TLSCertificateError, match=reason):
                await getPage(f"https://localhost:{port.getHost().port}/", reactor=reactor,
                              contextFactory=context, timeout=10)
        finally:
            await port.stopListening()


async def test_https_with_an_ssl_context(reactor: Any, certs: Any) -> None:
    """An ssl.SSLContext as the context factory is used as it is (SNI and name checks
    as the context says)."""
    context = ssl.create_default_context(cadata=certs.ca_pem.decode())
    options = PrivateCertificate.loadPEM(certs.server_pem).options()
    port = reactor.listenSSL(0, ServerFactory(echo_handler), options, interface="127.0.0.1")
    try:
        agent = Agent(reactor, contextFactory=context)
        response = await agent.request(b"GET", f"https://localhost:{port.getHost().port}/c")
        assert await readBody(response) == b"GET /c\n"
    finally:
        await port.stopListening()


async def _until(reactor: Any, condition: Any, timeout: float = 5.0) -> None:
    """Wait (polling the reactor) until ``condition()`` is true."""
    waited = 0.0
    while not condition():
        if waited > timeout:
            raise AssertionError("condition not met in time")
        d: Deferred[None] = Deferred()
        reactor.callLater(0.01, d.callback, None)
        await d
        waited += 0.01
