"""torsion's TLS against programs nobody here wrote: openssl s_client, s_server and curl.

Each peer runs as a subprocess on loopback, bounded by a timeout.  Outside CI a
missing program skips its tests (with the Debian package to install); in CI
(``CI`` set) it fails them.  CI needs the Debian packages ``openssl`` and ``curl``.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import time
from typing import Any

import pytest
from test_tls_support import (  # noqa: F401 - fixtures
    Certs,
    Clients,
    Servers,
    certs_fixture,
    lost,
)

from support.deferreds import run_in_thread
from support.peers import need
from support.protocols import Recorder
from torsion import error
from torsion.ssl import (
    CertificateOptions,
    TLSCertificateError,
    TLSHandshakeError,
    optionsForClientTLS,
)

pytestmark = pytest.mark.torsion_timeout(30)

LOCAL = "127.0.0.1"
PEER_TIMEOUT = 15


class Greeter(Recorder):
    """Answers one line with what TLS negotiated, then closes."""

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        if b"\n" not in self.received:
            return
        line = bytes(self.received).split(b"\n", 1)[0]
        cert = self.transport.getPeerCertificate()
        subject = dict(x[0] for x in cert.info["subject"])["commonName"] if cert else "none"
        alpn = (self.transport.negotiatedProtocol or b"none").decode()
        version = self.transport.getHandle().version()
        self.transport.write(
            f"hello {line.decode()} alpn={alpn} client={subject} {version}\n".encode())
        self.transport.loseConnection()


def s_client(port: int, certs: Certs, *extra: str, data: bytes = b"torsion\n",
             hostname: str = "localhost") -> subprocess.CompletedProcess[bytes]:
    argv = [need("openssl"), "s_client", "-connect", f"{LOCAL}:{port}",
            "-servername", hostname, "-verify_hostname", hostname,
            "-CAfile", str(certs.ca.cert_file), "-verify_return_error", "-quiet", *extra]
    return subprocess.run(argv, input=data, capture_output=True, timeout=PEER_TIMEOUT,
                          check=False)


def server_options(certs: Certs, **kwargs: Any) -> CertificateOptions:
    pc = certs.server.private
    return CertificateOptions(privateKey=pc.privateKey, certificate=pc, **kwargs)


async def test_s_client_talks_to_torsion_server(reactor: Any, certs: Certs) -> None:
    """openssl s_client verifies torsion's certificate and host name, negotiates ALPN in
    TLS 1.3, gets the answer, and torsion's server sees a clean close_notify ending."""
    servers = Servers(Greeter)
    options = server_options(certs, acceptableProtocols=[b"h2", b"torsion/1"])
    port = reactor.listenSSL(0, servers, options, interface=LOCAL).getHost().port
    done = await run_in_thread(reactor, lambda: s_client(port, certs, "-alpn", "torsion/1"))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"hello torsion alpn=torsion/1 client=none TLSv1.3\n"
    assert (await lost(servers.built[0])).check(error.ConnectionDone)


async def test_s_client_tls12_with_client_certificate(reactor: Any, certs: Certs) -> None:
    """Over TLS 1.2, s_client presents a client certificate the torsion server requires
    and reads."""
    servers = Servers(Greeter)
    options = certs.server.private.options(certs.ca.certificate)
    port = reactor.listenSSL(0, servers, options, interface=LOCAL).getHost().port
    done = await run_in_thread(reactor, lambda: s_client(
        port, certs, "-tls1_2", "-cert", str(certs.client.cert_file),
        "-key", str(certs.client.key_file)))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"hello torsion alpn=none client=client TLSv1.2\n"


async def test_s_client_refusing_torsion_certificate(reactor: Any, certs: Certs) -> None:
    """When s_client rejects the certificate (wrong name), the torsion server reports
    a handshake failure naming the alert."""
    servers = Servers(Greeter)
    port = reactor.listenSSL(0, servers, server_options(certs), interface=LOCAL).getHost().port
    done = await run_in_thread(reactor, lambda: s_client(port, certs, hostname="wrong.example"))
    assert done.returncode != 0
    reason = await lost(servers.built[0])
    assert reason.check(TLSHandshakeError)
    assert "bad certificate" in str(reason.value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOCAL, 0))
        port: int = probe.getsockname()[1]
        return port


