"""The catalog's SQLite schema and its migrations, keyed by ``PRAGMA user_version``.

``_MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``; a new database runs
them all. A migration is a list of statements run inside one ``BEGIN IMMEDIATE``
transaction together with the ``user_version`` bump, so a crash leaves the old version.
Never edit a released migration: append a new one.

IDs are ``INTEGER PRIMARY KEY AUTOINCREMENT`` on purpose: plain rowids may be reused
after the highest row is deleted, and a reused track ID would make an old signed link
serve a different track. AUTOINCREMENT never hands out an ID twice.
"""

from __future__ import annotations

import sqlite3

__all__ = ["SCHEMA_VERSION", "CatalogError", "migrate"]


class CatalogError(Exception):
    """The catalog database cannot be used (newer schema, bad media path, ...)."""


_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        """CREATE TABLE artist (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE
        )""",
        """CREATE TABLE album (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            artist_id INTEGER NOT NULL REFERENCES artist(id),
            title TEXT NOT NULL,
            year INTEGER,
            UNIQUE (artist_id, title)
        )""",
        # One row per media file; tracks point at it. A file table of its own leaves
        # room for non-track files (cover art, booklets) in album zips later.
        """CREATE TABLE file (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            crc32 INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            mime TEXT NOT NULL,
            duration REAL
        )""",
        """CREATE TABLE track (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            file_id INTEGER NOT NULL UNIQUE REFERENCES file(id) ON DELETE CASCADE,
            album_id INTEGER NOT NULL REFERENCES album(id),
            artist_id INTEGER NOT NULL REFERENCES artist(id),
            title TEXT NOT NULL,
            disc INTEGER NOT NULL DEFAULT 1,
            number INTEGER,
            search TEXT NOT NULL
        )""",
        "CREATE INDEX track_by_album ON track(album_id, disc, number)",
        "CREATE INDEX track_by_artist ON track(artist_id)",
        "CREATE INDEX album_by_artist ON album(artist_id)",
    ),
)

SCHEMA_VERSION = len(_MIGRATIONS)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database up to :data:`SCHEMA_VERSION`; returns the version found before.

    ``conn`` must be in autocommit mode (``isolation_level=None``).

    Raises:
        CatalogError: the database was written by a newer dlserver.
    """
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise CatalogError(
            f"catalog schema version {found} is newer than this dlserver ({SCHEMA_VERSION})"
        )
    for version in range(found, SCHEMA_VERSION):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            current = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if current == version:
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found
