"""The catalog's write side, used by the importer: upsert a track by path, remove paths.

Rows are keyed by the file's relative path: re-importing a changed file updates its file
and track rows in place, so the track keeps its ID. Names are stored in Unicode NFC so
that "Zoë" from a macOS file name (NFD) and from a tag (NFC) is one artist.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterable

from dlserver._catalog_types import FileState, TrackRecord, search_key

__all__ = ["file_states", "prune", "remove_paths", "store_track"]


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def file_states(conn: sqlite3.Connection, prefix: str) -> dict[str, FileState]:
    """Size and mtime of every stored file under ``prefix`` ("" for all), by path."""
    if prefix:
        # A range on the unique path index instead of LIKE (no escaping of % and _):
        # "a/b/" <= path < "a/b0" selects exactly the paths below "a/b" ("0" follows "/").
        rows = conn.execute(
            "SELECT path, size, mtime_ns FROM file WHERE path >= ? AND path < ?",
            (prefix + "/", prefix + "0"),
        )
    else:
        rows = conn.execute("SELECT path, size, mtime_ns FROM file")
    return {path: FileState(size, mtime_ns) for path, size, mtime_ns in rows}


def _artist_id(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT id FROM artist WHERE name = ?", (name,)).fetchone()
    if row is not None:
        return int(row[0])
    cursor = conn.execute("INSERT INTO artist (name) VALUES (?)", (name,))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _album_id(conn: sqlite3.Connection, artist_id: int, title: str, year: int | None) -> int:
    row = conn.execute(
        "SELECT id FROM album WHERE artist_id = ? AND title = ?", (artist_id, title)
    ).fetchone()
    if row is not None:
        if year is not None:
            conn.execute("UPDATE album SET year = ? WHERE id = ?", (year, row[0]))
        return int(row[0])
    cursor = conn.execute(
        "INSERT INTO album (artist_id, title, year) VALUES (?, ?, ?)", (artist_id, title, year)
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def store_track(conn: sqlite3.Connection, record: TrackRecord) -> int:
    """Insert or update the file and track at ``record.path``; returns the track ID.

    Leaves albums and artists that lost their last track in place: call :func:`prune`.
    """
    artist = _nfc(record.artist)
    album_artist = _nfc(record.album_artist)
    title = _nfc(record.title)
    album = _nfc(record.album)
    artist_id = _artist_id(conn, artist)
    album_artist_id = artist_id if album_artist == artist else _artist_id(conn, album_artist)
    album_id = _album_id(conn, album_artist_id, album, record.year)
    search = search_key(" ".join((artist, album_artist, album, title)))
    file_values = (
        record.size, record.crc32, record.mtime_ns, record.mime, record.duration, record.path
    )
    row = conn.execute("SELECT id FROM file WHERE path = ?", (record.path,)).fetchone()
    if row is None:
        cursor = conn.execute(
            "INSERT INTO file (size, crc32, mtime_ns, mime, duration, path)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            file_values,
        )
        file_id = cursor.lastrowid
    else:
        file_id = int(row[0])
        conn.execute(
            "UPDATE file SET size = ?, crc32 = ?, mtime_ns = ?, mime = ?, duration = ?"
            " WHERE path = ?",
            file_values,
        )
    track_values = (album_id, artist_id, title, record.disc, record.number, search, file_id)
    track = conn.execute("SELECT id FROM track WHERE file_id = ?", (file_id,)).fetchone()
    if track is not None:
        conn.execute(
            "UPDATE track SET album_id = ?, artist_id = ?, title = ?, disc = ?, number = ?,"
            " search = ? WHERE file_id = ?",
            track_values,
        )
        return int(track[0])
    cursor = conn.execute(
        "INSERT INTO track (album_id, artist_id, title, disc, number, search, file_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        track_values,
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def remove_paths(conn: sqlite3.Connection, paths: Iterable[str]) -> int:
    """Delete the files at ``paths`` and their tracks; returns how many were deleted."""
    removed = 0
    for path in paths:
        removed += conn.execute("DELETE FROM file WHERE path = ?", (path,)).rowcount
    return removed


def prune(conn: sqlite3.Connection) -> None:
    """Delete albums without tracks, then artists without tracks or albums."""
    conn.execute("DELETE FROM album WHERE id NOT IN (SELECT album_id FROM track)")
    conn.execute(
        "DELETE FROM artist WHERE id NOT IN"
        " (SELECT artist_id FROM track UNION SELECT artist_id FROM album)"
    )
