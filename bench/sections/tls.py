"""TLS bulk throughput on loopback: one connection, 1 GiB (64 MiB with --quick), bytes/s.

Each peer's TLS sender (``bench.peers.tls``) runs pinned to CPU 0 and sends the bytes
over TLS as fast as its flow control allows, then closes; the receiver, written with
the same library, runs in the measuring process pinned to CPU 1 and times from the end
of the handshake to the close.  Both ends use the standard library's OpenSSL with a
self-signed EC P-256 certificate made with ``openssl req`` at run time, so the cipher
(TLS 1.3, AES-256-GCM) is the same for every peer and the ratio measures the TLS layer
and the event loop, not the crypto library.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.model import BenchError, Case, Context, Direction, Measure, Measurement
from bench.servers import serve, server_cpus

PEERS = ("torsion", "asyncio", "uvloop")
"""``torsion`` is its default (epoll) backend; ``asyncio`` and ``uvloop`` use their own
TLS transports (``create_server(ssl=...)``)."""


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    done = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"openssl req failed (is openssl installed?): {done.stderr.strip()}")
    return cert, key


def _transfer(peer: str) -> Measure:
    def measure(context: Context) -> Measurement:
        from bench.peers.tls import receive  # noqa: PLC0415

        total = (64 if context.quick else 1024) * 1024 * 1024
        cpus = server_cpus()
        with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
            cert, key = _certificate(Path(tmp))
            argv = [sys.executable, "-m", "bench.peers.tls", "serve", peer, str(cert),
                    str(key), str(total)]
            with serve(argv, cpus=cpus) as server:
                if server.port is None:
                    raise BenchError("the TLS sender printed no port")
                if cpus:
                    os.sched_setaffinity(0, {1})
                count, seconds, cipher = receive(peer, server.port, str(cert))
        if count != total:
            raise BenchError(f"received {count} bytes of {total}")
        return Measurement(
            total / seconds,
            "B/s",
            Direction.HIGHER_IS_BETTER,
            extra={"bytes": total, "seconds": seconds, "cipher": cipher},
        )

    return measure


CASES = [
    Case(
        name="bulk",
        about="one TLS connection sending 1 GiB (64 MiB with --quick); bytes per second.",
        peers={peer: _transfer(peer) for peer in PEERS},
    )
]
