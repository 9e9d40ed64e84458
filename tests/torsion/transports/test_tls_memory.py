"""The TLS layer without sockets: two TLSMemoryBIO joined through StringTransports.

Deterministic: bytes move only when :meth:`Pair.pump` is called and time only
with the Clock, so the handshake timeout, read pausing, the producer relay and
the closing rules are pinned down exactly.  Also the context factories and
errors of :mod:`torsion.ssl`.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from test_tls_support import Certs, certs_fixture  # noqa: F401 - fixture

from support.protocols import Recorder, RecordingPushProducer
from torsion import error
from torsion._transports.tls import TLSMemoryBIO, TLSMemoryBIOFactory, start_tls
from torsion.failure import Failure
from torsion.protocol import ClientFactory, Factory
from torsion.ssl import (
    FILETYPE_ASN1,
    FILETYPE_PEM,
    Certificate,
    CertificateOptions,
    ClientContextFactory,
    DefaultOpenSSLContextFactory,
    KeyPair,
    PrivateCertificate,
    TLSCertificateError,
    TLSError,
    TLSHandshakeError,
    TLSHandshakeTimeout,
    TLSVersion,
    optionsForClientTLS,
    platformTrust,
    trustRootFromCertificates,
)
from torsion.task import Clock
from torsion.testing import StringTransport


class Pair:
    """A TLS client and server over StringTransports, with one Clock."""

    def __init__(self, certs: Certs, client_app: Recorder | None = None,
                 server_app: Recorder | None = None, server_options: Any = None,
                 client_options: Any = None) -> None:
        self.clock = Clock()
        self.client_app = client_app or Recorder()
        self.server_app = server_app or Recorder()
        self.client = TLSMemoryBIO(
            self.client_app,
            client_options or optionsForClientTLS("localhost", trustRoot=certs.ca.certificate),
            True, clock=self.clock)
        self.server = TLSMemoryBIO(
            self.server_app, server_options or certs.server.private.options(), False,
            clock=self.clock)
        self.client_transport = StringTransport()
        self.server_transport = StringTransport()

    def connect(self, pump: bool = True) -> None:
        self.server.makeConnection(self.server_transport)
        self.client.makeConnection(self.client_transport)
        if pump:
            self.pump()

    def pump(self) -> None:
        """Move bytes both ways until neither side has anything to send."""
        while True:
            moved = False
            for src, dst in ((self.client_transport, self.server),
                             (self.server_transport, self.client)):
                data = src.value()
                if data:
                    src.clear()
                    dst.dataReceived(data)
                    moved = True
            if not moved:
                return


def tick(clock: Clock) -> None:
    """One reactor iteration's worth of timers: run only the calls due now, not the ones
    they schedule (``Clock.advance(0)`` would run a rescheduling call forever)."""
    due = [c for c in clock.calls if c.getTime() <= clock.seconds()]
    for call in due:
        if call in clock.calls and call.active():
            clock.calls.remove(call)
            call.called = True
            call.func(*call.args, **call.kw)


@pytest.fixture
def pair(certs: Certs) -> Pair:
    return Pair(certs)


def test_writes_wait_for_the_handshake(pair: Pair) -> None:
    """Application data written before the handshake is held (only the ClientHello
    goes out) and is delivered, in order, once the handshake is done."""
    pair.connect(pump=False)
    pair.client.write(b"early ")
    pair.client.writeSequence([b"bird", b"!"])
    assert not pair.client_app.handshake.called
    hello = pair.client_transport.value()
    assert hello[:1] == b"\x16"  # a TLS handshake record
    pair.pump()
    assert pair.client_app.handshake.called and pair.server_app.handshake.called
    assert bytes(pair.server_app.received) == b"early bird!"
    assert pair.client_app.made_count == 1


def test_handshake_timeout(pair: Pair) -> None:
    """With no answer the handshake times out after the default 60 s: the transport is
    aborted and the application gets TLSHandshakeTimeout."""
    pair.client.makeConnection(pair.client_transport)
    pair.clock.advance(59.9)
    assert not pair.client_transport.disconnecting
    pair.clock.advance(0.2)
    assert pair.client_transport.disconnected  # aborted
    pair.client.connectionLost(Failure(error.ConnectionAborted()))
    reason = pair.client_app.reasons[0]
    assert reason.check(TLSHandshakeTimeout)
    assert str(reason.value) == "TLS handshake failed: timed out after 60 seconds"


def test_handshake_timeout_cancelled_once_done(pair: Pair) -> None:
    """A finished handshake leaves no timer behind."""
    pair.connect()
    assert pair.clock.getDelayedCalls() == []


def test_handshake_timeout_must_be_positive(certs: Certs) -> None:
    """A zero or negative handshake timeout is refused, naming the value."""
    with pytest.raises(ValueError, match=r"handshakeTimeout must be > 0, not 0"):
        TLSMemoryBIO(Recorder(), certs.server.private.options(), False, handshakeTimeout=0)


def test_pause_reading_holds_data_until_resumed(pair: Pair) -> None:
    """pauseProducing stops delivery and pauses the transport; resumeProducing resumes
    the transport and, on the next iteration, delivers what was held."""
    pair.connect()
    pair.client.pauseProducing()
    assert pair.client_transport.producerState == "paused"
    pair.server.write(b"held back")
    pair.pump()
    assert pair.client_app.received == b""
    pair.client.resumeProducing()
    assert pair.client_transport.producerState == "producing"
    assert pair.client_app.received == b""
    pair.clock.advance(0)
    assert bytes(pair.client_app.received) == b"held back"


def test_pause_reading_during_handshake_waits_for_it(pair: Pair) -> None:
    """Reading paused before the handshake does not stop the handshake; the transport
    is paused once it is done."""
    pair.connect(pump=False)
    pair.client.pauseProducing()
    assert pair.client_transport.producerState == "producing"
    pair.pump()
    assert pair.client_app.handshake.called
    assert pair.client_transport.producerState == "paused"


class Pull:
    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self.calls = 0
        self.stopped = False

    def resumeProducing(self) -> None:
        self.calls += 1
        self.consumer.write(b"chunk%d;" % self.calls)

    def stopProducing(self) -> None:
        self.stopped = True


def test_pull_producer_is_driven_after_the_handshake(pair: Pair) -> None:
    """A pull producer is asked for nothing during the handshake, then once per clock
    tick while the transport has room; when the transport pauses the relay, never."""
    pair.connect(pump=False)
    producer = Pull(pair.client)
    pair.client.registerProducer(producer, False)
    assert pair.client_transport.streaming is True  # the relay pushes to the transport
    tick(pair.clock)
    assert producer.calls == 0
    pair.pump()
    tick(pair.clock)
    tick(pair.clock)
    assert producer.calls == 2
    relay = pair.client_transport.producer
    assert relay is not None
    relay.pauseProducing()
    tick(pair.clock)
    assert producer.calls == 2
    relay.resumeProducing()
    tick(pair.clock)
    assert producer.calls == 3
    pair.pump()
    assert bytes(pair.server_app.received) == b"chunk1;chunk2;chunk3;"
    pair.client.unregisterProducer()
    assert pair.client_transport.producer is None
    tick(pair.clock)
    assert producer.calls == 3


def test_push_producer_paused_for_handshake_and_full_buffer(pair: Pair) -> None:
    """A push producer registered during the handshake is paused, resumed when the
    handshake completes, and paused/resumed with the transport (each once)."""
    pair.connect(pump=False)
    producer = RecordingPushProducer()
    pair.client.registerProducer(producer, True)
    assert producer.events == ["pause"]
    pair.pump()
    assert producer.events == ["pause", "resume"]
    relay = pair.client_transport.producer
    assert relay is not None
    relay.pauseProducing()
    relay.pauseProducing()
    relay.resumeProducing()
    assert producer.events == ["pause", "resume", "pause", "resume"]
    relay.stopProducing()
    assert producer.events[-1] == "stop"


def test_second_producer_refused(pair: Pair) -> None:
    """Registering a second producer raises RuntimeError naming both."""
    pair.connect()
    pair.client.registerProducer(RecordingPushProducer(), True)
    with pytest.raises(RuntimeError, match="cannot register producer"):
        pair.client.registerProducer(RecordingPushProducer(), True)


def test_lose_connection_waits_for_the_producer(pair: Pair) -> None:
    """loseConnection with a producer registered waits for unregisterProducer, then
    sends close_notify and closes the transport."""
    pair.connect()
    pair.client.registerProducer(RecordingPushProducer(), True)
    pair.client.loseConnection()
    assert not pair.client_transport.disconnecting
    pair.client.write(b"last words")
    pair.client.unregisterProducer()
    assert pair.client_transport.disconnecting
    pair.pump()
    assert bytes(pair.server_app.received) == b"last words"
    # The server saw close_notify and answered it, then closed.
    assert pair.server_transport.disconnecting


def test_close_notify_answered_and_writes_after_it_dropped(pair: Pair) -> None:
    """After loseConnection nothing more is written; the peer (not half-close aware)
    answers close_notify and closes its transport."""
    pair.connect()
    pair.client.loseConnection()
    pair.client.write(b"too late")
    pair.pump()
    assert pair.server_app.received == b""
    assert pair.server_transport.disconnecting
    pair.client.connectionLost(Failure(error.ConnectionDone()))
    pair.server.connectionLost(Failure(error.ConnectionDone()))
    assert pair.client_app.reasons[0].check(error.ConnectionDone)
    assert pair.server_app.reasons[0].check(error.ConnectionDone)


class HalfAware(Recorder):
    def readConnectionLost(self) -> None:
        self.transport.write(b"still talking")


def test_close_notify_to_half_close_aware_protocol(certs: Certs) -> None:
    """A protocol with readConnectionLost gets it for the peer's close_notify and may go
    on writing; the connection stays open until it closes."""
    pair = Pair(certs, server_app=HalfAware())
    pair.connect()
    pair.client.loseWriteConnection()
    assert pair.client_transport.writeDisconnecting
    pair.pump()
    assert not pair.server_transport.disconnecting
    assert bytes(pair.client_app.received) == b"still talking"


def test_truncation_after_handshake(pair: Pair) -> None:
    """TCP EOF without close_notify: ConnectionLost saying so, and the transport closed."""
    pair.connect()
    pair.server.write(b"partial")
    pair.pump()
    pair.client.readConnectionLost()
    assert pair.client_transport.disconnecting
    pair.client.connectionLost(Failure(error.ConnectionDone()))
    reason = pair.client_app.reasons[0]
    assert reason.check(error.ConnectionLost)
    assert "without a TLS close_notify" in str(reason.value)


def test_data_after_a_failure_is_ignored(pair: Pair) -> None:
    """Once the handshake failed, later bytes are not processed and connectionLost gets
    the handshake error, not the transport's reason."""
    pair.connect(pump=False)
    pair.server_transport.clear()
    pair.client.dataReceived(b"\x15\x03\x03\x00\x02\x02\x28")  # a fatal alert
    assert pair.client_transport.disconnecting
    pair.client.dataReceived(b"garbage")
    pair.client.connectionLost(Failure(error.ConnectionDone()))
    assert pair.client_app.reasons[0].check(TLSHandshakeError)


