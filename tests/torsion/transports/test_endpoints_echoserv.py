"""examples/echoserv.py with --listen ENDPOINT (and --port as before), as a real process."""

from __future__ import annotations

import os
import select
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from unix_support import socket_dir

from support.peers import self_signed_certificate

REPO = Path(__file__).resolve().parents[3]
ECHOSERV = REPO / "examples" / "echoserv.py"


@pytest.fixture
def sockdir() -> Iterator[str]:
    """A short temporary directory for socket files."""
    with socket_dir() as path:
        yield path


class Server:
    """echoserv.py running with ``args``; ``ready`` is its first line of output."""

    def __init__(self, *args: str) -> None:
        self.stderr: bytes = b""
        self.process = subprocess.Popen(
            [sys.executable, str(ECHOSERV), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], 20)
        line = self.process.stdout.readline().decode() if readable else ""
        if not line.startswith("ready"):
            self.stop(signal.SIGKILL)
            pytest.fail(f"echoserv did not get ready: {line!r} {self.stderr!r}")
        self.ready = line.strip()

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum``; return the exit status."""
        self.process.send_signal(signum)
        try:
            _, self.stderr = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, self.stderr = self.process.communicate()
            pytest.fail("echoserv did not stop within 10 seconds")
        return self.process.returncode


def _echo(skt: socket.socket, message: bytes = b"hello echoserv") -> bytes:
    skt.settimeout(5)
    skt.sendall(message)
    received = b""
    while len(received) < len(message):
        chunk = skt.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_listen_unix(sockdir: str, backend: str) -> None:
    """--listen unix:PATH prints "ready", echoes, and removes socket and lock on SIGTERM."""
    path = os.path.join(sockdir, "echo.sock")
    server = Server("--listen", f"unix:{path}", "--reactor", backend)
    try:
        assert server.ready == "ready"
        assert os.readlink(path + ".lock") == str(server.process.pid)  # lockfile=1 by default
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
            assert _echo(client) == b"hello echoserv"
    finally:
        status = server.stop()
    assert status == 0, server.stderr
    assert not os.path.exists(path)
    assert not os.path.lexists(path + ".lock")


def test_listen_tcp_and_sigint() -> None:
    """--listen tcp:0:interface=127.0.0.1 prints "ready PORT", echoes, and stops on SIGINT."""
    server = Server("--listen", "tcp:0:interface=127.0.0.1")
    try:
        word, port = server.ready.split()
        assert word == "ready"
        with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as client:
            assert _echo(client) == b"hello echoserv"
    finally:
        status = server.stop(signal.SIGINT)
    assert status == 0, server.stderr


def test_port_still_works() -> None:
    """--port keeps its meaning: TCP on 127.0.0.1, "ready PORT"."""
    server = Server("--port", "0", "--reactor", "select")
    try:
        port = int(server.ready.split()[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            assert _echo(client, b"x" * 100_000) == b"x" * 100_000
    finally:
        assert server.stop() == 0


def test_listen_ssl(sockdir: str) -> None:
    """--listen ssl:... serves TLS a verifying client accepts."""
    cert, key = self_signed_certificate(Path(sockdir))
    server = Server("--listen", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}")
    try:
        port = int(server.ready.split()[1])
        context = ssl.create_default_context(cafile=cert)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="localhost") as client:
            assert _echo(client) == b"hello echoserv"
    finally:
        assert server.stop() == 0, server.stderr


@pytest.mark.parametrize(
    ("description", "status", "message"),
    [
        ("bogus:1", 2, "unknown server endpoint type 'bogus'"),
        ("tcp:port=x", 2, "port must be an integer"),
        ("unix:/nonexistent-dir/x.sock", 1, "no such directory '/nonexistent-dir'"),
    ],
)
def test_bad_endpoints(description: str, status: int, message: str) -> None:
    """A bad description exits 2, an endpoint that cannot listen exits 1; both say why."""
    result = subprocess.run(
        [sys.executable, str(ECHOSERV), "--listen", description],
        capture_output=True, timeout=20, check=False,
    )
    assert result.returncode == status
    assert message in result.stderr.decode()
    assert result.stdout == b""
