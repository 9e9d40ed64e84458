"""TLS settings: contexts, certificates and trust roots; mirrors ``twisted.internet.ssl``.

Give one of these to ``reactor.listenSSL``, ``reactor.connectSSL`` or
``transport.startTLS``.  A client should use :func:`optionsForClientTLS`,
which verifies the server's certificate chain *and* its host name::

    from torsion.ssl import optionsForClientTLS, PrivateCertificate

    reactor.connectSSL("example.org", 443, factory, optionsForClientTLS("example.org"))

    server_cert = PrivateCertificate.loadPEM(open("server.pem").read())  # key + cert
    reactor.listenSSL(8443, factory, server_cert.options())

Every context made here is a standard library :class:`ssl.SSLContext` with TLS
1.2 as the lowest version and no compression.  An ``ssl.SSLContext`` may be
passed anywhere a context factory is accepted.

Differences from Twisted, which builds on pyOpenSSL:

* Contexts are ``ssl.SSLContext`` objects; ``getContext()`` returns one.
  Because the standard library makes a context for one side only,
  :class:`CertificateOptions` builds a server context and a client context
  on demand, and the TLS layer asks for the side it needs through
  ``serverConnectionForTLS`` / ``clientConnectionForTLS``.
* :class:`Certificate` holds the DER bytes (and, for a verified peer, the
  fields the standard library parsed); there is no X.509 parser, no key or
  certificate generation (use ``openssl`` or the ``cryptography`` package) and
  no certificate requests.  Private keys must be unencrypted PEM.
* :class:`CertificateOptions` takes the options that map onto the standard
  library (no ``method``, ``dhParameters``, ``verifyDepth``, ``enableSessions``,
  ``fixBrokenPeers``, ``verifyOnce``); ``acceptableCiphers`` is an OpenSSL
  cipher string.  It adds ``sni_callback`` (choose the server certificate by
  the name the client asked for) and ``handshakeTimeout``.
* Handshake and TLS failures reach ``connectionLost`` as
  :class:`TLSHandshakeError` / :class:`TLSError` (subclasses of
  ``ssl.SSLError``) with a readable message, instead of ``OpenSSL.SSL.Error``.

Names mirror Twisted's (camelCase is the contract).
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import tempfile
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from torsion._logging import log_failure
from torsion.failure import Failure

if TYPE_CHECKING:
    from torsion._transports.tls import TLSMemoryBIO

__all__ = [
    "Certificate",
    "CertificateOptions",
    "ClientContextFactory",
    "ClientTLSOptions",
    "ContextFactory",
    "DefaultOpenSSLContextFactory",
    "FILETYPE_ASN1",
    "FILETYPE_PEM",
    "KeyPair",
    "PrivateCertificate",
    "TLSCertificateError",
    "TLSError",
    "TLSHandshakeError",
    "TLSHandshakeTimeout",
    "TLSVersion",
    "optionsForClientTLS",
    "platformTrust",
    "trustRootFromCertificates",
]

TLSVersion = ssl.TLSVersion
"""TLS versions for ``raiseMinimumTo`` and friends (``TLSVersion.TLSv1_3``)."""

FILETYPE_PEM = 1
FILETYPE_ASN1 = 2

DEFAULT_MINIMUM = ssl.TLSVersion.TLSv1_2
DEFAULT_HANDSHAKE_TIMEOUT = 60.0
"""Seconds a handshake may take before the connection is dropped (asyncio also uses 60)."""


# -- errors ------------------------------------------------------------------------------

# Hints for the OpenSSL reasons people meet most, said from our side.
_HINTS = {
    "CERTIFICATE_VERIFY_FAILED": "",
    "TLSV1_ALERT_UNKNOWN_CA": "the peer does not trust the issuer of our certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the peer rejected our certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the peer rejected our certificate",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the peer requires a client certificate",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the peer sent no client certificate",
    "WRONG_VERSION_NUMBER": "the peer does not seem to speak TLS",
    "HTTP_REQUEST": "the peer sent plain HTTP",
    "UNEXPECTED_EOF_WHILE_READING": "the peer closed the connection",
    "NO_APPLICATION_PROTOCOL": "no ALPN protocol in common",
    "TLSV1_ALERT_NO_APPLICATION_PROTOCOL": "no ALPN protocol in common",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common",
    "NO_SHARED_CIPHER": "no cipher in common",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the peer refused the handshake",
}
# Alerts that arrive after a TLS 1.3 client finished its handshake but that
# mean the handshake failed (the server checks the client certificate late).
_LATE_HANDSHAKE_REASONS = frozenset({
    "TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_DECRYPT_ERROR",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "SSLV3_ALERT_CERTIFICATE_REVOKED", "TLSV1_ALERT_ACCESS_DENIED",
})
_OPENSSL_NOISE = re.compile(r"^\[[A-Z0-9_]+: [A-Z0-9_]+\]\s*|\s*\(_ssl\.c:\d+\)$")


class TLSError(ssl.SSLError):
    """A TLS connection failed after its handshake (a bad record, an alert, truncation).

    A subclass of ``ssl.SSLError``: ``reason``, ``library`` and ``__cause__``
    (the original ``ssl.SSLError``) are kept; ``str()`` is a readable sentence.
    """

    PREFIX = "TLS error"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(1, f"{self.PREFIX}: {message}")
        self.reason = reason  # type: ignore[assignment]  # typeshed: str; None when not OpenSSL's
        self.library = "SSL"

    @classmethod
    def wrap(cls, exc: ssl.SSLError, during_handshake: bool) -> TLSError:
        """Turn a standard library ``ssl.SSLError`` into the right TLSError, with a hint."""
        reason = exc.reason
        if isinstance(exc, ssl.SSLCertVerificationError):
            kind: type[TLSError] = TLSCertificateError
            text = f"certificate verify failed: {exc.verify_message}"
        else:
            handshake = during_handshake or reason in _LATE_HANDSHAKE_REASONS
            kind = TLSHandshakeError if handshake else TLSError
            text = _OPENSSL_NOISE.sub("", str(exc.args[1] if len(exc.args) > 1 else exc))
            hint = _HINTS.get(reason or "")
            if hint:
                text = f"{text} ({hint})"
        wrapped = kind(text, reason)
        if isinstance(wrapped, TLSCertificateError) and isinstance(
            exc, ssl.SSLCertVerificationError
        ):
            wrapped.verify_code = exc.verify_code
            wrapped.verify_message = exc.verify_message
        wrapped.__cause__ = exc
        return wrapped


class TLSHandshakeError(TLSError):
    """The TLS handshake failed (verification, no common version or protocol, a closed peer)."""

    PREFIX = "TLS handshake failed"


class TLSCertificateError(TLSHandshakeError, ssl.SSLCertVerificationError):
    """The peer's certificate did not verify; ``verify_message`` says why."""

    verify_code = 0
    verify_message = ""


