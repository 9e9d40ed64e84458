"""A longer soak of the download server: waves of concurrent downloads, and the server's
descriptors and memory watched between them.

    python -m bench.soak [--clients 500] [--waves 20] [--slots 50]

Starts ``dlserver serve`` (the ``bench.peers.dlserver`` server) on a generated catalog
with ``--slots`` download slots, then, ``--waves`` times: ``--clients`` connections at
once ask for the album zip and read it to the end (all but ``--slots`` of them wait in
the queue first); every body is checked. After each wave it prints the server's open
descriptors and resident memory, and at the end it fails (exit 1) if either grew past
its allowance after the first wave (the first wave sizes the allocator's arenas).
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import sys
import tempfile
import time
from pathlib import Path

from bench.sections.dlserver import MiB, _build
from bench.servers import serve

_FD_ALLOWANCE = 8
_RSS_ALLOWANCE = 32 * MiB


def _server_figures(pid: int) -> tuple[int, int]:
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/statm") as statm:
        rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return fds, rss


def _wave(port: int, target: str, clients: int, size: int) -> None:
    """``clients`` downloads of ``target`` at once, each read whole and checked."""
    request = (f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
               .encode("ascii"))
    received: dict[socket.socket, int] = {}
    heads: dict[socket.socket, bytes] = {}
    with selectors.DefaultSelector() as selector:
        for _ in range(clients):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(request)
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            received[sock] = 0
            heads[sock] = b""
        open_count = clients
        while open_count:
            for key, _ in selector.select(timeout=120):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                chunk = sock.recv(1 << 20)
                if not chunk:
                    selector.unregister(sock)
                    sock.close()
                    open_count -= 1
                    continue
                if len(heads[sock]) < 4096 and b"\r\n\r\n" not in heads[sock]:
                    heads[sock] += chunk[:4096]
                received[sock] += len(chunk)
    for sock, count in received.items():
        head, _, _ = heads[sock].partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200 ") or count != len(head) + 4 + size:
            raise SystemExit(f"a download came back wrong: {head[:60]!r}, {count} bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--waves", type=int, default=20)
    parser.add_argument("--slots", type=int, default=50)
    parser.add_argument("--track-mib", type=int, default=1, help="size of each of 8 tracks")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-dl-") as tmp:
        data, _, zipped, _, zip_size = _build(Path(tmp), args.track_mib * MiB)
        argv_server = [sys.executable, "-m", "bench.peers.dlserver", str(data),
                       "--slots", str(args.slots)]
        with serve(argv_server, ready_timeout=30) as server:
            assert server.port is not None
            pid = server.process.pid
            print(f"{'wave':>4} {'seconds':>8} {'fds':>5} {'rss MiB':>8}", flush=True)
            figures = []
            for wave in range(1, args.waves + 1):
                start = time.monotonic()
                _wave(server.port, zipped, args.clients, zip_size)
                time.sleep(0.5)  # let the server finish closing what the clients closed
                fds, rss = _server_figures(pid)
                figures.append((fds, rss))
                print(f"{wave:>4} {time.monotonic() - start:>8.2f} {fds:>5} {rss / MiB:>8.1f}",
                      flush=True)
    first_fds, first_rss = figures[0]
    last_fds, last_rss = figures[-1]
    grew = last_fds - first_fds > _FD_ALLOWANCE or last_rss - first_rss > _RSS_ALLOWANCE
    print(f"descriptors {first_fds} -> {last_fds}, memory {first_rss / MiB:.1f} -> "
          f"{last_rss / MiB:.1f} MiB: {'GREW' if grew else 'flat'}")
    return 1 if grew else 0


if __name__ == "__main__":
    sys.exit(main())
