"""The download log's SQLite files: schema, batched writes, rotation by period and size.

Events go to ``DIR/downloads-YYYYMMDD[-N].sqlite``: one file per rotation
period (``rotate_days`` days, starting on UTC midnights counted from the
epoch, so every process agrees on the boundaries), with a new sequence number
``-N`` when the current file grows past ``max_bytes``.  Only the newest
``keep`` files are kept; older ones are deleted when a new file starts.

Nothing here knows about sockets or reactors: the caller hands batches to
:meth:`LogStore.write` and passes the clock in.  Each ``write`` is one
transaction (one commit), which is the point of batching: SQLite's cost is the
commit, not the row.  Files are in WAL mode with ``synchronous=NORMAL``: a
crash may lose the last commits, never corrupt the file.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from dlserver.events import DownloadEvent

__all__ = ["FILE_PATTERN", "LogFile", "LogStore", "list_log_files", "utc_day"]

_log = logging.getLogger("dlserver.logserver")

#: Names of the log files: date of the period's first day, then a sequence number.
FILE_PATTERN = re.compile(r"downloads-(\d{8})(?:-(\d+))?\.sqlite")

_DAY = 86400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    received REAL NOT NULL,     -- when the collector got it (its clock)
    ts REAL NOT NULL,           -- the event's own timestamp
    day TEXT NOT NULL,          -- UTC date of ts, YYYY-MM-DD
    kind TEXT NOT NULL,         -- started, finished, aborted
    download_id TEXT NOT NULL,
    item_kind TEXT NOT NULL,    -- track, album, zip
    item_id TEXT NOT NULL,
    client TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    duration REAL NOT NULL,
    status INTEGER NOT NULL,
    pid INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
"""

_INSERT = (
    "INSERT INTO events (received, ts, day, kind, download_id, item_kind, item_id, client,"
    " bytes, duration, status, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def utc_day(timestamp: float) -> str:
    """The UTC date of ``timestamp`` as ``YYYY-MM-DD``."""
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d")


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class LogFile:
    """One log file: its period's first day (``YYYYMMDD``), sequence number, path."""

    date: str
    sequence: int
    path: Path = dataclasses.field(compare=False)


def list_log_files(directory: Path) -> list[LogFile]:
    """The log files in ``directory``, oldest first (by date, then sequence)."""
    found = []
    if not directory.is_dir():
        return []
    for path in directory.iterdir():
        match = FILE_PATTERN.fullmatch(path.name)
        if match is not None and path.is_file():
            found.append(LogFile(match[1], int(match[2] or 0), path))
    return sorted(found)


def _period_date(now: float, rotate_days: int) -> str:
    start = int(now // _DAY) // rotate_days * rotate_days * _DAY
    return datetime.datetime.fromtimestamp(start, datetime.UTC).strftime("%Y%m%d")


def _file_name(date: str, sequence: int) -> str:
    return f"downloads-{date}.sqlite" if sequence == 0 else f"downloads-{date}-{sequence}.sqlite"


def _row(event: DownloadEvent, received: float) -> tuple[object, ...]:
    return (received, event.timestamp, utc_day(event.timestamp), event.kind.value,
            event.download_id, event.item_kind.value, event.item_id, event.client,
            event.bytes_sent, event.duration, event.status, event.pid)


class LogStore:
    """Writes batches of events to the current log file, rotating and pruning files.

    Args:
        directory: where the files are (created if missing).
        now: the clock, seconds since the epoch (rotation follows it).
        rotate_days: days per file, ``>= 1``.
        max_bytes: start a new file once the current one is this big (None: never).
        keep: how many files to keep, ``>= 1``.

    Attributes:
        commits: transactions committed so far.
        rows: events written so far.
        current: the file being written (None before the first write).

    Raises:
        ValueError: for ``rotate_days`` or ``keep`` below 1.
    """

    def __init__(
        self,
        directory: Path,
        now: Callable[[], float],
        *,
        rotate_days: int = 1,
        max_bytes: int | None = 256 * 1024 * 1024,
        keep: int = 90,
    ) -> None:
        if rotate_days < 1 or keep < 1:
            raise ValueError(f"rotate_days and keep must be >= 1, got {rotate_days}, {keep}")
        self.directory = directory
        self._now = now
        self.rotate_days = rotate_days
        self.max_bytes = max_bytes
        self.keep = keep
        self.commits = 0
        self.rows = 0
        self.current: LogFile | None = None
        self._db: sqlite3.Connection | None = None

    def write(self, batch: Sequence[tuple[DownloadEvent, float]]) -> None:
        """Store ``(event, received_at)`` pairs in one transaction.

        Raises:
            sqlite3.Error: when the database cannot be written (the batch is not stored).
            OSError: when the directory cannot be created.
        """
        if not batch:
            return
        db = self._connection()
        with db:
            db.executemany(_INSERT, [_row(event, received) for event, received in batch])
        self.commits += 1
        self.rows += len(batch)

    def _connection(self) -> sqlite3.Connection:
        """The current file's connection, rotating first if its period or size is over."""
        date = _period_date(self._now(), self.rotate_days)
        current = self.current
        if current is not None and self._db is not None:
            if current.date == date and not self._too_big(self._db):
                return self._db
            sequence = current.sequence + 1 if current.date == date else 0
            self.close()
        else:
            sequence = self._last_sequence(date)
        return self._open(LogFile(date, sequence, self.directory / _file_name(date, sequence)))

    def _last_sequence(self, date: str) -> int:
        """On start, carry on in the newest file of this period (restarts don't rotate)."""
        same = [f.sequence for f in list_log_files(self.directory) if f.date == date]
        return max(same, default=0)

    def _too_big(self, db: sqlite3.Connection) -> bool:
        if self.max_bytes is None:
            return False
        # page_count includes pages still in the WAL: the file's logical size.
        pages: int = db.execute("PRAGMA page_count").fetchone()[0]
        size: int = db.execute("PRAGMA page_size").fetchone()[0]
        return pages * size >= self.max_bytes

    def _open(self, log_file: LogFile) -> sqlite3.Connection:
        self.directory.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(log_file.path, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            # sqlite3's implicit transactions would hide our commit count: manage them.
            db.isolation_level = "DEFERRED"
        except sqlite3.Error:
            db.close()
            raise
        self._db, self.current = db, log_file
        _log.info("writing download events to %s", log_file.path)
        self._prune()
        return db

    def _prune(self) -> None:
        files = list_log_files(self.directory)
        for old in files[: max(0, len(files) - self.keep)]:
            if self.current is not None and old.path == self.current.path:
                continue
            for suffix in ("", "-wal", "-shm"):
                try:
                    Path(f"{old.path}{suffix}").unlink()
                except FileNotFoundError:
                    pass
            _log.info("deleted old download log %s", old.path)

    def close(self) -> None:
        """Close the current file (the next write opens one again)."""
        if self._db is not None:
            self._db.close()
        self._db = None
