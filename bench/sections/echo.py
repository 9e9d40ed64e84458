"""TCP echo: requests per second and p99 latency, 50 connections, 64 B and 4 KiB messages.

Each peer's echo server (``bench.peers.echo.py``) runs pinned to CPU 0; the load
generator is a small C program (``bench/tools/echoload.c``, built with gcc at run time)
pinned to CPU 1, so the load generator is not the bottleneck.  Each connection sends a
message and waits for all of it to come back before sending the next.
"""

from __future__ import annotations

import subprocess
import sys

from bench.model import BenchError, Case, Context, Direction, Measure, Measurement
from bench.servers import pin_to, serve, server_cpus
from bench.tools import build_c_tool

CONNECTIONS = 50
PEERS = ("torsion", "twisted", "asyncio", "uvloop", "torsion-asyncio", "torsion-uvloop")
"""``torsion`` is its default (epoll) backend; ``torsion-asyncio`` and ``torsion-uvloop``
run torsion protocols on those loops, to compare with the raw ``asyncio`` and ``uvloop``
protocols."""


def _echo(peer: str, size: int) -> Measure:
    def measure(context: Context) -> Measurement:
        load = build_c_tool("echoload")
        seconds = 1.0 if context.quick else max(2.0, context.budget)
        argv = [sys.executable, "-m", "bench.peers.echo", peer]
        with serve(argv, cpus=server_cpus()) as server:
            done = subprocess.run(
                [*pin_to(1), str(load), "127.0.0.1", str(server.port), str(CONNECTIONS), str(size),
                 str(seconds), "0.5"],
                capture_output=True, text=True, timeout=seconds + 30, check=False,
            )
        if done.returncode != 0:
            raise BenchError(f"echoload failed: {done.stderr.strip() or done.stdout.strip()}")
        fields = dict(item.split("=", 1) for item in done.stdout.split())
        if int(fields["errors"]):
            raise BenchError(f"echoload saw {fields['errors']} broken connections")
        return Measurement(
            float(fields["rps"]),
            "req/s",
            Direction.HIGHER_IS_BETTER,
            extra={"p50_us": int(fields["p50_us"]), "p99_us": int(fields["p99_us"])},
        )

    return measure


def _case(size: int) -> Case:
    return Case(
        name=f"echo{size}",
        about=f"{CONNECTIONS} connections echoing {size}-byte messages; requests per second.",
        peers={peer: _echo(peer, size) for peer in PEERS},
    )


CASES = [_case(64), _case(4096)]
