"""The monitor's figures and history, on a fake clock."""

from __future__ import annotations

import json

import pytest

from dlserver.monitor import Monitor
from torsion.task import Clock


def test_throughput_history_and_totals(clock: Clock) -> None:
    waiting = [0]
    monitor = Monitor(clock, interval=1.0, history=3)
    monitor.queues = lambda: (len(monitor.active), waiting[0])
    monitor.start()
    first = monitor.started("album", 7, "Artist - Album", "192.0.2.1")
    second = monitor.started("track", 3, "Artist - Song", "192.0.2.2")
    monitor.sent(first, 3000)
    monitor.sent(second, 1000)
    waiting[0] = 4
    clock.advance(1.0)
    monitor.sent(first, 500)
    monitor.ended(second, complete=True)
    clock.advance(1.0)
    monitor.ended(first, complete=False)
    monitor.ended(first, complete=False)  # twice: ignored
    clock.advance(1.0)
    clock.advance(1.0)
    snap = monitor.snapshot()
    assert [point[1:] for point in snap["history"]] == [[500.0, 1, 4], [0.0, 0, 4], [0.0, 0, 4]]
    assert snap["downloads"] == 2 and snap["completed"] == 1 and snap["aborted"] == 1
    assert snap["bytes"] == 4500 and snap["in_progress"] == []
    assert snap["top_albums"] == [{"id": 7, "title": "Artist - Album", "downloads": 1}]
    json.dumps(snap)  # what the page gets
    monitor.stop()
    assert not clock.getDelayedCalls()


def test_in_progress_and_top_albums(clock: Clock) -> None:
    monitor = Monitor(clock)
    for _ in range(3):
        monitor.ended(monitor.started("album", 1, "One", "c"), complete=True)
    held = monitor.started("album", 2, "Two", "192.0.2.9")
    clock.advance(2.5)
    monitor.sent(held, 10)
    snap = monitor.snapshot()
    assert snap["in_progress"] == [
        {"kind": "album", "id": 2, "title": "Two", "client": "192.0.2.9", "sent": 10,
         "seconds": 2.5}
    ]
    assert [a["title"] for a in snap["top_albums"]] == ["One", "Two"]
    assert snap["active"] == 1 and snap["waiting"] == 0


def test_bad_arguments(clock: Clock) -> None:
    with pytest.raises(ValueError):
        Monitor(clock, interval=0)
    with pytest.raises(ValueError):
        Monitor(clock, history=0)
