"""A bounded soak test: 500 downloads at once on a live server.

50 slots, 500 connections each asking for the 8 MiB track and reading nothing (a body
that cannot fit in the socket buffers holds its slot): 50 download, 450 wait. The
clients then leave one by one, each departure granting the next waiter, in arrival
order; the last ten read their whole file. Afterwards the server holds no slot, no
waiter, no extra descriptor, and its memory is back near where it started.
"""

from __future__ import annotations

import os
import selectors
import socket
from pathlib import Path
from typing import Any

import pytest
from test_server_harness import LOCAL, Running, build_data

from support.deferreds import run_in_thread

pytestmark = pytest.mark.torsion_timeout(120)

CLIENTS = 500
SLOTS = 50
READERS = 10


def open_fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def connect_all(port: int, target: str) -> list[socket.socket]:
    request = (f"GET {target} HTTP/1.1\r\nHost: {LOCAL}\r\nConnection: close\r\n\r\n"
               .encode("ascii"))
    sockets = []
    for _ in range(CLIENTS):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((LOCAL, port))
        sock.sendall(request)
        sockets.append(sock)
    return sockets


def read_all(sockets: list[socket.socket]) -> list[bytes]:
    """Read each socket to EOF, all at once."""
    received = {sock: bytearray() for sock in sockets}
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        left = len(sockets)
        while left:
            for key, _ in selector.select(timeout=30):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                chunk = sock.recv(1 << 20)
                if chunk:
                    received[sock] += chunk
                else:
                    selector.unregister(sock)
                    left -= 1
    return [bytes(received[sock]) for sock in sockets]


async def test_500_downloads_held_queued_in_order_and_cleaned_up(
    reactor: Any, tmp_path: Path
) -> None:
    data = build_data(tmp_path)
    running = await Running.start(reactor, data, max_downloads=SLOTS, max_per_client=CLIENTS)
    slots = running.server.slots
    arrivals: list[int] = []
    grants: list[int] = []
    acquire = slots.acquire

    def recording_acquire(client: str, item: str) -> Any:
        ticket = acquire(client, item)
        index = len(arrivals)
        arrivals.append(index)
        ticket.granted.addCallback(lambda slot: (grants.append(index), slot)[1])
        return ticket

    slots.acquire = recording_acquire  # type: ignore[method-assign]
    big = running.track_titled("Long")
    expected = running.media(big)
    target = running.track_url(big).removeprefix(running.base)
    fds_before, rss_before = open_fds(), rss()

    sockets = await run_in_thread(reactor, lambda: connect_all(running.port, target))
    held = await run_in_thread(reactor, lambda: running.wait_status(
        lambda s: s["active"] == SLOTS and s["waiting"] == CLIENTS - SLOTS, timeout=60))
    assert held["client"]["positions"] == list(range(1, CLIENTS - SLOTS + 1))

    # Leave one by one (the 50 holders first, then each newly granted one), keeping the
    # last READERS connections to read their files to the end.
    for sock in sockets[:-READERS]:
        sock.close()

    readers = sockets[-READERS:]

    def read_and_check() -> list[bool]:
        checked = []
        for body in read_all(readers):
            head, _, payload = body.partition(b"\r\n\r\n")
            checked.append(head.startswith(b"HTTP/1.1 200 ") and payload == expected)
        return checked  # the bodies themselves are gone before memory is measured

    assert await run_in_thread(reactor, read_and_check) == [True] * READERS
    for sock in readers:
        sock.close()

    assert len(arrivals) == CLIENTS
    # FIFO: slots went out in arrival order (a waiter that left before its turn was
    # never granted one), to the first SLOTS at once and at least to the READERS.
    assert grants == sorted(set(grants)) and grants[:SLOTS] == list(range(SLOTS))
    assert len(grants) >= SLOTS + READERS
    final = await run_in_thread(reactor, lambda: running.wait_status(
        lambda s: s["active"] == 0 and s["waiting"] == 0, timeout=60))
    assert final["client"]["positions"] == []
    await running.stop()
    leaked = open_fds() - fds_before
    assert not leaked, [os.readlink(f"/proc/self/fd/{fd}") for fd in leaked
                        if os.path.exists(f"/proc/self/fd/{fd}")]
    # About 6 MB here (500 connections' worth of allocator arenas); a leak of the
    # 8 MiB bodies or of per-connection state would be far above this bound.
    assert rss() - rss_before < 32 * 1024 * 1024
