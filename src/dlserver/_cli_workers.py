"""``dlserver serve --workers N``: N server processes sharing the listening ports.

The supervisor (this process) runs no reactor: it starts N copies of ``dlserver serve``
(``--workers 1``) whose ``tcp:``/``tcp6:`` endpoints carry ``reusePort=yes``, so the
kernel spreads new connections between them (``SO_REUSEPORT``). Port 0 is chosen once
here: a socket bound with ``SO_REUSEPORT`` (never listening, so it takes no connection)
holds the port until every worker listens on it. Each worker's queue and caps are its
own unless ``--redis`` shares them.

The supervisor prints ``ready URL workers=N`` once every worker is ready, restarts a
worker that dies (at most once a second), and on SIGTERM or SIGINT passes SIGTERM on
and waits for the workers' graceful stop.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

from dlserver._cli_common import fail
from dlserver.config import ServerConfig

__all__ = ["supervise", "worker_endpoint"]

_READY_TIMEOUT = 60.0


def worker_endpoint(description: str, port: int | None = None) -> str:
    """``description`` with ``reusePort=yes`` (and ``port`` for a port of 0).

    Example:
        >>> worker_endpoint("tcp:0:interface=127.0.0.1", 8080)
        'tcp:8080:interface=127.0.0.1:reusePort=yes'

    Raises:
        ValueError: not a ``tcp:``/``tcp6:`` endpoint with its port first.
    """
    kind, _, rest = description.partition(":")
    first, colon, tail = rest.partition(":")
    if kind not in ("tcp", "tcp6") or not first.removeprefix("port=").isdigit():
        raise ValueError(
            f"--workers shares tcp: and tcp6: ports only (tcp:PORT:...), not {description!r}"
        )
    number = int(first.removeprefix("port="))
    if number == 0 and port is not None:
        number = port
    return f"{kind}:{number}{colon}{tail}:reusePort=yes"


def _interface(description: str) -> tuple[int, str]:
    """The address family and interface a tcp endpoint binds."""
    kind = description.split(":", 1)[0]
    interface = "" if kind == "tcp" else "::"
    # Endpoint strings escape the colons of an IPv6 address: interface=\:\:1.
    for part in description.replace("\\:", "\0").split(":")[2:]:
        if part.startswith("interface="):
            interface = part.removeprefix("interface=").replace("\0", ":")
    family = socket.AF_INET6 if kind == "tcp6" or ":" in interface else socket.AF_INET
    return family, interface


def _reserve(description: str) -> tuple[socket.socket | None, str]:
    """Hold a port for a port-0 endpoint; returns the holder and the worker endpoint."""
    if worker_endpoint(description).split(":")[1] != "0":
        return None, worker_endpoint(description)
    family, interface = _interface(description)
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((interface, 0))
    return holder, worker_endpoint(description, holder.getsockname()[1])


def _worker_argv(args: argparse.Namespace, endpoints: list[str]) -> list[str]:
    argv = [sys.executable, "-m", "dlserver", "serve", "--data", str(args.data)]
    for endpoint in endpoints:
        argv += ["--listen", endpoint]
    options = {
        "--base-url": args.base_url, "--max-downloads": args.max_downloads,
        "--max-per-client": args.max_per_client, "--rate": args.rate,
        "--global-rate": args.global_rate, "--access-log": args.access_log,
        "--redis": args.redis, "--send-timeout": args.send_timeout,
    }
    for flag, value in options.items():
        if value is not None:
            argv += [flag, str(value)]
    if args.log_udp is not None:
        host, port = args.log_udp
        argv += ["--log-udp", f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    return argv


class _Workers:
    def __init__(self, argv: list[str], count: int) -> None:
        self.argv = argv
        self.count = count
        self.processes: list[subprocess.Popen[bytes]] = []
        self.stopping = False

    def spawn(self) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(self.argv, stdout=subprocess.PIPE)
        self.processes.append(process)
        return process

    def wait_ready(self, processes: list[subprocess.Popen[bytes]]) -> str | None:
        """The URL the workers print once ready, or None if one failed or timed out."""
        url = None
        waiting = {p.stdout.fileno(): p for p in processes if p.stdout is not None}
        lines = {fd: b"" for fd in waiting}
        deadline = time.monotonic() + _READY_TIMEOUT
        while waiting and not self.stopping:
            left = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select(list(waiting), [], [], left)
            if not ready:
                return None
            for fd in ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return None  # it exited before saying ready
                lines[fd] += chunk
                if b"\n" in lines[fd]:
                    words = lines[fd].split(b"\n", 1)[0].split()
                    if words[:1] == [b"ready"]:
                        url = words[1].decode() if len(words) > 1 else ""
                        del waiting[fd]
        return url

    def terminate(self) -> None:
        self.stopping = True
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    def reap(self) -> None:
        for process in self.processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def supervise(args: argparse.Namespace, config: ServerConfig) -> int:
    """Run ``args.workers`` workers until SIGTERM or SIGINT; returns the exit status."""
    try:
        reserved = [_reserve(description) for description in config.listen]
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    workers = _Workers(_worker_argv(args, [endpoint for _, endpoint in reserved]), args.workers)

    def stop(signum: int, frame: FrameType | None) -> None:
        workers.terminate()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        url = workers.wait_ready([workers.spawn() for _ in range(args.workers)])
        for holder, _ in reserved:
            if holder is not None:
                holder.close()  # the workers hold the port now
        if url is None:
            if not workers.stopping:
                workers.terminate()
                return fail("a worker did not start (see its messages above)")
            return 0
        print("ready", url, f"workers={args.workers}", flush=True)
        last_restart = 0.0
        while not workers.stopping:
            for index, process in enumerate(workers.processes):
                if process.poll() is not None and not workers.stopping:
                    # A worker died: replace it (not in a tight loop if it keeps dying).
                    time.sleep(max(0.0, last_restart + 1.0 - time.monotonic()))
                    if workers.stopping:
                        break  # a stop came during the wait: no new worker
                    last_restart = time.monotonic()
                    print(f"worker {process.pid} exited ({process.returncode}); restarting",
                          file=sys.stderr, flush=True)
                    if process.stdout is not None:
                        process.stdout.close()
                    workers.processes.pop(index)
                    workers.wait_ready([workers.spawn()])
                    break
            else:
                time.sleep(0.2)  # signals interrupt it; a dead worker waits 0.2 s at most
        return 0
    finally:
        workers.terminate()
        workers.reap()
        for holder, _ in reserved:
            if holder is not None:
                holder.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
