"""``dlserver demo`` and ``dlserver serve`` as real processes: links printed, fetched with
curl, a clean exit on SIGTERM and SIGINT."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dlserver.links import parse_download_path
from support.peers import need


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes started by a test; any still running at the end is killed (by pid)."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def start(spawn: list[subprocess.Popen[str]], *argv: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-m", "dlserver.cli", *argv], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    spawn.append(process)
    return process


def read_until(process: subprocess.Popen[str], prefix: str) -> dict[str, str]:
    """``label: value`` lines up to the first starting with ``prefix`` (blocking read)."""
    assert process.stdout is not None
    lines: dict[str, str] = {}
    for line in process.stdout:
        label, _, value = line.strip().partition(": ")
        lines[label] = value
        if line.startswith(prefix):
            return lines
    errors = process.stderr.read() if process.stderr else ""
    raise AssertionError(f"no {prefix!r} line; stderr: {errors}")


def test_demo_prints_links_that_work(tmp_path: Path, spawn: list[subprocess.Popen[str]]) -> None:
    """dlserver demo builds the catalog, prints the operator URL and two signed links
    that curl downloads (a WAV and a valid zip), and exits 0 on SIGTERM."""
    curl = need("curl")
    process = start(spawn, "demo", "--listen", "tcp:0:interface=127.0.0.1", "--data",
                    str(tmp_path / "data"))
    lines = read_until(process, "serving")
    assert lines["operator"].startswith("http://127.0.0.1:") and lines["operator"].endswith(
        "/operator/")
    track, album = lines["track"], lines["album"]
    assert parse_download_path(urlsplit(track).path) is not None
    got = subprocess.run([curl, "-sS", "-f", track], capture_output=True, timeout=30,
                         check=False)
    assert got.returncode == 0 and got.stdout.startswith(b"RIFF"), got.stderr
    got = subprocess.run([curl, "-sS", "-f", album], capture_output=True, timeout=30,
                         check=False)
    assert got.returncode == 0, got.stderr
    with zipfile.ZipFile(io.BytesIO(got.stdout)) as archive:
        assert archive.testzip() is None and len(archive.namelist()) == 4
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    # A second run finds the catalog populated and does not rebuild it.
    again = start(spawn, "demo", "--listen", "tcp:0:interface=127.0.0.1", "--data",
                  str(tmp_path / "data"))
    lines = read_until(again, "serving")
    assert "demo catalog" not in lines and "track" in lines
    again.send_signal(signal.SIGINT)
    assert again.wait(timeout=30) == 0


def test_serve_on_two_endpoints(tmp_path: Path, spawn: list[subprocess.Popen[str]]) -> None:
    """dlserver serve listens on every --listen and says ready; a bad endpoint fails."""
    curl = need("curl")
    data = tmp_path / "data"
    sock = tmp_path / "dl.sock"
    process = start(spawn, "serve", "--listen", "tcp:0:interface=127.0.0.1", "--listen",
                    f"unix:{sock}", "--data", str(data), "--max-downloads", "1")
    line = read_until(process, "ready")
    url = next(iter(line)).split()[1]
    got = subprocess.run([curl, "-sS", url + "/status"], capture_output=True, timeout=30,
                         check=False)
    assert b'"max_downloads":1' in got.stdout
    over_unix = subprocess.run([curl, "-sS", "--unix-socket", str(sock),
                                "http://localhost/status"], capture_output=True, timeout=30,
                               check=False)
    assert b'"active":0' in over_unix.stdout
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    bad = start(spawn, "serve", "--listen", "nonsense:1", "--data", str(data))
    assert bad.wait(timeout=30) == 1
    assert bad.stderr is not None and "cannot listen" in bad.stderr.read()
