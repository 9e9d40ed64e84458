"""Downloads over HTTPS (an ``ssl:`` endpoint): the file bodies take the read-and-write
path (no sendfile under TLS); a cut album zip resumes byte-identically with curl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_server_harness import Running, build_data

from dlserver.config import ServerConfig
from dlserver.server import DownloadServer
from support.peers import need, self_signed_certificate

pytestmark = pytest.mark.torsion_timeout(90)


async def test_https_track_and_resumed_album_zip(reactor: Any, tmp_path: Path) -> None:
    data = build_data(tmp_path / "d")
    cert, key = self_signed_certificate(tmp_path)
    config = ServerConfig(
        data, listen=(f"ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}",))
    server = DownloadServer(config, reactor)
    port = (await server.listen())[0].getHost().port
    running = Running(server, port)
    running.base = f"https://127.0.0.1:{port}"
    track = running.track_titled("Long")  # 8 MiB: many reads under TLS
    out = tmp_path / "track.wav"
    got = await running.curl("--cacert", str(cert), "-o", str(out), running.track_url(track))
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == running.media(track)
    album_url = running.album_url(running.album_named("Huge"))
    whole = tmp_path / "whole.zip"
    got = await running.curl("--cacert", str(cert), "-o", str(whole), album_url)
    assert got.returncode == 0, got.stderr
    archive = whole.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(archive[: len(archive) // 3])
    resumed = await running.curl("--cacert", str(cert), "-C", "-", "-o", str(cut), album_url)
    assert resumed.returncode == 0, resumed.stderr
    assert cut.read_bytes() == archive
    tested = await running.run(need("unzip"), "-t", str(cut))
    assert tested.returncode == 0, tested.stdout
    await running.stop()
