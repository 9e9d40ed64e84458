"""Helpers shared by the TLS test modules (this module holds no tests).

* :func:`make_certs`: a test CA, server and client certificates made with the
  ``cryptography`` package at test time, as torsion objects and as files.
The ``certs`` fixture is imported by the test modules under the name
``certs_fixture``; ``reactor`` (every backend, checked for leaks) is
``conftest.py``'s.

* Protocols that record what happens (:class:`Collect`, :class:`Echo`) and a
  factory that hands out the server side's protocols.
* :func:`run_in_thread`: run a blocking call (a real peer program) off the
  reactor thread, as a Deferred.
"""

from __future__ import annotations

import datetime
import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ClientFactory, Protocol, ServerFactory
from torsion.ssl import Certificate, PrivateCertificate

_T = TypeVar("_T")


# -- certificates ---------------------------------------------------------------------

@dataclass(frozen=True)
class Issued:
    """A certificate with its key, as PEM bytes, torsion objects and files."""

    cert_pem: bytes
    key_pem: bytes
    cert_file: Path
    key_file: Path

    @property
    def certificate(self) -> Certificate:
        return Certificate.loadPEM(self.cert_pem)

    @property
    def private(self) -> PrivateCertificate:
        return PrivateCertificate.loadPEM(self.cert_pem + self.key_pem)


@dataclass(frozen=True)
class Certs:
    """Everything the TLS tests need.

    Attributes:
        ca: the trusted test CA.
        server: ``localhost`` / 127.0.0.1 / ::1, issued by ``ca``.
        server_b: ``b.test``, issued by ``ca`` (for SNI).
        client: a client certificate (CN ``client``) issued by ``ca``.
        other_ca: a CA nobody trusts.
        stranger: ``localhost`` issued by ``other_ca``.
    """

    ca: Issued
    server: Issued
    server_b: Issued
    client: Issued
    other_ca: Issued
    stranger: Issued


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(
    directory: Path,
    stem: str,
    cn: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    dns: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
    client: bool = False,
) -> tuple[Issued, x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    else:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    cert_file, key_file = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(key_pem)
    return Issued(cert_pem, key_pem, cert_file, key_file), cert, key


def make_certs(directory: Path) -> Certs:
    """Make the test PKI in ``directory`` (EC P-256 keys: fast)."""
    ca, ca_cert, ca_key = _issue(directory, "ca", "torsion test CA", None, ca=True)
    other, other_cert, other_key = _issue(directory, "other-ca", "untrusted CA", None, ca=True)
    server, _, _ = _issue(directory, "server", "localhost", (ca_cert, ca_key),
                          dns=("localhost",), ips=("127.0.0.1", "::1"))
    server_b, _, _ = _issue(directory, "server-b", "b.test", (ca_cert, ca_key), dns=("b.test",))
    client, _, _ = _issue(directory, "client", "client", (ca_cert, ca_key), client=True)
    stranger, _, _ = _issue(directory, "stranger", "localhost", (other_cert, other_key),
                            dns=("localhost",), ips=("127.0.0.1",))
    return Certs(ca, server, server_b, client, other, stranger)


@pytest.fixture(scope="session", name="certs")
def certs_fixture(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """The test PKI, made once per session."""
    return make_certs(tmp_path_factory.mktemp("tls-certs"))


# -- reactor ------------------------------------------------------------------------

def sleep(reactor: Any, seconds: float) -> Deferred[None]:
    d: Deferred[None] = Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d


def run_in_thread(reactor: Any, fn: Callable[[], _T]) -> Deferred[_T]:
    """Run blocking ``fn`` in a new thread; the Deferred fires on the reactor thread."""
    d: Deferred[_T] = Deferred()

    def target() -> None:
        try:
            result: Any = fn()
        except BaseException:
            result = Failure()
        reactor.callFromThread(_fire, d, result)

    threading.Thread(target=target, daemon=True).start()
    return d


def _fire(d: Deferred[Any], result: Any) -> None:
    if isinstance(result, Failure):
        d.errback(result)
    else:
        d.callback(result)


# -- protocols ----------------------------------------------------------------------

class Collect(Protocol):
    """Records everything: data, the handshake, connectionLost's reason (exactly once).

    Attributes:
        made, handshake, lost: Deferreds fired by connectionMade,
            handshakeCompleted and connectionLost (see :func:`lost` for the reason).
    """

    def __init__(self) -> None:
        self.received = bytearray()
        self.reasons: list[Failure] = []
        self.made_count = 0
        self.made: Deferred[None] = Deferred()
        self.handshake: Deferred[None] = Deferred()
        self.lost: Deferred[None] = Deferred()
        self._waiting: list[tuple[int, Deferred[bytes]]] = []

    def connectionMade(self) -> None:
        self.made_count += 1
        if not self.made.called:
            self.made.callback(None)

    def handshakeCompleted(self) -> None:
        self.handshake.callback(None)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        ready = [(n, d) for n, d in self._waiting if len(self.received) >= n]
        for entry in ready:
            self._waiting.remove(entry)
            entry[1].callback(bytes(self.received))

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self.reasons.append(reason)
        if len(self.reasons) == 1:
            self.lost.callback(None)
        for _, d in self._waiting:
            d.errback(reason)
        self._waiting.clear()

    def wait_bytes(self, count: int) -> Deferred[bytes]:
        """Fires with everything received once ``count`` bytes have arrived."""
        d: Deferred[bytes] = Deferred()
        if len(self.received) >= count:
            d.callback(bytes(self.received))
        else:
            self._waiting.append((count, d))
        return d


class Echo(Collect):
    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        self.transport.write(data)


class Servers(ServerFactory):
    """Builds ``protocol`` per connection and remembers each one."""

    def __init__(self, protocol: Callable[[], Collect] = Echo) -> None:
        self.protocol = protocol
        self.built: list[Collect] = []
        self.first: Deferred[Collect] = Deferred()

    def buildProtocol(self, addr: Any) -> Collect:
        p = self.protocol()
        p.factory = self
        self.built.append(p)
        if not self.first.called:
            self.first.callback(p)
        return p


class Clients(ClientFactory):
    """A client factory with one protocol instance; records the factory's events."""

    def __init__(self, protocol: Collect | None = None) -> None:
        self.instance = protocol if protocol is not None else Collect()
        self.failed: Deferred[Failure] = Deferred()
        self.lost_reasons: list[Failure] = []

    def buildProtocol(self, addr: Any) -> Collect:
        self.instance.factory = self
        return self.instance

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.failed.callback(reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        self.lost_reasons.append(reason)


async def lost(protocol: Collect) -> Failure:
    """Wait for ``protocol``'s connectionLost; return its reason."""
    await protocol.lost
    return protocol.reasons[0]
