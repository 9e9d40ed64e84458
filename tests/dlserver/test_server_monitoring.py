"""What the operator sees of a running download server: ``/metrics`` (scraped with
curl) and the operator page's figures, after real downloads and a refused link."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from test_server_harness import Running, build_data

pytestmark = pytest.mark.torsion_timeout(90)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition ``text``."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "")
    found = re.search(r"^" + pattern + r" (\S+)$", text, re.M)
    assert found is not None, f"no {name} {labels} in:\n{text}"
    return float(found.group(1))


async def test_metrics_and_operator_figures(reactor: Any, tmp_path: Path) -> None:
    running = await Running.start(reactor, build_data(tmp_path / "data"))
    track = running.track_titled("Café")
    album = running.album_named("Été \u2013 Live")
    assert (await running.curl("-o", "/dev/null", running.track_url(track))).returncode == 0
    assert (await running.curl("-o", "/dev/null", running.album_url(album))).returncode == 0
    tampered = running.track_url(track).replace("s=", "s=A")
    refused = await running.curl("-o", "/dev/null", "-w", "%{http_code}", tampered)
    assert refused.stdout == b"403"

    scraped = await running.curl("-D", "-", f"{running.base}/metrics")
    head, _, text = scraped.stdout.decode().partition("\r\n\r\n")
    assert "text/plain; version=0.0.4" in head
    assert sample(text, "dlserver_downloads_total", kind="track", outcome="finished") == 1
    assert sample(text, "dlserver_downloads_total", kind="album", outcome="finished") == 1
    assert sample(text, "dlserver_bytes_sent_total", kind="track") == track.file.size
    assert sample(text, "dlserver_bytes_sent_total", kind="album") > album.size
    assert sample(text, "dlserver_responses_total", code="200") == 2
    assert sample(text, "dlserver_responses_total", code="403") == 1
    assert sample(text, "dlserver_downloads_active") == 0
    assert sample(text, "dlserver_queue_waiting") == 0
    assert sample(text, "dlserver_queue_wait_seconds_count") == 2
    assert sample(text, "dlserver_download_seconds_count", kind="album") == 1

    redirected = await running.curl("-o", "/dev/null", "-w", "%{http_code} %{redirect_url}",
                                    f"{running.base}/operator")
    assert redirected.stdout.decode() == f"302 {running.base}/operator/"
    page = await running.curl(f"{running.base}/operator/")
    assert b"<canvas" in page.stdout
    stats = json.loads((await running.curl(f"{running.base}/operator/stats.json")).stdout)
    assert stats["downloads"] == 2 and stats["completed"] == 2 and stats["aborted"] == 0
    assert stats["bytes"] == track.file.size + sample(text, "dlserver_bytes_sent_total",
                                                      kind="album")
    assert stats["top_albums"][0]["id"] == album.id
    assert stats["in_progress"] == []
    await running.stop()