class SServer:
    """``openssl s_server -rev`` (answers each line reversed) on a free port."""

    def __init__(self, certs: Certs, *extra: str) -> None:
        self.port = free_port()
        argv = [need("openssl"), "s_server", "-accept", f"{LOCAL}:{self.port}",
                "-cert", str(certs.server.cert_file), "-key", str(certs.server.key_file),
                "-rev", "-naccept", "1", *extra]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        assert self.process.stdout is not None
        output = b""
        deadline = time.monotonic() + PEER_TIMEOUT
        while b"ACCEPT" not in output:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(remaining, 0))
            chunk = os.read(self.process.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                self.close()
                raise AssertionError(f"openssl s_server did not start: {output.decode()}")
            output += chunk

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(PEER_TIMEOUT)
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def s_server_factory(certs: Certs) -> Any:
    started: list[SServer] = []

    def start(*extra: str) -> SServer:
        server = SServer(certs, *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


class Asker(Recorder):
    def connectionMade(self) -> None:
        super().connectionMade()
        self.transport.write(b"hello torsion\n")

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        if self.received.endswith(b"\n"):
            self.transport.loseConnection()


async def test_torsion_client_against_s_server(reactor: Any, certs: Certs,
                                               s_server_factory: Any) -> None:
    """torsion's client verifies openssl s_server, talks TLS 1.3 and closes cleanly."""
    server = s_server_factory()
    client = Asker()
    reactor.connectSSL(LOCAL, server.port, Clients(client),
                       optionsForClientTLS("localhost", trustRoot=certs.ca.certificate))
    reason = await lost(client)
    assert bytes(client.received) == b"noisrot olleh\n"
    assert reason.check(error.ConnectionDone), reason
    assert client.transport.getHandle().version() == "TLSv1.3"


async def test_torsion_client_certificate_against_s_server(reactor: Any, certs: Certs,
                                                           s_server_factory: Any) -> None:
    """s_server requiring a client certificate (TLS 1.2 only) accepts torsion's."""
    server = s_server_factory("-Verify", "1", "-CAfile", str(certs.ca.cert_file), "-tls1_2")
    client = Asker()
    options = optionsForClientTLS("localhost", trustRoot=certs.ca.certificate,
                                  clientCertificate=certs.client.private)
    reactor.connectSSL(LOCAL, server.port, Clients(client), options)
    await lost(client)
    assert bytes(client.received) == b"noisrot olleh\n"
    assert client.transport.getHandle().version() == "TLSv1.2"


async def test_torsion_client_refuses_s_server_wrong_name(reactor: Any, certs: Certs,
                                                          s_server_factory: Any) -> None:
    """Against s_server, a host name mismatch fails torsion's handshake clearly."""
    server = s_server_factory()
    client = Asker()
    reactor.connectSSL(LOCAL, server.port, Clients(client),
                       optionsForClientTLS("other.example", trustRoot=certs.ca.certificate))
    reason = await lost(client)
    assert reason.check(TLSCertificateError)
    assert "Hostname mismatch" in str(reason.value)


class TinyHTTP(Recorder):
    """Answers one HTTP/1.1 request with a fixed body, then closes."""

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        if b"\r\n\r\n" in self.received:
            body = b"hello over " + (self.transport.negotiatedProtocol or b"?") + b"\n"
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                                 % (len(body), body))
            self.transport.loseConnection()


async def test_curl_against_torsion(reactor: Any, certs: Certs) -> None:
    """curl --cacert fetches a page from a tiny torsion HTTPS responder (ALPN http/1.1)."""
    curl = need("curl")
    servers = Servers(TinyHTTP)
    options = server_options(certs, acceptableProtocols=[b"http/1.1"])
    port = reactor.listenSSL(0, servers, options, interface=LOCAL).getHost().port
    argv = [curl, "--silent", "--show-error", "--max-time", str(PEER_TIMEOUT),
            "--cacert", str(certs.ca.cert_file), "--resolve", f"localhost:{port}:{LOCAL}",
            f"https://localhost:{port}/"]
    done = await run_in_thread(reactor, lambda: subprocess.run(
        argv, capture_output=True, timeout=PEER_TIMEOUT + 5, check=False))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"hello over http/1.1\n"
