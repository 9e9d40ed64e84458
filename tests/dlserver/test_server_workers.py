"""``dlserver serve --workers N``: pre-forked workers sharing one port (SO_REUSEPORT),
their queue shared through a real redis-server, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_server_harness import build_data

from dlserver._cli_workers import _interface, worker_endpoint
from dlserver.catalog import Catalog
from dlserver.links import signer_for, track_path

pytestmark = pytest.mark.timeout(120)


def test_worker_endpoint() -> None:
    assert worker_endpoint("tcp:8080") == "tcp:8080:reusePort=yes"
    assert worker_endpoint("tcp:0:interface=127.0.0.1", 9000) == (
        "tcp:9000:interface=127.0.0.1:reusePort=yes")
    assert worker_endpoint("tcp6:port=0:interface=\\:\\:1", 9) == (
        "tcp6:9:interface=\\:\\:1:reusePort=yes")
    assert _interface("tcp6:0:interface=\\:\\:1") == (socket.AF_INET6, "::1")
    assert _interface("tcp:0") == (socket.AF_INET, "")
    for refused in ("unix:/tmp/x.sock", "ssl:8443:privateKey=k.pem", "tcp:interface=x"):
        with pytest.raises(ValueError, match="--workers"):
            worker_endpoint(refused)


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.add(int(entry))
            except OSError:
                pass
    return found


def test_workers_share_the_port_and_the_queue(tmp_path: Path, redis_url: str) -> None:
    data = build_data(tmp_path)
    server = subprocess.Popen(
        [sys.executable, "-m", "dlserver", "serve", "--workers", "2",
         "--listen", "tcp:0:interface=127.0.0.1", "--data", str(data),
         "--redis", redis_url, "--max-downloads", "3"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline().split()
        assert line[0] == "ready" and line[2] == "workers=2", line
        base = line[1]
        workers = children(server.pid)
        assert len(workers) == 2
        # New connections reach both workers (the page says which one answered).
        pids = set()
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:
            with urllib.request.urlopen(f"{base}/operator/stats.json", timeout=10) as r:
                pids.add(json.load(r)["pid"])
        assert pids == workers
        # Downloads work on every worker, with the queue's caps in Redis.
        with Catalog.open_data_dir(data) as catalog:
            track = catalog.search("Café")[0]
            expected = catalog.media_path(track.file.path).read_bytes()
        link = signer_for(data).sign(track_path(track), int(time.time()) + 600)
        for _ in range(6):
            with urllib.request.urlopen(base + link, timeout=10) as r:
                assert r.read() == expected
        with urllib.request.urlopen(f"{base}/status", timeout=10) as r:
            status = json.load(r)
        assert status["max_downloads"] == 3
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        if server.stdout is not None:
            server.stdout.close()
    assert not children(server.pid)  # no worker left behind
