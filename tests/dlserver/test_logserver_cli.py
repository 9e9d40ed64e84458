"""``dlserver logserver`` as a process: UDP in, the HTTP JSON API and /metrics out (curl),
a clean stop on SIGTERM that writes the last batch, then ``logserver query``."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlserver.events import DownloadEvent, EventKind, ItemKind, encode_event
from dlserver.logserver import main
from support.peers import need

LOCAL = "127.0.0.1"


def _command(*args: str) -> list[str]:
    # Through run() and main(), as `dlserver logserver ...` will once cli.py lists it.
    return [sys.executable, "-c", "import sys; from dlserver.logserver import main;"
            " raise SystemExit(main(sys.argv[1:]))", *args]


def _curl(*args: str) -> bytes:
    done = subprocess.run([need("curl"), "-sS", *args], capture_output=True, timeout=30, check=True)
    return done.stdout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """A running log server on ephemeral ports: (process, udp "host:port", base URL)."""
    process = subprocess.Popen(
        _command("--listen", f"udp:0:interface={LOCAL}", "--data", str(tmp_path / "logs"),
                 "--http", f"tcp:0:interface={LOCAL}", "--batch", "1000",
                 "--flush-ms", "600000"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready = process.stdout.readline().split()
        assert ready[:1] == ["ready"], process.stderr.read() if process.stderr else ""
        udp = ready[1].removeprefix("udp:")
        yield process, udp, ready[2].rstrip("/")
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def _metric(url: str, outcome: str) -> float:
    text = _curl(url + "/metrics").decode()
    prefix = f'dlserver_logserver_datagrams_total{{outcome="{outcome}"}} '
    line = next(line for line in text.splitlines() if line.startswith(prefix))
    return float(line[len(prefix):])


def test_logserver_process_end_to_end(server: tuple[subprocess.Popen[str], str, str],
                                      tmp_path: Path) -> None:
    """Events sent over UDP are counted in /metrics, stored (the last partial batch on
    SIGTERM), and answered by /stats/top and by `logserver query top`."""
    process, udp, url = server
    host, port = udp.rsplit(":", 1)
    now = time.time()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for n in range(30):
            kind = EventKind.FINISHED if n < 20 else EventKind.ABORTED
            item = "a1" if n % 3 else "a2"
            s.sendto(encode_event(DownloadEvent(kind, f"d{n}", ItemKind.ALBUM, item,
                                                "192.0.2.5", 100, 1.0, 200, now, 1)),
                     (host, int(port)))
        s.sendto(b"\xffnot an event", (host, int(port)))
    deadline = time.monotonic() + 30
    while _metric(url, "received") < 31:  # polls the server's own count, bounded
        assert time.monotonic() < deadline, "the datagrams never arrived"
        time.sleep(0.02)
    assert _metric(url, "malformed") == 1
    assert _metric(url, "stored") == 0  # still waiting for its batch

    bad = _curl("-w", "%{http_code}", url + "/stats/top?days=0")
    assert bad.endswith(b"400") and b"days must be" in bad

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0

    data = tmp_path / "logs"
    done = subprocess.run(_command("query", "top", "--days", "7", "--data", str(data)),
                          capture_output=True, text=True, timeout=60, check=True)
    rows = json.loads(done.stdout)["rows"]
    # a1: n % 3 != 0 -> 20 events, of which n < 20 finished: 13; a2: 10 events, 7 finished.
    assert rows == [
        {"item_kind": "album", "item_id": "a1", "started": 0, "downloads": 13,
         "aborted": 7, "bytes": 2000},
        {"item_kind": "album", "item_id": "a2", "started": 0, "downloads": 7,
         "aborted": 3, "bytes": 1000},
    ]


async def test_stats_http_endpoint(reactor: object, tmp_path: Path) -> None:
    """GET /stats/top?days=7 on a Site in this process answers JSON, 400 on bad input."""
    from dlserver._logdb import LogStore  # noqa: PLC0415
    from dlserver._logdb_http import StatsResource  # noqa: PLC0415
    from torsion.utils import getProcessOutputAndValue  # noqa: PLC0415
    from torsion.web.resource import Resource  # noqa: PLC0415
    from torsion.web.server import Site  # noqa: PLC0415

    now = time.time()
    store = LogStore(tmp_path, lambda: now)
    store.write([(DownloadEvent(EventKind.FINISHED, "d", ItemKind.TRACK, "t9", "c", 5,
                                timestamp=now), now)])
    store.close()
    root = Resource()
    root.putChild(b"stats", StatsResource(tmp_path, reactor))
    port = reactor.listenTCP(0, Site(root, reactor=reactor), interface=LOCAL)  # type: ignore[attr-defined]
    base = f"http://{LOCAL}:{port.getHost().port}/stats"
    curl = need("curl")
    out, _, code = await getProcessOutputAndValue(
        curl, ["-sS", "-i", base + "/top?days=7&kind=track"], reactor=reactor)
    head, _, body = out.partition(b"\r\n\r\n")
    assert code == 0 and head.startswith(b"HTTP/1.1 200")
    assert b"content-type: application/json" in head.lower()
    assert json.loads(body)["rows"] == [{"item_kind": "track", "item_id": "t9", "started": 0,
                                         "downloads": 1, "aborted": 0, "bytes": 5}]
    out, _, _ = await getProcessOutputAndValue(
        curl, ["-sS", "-w", " %{http_code}", base + "/weekly"], reactor=reactor)
    assert out.endswith(b" 400") and b"unknown query" in out
    await port.stopListening()


def test_command_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Missing or bad --listen, and a bad --rotate-days, exit 1 with a message."""
    assert main(["--data", str(tmp_path)]) == 1
    assert "needs --listen" in capsys.readouterr().err
    assert main(["--listen", "tcp:80", "--data", str(tmp_path)]) == 1
    assert "not a UDP endpoint" in capsys.readouterr().err
    assert main(["--listen", "udp:0", "--rotate-days", "0", "--data", str(tmp_path)]) == 1
    assert "rotate_days" in capsys.readouterr().err
    assert main(["query", "daily", "--data", str(tmp_path / "none")]) == 0
    assert json.loads(capsys.readouterr().out)["rows"] == []
    assert main(["query", "top", "--days", "0", "--data", str(tmp_path)]) == 1
    assert "days must be" in capsys.readouterr().err