def test_write_refuses_text(pair: Pair) -> None:
    """write and writeSequence take bytes only."""
    pair.connect()
    with pytest.raises(TypeError, match="not str"):
        pair.client.write("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not str"):
        pair.client.writeSequence(["text"])
    pair.client.write(bytearray(b"ok"))
    pair.client.write(memoryview(b"!"))
    pair.pump()
    assert bytes(pair.server_app.received) == b"ok!"


def test_big_write_is_encrypted_in_pieces(pair: Pair) -> None:
    """A write larger than the chunk size goes to the transport in several writes."""
    pair.connect()
    writes: list[int] = []
    original = pair.client_transport.write

    def spy(data: bytes) -> None:
        writes.append(len(data))
        original(data)

    pair.client_transport.write = spy  # type: ignore[method-assign]
    pair.client.write(b"z" * 1_000_000)
    assert len(writes) == 4
    pair.pump()
    assert len(pair.server_app.received) == 1_000_000


def test_accessors(pair: Pair, certs: Certs) -> None:
    """getHandle, getPeerCertificate, negotiatedProtocol, logPrefix, TCP options."""
    pair.connect(pump=False)
    assert pair.client.getPeerCertificate() is None
    assert pair.client.negotiatedProtocol is None
    pair.pump()
    assert isinstance(pair.client.getHandle(), ssl.SSLObject)
    assert pair.client.getPeerCertificate() == certs.server.certificate
    assert pair.server.getPeerCertificate() is None
    assert pair.client.logPrefix() == "Recorder (TLS)"
    assert "client open" in repr(pair.client)
    pair.client.setTcpNoDelay(True)
    assert pair.client.getTcpNoDelay() is True
    pair.client.setTcpKeepAlive(True)
    assert pair.client.getTcpKeepAlive() is True
    assert pair.client.getPeer() == pair.client_transport.getPeer()
    assert pair.client.getHost() == pair.client_transport.getHost()


