"""HTTP/1.1: hello-world requests per second (wrk, keep-alive) and large-file downloads.

``hello``: each peer's hello-world server (``bench.peers.http hello``; torsion's is
``examples/hello.py``) pinned to CPU 0, ``wrk -t1 -c64`` pinned to CPU 1 for 5 s (2 s
with --quick); the value is wrk's requests per second, any socket error or non-2xx
answer fails the measurement. ``download``: one ``curl`` (CPU 1) fetching a 1 GiB file
(256 MiB with --quick) made in a temporary directory from each peer's static file
server (CPU 0), bytes per second to /dev/null.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.model import BenchError, Case, Context, Direction, Measure, Measurement
from bench.servers import pin_to, serve, server_cpus

HELLO_PEERS = (
    "torsion", "torsion-pure", "torsion-poll", "torsion-select", "torsion-asyncio",
    "torsion-uvloop", "twisted", "aiohttp", "uvicorn",
)
"""``torsion`` is its default (epoll) backend, ``torsion-pure`` the same without the C
accelerator (``TORSION_NO_SPEEDUPS=1``), ``torsion-NAME`` the other backends (tk, a GUI
loop, is left out); ``uvicorn`` runs a bare ASGI app on httptools and uvloop."""
FILE_PEERS = ("torsion", "twisted", "aiohttp", "nginx")
"""torsion's ``static.File`` (sendfile), Twisted's ``static.File``, aiohttp's
``FileResponse`` (sendfile too), nginx (Debian nginx-light, ``sendfile on``)."""
CONNECTIONS = 64
MiB = 1024 * 1024


def _wrk_latency(out: str, label: str) -> float | None:
    match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    if match is None:
        return None
    scale = {"us": 1.0, "ms": 1e3, "s": 1e6}[match.group(2)]
    return float(match.group(1)) * scale


def _hello(peer: str) -> Measure:
    def measure(context: Context) -> Measurement:
        wrk = shutil.which("wrk")
        if wrk is None:
            raise BenchError("wrk is not installed (apt-get install wrk)")
        seconds = 2 if context.quick else 5
        argv = [sys.executable, "-m", "bench.peers.http", "hello", peer]
        with serve(argv, cpus=server_cpus()) as server:
            done = subprocess.run(
                [*pin_to(1), wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
                 f"http://127.0.0.1:{server.port}/"],
                capture_output=True, text=True, timeout=seconds + 30, check=False,
            )
        out = done.stdout
        rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
        if done.returncode != 0 or rate is None:
            raise BenchError(f"wrk failed: {done.stderr.strip() or out.strip()}")
        for problem in ("Socket errors", "Non-2xx"):
            if problem in out:
                line = next(x for x in out.splitlines() if problem in x)
                raise BenchError(f"wrk reported {line.strip()}")
        return Measurement(
            float(rate.group(1)), "req/s", Direction.HIGHER_IS_BETTER,
            extra={"p50_us": _wrk_latency(out, "50"), "p99_us": _wrk_latency(out, "99")},
        )

    return measure


def _make_file(path: Path, size: int) -> None:
    block = bytes(range(256)) * (4 * MiB // 256)
    with open(path, "wb") as f:
        left = size
        while left:
            piece = block[: min(left, len(block))]
            f.write(piece)
            left -= len(piece)


def _download(peer: str) -> Measure:
    def measure(context: Context) -> Measurement:
        curl = shutil.which("curl")
        if curl is None:
            raise BenchError("curl is not installed (apt-get install curl)")
        if peer == "nginx" and not any(os.path.exists(p) for p in
                                       ("/usr/sbin/nginx", "/usr/bin/nginx")):
            raise BenchError("nginx is not installed (apt-get install nginx-light)")
        size = (256 if context.quick else 1024) * MiB
        with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
            _make_file(Path(tmp) / "big.bin", size)
            argv = [sys.executable, "-m", "bench.peers.http", "files", peer, tmp]
            with serve(argv, cpus=server_cpus()) as server:
                done = subprocess.run(
                    [*pin_to(1), curl, "-sS", "-o", "/dev/null", "-w",
                     "%{http_code} %{size_download} %{time_total}",
                     f"http://127.0.0.1:{server.port}/big.bin"],
                    capture_output=True, text=True, timeout=120, check=False,
                )
        fields = done.stdout.split()
        if done.returncode != 0 or len(fields) != 3:
            raise BenchError(f"curl failed: {done.stderr.strip() or done.stdout}")
        status, count, seconds = int(fields[0]), int(fields[1]), float(fields[2])
        if status != 200 or count != size:
            raise BenchError(f"got status {status} and {count} bytes of {size}")
        return Measurement(size / seconds, "B/s", Direction.HIGHER_IS_BETTER,
                           extra={"bytes": size, "seconds": seconds})

    return measure


CASES = [
    Case(
        name="hello",
        about=f"wrk -t1 -c{CONNECTIONS} keep-alive GET / -> 'Hello, World!'; requests per second.",
        peers={peer: _hello(peer) for peer in HELLO_PEERS},
    ),
    Case(
        name="download",
        about="curl downloading a 1 GiB file (256 MiB with --quick) to /dev/null; bytes per s.",
        peers={peer: _download(peer) for peer in FILE_PEERS},
    ),
]