class TLSHandshakeTimeout(TLSHandshakeError):
    """The handshake did not finish within the handshake timeout."""


# -- certificates and keys ---------------------------------------------------------------

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.DOTALL
)


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("ascii") if isinstance(data, str) else data


def _pem_blocks(data: bytes, label_suffix: bytes) -> list[bytes]:
    return [m.group(0) for m in _PEM_BLOCK.finditer(data) if m.group(1).endswith(label_suffix)]


class Certificate:
    """An X.509 certificate, held as DER bytes.

    Example::

        cert = Certificate.loadPEM(open("ca.pem").read())
        cert.dumpPEM()             # b"-----BEGIN CERTIFICATE-----..."

    Attributes:
        der: the certificate's DER encoding.
        info: for a verified peer, the fields parsed by the standard library
            (``subject``, ``issuer``, ``subjectAltName``...); else None.
    """

    def __init__(self, der: bytes, info: dict[str, Any] | None = None) -> None:
        self.der = bytes(der)
        self.info = info

    @classmethod
    def load(cls, requestData: bytes, format: int = FILETYPE_ASN1) -> Certificate:
        """Load from DER (``FILETYPE_ASN1``, the default) or PEM bytes."""
        if format == FILETYPE_PEM:
            return cls.loadPEM(requestData)
        return cls(requestData)

    @classmethod
    def loadPEM(cls, data: str | bytes) -> Certificate:
        """Load the first certificate of PEM ``data``.

        Raises:
            ValueError: when ``data`` holds no PEM certificate.
        """
        blocks = _pem_blocks(_as_bytes(data), b"CERTIFICATE")
        if not blocks:
            raise ValueError("no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")
        return cls(ssl.PEM_cert_to_DER_cert(blocks[0].decode("ascii")))

    @classmethod
    def peerFromTransport(cls, transport: Any) -> Certificate:
        """The certificate of a TLS transport's peer.

        Raises:
            ValueError: when the peer sent none (or the handshake is not done).
        """
        cert: Certificate | None = transport.getPeerCertificate()
        if cert is None:
            raise ValueError("the peer has not presented a certificate")
        return cert

    def dump(self, format: int = FILETYPE_ASN1) -> bytes:
        """DER bytes (the default) or PEM bytes."""
        return self.dumpPEM() if format == FILETYPE_PEM else self.der

    def dumpPEM(self) -> bytes:
        return ssl.DER_cert_to_PEM_cert(self.der).encode("ascii")

    def digest(self, method: str = "sha256") -> bytes:
        """The fingerprint as upper-case hex pairs joined by colons (``b"AB:01:..."``)."""
        return b":".join(b"%02X" % byte for byte in hashlib.new(method, self.der).digest())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Certificate) and other.der == self.der

    def __hash__(self) -> int:
        return hash(self.der)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sha256={self.digest().decode()[:23]}...>"