def test_factory_wraps_and_passes_events(certs: Certs) -> None:
    """TLSMemoryBIOFactory builds TLS protocols around the wrapped factory's, returns
    None when it does, and passes start/stop and client events on."""
    events: list[str] = []

    class Wrapped(ClientFactory):
        protocol = Recorder

        def doStart(self) -> None:
            events.append("start")

        def doStop(self) -> None:
            events.append("stop")

        def startedConnecting(self, connector: Any) -> None:
            events.append("connecting")

        def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
            events.append("failed")

    wrapper = TLSMemoryBIOFactory(ClientContextFactory(), True, Wrapped())
    built = wrapper.buildProtocol(None)
    assert isinstance(built, TLSMemoryBIO) and isinstance(built.wrappedProtocol, Recorder)
    wrapper.doStart()
    wrapper.startedConnecting(None)
    wrapper.clientConnectionFailed(None, Failure(error.ConnectionRefusedError()))
    wrapper.doStop()
    assert events == ["start", "connecting", "failed", "stop"]
    assert wrapper.logPrefix() == "Wrapped (TLS)"

    class Refuses(Factory):
        def buildProtocol(self, addr: Any) -> None:
            return None

    assert TLSMemoryBIOFactory(ClientContextFactory(), True, Refuses()).buildProtocol(None) is None


