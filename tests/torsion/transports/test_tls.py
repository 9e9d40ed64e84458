"""TLS over real loopback connections, on every reactor backend.

listenSSL/connectSSL, verification failures, client certificates, SNI, ALPN,
close_notify and half-close, truncation, handshake timeouts and aborts,
STARTTLS in the middle of a connection, and producers moving 16 MiB with the
transport's buffer bounded.  Each test's reactor is checked for leaked
descriptors afterwards (``conftest.reactor``).
"""

from __future__ import annotations

import hashlib
import ssl
from typing import Any

import pytest
from test_tls_support import (  # noqa: F401 - fixtures
    Certs,
    Clients,
    Servers,
    certs_fixture,
    lost,
)

from support.deferreds import sleep
from support.protocols import Echo, Recorder
from torsion import error
from torsion._transports.tls import TLSMemoryBIO, start_tls
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import Factory, Protocol
from torsion.reactor import new_reactor
from torsion.ssl import (
    CertificateOptions,
    ClientContextFactory,
    TLSCertificateError,
    TLSHandshakeError,
    TLSHandshakeTimeout,
    TLSVersion,
    optionsForClientTLS,
)

pytestmark = pytest.mark.torsion_timeout(30)

LOCAL = "127.0.0.1"


def client_options(certs: Certs, hostname: str = "localhost", **kwargs: Any) -> Any:
    return optionsForClientTLS(hostname, trustRoot=certs.ca.certificate, **kwargs)


def serve(reactor: Any, options: Any, protocol: Any = Echo) -> tuple[Servers, int]:
    servers = Servers(protocol)
    port = reactor.listenSSL(0, servers, options, interface=LOCAL)
    return servers, port.getHost().port


def connect(reactor: Any, port: int, options: Any, protocol: Recorder | None = None,
            host: str = LOCAL) -> Clients:
    clients = Clients(protocol)
    reactor.connectSSL(host, port, clients, options)
    return clients


# -- the happy path ------------------------------------------------------------------

async def test_echo_round_trip(reactor: Any, certs: Certs) -> None:
    """Data written before and after the handshake arrives in order, both ways; the
    transport reports the peer's certificate, TLS version and addresses; closing sends
    close_notify and both sides see a clean ConnectionDone, once."""
    servers, port = serve(reactor, certs.server.private.options())

    class Talker(Recorder):
        def connectionMade(self) -> None:
            super().connectionMade()
            assert self.transport.getPeerCertificate() is None  # no handshake yet
            self.transport.write(b"before handshake;")

        def handshakeCompleted(self) -> None:
            super().handshakeCompleted()
            self.transport.writeSequence([b"after", b" handshake;", b"x" * 100_000])

    clients = connect(reactor, port, client_options(certs), Talker())
    client = clients.instance
    expected = b"before handshake;after handshake;" + b"x" * 100_000
    assert await client.wait_bytes(len(expected)) == expected
    transport = client.transport
    assert isinstance(transport, TLSMemoryBIO)
    assert transport.getPeerCertificate() == certs.server.certificate
    assert transport.getPeerCertificate().info["subject"] == ((("commonName", "localhost"),),)
    assert transport.getHandle().version() == "TLSv1.3"
    assert transport.negotiatedProtocol is None
    assert transport.getPeer().port == port
    assert transport.getHost().port != port
    server = await servers.first
    assert server.transport.getPeerCertificate() is None  # no client certificate asked
    transport.loseConnection()
    client_reason = await lost(client)
    server_reason = await lost(server)
    assert client_reason.check(error.ConnectionDone), client_reason
    assert server_reason.check(error.ConnectionDone), server_reason
    assert client.made_count == 1 and len(client.reasons) == 1 and len(server.reasons) == 1
    assert clients.lost_reasons and clients.lost_reasons[0].check(error.ConnectionDone)


async def test_server_close_delivers_everything_then_done(reactor: Any, certs: Certs) -> None:
    """A server that writes and at once calls loseConnection gets all its data to the
    client, which sees close_notify and a clean close."""
    payload = bytes(range(256)) * 4096

    class Sender(Recorder):
        def connectionMade(self) -> None:
            super().connectionMade()
            self.transport.write(payload)
            self.transport.loseConnection()

    _servers, port = serve(reactor, certs.server.private.options(), Sender)
    client = connect(reactor, port, client_options(certs)).instance
    reason = await lost(client)
    assert bytes(client.received) == payload
    assert reason.check(error.ConnectionDone), reason


