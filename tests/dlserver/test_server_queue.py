"""Download slots on a live server: waiting in line, positions, leaving the line.

With ``max_downloads=1`` a connection that asks for the 8 MiB track and reads nothing
holds the only slot (the body cannot fit in the socket buffers), so what follows waits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_server_harness import Running, build_data

from support.deferreds import run_in_thread

pytestmark = pytest.mark.torsion_timeout(90)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("dlq"))


async def test_second_download_waits_then_completes(reactor: Any, data: Path,
                                                   tmp_path: Path) -> None:
    """A download above the cap waits (position 1 in /status), starts when the slot
    holder leaves, completes, and says where it stood on arrival."""
    running = await Running.start(reactor, data, max_downloads=1, max_per_client=2)
    big = running.track_titled("Long")
    small = running.track_titled("Drone")
    holder = await run_in_thread(reactor, lambda: running.stalled(running.track_url(big)))
    await run_in_thread(reactor, lambda: running.wait_status(lambda s: s["active"] == 1))
    out = tmp_path / "small.wav"
    waiting = running.curl("-D", str(tmp_path / "head"), "-o", str(out),
                           running.track_url(small))
    seen = await run_in_thread(reactor, lambda: running.wait_status(lambda s: s["waiting"] == 1))
    assert seen["client"] == {"address": "127.0.0.1", "active": 1, "waiting": 1,
                              "positions": [1]}
    assert not waiting.called and not out.exists()
    holder.close()
    done = await waiting
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == running.media(small)
    assert b"X-Queue-Position-At-Arrival: 1" in (tmp_path / "head").read_bytes()
    final = await run_in_thread(reactor, lambda: running.wait_status(lambda s: s["active"] == 0))
    assert final["waiting"] == 0
    await running.stop()


async def test_waiting_client_that_leaves_frees_its_place(reactor: Any, data: Path,
                                                          tmp_path: Path) -> None:
    """A waiter that disconnects leaves the queue at once: the next arrival is first."""
    running = await Running.start(reactor, data, max_downloads=1, max_per_client=3)
    big_url = running.track_url(running.track_titled("Long"))
    small = running.track_titled("Presto")
    holder = await run_in_thread(reactor, lambda: running.stalled(big_url))
    await run_in_thread(reactor, lambda: running.wait_status(lambda s: s["active"] == 1))
    quitter = await run_in_thread(reactor, lambda: running.stalled(running.track_url(small)))
    await run_in_thread(reactor, lambda: running.wait_status(lambda s: s["waiting"] == 1))
    quitter.close()
    left = await run_in_thread(reactor, lambda: running.wait_status(lambda s: s["waiting"] == 0))
    assert left["client"]["positions"] == [] and left["active"] == 1
    out = tmp_path / "small.wav"
    later = running.curl("-D", str(tmp_path / "head"), "-o", str(out),
                         running.track_url(small))
    await run_in_thread(reactor, lambda: running.wait_status(lambda s: s["waiting"] == 1))
    holder.close()
    done = await later
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == running.media(small)
    assert b"X-Queue-Position-At-Arrival: 1" in (tmp_path / "head").read_bytes()
    await running.stop()


async def test_head_takes_no_slot(reactor: Any, data: Path) -> None:
    """HEAD sends no body: it is answered even while every slot is taken."""
    running = await Running.start(reactor, data, max_downloads=1)
    big_url = running.track_url(running.track_titled("Long"))
    holder = await run_in_thread(reactor, lambda: running.stalled(big_url))
    await run_in_thread(reactor, lambda: running.wait_status(lambda s: s["active"] == 1))
    head = await running.curl("-I", running.track_url(running.track_titled("Largo")))
    assert head.stdout.startswith(b"HTTP/1.1 200")
    holder.close()
    await running.stop()


async def test_a_stalled_download_is_aborted_and_frees_its_slot(reactor: Any, data: Path,
                                                               tmp_path: Path) -> None:
    """A client that stops reading its download (sendfile makes no progress) is cut off
    after send_timeout, and the next download in line starts."""
    running = await Running.start(reactor, data, max_downloads=1, max_per_client=2,
                                  send_timeout=1.0)
    big_url = running.track_url(running.track_titled("Long"))
    holder = await run_in_thread(reactor, lambda: running.stalled(big_url))
    await run_in_thread(reactor, lambda: running.wait_status(lambda s: s["active"] == 1))
    small = running.track_titled("Drone")
    out = tmp_path / "small.wav"
    done = await running.curl("-o", str(out), running.track_url(small))
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == running.media(small)
    holder.setblocking(False)
    with pytest.raises(ConnectionResetError):  # the server aborted the stalled download
        while holder.recv(1 << 20):
            pass
    holder.close()
    await running.stop()