class KeyPair:
    """A private key, held as unencrypted PEM (stdlib ssl loads keys from PEM only)."""

    def __init__(self, pem: bytes) -> None:
        self.pem = pem

    @classmethod
    def load(cls, data: str | bytes, format: int = FILETYPE_PEM) -> KeyPair:
        """Load the first private key of PEM ``data``.

        Raises:
            ValueError: for DER data, or when no PEM private key is found.
        """
        if format != FILETYPE_PEM:
            raise ValueError("only PEM private keys are supported (convert with openssl pkey)")
        blocks = _pem_blocks(_as_bytes(data), b"PRIVATE KEY")
        if not blocks:
            raise ValueError("no PEM private key found (expected -----BEGIN ... PRIVATE KEY-----)")
        if b"ENCRYPTED" in blocks[0].split(b"\n", 1)[0]:
            raise ValueError("encrypted private keys are not supported")
        return cls(blocks[0])

    def dump(self, format: int = FILETYPE_PEM) -> bytes:
        if format != FILETYPE_PEM:
            raise ValueError("only PEM private keys are supported")
        return self.pem


class PrivateCertificate(Certificate):
    """A certificate with its private key: what a server (or a client certificate) needs.

    Example::

        pc = PrivateCertificate.loadPEM(key_pem + cert_pem)
        reactor.listenSSL(0, factory, pc.options())           # no client certificates
        reactor.listenSSL(0, factory, pc.options(client_ca))  # client certificate required
    """

    def __init__(self, der: bytes, privateKey: KeyPair, chain: Sequence[Certificate] = ()) -> None:
        super().__init__(der)
        self.privateKey = privateKey
        self.chain = list(chain)

    @classmethod
    def loadPEM(cls, data: str | bytes) -> PrivateCertificate:
        """Load a key and a certificate (then any chain certificates) from one PEM text."""
        raw = _as_bytes(data)
        certs = [ssl.PEM_cert_to_DER_cert(b.decode("ascii"))
                 for b in _pem_blocks(raw, b"CERTIFICATE")]
        if not certs:
            raise ValueError("no PEM certificate found (expected -----BEGIN CERTIFICATE-----)")
        return cls(certs[0], KeyPair.load(raw), [Certificate(d) for d in certs[1:]])

    @classmethod
    def fromCertificateAndKeyPair(cls, certificateInstance: Certificate,
                                  privateKey: KeyPair) -> PrivateCertificate:
        return cls(certificateInstance.der, privateKey)

    def dumpPEM(self) -> bytes:
        """The certificate, its chain and the key, as PEM."""
        return super().dumpPEM() + b"".join(c.dumpPEM() for c in self.chain) + self.privateKey.pem

    def options(self, *authorities: Certificate) -> CertificateOptions:
        """Options presenting this certificate; with ``authorities``, peers must present one."""
        return CertificateOptions(
            privateKey=self.privateKey, certificate=self, extraCertChain=self.chain,
            verify=bool(authorities), caCerts=list(authorities) or None,
        )


