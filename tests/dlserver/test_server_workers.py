"""``dlserver serve --workers N``: pre-forked workers sharing one port (SO_REUSEPORT),
their queue shared through a real redis-server, and a clean stop on SIGTERM."""

from __future__ import annotations

import itertools
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

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


def process_state(pid: int) -> str | None:
    """The state letter of ``pid`` (``Z`` for a zombie), None once it is reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


class StderrLines:
    """The supervisor's stderr (its workers' too), read by a thread as it arrives."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, pattern: str, timeout: float = 30) -> tuple[float, re.Match[str]]:
        """When the next line matching ``pattern`` arrived, and its match."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                arrived, line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if found := re.fullmatch(pattern, line):
                return arrived, found
        raise AssertionError(f"no line matching {pattern!r} on stderr; saw {self.seen}")

    def join(self) -> None:
        self._thread.join(timeout=10)  # EOF once the supervisor and its workers are gone


def start_supervisor(data: Path, redis_url: str) -> tuple[subprocess.Popen[str], str]:
    """``serve --workers 2`` on a port of 0, stderr piped; the process and its base URL."""
    server = subprocess.Popen(
        [sys.executable, "-m", "dlserver", "serve", "--workers", "2",
         "--listen", "tcp:0:interface=127.0.0.1", "--data", str(data),
         "--redis", redis_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline().split()
    if line[:1] != ["ready"] or line[2:] != ["workers=2"]:
        server.terminate()  # SIGTERM: its workers are stopped too
        _, errors = server.communicate(timeout=60)
        raise AssertionError(f"supervisor said {line}, stderr: {errors}")
    return server, line[1]


def stop_supervisor(server: subprocess.Popen[str], stderr: StderrLines,
                    workers: set[int]) -> None:
    """SIGTERM: the supervisor exits 0 and every worker it ran is gone (reaped)."""
    server.send_signal(signal.SIGTERM)
    try:
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        stderr.join()
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()
    # Leaked workers would be orphans (no longer children of the supervisor): look them up.
    assert {pid: process_state(pid) for pid in workers} == dict.fromkeys(workers)


def replaced_workers(server: subprocess.Popen[str], gone: set[int]) -> set[int]:
    """The supervisor's two workers once none of ``gone`` is among them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = children(server.pid)
        if len(workers) == 2 and not workers & gone:
            return workers
        time.sleep(0.05)
    raise AssertionError(f"workers {children(server.pid)}, still {gone} or not two")


def wait_serving(base: str, workers: set[int]) -> None:
    """Every one of ``workers`` answers on the shared port (the page says which did)."""
    answered: set[int] = set()
    deadline = time.monotonic() + 30
    while answered != workers and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/operator/stats.json", timeout=10) as r:
                answered.add(json.load(r)["pid"])
        except OSError:
            time.sleep(0.05)
    assert answered == workers


def assert_downloads(data: Path, base: str) -> None:
    """Several signed track links through the shared port send the track."""
    with Catalog.open_data_dir(data) as catalog:
        track = catalog.search("Café")[0]
        expected = catalog.media_path(track.file.path).read_bytes()
    link = signer_for(data).sign(track_path(track), int(time.time()) + 600)
    for _ in range(6):
        with urllib.request.urlopen(base + link, timeout=10) as r:
            assert r.read() == expected


def test_a_killed_worker_is_restarted(tmp_path: Path, redis_url: str) -> None:
    data = build_data(tmp_path)
    server, base = start_supervisor(data, redis_url)
    assert server.stderr is not None
    stderr = StderrLines(server.stderr)
    first = children(server.pid)
    seen = set(first)
    try:
        assert len(first) == 2
        wait_serving(base, first)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        stderr.wait_for(rf"worker {victim} exited \(-9\); restarting")
        assert process_state(victim) is None  # reaped before the line, not a zombie
        second = replaced_workers(server, {victim})
        seen |= second
        assert second - first and first - second == {victim}
        assert all(process_state(pid) not in (None, "Z") for pid in second)
        wait_serving(base, second)
        assert_downloads(data, base)
    finally:
        stop_supervisor(server, stderr, seen)


def test_a_worker_that_keeps_dying_is_restarted_once_a_second(
        tmp_path: Path, redis_url: str) -> None:
    data = build_data(tmp_path)
    server, base = start_supervisor(data, redis_url)
    assert server.stderr is not None
    stderr = StderrLines(server.stderr)
    first = children(server.pid)
    seen = set(first)
    try:
        assert len(first) == 2
        wait_serving(base, first)
        # A file where the data directory was: a new worker cannot start (exit status 1),
        # the running ones keep their open catalog.
        away = data.rename(tmp_path / "away")
        data.write_text("not a directory")
        victim, survivor = sorted(first)
        os.kill(victim, signal.SIGKILL)
        stderr.wait_for(rf"worker {victim} exited \(-9\); restarting")
        times = []
        for _ in range(3):
            arrived, found = stderr.wait_for(r"worker (\d+) exited \(1\); restarting")
            times.append(arrived)
            seen.add(int(found[1]))
            assert process_state(int(found[1])) is None
        # At most one restart a second (a little slack: the lines are timed on arrival).
        assert all(later - earlier > 0.8 for earlier, later in itertools.pairwise(times))
        wait_serving(base, {survivor})  # the other worker serves on meanwhile
        data.unlink()
        away.rename(data)
        second = replaced_workers(server, seen - {survivor})
        seen |= second
        assert survivor in second
        wait_serving(base, second)
        assert_downloads(data, base)
    finally:
        stop_supervisor(server, stderr, seen)
