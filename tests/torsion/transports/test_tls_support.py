"""Helpers shared by the TLS test modules (this module holds no tests).

* :func:`make_certs`: a test CA, server and client certificates made with the
  ``cryptography`` package at test time (:mod:`support.pki`), as torsion
  objects and as files.
The ``certs`` fixture is imported by the test modules under the name
``certs_fixture``; ``reactor`` (every backend, checked for leaks) is
``conftest.py``'s.

* Factories handing out :class:`support.protocols.Recorder` protocols (the
  server side's, a client's) and :func:`lost`, a protocol's connectionLost reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support.pki import KeyPair, certificate_pem, issue, key_pem
from support.protocols import Echo, Recorder
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ClientFactory, ServerFactory
from torsion.ssl import Certificate, PrivateCertificate

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


def _issue(directory: Path, stem: str, cn: str, issuer: KeyPair | None,
           **kwargs: Any) -> tuple[Issued, KeyPair]:
    """:func:`support.pki.issue`, written to ``<stem>.pem`` and ``<stem>.key``."""
    pair = issue(cn, issuer, **kwargs)
    cert_pem, private_pem = certificate_pem(pair[0]), key_pem(pair[1])
    cert_file, key_file = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_file.write_bytes(cert_pem)
    key_file.write_bytes(private_pem)
    return Issued(cert_pem, private_pem, cert_file, key_file), pair


def make_certs(directory: Path) -> Certs:
    """Make the test PKI in ``directory`` (EC P-256 keys: fast)."""
    ca, ca_pair = _issue(directory, "ca", "torsion test CA", None, ca=True)
    other, other_pair = _issue(directory, "other-ca", "untrusted CA", None, ca=True)
    server, _ = _issue(directory, "server", "localhost", ca_pair,
                       dns=("localhost",), ips=("127.0.0.1", "::1"))
    server_b, _ = _issue(directory, "server-b", "b.test", ca_pair, dns=("b.test",))
    client, _ = _issue(directory, "client", "client", ca_pair, client=True)
    stranger, _ = _issue(directory, "stranger", "localhost", other_pair,
                         dns=("localhost",), ips=("127.0.0.1",))
    return Certs(ca, server, server_b, client, other, stranger)


@pytest.fixture(scope="session", name="certs")
def certs_fixture(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """The test PKI, made once per session."""
    return make_certs(tmp_path_factory.mktemp("tls-certs"))


# -- factories ----------------------------------------------------------------------


class Servers(ServerFactory):
    """Builds ``protocol`` per connection and remembers each one."""

    def __init__(self, protocol: Callable[[], Recorder] = Echo) -> None:
        self.protocol = protocol
        self.built: list[Recorder] = []
        self.first: Deferred[Recorder] = Deferred()

    def buildProtocol(self, addr: Any) -> Recorder:
        p = self.protocol()
        p.factory = self
        self.built.append(p)
        if not self.first.called:
            self.first.callback(p)
        return p


class Clients(ClientFactory):
    """A client factory with one protocol instance; records the factory's events."""

    def __init__(self, protocol: Recorder | None = None) -> None:
        self.instance = protocol if protocol is not None else Recorder()
        self.failed: Deferred[Failure] = Deferred()
        self.lost_reasons: list[Failure] = []

    def buildProtocol(self, addr: Any) -> Recorder:
        self.instance.factory = self
        return self.instance

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.failed.callback(reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        self.lost_reasons.append(reason)


async def lost(protocol: Recorder) -> Failure:
    """Wait for ``protocol``'s connectionLost; return its reason."""
    await protocol.lost
    return protocol.reasons[0]