class LiveTransport(StringTransport):
    """A StringTransport with what start_tls needs of a stream transport."""

    def __init__(self, protocol: Any, connector: Any = None) -> None:
        super().__init__()
        self.protocol = protocol
        self.connected = True
        self.streamingProducer = False
        self.reactor = Clock()
        if connector is not None:
            self.connector = connector

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        super().registerProducer(producer, streaming)
        self.streamingProducer = streaming


def test_start_tls_keeps_clear_bytes_first_and_moves_the_producer(certs: Certs) -> None:
    """start_tls on an accepted connection: what was written before stays first and in
    the clear, the protocol gets the TLS layer as its transport (no second
    connectionMade), and its registered producer moves to the TLS layer (paused for the
    handshake)."""
    app = Recorder()
    transport = LiveTransport(app)
    app.makeConnection(transport)
    producer = RecordingPushProducer()
    transport.registerProducer(producer, True)
    transport.write(b"220 go ahead\r\n")
    tls = start_tls(transport, certs.server.private.options())
    assert transport.protocol is tls and app.transport is tls
    assert app.made_count == 1
    assert transport.value() == b"220 go ahead\r\n"  # a server waits for the ClientHello
    assert transport.producer is not producer and transport.streamingProducer
    assert producer.events == ["pause"]
    app.transport.write(b"after")
    assert transport.value() == b"220 go ahead\r\n"  # held for the handshake


def test_start_tls_roles(certs: Certs) -> None:
    """normal=True keeps the side's usual role (a connection we made is the client);
    normal=False swaps it, so an accepted connection starts the handshake."""
    client_options = optionsForClientTLS("localhost", trustRoot=certs.ca.certificate)
    outgoing = LiveTransport(Recorder(), connector=object())
    start_tls(outgoing, client_options)
    assert outgoing.value()[:1] == b"\x16"  # our ClientHello
    accepted = LiveTransport(Recorder())
    start_tls(accepted, client_options, normal=False)
    assert accepted.value()[:1] == b"\x16"
    closed = LiveTransport(Recorder())
    closed.connected = False
    with pytest.raises(RuntimeError, match="closed or closing"):
        start_tls(closed, client_options)


