"""examples/hello.py, the hello-world benchmark's server, run as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("backend", ["epoll", "asyncio"])
def test_hello_answers_and_stops_on_sigterm(backend: str) -> None:
    """It prints ``ready PORT``, answers GET / with Hello, World!, and exits 0 on SIGTERM."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "hello.py"), "--port", "0", "--reactor", backend],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready "), line
        port = int(line.split()[1])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
            assert response.read() == b"Hello, World!"
            assert response.headers["Content-Type"] == "text/plain"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
