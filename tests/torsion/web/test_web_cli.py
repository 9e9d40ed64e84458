"""``torsion web`` (src/torsion/_cli_web.py) as a user runs it: a process serving a folder.

Run as ``python -m torsion._cli_web`` (the subcommand without the ``torsion`` entry
point) and talked to with curl.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.peers import need, self_signed_certificate

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def web(*args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """Start the server; yield it and the URLs of its ready line; stop it at the end."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-m", "torsion._cli_web", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("ready"), line + (process.stderr.read() if process.stderr else "")
        yield process, line.split()[1:]
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([need("curl"), "-sS", *args], capture_output=True, timeout=30,
                          check=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "a.txt").write_bytes(b"file a\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "big.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    return tmp_path


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_folder_on_several_endpoints_and_stops(folder: Path, sig: int) -> None:
    """Two --listen endpoints, both serving the folder; the ready line names both URLs;
    SIGTERM or SIGINT stops it with status 0."""
    listen = "tcp:0:interface=127.0.0.1"
    with web("--listen", listen, "--listen", listen, "--path", str(folder)) as (process, urls):
        assert len(urls) == 2 and all(u.startswith("http://127.0.0.1:") for u in urls)
        for url in urls:
            assert curl(url + "a.txt").stdout == b"file a\n"
        assert b"sub/" in curl(urls[0]).stdout
        process.send_signal(sig)
        assert process.wait(timeout=10) == 0


def test_no_listing(folder: Path) -> None:
    """--no-listing answers 403 for a directory without an index."""
    with web("--listen", "tcp:0:interface=127.0.0.1", "--path", str(folder),
             "--no-listing") as (_, urls):
        got = curl("-o", "/dev/null", "-w", "%{http_code}", urls[0] + "sub/")
        assert got.stdout == b"403"


def test_sigterm_lets_a_download_finish(folder: Path) -> None:
    """A download in progress at SIGTERM completes before the process exits."""
    with web("--listen", "tcp:0:interface=127.0.0.1", "--path", str(folder)) as (process, urls):
        download = subprocess.Popen(
            [need("curl"), "-sS", "--limit-rate", "8M", "-o", "-", urls[0] + "big.bin"],
            stdout=subprocess.PIPE)
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        body, _ = download.communicate(timeout=20)
        assert body == (folder / "big.bin").read_bytes()
        assert process.wait(timeout=10) == 0


def test_access_log_to_stdout(folder: Path) -> None:
    """--access-log - writes combined-format lines to stdout."""
    with web("--listen", "tcp:0:interface=127.0.0.1", "--path", str(folder),
             "--access-log", "-") as (process, urls):
        curl("-A", "tester", urls[0] + "a.txt")
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("127.0.0.1 - - [") and '"GET /a.txt HTTP/1.1" 200 7' in line
        assert line.rstrip().endswith('"tester"')


@pytest.mark.parametrize(("args", "status"), [
    (["--listen", "nonsense:1"], 2),
    (["--path", "/definitely/not/here"], 2),
])
def test_bad_arguments(args: list[str], status: int) -> None:
    """A bad endpoint description or a missing folder: status 2 and a message."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "torsion._cli_web", *args],
                          capture_output=True, text=True, timeout=30, env=env, check=False)
    assert done.returncode == status and "torsion web:" in done.stderr


def test_cannot_listen(folder: Path) -> None:
    """A port already taken: status 1 and a message naming the endpoint."""
    with web("--listen", "tcp:0:interface=127.0.0.1", "--path", str(folder)) as (_, urls):
        port = urls[0].rsplit(":", 1)[1].strip("/")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        done = subprocess.run(
            [sys.executable, "-m", "torsion._cli_web", "--listen",
             f"tcp:{port}:interface=127.0.0.1", "--path", str(folder)],
            capture_output=True, text=True, timeout=30, env=env, check=False)
        assert done.returncode == 1 and "cannot listen" in done.stderr


def test_https_endpoint(folder: Path, tmp_path: Path) -> None:
    """An ssl: endpoint is announced as an https URL and serves the folder."""
    cert, key = self_signed_certificate(tmp_path)
    with web("--listen", f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}",
             "--path", str(folder)) as (_, urls):
        assert urls[0].startswith("https://127.0.0.1:")
        assert curl("--cacert", str(cert), urls[0] + "a.txt").stdout == b"file a\n"