# -- torsion.ssl ----------------------------------------------------------------------

def test_certificate_round_trips(certs: Certs) -> None:
    """PEM and DER load and dump; equality and hashing follow the DER bytes; the digest
    is colon-separated upper-case hex."""
    cert = Certificate.loadPEM(certs.server.cert_pem)
    assert cert.dumpPEM() == certs.server.cert_pem
    assert Certificate.load(cert.dump()) == cert
    assert Certificate.load(cert.dump(FILETYPE_PEM), FILETYPE_PEM) == cert
    assert cert.dump(FILETYPE_ASN1) == cert.der
    assert len({cert, Certificate(cert.der)}) == 1
    digest = cert.digest()
    assert len(digest.split(b":")) == 32 and digest == digest.upper()
    with pytest.raises(ValueError, match="no PEM certificate"):
        Certificate.loadPEM(b"nothing here")


def test_keys_and_private_certificates(certs: Certs) -> None:
    """Keys load from PEM only and unencrypted; a PrivateCertificate keeps its chain and
    dumps certificate, chain and key."""
    with pytest.raises(ValueError, match="no PEM private key"):
        KeyPair.load(certs.server.cert_pem)
    with pytest.raises(ValueError, match="only PEM"):
        KeyPair.load(b"", FILETYPE_ASN1)
    encrypted = (b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"
                 b"-----END ENCRYPTED PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="encrypted private keys are not supported"):
        KeyPair.load(encrypted)
    pc = PrivateCertificate.loadPEM(certs.server.key_pem + certs.server.cert_pem
                                    + certs.ca.cert_pem)
    assert pc.chain == [certs.ca.certificate]
    assert pc.privateKey.dump() == certs.server.key_pem
    assert pc.dumpPEM() == certs.server.cert_pem + certs.ca.cert_pem + certs.server.key_pem
    again = PrivateCertificate.fromCertificateAndKeyPair(certs.server.certificate, pc.privateKey)
    assert again == pc


def test_mismatched_key_is_refused(certs: Certs) -> None:
    """A key that does not match the certificate fails when the context is made, clearly."""
    options = CertificateOptions(privateKey=KeyPair.load(certs.client.key_pem),
                                 certificate=certs.server.certificate)
    with pytest.raises(ValueError, match="cannot load the certificate and key"):
        options.getContext()


def test_certificate_options_defaults(certs: Certs) -> None:
    """Secure defaults: TLS 1.2 minimum, no compression; a client context verifies
    nothing unless given trust; a server with authorities requires client certificates."""
    client_ctx = CertificateOptions().getContext()
    assert client_ctx.protocol == ssl.PROTOCOL_TLS_CLIENT
    assert client_ctx.minimum_version == TLSVersion.TLSv1_2
    assert client_ctx.options & ssl.OP_NO_COMPRESSION
    assert client_ctx.verify_mode == ssl.CERT_NONE and not client_ctx.check_hostname
    trusting = CertificateOptions(trustRoot=certs.ca.certificate).getContext()
    assert trusting.verify_mode == ssl.CERT_REQUIRED and not trusting.check_hostname
    server = certs.server.private
    assert server.options().getContext().verify_mode == ssl.CERT_NONE
    requiring = server.options(certs.ca.certificate).getContext()
    assert requiring.protocol == ssl.PROTOCOL_TLS_SERVER
    assert requiring.verify_mode == ssl.CERT_REQUIRED
    optional = CertificateOptions(privateKey=server.privateKey, certificate=server,
                                  verify=True, caCerts=[certs.ca.certificate],
                                  requireCertificate=False).getContext()
    assert optional.verify_mode == ssl.CERT_OPTIONAL
    assert CertificateOptions(raiseMinimumTo=TLSVersion.TLSv1_3).minimumVersion == \
        TLSVersion.TLSv1_3
    assert CertificateOptions(raiseMinimumTo=TLSVersion.TLSv1).minimumVersion == \
        TLSVersion.TLSv1_2
    assert CertificateOptions(insecurelyLowerMinimumTo=TLSVersion.TLSv1).minimumVersion == \
        TLSVersion.TLSv1


def test_certificate_options_refuse_conflicts(certs: Certs) -> None:
    """Contradictory options are refused with a message naming them."""
    with pytest.raises(ValueError, match="privateKey and certificate go together"):
        CertificateOptions(certificate=certs.server.certificate)
    with pytest.raises(TypeError, match="trustRoot replaces verify and caCerts"):
        CertificateOptions(trustRoot=platformTrust(), verify=True)
    with pytest.raises(TypeError, match="not both"):
        CertificateOptions(raiseMinimumTo=TLSVersion.TLSv1_3,
                           insecurelyLowerMinimumTo=TLSVersion.TLSv1)
    with pytest.raises(TypeError, match="ALPN protocols must be non-empty bytes"):
        CertificateOptions(acceptableProtocols=["h2"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="trustRoot must be a Certificate"):
        CertificateOptions(trustRoot=42)
    with pytest.raises(TypeError, match="trust roots must be Certificate instances"):
        trustRootFromCertificates([b"pem"])  # type: ignore[list-item]


def test_options_for_client_tls(certs: Certs) -> None:
    """optionsForClientTLS checks the chain and the host name (TLS 1.2+), takes a CA
    file path as trust root, and refuses bytes host names and repeated arguments."""
    options = optionsForClientTLS("localhost", trustRoot=str(certs.ca.cert_file))
    ctx = options.getContext()
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version == TLSVersion.TLSv1_2
    assert options.hostname == "localhost"
    assert optionsForClientTLS("x").getContext().cert_store_stats() is not None
    with pytest.raises(TypeError, match="requires text for host names"):
        optionsForClientTLS(b"localhost")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trustRoot must be given to optionsForClientTLS"):
        optionsForClientTLS("x", extraCertificateOptions={"trustRoot": None})


def test_classic_context_factories(certs: Certs, tmp_path: Path) -> None:
    """DefaultOpenSSLContextFactory loads key and certificate files (naming them when it
    cannot); ClientContextFactory verifies nothing."""
    factory = DefaultOpenSSLContextFactory(str(certs.server.key_file),
                                           str(certs.server.cert_file))
    assert factory.getContext().protocol == ssl.PROTOCOL_TLS_SERVER
    missing = tmp_path / "missing.pem"
    with pytest.raises(ValueError, match=r"missing.pem"):
        DefaultOpenSSLContextFactory(str(certs.server.key_file), str(missing))
    ctx = ClientContextFactory().getContext()
    assert ctx.verify_mode == ssl.CERT_NONE and ctx.minimum_version == TLSVersion.TLSv1_2


def test_error_messages() -> None:
    """ssl.SSLError becomes a readable TLSError: OpenSSL's bracketed code and source
    line go, a hint is added, the original is the cause."""
    alert = ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)")
    alert.reason = "TLSV1_ALERT_UNKNOWN_CA"
    wrapped = TLSError.wrap(alert, during_handshake=False)
    assert isinstance(wrapped, TLSHandshakeError)  # a late certificate rejection
    assert str(wrapped) == ("TLS handshake failed: tlsv1 alert unknown ca "
                            "(the peer does not trust the issuer of our certificate)")
    assert wrapped.__cause__ is alert and wrapped.reason == "TLSV1_ALERT_UNKNOWN_CA"
    record = ssl.SSLError(1, "[SSL: DECRYPTION_FAILED_OR_BAD_RECORD_MAC] decryption failed or "
                             "bad record mac (_ssl.c:2580)")
    record.reason = "DECRYPTION_FAILED_OR_BAD_RECORD_MAC"
    wrapped = TLSError.wrap(record, during_handshake=False)
    assert type(wrapped) is TLSError
    assert str(wrapped) == "TLS error: decryption failed or bad record mac"
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] x")
    verify.reason = "CERTIFICATE_VERIFY_FAILED"
    verify.verify_message = "certificate has expired"
    verify.verify_code = 10
    wrapped = TLSError.wrap(verify, during_handshake=True)
    assert isinstance(wrapped, TLSCertificateError) and isinstance(wrapped, ValueError)
    assert str(wrapped) == ("TLS handshake failed: certificate verify failed: "
                            "certificate has expired")
    assert wrapped.verify_code == 10
