"""Real peers talk to torsion's TCP on every backend: socat, netcat-openbsd, Python sockets.

``examples/echoserv.py`` runs in a child process on the backend under test;
the peers send data, half-close (``socat``'s default, ``nc -N``,
``shutdown(SHUT_WR)``) and must get every byte back before the server closes.
``socat`` also serves as an echo server for torsion's client.  The programs
come from Debian (``socat``, ``netcat-openbsd``): installed by ``.ci/run``;
outside CI a missing one skips its tests.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reactor_support import REPO, Recorder, read_ready_line, run_until, spawn_python

from support.peers import need
from torsion.protocol import ClientCreator

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB, every byte value


@pytest.fixture
def echo_server(backend: str) -> Iterator[int]:
    """``examples/echoserv.py`` on ``backend``; yields its port, stops it with SIGTERM."""
    child = spawn_python([str(REPO / "examples" / "echoserv.py"), "--port", "0",
                          "--reactor", backend])
    try:
        words = read_ready_line(child).split()
        assert words[0] == "ready", words
        yield int(words[1])
        child.terminate()
        _, err = child.communicate(timeout=15)
        assert child.returncode == 0, err
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


@pytest.fixture
def payload_file(tmp_path: Path) -> Path:
    path = tmp_path / "payload.bin"
    path.write_bytes(PAYLOAD)
    return path


def _run(args: list[str], stdin: Path) -> bytes:
    with stdin.open("rb") as f:
        done = subprocess.run(args, stdin=f, capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def test_socat_client(echo_server: int, payload_file: Path) -> None:
    """socat sends 1 MiB, half-closes, and reads the whole echo back."""
    socat = need("socat")
    out = _run([socat, "-t", "10", "-", f"TCP:127.0.0.1:{echo_server}"], payload_file)
    assert out == PAYLOAD


def test_netcat_client(echo_server: int, payload_file: Path) -> None:
    """OpenBSD netcat (``nc -N``) sends 1 MiB, shuts down its side, reads the whole echo back."""
    nc = need("nc", "netcat-openbsd")
    out = _run([nc, "-N", "127.0.0.1", str(echo_server)], payload_file)
    assert out == PAYLOAD


def test_python_socket_client(echo_server: int) -> None:
    """A plain Python socket: request/response turns, then half-close and drain."""
    with socket.create_connection(("127.0.0.1", echo_server), timeout=10) as peer:
        for i in range(100):
            message = b"turn %d\n" % i
            peer.sendall(message)
            got = b""
            while len(got) < len(message):
                got += peer.recv(len(message) - len(got))
            assert got == message
        peer.sendall(PAYLOAD)
        peer.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := peer.recv(65536):
            chunks.append(chunk)
    assert b"".join(chunks) == PAYLOAD


def test_python_socket_many_clients(echo_server: int) -> None:
    """50 plain sockets open together each get their own echo."""
    peers = [socket.create_connection(("127.0.0.1", echo_server), timeout=10) for _ in range(50)]
    try:
        for i, peer in enumerate(peers):
            peer.sendall(b"%03d" % i)
        for i, peer in enumerate(peers):
            got = b""
            while len(got) < 3:
                got += peer.recv(3 - len(got))
            assert got == b"%03d" % i
    finally:
        for peer in peers:
            peer.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_torsion_client_to_socat_server(reactor: Any) -> None:
    """torsion's TCP client gets 1 MiB echoed back by a socat echo server."""
    socat = need("socat")
    number = _free_port()
    server = subprocess.Popen(
        [socat, f"TCP-LISTEN:{number},bind=127.0.0.1,reuseaddr,fork", "EXEC:cat"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", number)) == 0:
                    break
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("socat did not start listening")
            time.sleep(0.02)

        async def scenario() -> bytes:
            client: Recorder = await ClientCreator(reactor, Recorder).connectTCP(
                "127.0.0.1", number)
            client.transport.write(PAYLOAD)
            received = await client.wait_bytes(len(PAYLOAD))
            client.transport.loseConnection()
            await client.lost
            return received

        assert run_until(reactor, scenario(), timeout=30) == PAYLOAD
    finally:
        server.terminate()
        server.communicate(timeout=10)