async def test_ssl_context_given_directly(reactor: Any, certs: Certs) -> None:
    """Plain ssl.SSLContext objects work on both sides; the client's host name is sent in
    SNI and checked by a context with check_hostname."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(certs.server.cert_file, certs.server.key_file)
    names: list[str | None] = []

    def record(obj: Any, name: str | None, ctx: Any) -> None:
        names.append(name)

    server_ctx.sni_callback = record
    _servers, port = serve(reactor, server_ctx)
    client_ctx = ssl.create_default_context(cafile=str(certs.ca.cert_file))
    client = connect(reactor, port, client_ctx, host="localhost").instance
    await client.handshake
    assert names == ["localhost"]
    client.transport.write(b"ping")
    assert await client.wait_bytes(4) == b"ping"
    client.transport.loseConnection()
    assert (await lost(client)).check(error.ConnectionDone)


async def test_client_context_factory_verifies_nothing(reactor: Any, certs: Certs) -> None:
    """Twisted's ClientContextFactory connects to a server nobody trusts (it verifies
    nothing), as documented."""
    _servers, port = serve(reactor, certs.stranger.private.options())
    client = connect(reactor, port, ClientContextFactory()).instance
    await client.handshake
    client.transport.write(b"hi")
    assert await client.wait_bytes(2) == b"hi"
    client.transport.loseConnection()
    await lost(client)


# -- verification ----------------------------------------------------------------------

async def test_wrong_hostname_fails_clearly(reactor: Any, certs: Certs) -> None:
    """A certificate for another name fails the handshake: the client's connectionLost
    (and its factory's clientConnectionLost) get a TLSCertificateError naming the
    mismatch; no application data is delivered; the server sees a handshake error."""
    servers, port = serve(reactor, certs.server.private.options())
    clients = connect(reactor, port, client_options(certs, hostname="wrong.example"))
    client = clients.instance
    reason = await lost(client)
    assert reason.check(TLSCertificateError, ssl.SSLCertVerificationError)
    text = str(reason.value)
    assert text.startswith("TLS handshake failed: certificate verify failed: Hostname mismatch")
    assert "wrong.example" in text
    assert client.made_count == 1 and not client.received
    assert isinstance(reason.value.__cause__, ssl.SSLCertVerificationError)
    server = await servers.first
    server_reason = await lost(server)
    assert server_reason.check(TLSHandshakeError), server_reason
    assert clients.lost_reasons[0].value is reason.value


async def test_untrusted_ca_fails_clearly(reactor: Any, certs: Certs) -> None:
    """A server certificate from an authority the client does not trust fails with
    TLSCertificateError saying why."""
    _servers, port = serve(reactor, certs.stranger.private.options())
    client = connect(reactor, port, client_options(certs)).instance
    reason = await lost(client)
    assert reason.check(TLSCertificateError)
    assert str(reason.value).startswith("TLS handshake failed: certificate verify failed: ")
    assert "issuer" in str(reason.value)


async def test_client_certificate_required_and_accepted(reactor: Any, certs: Certs) -> None:
    """A server asking for client certificates from its CA accepts one and sees it."""
    servers, port = serve(reactor, certs.server.private.options(certs.ca.certificate))
    client = connect(reactor, port, client_options(
        certs, clientCertificate=certs.client.private)).instance
    await client.handshake
    client.transport.write(b"hello")
    await client.wait_bytes(5)
    server = await servers.first
    peer = server.transport.getPeerCertificate()
    assert peer == certs.client.certificate
    assert peer.info["subject"] == ((("commonName", "client"),),)
    client.transport.loseConnection()
    assert (await lost(server)).check(error.ConnectionDone)


async def test_client_certificate_missing_is_refused(reactor: Any, certs: Certs) -> None:
    """Without a client certificate both sides get a TLSHandshakeError; the TLS 1.3
    client learns it after its own handshake finished, and it is still reported as a
    handshake failure with a hint."""
    servers, port = serve(reactor, certs.server.private.options(certs.ca.certificate))
    client = connect(reactor, port, client_options(certs)).instance
    reason = await lost(client)
    assert reason.check(TLSHandshakeError), reason
    assert "certificate required" in str(reason.value)
    server_reason = await lost(await servers.first)
    assert server_reason.check(TLSHandshakeError)
    assert "did not return a certificate" in str(server_reason.value)


async def test_client_certificate_from_unknown_ca_is_refused(reactor: Any,
                                                             certs: Certs) -> None:
    """A client certificate the server's CA did not issue fails the server's handshake."""
    servers, port = serve(reactor, certs.server.private.options(certs.ca.certificate))
    client = connect(reactor, port, client_options(
        certs, clientCertificate=certs.stranger.private)).instance
    reason = await lost(client)
    assert reason.check(TLSHandshakeError), reason
    server_reason = await lost(await servers.first)
    assert server_reason.check(TLSCertificateError), server_reason


# -- SNI and ALPN --------------------------------------------------------------------

async def test_sni_selects_the_certificate(reactor: Any, certs: Certs) -> None:
    """The server's sni_callback picks the certificate by the name the client sent; an
    unknown name keeps the default certificate."""
    seen: list[str | None] = []
    by_name = {"b.test": certs.server_b.private.options()}

    def choose(name: str | None) -> Any:
        seen.append(name)
        return by_name.get(name or "")

    default = certs.server.private
    options = CertificateOptions(privateKey=default.privateKey, certificate=default,
                                 sni_callback=choose)
    _servers, port = serve(reactor, options)
    b_client = connect(reactor, port, client_options(certs, hostname="b.test")).instance
    await b_client.handshake
    assert b_client.transport.getPeerCertificate() == certs.server_b.certificate
    a_client = connect(reactor, port, client_options(certs, hostname="localhost")).instance
    await a_client.handshake
    assert a_client.transport.getPeerCertificate() == certs.server.certificate
    assert seen == ["b.test", "localhost"]
    for c in (a_client, b_client):
        c.transport.loseConnection()
        await lost(c)


async def test_sni_callback_error_fails_the_handshake(reactor: Any, certs: Certs,
                                                      logged_failures: Any) -> None:
    """An exception in sni_callback is logged and refuses the handshake (no hang)."""
    def broken(name: str | None) -> Any:
        raise LookupError(f"no certificate for {name}")

    default = certs.server.private
    options = CertificateOptions(privateKey=default.privateKey, certificate=default,
                                 sni_callback=broken)
    _servers, port = serve(reactor, options)
    client = connect(reactor, port, client_options(certs)).instance
    reason = await lost(client)
    assert reason.check(TLSHandshakeError), reason
    assert "internal error" in str(reason.value)
    assert logged_failures.flush(LookupError)


@pytest.mark.parametrize(("server_protos", "client_protos", "expected"), [
    ([b"h2", b"http/1.1"], [b"http/1.1", b"h2"], b"h2"),
    ([b"http/1.1"], [b"h2", b"http/1.1"], b"http/1.1"),
    ([b"h2"], [b"spdy/3"], None),
])
async def test_alpn(reactor: Any, certs: Certs, server_protos: list[bytes],
                    client_protos: list[bytes], expected: bytes | None) -> None:
    """ALPN: the server's preference among what the client offers is the negotiated
    protocol on both sides; without overlap there is none (and no failure)."""
    pc = certs.server.private
    options = CertificateOptions(privateKey=pc.privateKey, certificate=pc,
                                 acceptableProtocols=server_protos)
    servers, port = serve(reactor, options)
    client = connect(reactor, port, client_options(
        certs, acceptableProtocols=client_protos)).instance
    await client.handshake
    assert client.transport.negotiatedProtocol == expected
    client.transport.write(b"x")
    await client.wait_bytes(1)
    server = await servers.first
    assert server.transport.negotiatedProtocol == expected
    client.transport.loseConnection()
    await lost(client)


async def test_tls_versions(reactor: Any, certs: Certs) -> None:
    """A client limited to TLS 1.2 talks to the default server in TLS 1.2; a server
    requiring TLS 1.3 refuses it with a clear error."""
    _servers, port = serve(reactor, certs.server.private.options())
    client = connect(reactor, port, client_options(
        certs, extraCertificateOptions={"lowerMaximumSecurityTo": TLSVersion.TLSv1_2}
    )).instance
    await client.handshake
    assert client.transport.getHandle().version() == "TLSv1.2"
    client.transport.loseConnection()
    await lost(client)
    pc = certs.server.private
    strict = CertificateOptions(privateKey=pc.privateKey, certificate=pc,
                                raiseMinimumTo=TLSVersion.TLSv1_3)
    _servers, port = serve(reactor, strict)
    old = connect(reactor, port, client_options(
        certs, extraCertificateOptions={"lowerMaximumSecurityTo": TLSVersion.TLSv1_2}
    )).instance
    reason = await lost(old)
    assert reason.check(TLSHandshakeError)
    assert "protocol version" in str(reason.value)


# -- failures without a hang -------------------------------------------------------------

class Silent(Protocol):
    """A plain TCP server that never answers."""


async def test_handshake_timeout(reactor: Any, certs: Certs) -> None:
    """A server that never answers the ClientHello makes the handshake time out:
    TLSHandshakeTimeout with the time in its message, the connection aborted."""
    port = reactor.listenTCP(0, Factory.forProtocol(Silent), interface=LOCAL).getHost().port
    client = connect(reactor, port, client_options(
        certs, extraCertificateOptions={"handshakeTimeout": 0.3})).instance
    started = reactor.seconds()
    reason = await lost(client)
    assert reason.check(TLSHandshakeTimeout, TLSHandshakeError)
    assert str(reason.value) == "TLS handshake failed: timed out after 0.3 seconds"
    assert 0.25 < reactor.seconds() - started < 5


class Closer(Protocol):
    def connectionMade(self) -> None:
        self.transport.loseConnection()


class Plain(Protocol):
    def connectionMade(self) -> None:
        self.transport.write(b"220 plain text service\r\n")


async def test_peer_closing_during_handshake(reactor: Any, certs: Certs) -> None:
    """A peer that closes before the handshake completes gives a TLSHandshakeError
    saying so."""
    port = reactor.listenTCP(0, Factory.forProtocol(Closer), interface=LOCAL).getHost().port
    client = connect(reactor, port, client_options(certs)).instance
    reason = await lost(client)
    assert reason.check(TLSHandshakeError)
    assert "during the handshake" in str(reason.value)


async def test_plaintext_peer(reactor: Any, certs: Certs) -> None:
    """A peer that does not speak TLS: the error says so."""
    port = reactor.listenTCP(0, Factory.forProtocol(Plain), interface=LOCAL).getHost().port
    client = connect(reactor, port, client_options(certs)).instance
    reason = await lost(client)
    assert reason.check(TLSHandshakeError)
    assert "does not seem to speak TLS" in str(reason.value)


async def test_abort_during_handshake(reactor: Any, certs: Certs) -> None:
    """abortConnection before the handshake finishes closes at once: ConnectionAborted
    on our side, a handshake failure on the server's, nothing hangs."""

    class Aborter(Recorder):
        def connectionMade(self) -> None:
            super().connectionMade()
            self.transport.write(b"never sent")
            self.transport.abortConnection()

    servers, port = serve(reactor, certs.server.private.options())
    client = connect(reactor, port, client_options(certs), Aborter()).instance
    reason = await lost(client)
    assert reason.check(error.ConnectionAborted), reason
    server = await servers.first
    server_reason = await lost(server)
    assert server_reason.check(TLSHandshakeError, error.ConnectionLost), server_reason
    assert not server.received


async def test_lose_connection_during_handshake_waits_for_it(reactor: Any,
                                                            certs: Certs) -> None:
    """loseConnection called in connectionMade sends what was written once the handshake
    is done, then closes cleanly."""

    class QuickBye(Recorder):
        def connectionMade(self) -> None:
            super().connectionMade()
            self.transport.write(b"bye")
            self.transport.loseConnection()

    servers, port = serve(reactor, certs.server.private.options(), Recorder)
    client = connect(reactor, port, client_options(certs), QuickBye()).instance
    assert (await lost(client)).check(error.ConnectionDone)
    server = await servers.first
    assert (await lost(server)).check(error.ConnectionDone)
    assert bytes(server.received) == b"bye"


async def test_truncation_is_connection_lost(reactor: Any, certs: Certs) -> None:
    """A peer closing TCP without close_notify: the data before it arrives, then
    ConnectionLost saying no close_notify came (a possible truncation attack)."""

    class Truncator(Recorder):
        def connectionMade(self) -> None:
            super().connectionMade()
            self.transport.write(b"partial")

        def handshakeCompleted(self) -> None:
            sleep(self.transport.transport.reactor, 0.05).addCallback(
                lambda _: self.transport.transport.loseConnection())

    _servers, port = serve(reactor, certs.server.private.options(), Truncator)
    client = connect(reactor, port, client_options(certs)).instance
    reason = await lost(client)
    assert bytes(client.received) == b"partial"
    assert reason.check(error.ConnectionLost) and not reason.check(error.ConnectionDone)
    assert "without a TLS close_notify" in str(reason.value)


# -- half-close -----------------------------------------------------------------------

class HalfCloseServer(Recorder):
    """Answers once the client has half-closed (close_notify), then closes."""

    read_lost = 0

    def readConnectionLost(self) -> None:
        self.read_lost += 1
        self.transport.write(b"got " + bytes(self.received))
        self.transport.loseConnection()


async def test_half_close(reactor: Any, certs: Certs) -> None:
    """loseWriteConnection sends close_notify and shuts down TCP writing: a half-close
    aware server gets readConnectionLost and may still answer; the client reads the
    answer, gets writeConnectionLost, and finally a clean ConnectionDone."""

    class HalfCloser(Recorder):
        write_lost = 0

        def handshakeCompleted(self) -> None:
            super().handshakeCompleted()
            self.transport.write(b"question")
            self.transport.loseWriteConnection()
            self.transport.write(b"ignored after half-close")

        def writeConnectionLost(self) -> None:
            self.write_lost += 1
            assert not self.reasons, "writeConnectionLost after connectionLost"

    servers, port = serve(reactor, certs.server.private.options(), HalfCloseServer)
    client = connect(reactor, port, client_options(certs), HalfCloser()).instance
    # Counted at the TLS layer too: its transport must say it exactly once.
    tls_told: list[str] = []
    client.made.addCallback(lambda _: _count_write_lost(client.transport, tls_told))
    reason = await lost(client)
    assert bytes(client.received) == b"got question"
    assert reason.check(error.ConnectionDone), reason
    assert client.write_lost == 1  # type: ignore[attr-defined]
    assert tls_told == ["writeConnectionLost"]
    server = await servers.first
    assert server.read_lost == 1  # type: ignore[attr-defined]
    assert (await lost(server)).check(error.ConnectionDone)


def _count_write_lost(tls: Any, told: list[str]) -> None:
    """Record each writeConnectionLost the TCP transport gives the TLS layer ``tls``."""
    relay = tls.writeConnectionLost

    def counted() -> None:
        told.append("writeConnectionLost")
        relay()

    tls.writeConnectionLost = counted


# -- STARTTLS --------------------------------------------------------------------------

class StartTLSServer(Recorder):
    """Line protocol: on b"STARTTLS\\n" answers b"GO\\n" in the clear, then starts TLS."""

    def __init__(self, options: Any) -> None:
        super().__init__()
        self.options = options
        self.tls: TLSMemoryBIO | None = None

    def dataReceived(self, data: bytes) -> None:
        if self.tls is None:
            assert data == b"STARTTLS\n"
            self.transport.write(b"GO\n")
            self.tls = start_tls(self.transport, self.options)
        else:
            super().dataReceived(data)
            self.transport.write(data.upper())


class StartTLSClient(Recorder):
    def __init__(self, options: Any) -> None:
        super().__init__()
        self.options = options
        self.plain_transport: Any = None

    def connectionMade(self) -> None:
        super().connectionMade()
        self.plain_transport = self.transport
        self.transport.write(b"STARTTLS\n")

    def dataReceived(self, data: bytes) -> None:
        if self.transport is self.plain_transport:
            assert data == b"GO\n"
            start_tls(self.transport, self.options)
            self.transport.write(b"secret")
        else:
            super().dataReceived(data)


async def test_start_tls(reactor: Any, certs: Certs) -> None:
    """STARTTLS: plaintext, then TLS on the same connection, both sides switching with
    start_tls; the protocols keep their objects, get the TLS transport, and
    connectionMade is not called again; starting TLS twice is refused."""
    servers = Servers(lambda: StartTLSServer(certs.server.private.options()))
    port = reactor.listenTCP(0, servers, interface=LOCAL).getHost().port
    client = StartTLSClient(client_options(certs))
    clients = Clients(client)
    reactor.connectTCP(LOCAL, port, clients)
    assert await client.wait_bytes(6) == b"SECRET"
    server = await servers.first
    assert isinstance(server.transport, TLSMemoryBIO)
    assert isinstance(client.transport, TLSMemoryBIO)
    assert client.transport.getHandle().version() == "TLSv1.3"
    assert client.transport.getPeerCertificate() == certs.server.certificate
    assert server.made_count == 1 and client.made_count == 1
    assert bytes(server.received) == b"secret"
    with pytest.raises(RuntimeError, match="already started"):
        start_tls(client.plain_transport, client_options(certs))
    with pytest.raises(RuntimeError, match="already started"):
        client.transport.startTLS(client_options(certs))
    client.transport.loseConnection()
    assert (await lost(client)).check(error.ConnectionDone)
    assert (await lost(server)).check(error.ConnectionDone)


async def test_start_tls_verification_failure(reactor: Any, certs: Certs) -> None:
    """A STARTTLS client checks the certificate like connectSSL does."""
    servers = Servers(lambda: StartTLSServer(certs.stranger.private.options()))
    port = reactor.listenTCP(0, servers, interface=LOCAL).getHost().port
    client = StartTLSClient(client_options(certs))
    reactor.connectTCP(LOCAL, port, Clients(client))
    reason = await lost(client)
    assert reason.check(TLSCertificateError)


# -- flow control ----------------------------------------------------------------------

TOTAL = 16 * 1024 * 1024
CHUNK = 65536


def buffered(transport: Any) -> int:
    """Bytes a TCP transport holds unsent (StreamTransport, or the asyncio backend's)."""
    if hasattr(transport, "_buffered"):
        return int(transport._buffered)
    return int(transport._transport.get_write_buffer_size())


class PushSender(Recorder):
    """Writes TOTAL bytes from a push producer registered on the TLS transport, and
    records the most bytes the TCP transport below ever buffered."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self.paused = False
        self.pauses = 0
        self.max_buffered = 0
        self.digest = hashlib.sha256()
        self.stopped = False

    def connectionMade(self) -> None:
        super().connectionMade()
        # Registered during the handshake: paused until it is done, then resumed.
        self.transport.registerProducer(self, True)

    def pauseProducing(self) -> None:
        self.paused = True
        self.pauses += 1

    def resumeProducing(self) -> None:
        self.paused = False
        while not self.paused and self.sent < TOTAL:
            block = (self.sent // CHUNK % 251).to_bytes(1, "big") * CHUNK
            self.digest.update(block)
            self.sent += CHUNK
            self.transport.write(block)
            self.max_buffered = max(self.max_buffered, buffered(self.transport.transport))
        if self.sent >= TOTAL and not self.stopped:
            self.stopped = True
            self.transport.unregisterProducer()
            self.transport.loseConnection()

    def stopProducing(self) -> None:
        self.stopped = True


class SlowReader(Recorder):
    """Pauses reading for a while at first (so the sender's buffers fill), then hashes."""

    def __init__(self, reactor: Any) -> None:
        super().__init__()
        self.reactor = reactor
        self.count = 0
        self.digest = hashlib.sha256()

    def handshakeCompleted(self) -> None:
        super().handshakeCompleted()
        self.transport.pauseProducing()
        self.reactor.callLater(0.2, self.transport.resumeProducing)

    def dataReceived(self, data: bytes) -> None:
        self.count += len(data)
        self.digest.update(data)


async def test_push_producer_large_transfer_bounded(reactor: Any, certs: Certs) -> None:
    """16 MiB through a push producer over TLS while the reader pauses: the producer is
    paused (more than once), the TCP transport's buffer stays bounded, and every byte
    arrives intact."""
    servers, port = serve(reactor, certs.server.private.options(), PushSender)
    client = connect(reactor, port, client_options(certs), SlowReader(reactor)).instance
    reason = await lost(client)
    assert reason.check(error.ConnectionDone), reason
    server = await servers.first
    assert client.count == TOTAL  # type: ignore[attr-defined]
    assert client.digest.digest() == server.digest.digest()  # type: ignore[attr-defined]
    assert server.pauses > 1  # type: ignore[attr-defined]  # the handshake, then the buffer
    # One 64 KiB write in ciphertext on top of the high-water mark, never 16 MiB.
    assert server.max_buffered < 4 * CHUNK, server.max_buffered  # type: ignore[attr-defined]


class PullSender(Recorder):
    """A pull producer: one chunk per resumeProducing."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total
        self.sent = 0
        self.calls = 0

    def connectionMade(self) -> None:
        super().connectionMade()
        self.transport.registerProducer(self, False)

    def resumeProducing(self) -> None:
        self.calls += 1
        if self.sent >= self.total:
            return
        self.sent += CHUNK
        self.transport.write(b"p" * CHUNK)
        if self.sent >= self.total:
            self.transport.unregisterProducer()
            self.transport.loseConnection()

    def stopProducing(self) -> None:
        pass


async def test_pull_producer(reactor: Any, certs: Certs) -> None:
    """A pull producer registered before the handshake is asked for data only after it,
    chunk by chunk, until it unregisters; loseConnection then completes."""
    total = 2 * 1024 * 1024
    _servers, port = serve(reactor, certs.server.private.options(),
                          lambda: PullSender(total))
    client = connect(reactor, port, client_options(certs), SlowReader(reactor)).instance
    reason = await lost(client)
    assert reason.check(error.ConnectionDone), reason
    assert client.count == total  # type: ignore[attr-defined]


async def test_pull_producer_with_nothing_to_write_is_left_alone(
    reactor: Any, certs: Certs
) -> None:
    """A pull producer that writes nothing when asked is not asked again on every
    reactor iteration (a busy loop); after the application writes, it is asked again."""

    class Idle(Recorder):
        asked = 0

        def handshakeCompleted(self) -> None:
            super().handshakeCompleted()
            self.transport.registerProducer(self, False)

        def resumeProducing(self) -> None:
            self.asked += 1

        def stopProducing(self) -> None:
            pass

    _servers, port = serve(reactor, certs.server.private.options())
    client = connect(reactor, port, client_options(certs), Idle()).instance
    await client.handshake
    await sleep(reactor, 0.2)
    assert client.asked == 1  # type: ignore[attr-defined]
    client.transport.write(b"ping")
    await client.wait_bytes(4)  # the echo: our write went out
    await sleep(reactor, 0.1)
    assert client.asked == 2  # type: ignore[attr-defined]
    client.transport.unregisterProducer()
    client.transport.loseConnection()
    await lost(client)


async def test_stop_producing_reaches_the_producer(reactor: Any, certs: Certs) -> None:
    """When the connection is lost under a registered producer, the producer is stopped."""
    stopped: Deferred[None] = Deferred()

    class Producer:
        def pauseProducing(self) -> None:
            pass

        def resumeProducing(self) -> None:
            pass

        def stopProducing(self) -> None:
            stopped.callback(None)

    class Registers(Recorder):
        def connectionMade(self) -> None:
            super().connectionMade()
            self.transport.registerProducer(Producer(), True)

    servers, port = serve(reactor, certs.server.private.options(), Registers)
    client = connect(reactor, port, client_options(certs)).instance
    await client.handshake
    server = await servers.first
    await server.handshake
    client.transport.abortConnection()
    await stopped
    assert isinstance((await lost(server)), Failure)


# -- API checks ---------------------------------------------------------------------------

def test_listen_and_connect_refuse_wrong_contexts(certs: Certs) -> None:
    """listenSSL refuses client contexts and options without a certificate; connectSSL
    refuses a server context; both refuse objects that are not context factories."""
    r = new_reactor("select")
    try:
        with pytest.raises(ValueError, match="PROTOCOL_TLS_SERVER"):
            r.listenSSL(0, Factory(), ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
        with pytest.raises(ValueError, match="needs a certificate"):
            r.listenSSL(0, Factory(), CertificateOptions())
        with pytest.raises(ValueError, match="PROTOCOL_TLS_CLIENT"):
            r.connectSSL(LOCAL, 1, Clients(), ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
        with pytest.raises(TypeError, match="not a TLS context factory"):
            r.connectSSL(LOCAL, 1, Clients(), object())
    finally:
        r.close()