def _load_chain(context: ssl.SSLContext, key: KeyPair, cert: Certificate,
                chain: Iterable[Certificate]) -> None:
    """Load key and certificates into ``context`` (the stdlib reads them from a file only)."""
    pem = cert.dump(FILETYPE_PEM) + b"".join(c.dump(FILETYPE_PEM) for c in chain) + key.pem
    fd, path = tempfile.mkstemp(suffix=".pem")  # mode 0600, removed at once
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        context.load_cert_chain(path)
    except ssl.SSLError as exc:
        raise ValueError(f"cannot load the certificate and key: {exc}") from exc
    finally:
        os.unlink(path)


# -- trust roots -------------------------------------------------------------------------

class _TrustRoot(Protocol):
    def _addCACertsToContext(self, context: ssl.SSLContext) -> None: ...


class _CertificateAuthorities:
    """Trust exactly these certificates."""

    def __init__(self, certificates: Sequence[Certificate]) -> None:
        self._certificates = list(certificates)

    def _addCACertsToContext(self, context: ssl.SSLContext) -> None:
        for cert in self._certificates:
            context.load_verify_locations(cadata=cert.der)


class _PlatformTrust:
    """Trust the system's certificate authorities (OpenSSL's default paths)."""

    def _addCACertsToContext(self, context: ssl.SSLContext) -> None:
        context.load_default_certs()


def platformTrust() -> _PlatformTrust:
    """The operating system's trusted authorities (the default of optionsForClientTLS)."""
    return _PlatformTrust()


def trustRootFromCertificates(certificates: Iterable[Certificate]) -> _CertificateAuthorities:
    """Trust only ``certificates`` (for example a test CA).

    Raises:
        TypeError: for anything that is not a :class:`Certificate`.
    """
    certs = list(certificates)
    for cert in certs:
        if not isinstance(cert, Certificate):
            raise TypeError(f"trust roots must be Certificate instances, not {cert!r}")
    return _CertificateAuthorities(certs)


def _trust_root(root: Any) -> _TrustRoot:
    if isinstance(root, Certificate):
        return _CertificateAuthorities([root])
    if isinstance(root, str | os.PathLike):
        with open(os.fspath(root), "rb") as f:
            blocks = _pem_blocks(f.read(), b"CERTIFICATE")
        return _CertificateAuthorities([Certificate.loadPEM(b) for b in blocks])
    if not hasattr(root, "_addCACertsToContext"):
        raise TypeError(f"trustRoot must be a Certificate or a trust root, not {root!r}")
    found: _TrustRoot = root
    return found


# -- context factories -------------------------------------------------------------------

SNICallback = Callable[[str | None], "CertificateOptions | ssl.SSLContext | None"]


