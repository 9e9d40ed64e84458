"""Queries over the download log: every kept file is read, and the results merged.

Definitions (the same for every query):

* a *download* is a ``finished`` event; ``aborted`` ones are counted apart;
* *bytes served* add up the ``bytes`` of ``finished`` and ``aborted`` events,
  which carry the total a download sent (``started`` carries nothing yet);
* a period is ``since <= ts < until`` on the events' own timestamps, and a
  day is the UTC date of ``ts``.

Each file is aggregated by SQLite (one GROUP BY query, read-only connection,
safe while the collector writes in WAL mode); the per-file sums are added
here, so a query spans any number of files.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from dlserver._logdb import list_log_files

__all__ = [
    "DayStats",
    "ItemDayStats",
    "ItemStats",
    "daily",
    "item_days",
    "last_days",
    "top_items",
]

_log = logging.getLogger("dlserver.logserver")

_DAY = 86400

_SUMS = (
    "SUM(kind = 'started'), SUM(kind = 'finished'), SUM(kind = 'aborted'),"
    " SUM(CASE WHEN kind != 'started' THEN bytes ELSE 0 END)"
)


@dataclasses.dataclass(frozen=True, slots=True)
class DayStats:
    """One UTC day: downloads started, finished and aborted, and bytes served."""

    day: str
    started: int
    downloads: int
    aborted: int
    bytes: int


@dataclasses.dataclass(frozen=True, slots=True)
class ItemStats:
    """One item over a period."""

    item_kind: str
    item_id: str
    started: int
    downloads: int
    aborted: int
    bytes: int


@dataclasses.dataclass(frozen=True, slots=True)
class ItemDayStats:
    """One item on one UTC day."""

    day: str
    item_kind: str
    item_id: str
    started: int
    downloads: int
    aborted: int
    bytes: int


_Key = tuple[str, ...]


def _grouped(
    directory: Path, columns: str, since: float, until: float, item_kind: str | None
) -> dict[_Key, list[int]]:
    """``columns`` -> [started, finished, aborted, bytes], summed over every file."""
    where = "ts >= ? AND ts < ?"
    params: list[object] = [since, until]
    if item_kind is not None:
        where += " AND item_kind = ?"
        params.append(item_kind)
    sql = f"SELECT {columns}, {_SUMS} FROM events WHERE {where} GROUP BY {columns}"
    totals: dict[_Key, list[int]] = {}
    for row in _rows(directory, sql, params):
        width = len(row) - 4
        key = tuple(str(value) for value in row[:width])
        sums = totals.setdefault(key, [0, 0, 0, 0])
        for index, value in enumerate(row[width:]):
            sums[index] += value if isinstance(value, int) else 0  # SUM of no rows is NULL
    return totals


def _rows(directory: Path, sql: str, params: list[object]) -> Iterator[tuple[object, ...]]:
    for log_file in list_log_files(directory):
        try:
            db = sqlite3.connect(f"{log_file.path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            _log.warning("skipping unreadable download log %s: %s", log_file.path, exc)
            continue
        try:
            rows = db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            # A file being replaced or damaged must not hide every other file's data.
            _log.warning("skipping unreadable download log %s: %s", log_file.path, exc)
            continue
        finally:
            db.close()
        yield from rows


def daily(directory: Path, since: float, until: float) -> list[DayStats]:
    """Downloads and bytes served per UTC day, oldest first."""
    totals = _grouped(directory, "day", since, until, None)
    return [DayStats(key[0], *sums) for key, sums in sorted(totals.items())]


def item_days(
    directory: Path, since: float, until: float, item_kind: str | None = None
) -> list[ItemDayStats]:
    """Per item and UTC day (``item_kind``: only tracks, albums or zips), by day, kind, id."""
    totals = _grouped(directory, "day, item_kind, item_id", since, until, item_kind)
    return [ItemDayStats(day, kind, item, *sums)
            for (day, kind, item), sums in sorted(totals.items())]


def top_items(
    directory: Path, since: float, until: float, limit: int = 10, item_kind: str | None = None
) -> list[ItemStats]:
    """The ``limit`` most downloaded items: most downloads first, then most bytes,
    then kind and id (so ties come out in a stable order)."""
    totals = _grouped(directory, "item_kind, item_id", since, until, item_kind)
    items = [ItemStats(kind, item, *sums) for (kind, item), sums in totals.items()]
    items.sort(key=lambda s: (-s.downloads, -s.bytes, s.item_kind, s.item_id))
    return items[: max(limit, 0)]


def last_days(now: float, days: int) -> tuple[float, float]:
    """The period of the last ``days`` UTC days, today included: ``(since, until)``.

    Raises:
        ValueError: when ``days < 1``.
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    today = now // _DAY * _DAY
    return today - (days - 1) * _DAY, today + _DAY
