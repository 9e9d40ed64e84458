"""The operator page in a real browser: headless Chromium loads it from a torsion
server, its script fetches the monitor's figures and draws them; a screenshot proves
the page rendered (Debian's ``chromium``, ImageMagick's ``convert``)."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dlserver.monitor import Monitor
from dlserver.operator import OperatorPage
from support.peers import need
from torsion.task import LoopingCall
from torsion.threads import deferToThreadPool
from torsion.web.resource import Resource
from torsion.web.server import Site

pytestmark = pytest.mark.torsion_timeout(90)


def serve(reactor: Any) -> tuple[str, Monitor]:
    monitor = Monitor(reactor, interval=0.2)
    monitor.start()
    root = Resource()
    root.putChild(b"operator", OperatorPage(monitor))
    port = reactor.listenTCP(0, Site(root, reactor=reactor), interface="127.0.0.1")
    return f"http://127.0.0.1:{port.getHost().port}/operator/", monitor


def in_thread(reactor: Any, fn: Any, *args: Any) -> Any:
    return deferToThreadPool(reactor, reactor.getThreadPool(), fn, *args)


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [need("chromium"), "--headless", "--no-sandbox", "--disable-gpu",
         "--virtual-time-budget=3000", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )


async def test_page_and_stats(reactor: Any) -> None:
    url, monitor = serve(reactor)
    monitor.ended(monitor.started("album", 4, "A <b>bold</b> album", "192.0.2.1"),
                  complete=True)

    def fetch() -> tuple[str, bytes, bytes]:
        with urllib.request.urlopen(url[:-1]) as redirected:  # no slash: redirected
            page = redirected.read()
            final = redirected.url
        with urllib.request.urlopen(url + "stats.json") as response:
            return final, page, response.read()

    final, page, stats = await in_thread(reactor, fetch)
    assert final == url and b"<canvas" in page
    assert json.loads(stats)["top_albums"][0]["title"] == "A <b>bold</b> album"
    monitor.stop()


async def test_headless_chromium_renders_live_figures(reactor: Any, tmp_path: Path) -> None:
    url, monitor = serve(reactor)
    download = monitor.started("album", 1, "Zoë Ångström - Été (Live)", "127.0.0.1")
    monitor.ended(monitor.started("album", 2, "A <b>bold</b> album", "x"), complete=True)

    feeder = LoopingCall(monitor.sent, download, 400_000)
    feeder.clock = reactor
    feeder.start(0.05)
    shot = tmp_path / "operator.png"
    dom = await in_thread(reactor, chromium, "--dump-dom", url)
    taken = await in_thread(
        reactor, chromium, "--window-size=1000,900", f"--screenshot={shot}", url
    )
    feeder.stop()
    monitor.stop()
    # The script ran: it fetched the figures and filled the tables (as text: the
    # markup in a title is not interpreted).
    assert "live, updated" in dom.stdout, dom.stderr[-2000:]
    assert "<td>Zoë Ångström - Été (Live)</td>" in dom.stdout
    assert "<td>A &lt;b&gt;bold&lt;/b&gt; album</td>" in dom.stdout
    assert shot.exists(), taken.stderr[-2000:]
    colors = subprocess.run(
        [need("convert"), str(shot), "-format", "%k %w %h", "info:"],
        capture_output=True, text=True, check=True,
    ).stdout.split()
    assert [int(c) for c in colors[1:]] == [1000, 900]
    assert int(colors[0]) > 100  # text, tables and plot lines, not a blank page