class ContextFactory:
    """Base of the classic context factories: ``getContext()`` returns an ``ssl.SSLContext``."""

    isClient = 0

    def getContext(self) -> ssl.SSLContext:  # pragma: no cover - abstract
        raise NotImplementedError


class CertificateOptions:
    """TLS settings for either side, with secure defaults (TLS 1.2+, no compression).

    As a server (``listenSSL``) it presents ``certificate``; with ``verify``
    it asks clients for a certificate issued by ``caCerts`` (required unless
    ``requireCertificate`` is False).  As a client (``connectSSL``) it checks
    the server's chain against ``trustRoot`` or ``caCerts`` when given, but
    not the host name: use :func:`optionsForClientTLS` for that.

    Example, SNI with two certificates::

        by_name = {"a.test": cert_a.options(), "b.test": cert_b.options()}
        options = CertificateOptions(privateKey=cert_a.privateKey, certificate=cert_a,
                                     sni_callback=by_name.get)

    Args:
        privateKey: our key (with ``certificate``).
        certificate: our certificate.
        verify: verify the peer's certificate against ``caCerts``.
        caCerts: the authorities trusted when ``verify`` is true.
        requireCertificate: as a server with ``verify``, refuse clients without one.
        extraCertChain: intermediate certificates sent after ``certificate``.
        acceptableCiphers: an OpenSSL cipher string (TLS 1.2 suites), or None for the default.
        trustRoot: the authorities to verify the peer against (implies
            verification): a :class:`Certificate`, :func:`trustRootFromCertificates`,
            :func:`platformTrust`, or the path of a PEM file of CA certificates.
        acceptableProtocols: ALPN protocols in order of preference (``[b"h2", b"http/1.1"]``).
        raiseMinimumTo: a higher lowest TLS version than TLS 1.2.
        insecurelyLowerMinimumTo: the lowest TLS version, even below TLS 1.2.
        lowerMaximumSecurityTo: the highest TLS version.
        sni_callback: called with the name a client asked for (or None); returns
            the options (or context) whose certificate to present, or None for ours.
        handshakeTimeout: seconds a handshake may take (default 60).

    Raises:
        ValueError: ``privateKey`` without ``certificate`` (or the reverse).
        TypeError: conflicting options (``trustRoot`` with ``caCerts``; both
            ``raiseMinimumTo`` and ``insecurelyLowerMinimumTo``).
    """

    def __init__(
        self,
        privateKey: KeyPair | None = None,
        certificate: Certificate | None = None,
        verify: bool = False,
        caCerts: Sequence[Certificate] | None = None,
        requireCertificate: bool = True,
        extraCertChain: Sequence[Certificate] | None = None,
        acceptableCiphers: str | None = None,
        trustRoot: Any = None,
        acceptableProtocols: Sequence[bytes] | None = None,
        raiseMinimumTo: ssl.TLSVersion | None = None,
        insecurelyLowerMinimumTo: ssl.TLSVersion | None = None,
        lowerMaximumSecurityTo: ssl.TLSVersion | None = None,
        *,
        sni_callback: SNICallback | None = None,
        handshakeTimeout: float | None = None,
    ) -> None:
        if (privateKey is None) != (certificate is None):
            raise ValueError("privateKey and certificate go together: give both or neither")
        if trustRoot is not None and (verify or caCerts):
            raise TypeError("trustRoot replaces verify and caCerts: give one or the other")
        if raiseMinimumTo is not None and insecurelyLowerMinimumTo is not None:
            raise TypeError("give raiseMinimumTo or insecurelyLowerMinimumTo, not both")
        self.privateKey = privateKey
        self.certificate = certificate
        self.extraCertChain = list(extraCertChain or ())
        self.trustRoot: _TrustRoot | None
        if trustRoot is not None:
            self.trustRoot = _trust_root(trustRoot)
        elif verify:
            self.trustRoot = _CertificateAuthorities(list(caCerts or ()))
        else:
            self.trustRoot = None
        self.verify = self.trustRoot is not None
        self.requireCertificate = requireCertificate
        self.acceptableCiphers = acceptableCiphers
        self.acceptableProtocols = list(acceptableProtocols or ())
        for proto in self.acceptableProtocols:
            if not isinstance(proto, bytes) or not proto:
                raise TypeError(f"ALPN protocols must be non-empty bytes, not {proto!r}")
        self.minimumVersion = insecurelyLowerMinimumTo or max(
            DEFAULT_MINIMUM, raiseMinimumTo or DEFAULT_MINIMUM
        )
        self.maximumVersion = lowerMaximumSecurityTo
        self.sni_callback = sni_callback
        self.handshakeTimeout = handshakeTimeout
        self._contexts: dict[bool, ssl.SSLContext] = {}

    def getContext(self) -> ssl.SSLContext:
        """The server context when we have a certificate, else the client context."""
        return self._context(server_side=self.certificate is not None)

    def serverConnectionForTLS(self, tlsProtocol: TLSMemoryBIO) -> ssl.SSLObject:
        return tlsProtocol.wrapContext(self._context(server_side=True))

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIO) -> ssl.SSLObject:
        return tlsProtocol.wrapContext(self._context(server_side=False))

    def _context(self, server_side: bool) -> ssl.SSLContext:
        context = self._contexts.get(server_side)
        if context is None:
            context = self._contexts[server_side] = self._make_context(server_side)
        return context

    def _make_context(self, server_side: bool) -> ssl.SSLContext:
        if server_side and self.certificate is None:
            raise ValueError("a TLS server needs a certificate and a private key")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = self.minimumVersion
        if self.maximumVersion is not None:
            ctx.maximum_version = self.maximumVersion
        ctx.options |= ssl.OP_NO_COMPRESSION
        if self.acceptableCiphers:
            ctx.set_ciphers(self.acceptableCiphers)
        if self.acceptableProtocols:
            ctx.set_alpn_protocols([p.decode("ascii") for p in self.acceptableProtocols])
        if self.certificate is not None and self.privateKey is not None:
            _load_chain(ctx, self.privateKey, self.certificate, self.extraCertChain)
        if not server_side:
            ctx.check_hostname = False  # only optionsForClientTLS knows the host name
        if self.trustRoot is None:
            ctx.verify_mode = ssl.CERT_NONE
        else:
            self.trustRoot._addCACertsToContext(ctx)
            required = self.requireCertificate or not server_side
            ctx.verify_mode = ssl.CERT_REQUIRED if required else ssl.CERT_OPTIONAL
        if server_side and self.sni_callback is not None:
            ctx.sni_callback = _sni_adapter(self.sni_callback)
        return ctx


