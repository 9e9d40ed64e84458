"""The download log files: rotation by day and size on a fake clock, pruning, queries
across files checked against hand-computed answers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dlserver._logdb import LogStore, list_log_files, utc_day
from dlserver._logdb_http import QueryError, run_query
from dlserver.events import DownloadEvent, EventKind, ItemKind
from dlserver.logserver import (
    DayStats,
    ItemDayStats,
    ItemStats,
    daily,
    item_days,
    last_days,
    top_items,
)

DAY1 = 1709251200.0  # 2024-03-01T00:00:00Z
DAY2 = DAY1 + 86400
DAY = 86400.0

S, F, A = EventKind.STARTED, EventKind.FINISHED, EventKind.ABORTED
TRACK, ALBUM, ZIP = ItemKind.TRACK, ItemKind.ALBUM, ItemKind.ZIP


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ev(kind: EventKind, download: str, item_kind: ItemKind, item: str, ts: float,
       size: int = 0) -> DownloadEvent:
    return DownloadEvent(kind, download, item_kind, item, "192.0.2.1", size, 1.0,
                         200 if kind is F else 0, ts, 1)


# Day 1: d1 (album 42) finished 1000 B; d2 (album 42) aborted at 300 B; d4 (track 7)
# finished 50 B.  Day 2: d3 (album 42) finished 1000 B; d5, d6 (track 7) finished
# 50 B each (their "started" was the day before, in d5's case); z1 aborted at 10 B.
DAY1_EVENTS = [
    ev(S, "d1", ALBUM, "42", DAY1 + 10), ev(F, "d1", ALBUM, "42", DAY1 + 20, 1000),
    ev(S, "d2", ALBUM, "42", DAY1 + 30), ev(A, "d2", ALBUM, "42", DAY1 + 40, 300),
    ev(S, "d4", TRACK, "7", DAY1 + 50), ev(F, "d4", TRACK, "7", DAY1 + 60, 50),
]
DAY2_EVENTS = [
    ev(S, "d3", ALBUM, "42", DAY2 + 10), ev(F, "d3", ALBUM, "42", DAY2 + 20, 1000),
    ev(F, "d5", TRACK, "7", DAY2 + 30, 50), ev(F, "d6", TRACK, "7", DAY2 + 40, 50),
    ev(A, "z", ZIP, "z1", DAY2 + 50, 10),
]


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """Two days of events, written on their days: two files."""
    clock = FakeClock(DAY1 + 100)
    store = LogStore(tmp_path, clock)
    store.write([(event, clock.now) for event in DAY1_EVENTS])
    clock.now = DAY2 + 100
    store.write([(event, clock.now) for event in DAY2_EVENTS])
    store.close()
    return tmp_path


def test_one_file_per_day_named_by_date(filled: Path) -> None:
    """Writes on two UTC days go to downloads-20240301 and downloads-20240302."""
    assert [f.path.name for f in list_log_files(filled)] == [
        "downloads-20240301.sqlite", "downloads-20240302.sqlite"]
    with sqlite3.connect(filled / "downloads-20240301.sqlite") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone() == (6,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        row = db.execute("SELECT kind, download_id, item_kind, item_id, client, bytes, status,"
                         " day FROM events WHERE id = 2").fetchone()
    assert row == ("finished", "d1", "album", "42", "192.0.2.1", 1000, 200, "2024-03-01")


def test_daily_matches_hand_computed(filled: Path) -> None:
    """Per day: started, finished (downloads), aborted, and bytes of finished+aborted."""
    assert daily(filled, DAY1, DAY2 + DAY) == [
        DayStats("2024-03-01", started=3, downloads=2, aborted=1, bytes=1350),
        DayStats("2024-03-02", started=1, downloads=3, aborted=1, bytes=1110),
    ]
    assert daily(filled, DAY2, DAY2 + DAY) == [
        DayStats("2024-03-02", started=1, downloads=3, aborted=1, bytes=1110)]
    assert daily(filled, DAY1 + 25, DAY1 + 45) == [
        DayStats("2024-03-01", started=1, downloads=0, aborted=1, bytes=300)]


def test_top_items_across_files(filled: Path) -> None:
    """Top items over both files: most downloads first, then bytes; kind filter; limit."""
    assert top_items(filled, DAY1, DAY2 + DAY) == [
        ItemStats("track", "7", started=1, downloads=3, aborted=0, bytes=150),
        ItemStats("album", "42", started=3, downloads=2, aborted=1, bytes=2300),
        ItemStats("zip", "z1", started=0, downloads=0, aborted=1, bytes=10),
    ]
    assert top_items(filled, DAY1, DAY2 + DAY, limit=1, item_kind="album") == [
        ItemStats("album", "42", started=3, downloads=2, aborted=1, bytes=2300)]
    assert top_items(filled, DAY1, DAY2 + DAY, limit=0) == []


def test_item_days(filled: Path) -> None:
    """Downloads per item and day, ordered by day, kind, id."""
    assert item_days(filled, DAY1, DAY2 + DAY, "track") == [
        ItemDayStats("2024-03-01", "track", "7", 1, 1, 0, 50),
        ItemDayStats("2024-03-02", "track", "7", 0, 2, 0, 100),
    ]
    assert [(r.day, r.item_kind, r.item_id) for r in item_days(filled, DAY1, DAY2 + DAY)] == [
        ("2024-03-01", "album", "42"), ("2024-03-01", "track", "7"),
        ("2024-03-02", "album", "42"), ("2024-03-02", "track", "7"),
        ("2024-03-02", "zip", "z1"),
    ]


def test_run_query_parameters(filled: Path) -> None:
    """run_query: days counts UTC days back from now, today included; bad input is a
    QueryError naming the rule."""
    now = DAY2 + 3600
    one = run_query(filled, "daily", {"days": "1"}, now)
    assert one["since"] == DAY2 and one["until"] == DAY2 + DAY
    assert [row["day"] for row in one["rows"]] == ["2024-03-02"]  # type: ignore[attr-defined]
    two = run_query(filled, "top", {"days": "2", "limit": "1", "kind": "album"}, now)
    assert two["rows"] == [{"item_kind": "album", "item_id": "42", "started": 3,
                            "downloads": 2, "aborted": 1, "bytes": 2300}]
    assert len(run_query(filled, "items", {}, now)["rows"]) == 5  # type: ignore[arg-type]
    for name, params, message in [
        ("top", {"days": "0"}, "days must be"),
        ("top", {"days": "-1"}, "days must be"),
        ("top", {"days": "x"}, "days must be"),
        ("top", {"limit": "5000"}, "limit must be"),
        ("top", {"kind": "playlist"}, "kind must be"),
        ("nope", {}, "unknown query"),
    ]:
        with pytest.raises(QueryError, match=message):
            run_query(filled, name, params, now)
    assert last_days(DAY1 + 5, 3) == (DAY1 - 2 * DAY, DAY1 + DAY)
    with pytest.raises(ValueError):
        last_days(DAY1, 0)


def test_rotation_every_n_days_and_pruning(tmp_path: Path) -> None:
    """With rotate_days=2 a file covers two days (periods counted from the epoch);
    only the newest `keep` files stay, with their -wal/-shm companions."""
    clock = FakeClock(DAY1)
    store = LogStore(tmp_path, clock, rotate_days=2, keep=2)
    names = []
    for day in range(7):
        clock.now = DAY1 + day * DAY + 5
        store.write([(ev(F, f"d{day}", TRACK, "1", clock.now, 1), clock.now)])
        assert store.current is not None
        names.append(store.current.path.name)
    store.close()
    # 2024-03-01 is day 19783 since the epoch (odd): periods start on even days.
    assert names == ["downloads-20240229.sqlite"] + ["downloads-20240302.sqlite"] * 2 + [
        "downloads-20240304.sqlite"] * 2 + ["downloads-20240306.sqlite"] * 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".sqlite") == [
        "downloads-20240304.sqlite", "downloads-20240306.sqlite"]
    assert not list(tmp_path.glob("downloads-2024022*"))
    assert [r.downloads for r in daily(tmp_path, 0, DAY1 + 10 * DAY)] == [1, 1, 1, 1]
    assert store.commits == 7 and store.rows == 7


def test_rotation_past_a_size(tmp_path: Path) -> None:
    """Past max_bytes a new file with the next sequence number starts the same day;
    a restarted store carries on in the newest one."""
    clock = FakeClock(DAY1 + 5)
    store = LogStore(tmp_path, clock, max_bytes=64 * 1024, keep=10)
    big = [(ev(F, "x" * 100, TRACK, str(n), DAY1 + 5, n), DAY1) for n in range(200)]
    for _ in range(10):
        store.write(big)
    store.close()
    files = list_log_files(tmp_path)
    assert len(files) >= 3
    assert files[0].path.name == "downloads-20240301.sqlite"
    assert files[1].path.name == "downloads-20240301-1.sqlite"
    assert [f.sequence for f in files] == list(range(len(files)))
    assert sum(r.downloads for r in daily(tmp_path, 0, DAY2)) == 2000
    again = LogStore(tmp_path, clock, max_bytes=None)
    again.write(big[:1])
    assert again.current == files[-1]
    again.close()


def test_bad_settings_and_unreadable_files(tmp_path: Path) -> None:
    """rotate_days/keep below 1 are refused; a damaged file is skipped by queries,
    which still answer from the others; a missing directory answers nothing."""
    with pytest.raises(ValueError, match=">= 1"):
        LogStore(tmp_path, FakeClock(0), keep=0)
    store = LogStore(tmp_path, FakeClock(DAY1))
    store.write([(DAY1_EVENTS[1], DAY1)])
    store.close()
    (tmp_path / "downloads-20240201.sqlite").write_bytes(b"not a database" * 100)
    (tmp_path / "unrelated.sqlite").write_bytes(b"")
    assert daily(tmp_path, 0, DAY2) == [DayStats("2024-03-01", 0, 1, 0, 1000)]
    assert daily(tmp_path / "missing", 0, DAY2) == []
    assert store.write([]) is None and store.commits == 1
    assert utc_day(DAY2 - 0.001) == "2024-03-01"
