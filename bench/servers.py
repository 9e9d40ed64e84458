"""For sections that measure servers: start one as a subprocess, wait until it is ready, end it.

A server-measuring case is an ordinary measure (it runs in the child process like any
other); it uses ``serve`` to start the peer's server, runs a load tool such as ``wrk``
or a C client against it, and returns the rate it reports::

    def measure(context: Context) -> Measurement:
        port = free_port()
        argv = [sys.executable, "bench/sections/_echo_server.py", "torsion", str(port)]
        with serve(argv, cpus={0}):
            rate = run_load_tool(port, seconds=2 if context.quick else 10, cpus={1})
        return Measurement(rate, "req/s", Direction.HIGHER_IS_BETTER)

A server tells it is ready by printing a line that starts with ``ready`` on stdout,
after it is listening; it may bind port 0 and print ``ready PORT`` instead of taking
a port from ``free_port``.  Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from dataclasses import dataclass

from bench.model import BenchError


def server_cpus() -> set[int] | None:
    """The CPU a measured server is pinned to (CPU 0), or None on a one-CPU machine."""
    return {0} if (os.cpu_count() or 1) > 1 else None


def pin_to(cpu: int) -> list[str]:
    """The ``taskset`` prefix that runs a load tool on ``cpu`` (empty on one CPU)."""
    return ["taskset", "-c", str(cpu)] if (os.cpu_count() or 1) > 1 else []


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True)
class Server:
    """A running server: its process and the port from its ``ready PORT`` line, if any."""

    process: subprocess.Popen[str]
    port: int | None


@contextmanager
def serve(
    argv: Sequence[str],
    *,
    ready_timeout: float = 10.0,
    cpus: Set[int] | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """Run ``argv`` until the block ends; the block starts once it printed ``ready``.

    Args:
        argv: the server's command line.
        ready_timeout: seconds to wait for the ready line.
        cpus: pin the server to these CPUs (e.g. ``{0}``, with the load tool on ``{1}``).
        env: the server's environment; the current one when ``None``.

    Raises:
        BenchError: the server exited or stayed silent before it was ready.
    """
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus is not None else None
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=None if env is None else dict(env),
        start_new_session=True,  # so stopping it also stops anything it started
        preexec_fn=pin,  # noqa: PLW1509 -- the parent of a benchmark child has no threads
    )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process, lines), daemon=True).start()
    try:
        yield Server(process, _wait_ready(process, lines, argv, ready_timeout))
    finally:
        _stop(process)


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """Read the server's output to the end, so it never blocks on a full pipe."""
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    lines.put(None)


def _wait_ready(
    process: subprocess.Popen[str],
    lines: queue.Queue[str | None],
    argv: Sequence[str],
    timeout: float,
) -> int | None:
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError(f"{argv[0]} printed no ready line in {timeout:g} s") from None
        if line is None:
            process.wait()
            output = "".join(seen[-20:])
            raise BenchError(f"{argv[0]} exited {process.returncode} before ready:\n{output}")
        if line.startswith("ready"):
            words = line.split()
            return int(words[1]) if len(words) > 1 and words[1].isdigit() else None
        seen.append(line)


def _stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the server's process group, then SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