def _sni_adapter(choose: SNICallback) -> Callable[[Any, str | None, ssl.SSLContext], int | None]:
    """Wrap a user's SNI choice for ``SSLContext.sni_callback`` (errors logged, not raised)."""

    def callback(sslobj: Any, server_name: str | None, context: ssl.SSLContext) -> int | None:
        try:
            chosen = choose(server_name)
            if chosen is None:
                return None
            if isinstance(chosen, CertificateOptions):
                chosen = chosen._context(server_side=True)
            sslobj.context = chosen
        except BaseException:
            log_failure(Failure(), f"Error in sni_callback for {server_name!r}:", "torsion.ssl")
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        return None

    return callback


class ClientTLSOptions:
    """What :func:`optionsForClientTLS` returns: a client context and the host name to check.

    Attributes:
        hostname: the name sent in SNI and checked against the certificate.
        handshakeTimeout: seconds a handshake may take (None: the default).
    """

    def __init__(self, hostname: str, context: ssl.SSLContext,
                 handshakeTimeout: float | None = None) -> None:
        self.hostname = hostname
        self._context = context
        self.handshakeTimeout = handshakeTimeout

    def getContext(self) -> ssl.SSLContext:
        return self._context

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIO) -> ssl.SSLObject:
        return tlsProtocol.wrapContext(self._context, server_hostname=self.hostname)


