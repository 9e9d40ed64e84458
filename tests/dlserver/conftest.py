"""Fixtures shared by the dlserver tests: a real redis-server per test."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from support.peers import need, stop


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A fresh redis-server on a UNIX socket; its ``unix://`` URL."""
    redis = need("redis-server")
    # A short directory: UNIX socket paths are limited to 107 bytes.
    home = tempfile.mkdtemp(prefix="rds", dir="/tmp")
    sock = os.path.join(home, "redis.sock")
    process = subprocess.Popen(
        [
            redis,
            "--port",
            "0",
            "--unixsocket",
            sock,
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            home,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_socket(sock, process)
        yield f"unix://{sock}"
    finally:
        stop(process)
        shutil.rmtree(home, ignore_errors=True)


def _wait_for_socket(path: str, process: subprocess.Popen[bytes]) -> None:
    # Startup readiness: poll for the socket to accept (not a test's sync point).
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, "redis-server exited at startup"
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(path)
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
            except OSError:
                pass
        time.sleep(0.02)
    raise RuntimeError("redis-server did not start")