def optionsForClientTLS(
    hostname: str,
    trustRoot: Any = None,
    clientCertificate: PrivateCertificate | None = None,
    acceptableProtocols: Sequence[bytes] | None = None,
    *,
    extraCertificateOptions: dict[str, Any] | None = None,
) -> ClientTLSOptions:
    """Client settings that verify the server: chain, host name, SNI; TLS 1.2 or later.

    Example::

        options = optionsForClientTLS("localhost", trustRoot=Certificate.loadPEM(ca_pem),
                                      acceptableProtocols=[b"h2", b"http/1.1"])
        reactor.connectSSL("127.0.0.1", port, factory, options)

    Args:
        hostname: the server's name (text; an IP address is checked against IP SANs).
        trustRoot: a :class:`Certificate`, :func:`trustRootFromCertificates`
            or :func:`platformTrust` (the default).
        clientCertificate: our certificate, when the server asks for one.
        acceptableProtocols: ALPN protocols in order of preference.
        extraCertificateOptions: more :class:`CertificateOptions` arguments
            (``raiseMinimumTo``, ``acceptableCiphers``, ``handshakeTimeout``...).

    Raises:
        TypeError: ``hostname`` is bytes, or ``extraCertificateOptions`` repeats an argument.
    """
    if not isinstance(hostname, str):
        raise TypeError(f"optionsForClientTLS requires text for host names, not {hostname!r}")
    extra = dict(extraCertificateOptions or {})
    for name in ("trustRoot", "privateKey", "certificate", "acceptableProtocols"):
        if name in extra:
            raise TypeError(f"{name} must be given to optionsForClientTLS directly, not "
                            "in extraCertificateOptions")
    if clientCertificate is not None:
        extra["privateKey"] = clientCertificate.privateKey
        extra["certificate"] = clientCertificate
        extra["extraCertChain"] = clientCertificate.chain
    options = CertificateOptions(
        trustRoot=platformTrust() if trustRoot is None else trustRoot,
        acceptableProtocols=acceptableProtocols, **extra,
    )
    context = options._context(server_side=False)
    context.check_hostname = True
    return ClientTLSOptions(hostname, context, options.handshakeTimeout)


class DefaultOpenSSLContextFactory(ContextFactory):
    """A server context from a key file and a certificate file (PEM); verifies no client.

    Used as a client it presents that certificate and verifies nothing.
    """

    def __init__(self, privateKeyFileName: str, certificateFileName: str) -> None:
        self.privateKeyFileName = privateKeyFileName
        self.certificateFileName = certificateFileName
        self._server: ssl.SSLContext | None = None
        self._client: ssl.SSLContext | None = None
        self.cacheContext()

    def cacheContext(self) -> None:
        """(Re)load the files.

        Raises:
            ValueError: when the files cannot be loaded (the message names them).
        """
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        for ctx in (server, client):
            ctx.minimum_version = DEFAULT_MINIMUM
            ctx.options |= ssl.OP_NO_COMPRESSION
            try:
                ctx.load_cert_chain(self.certificateFileName, self.privateKeyFileName)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(
                    f"cannot load certificate {self.certificateFileName!r} with key "
                    f"{self.privateKeyFileName!r}: {exc}"
                ) from exc
        self._server, self._client = server, client

    def getContext(self) -> ssl.SSLContext:
        assert self._server is not None
        return self._server

    def clientConnectionForTLS(self, tlsProtocol: TLSMemoryBIO) -> ssl.SSLObject:
        assert self._client is not None
        return tlsProtocol.wrapContext(self._client)


class ClientContextFactory(ContextFactory):
    """A client context that verifies nothing (as Twisted's); prefer optionsForClientTLS."""

    isClient = 1

    def getContext(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = DEFAULT_MINIMUM
        ctx.options |= ssl.OP_NO_COMPRESSION
        return ctx
