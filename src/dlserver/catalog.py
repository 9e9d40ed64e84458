"""The music catalog: artists, albums, tracks and their files, in one SQLite database.

A data directory holds ``catalog.sqlite3`` and, by default, the media root ``media/``;
every file is stored by its path relative to the media root (so the data directory can
move), with its size, CRC-32, mtime, MIME type and duration, which is what the download
server needs to send a file or build an album zip without touching the disk first.

IDs are integers, stable across re-imports (a track keeps its ID while its file keeps
its path) and never reused (see ``_catalog_schema``), so they can go into signed links.

Reads are primary-key or unique-index lookups; the server calls :meth:`Catalog.track` and
:meth:`Catalog.album` per request, so results are also cached in memory and the cache is
dropped whenever the database changes: ``PRAGMA data_version`` tells us about commits
from other connections (``dlserver import`` running beside the server), and our own
writes clear it directly. A ``Catalog`` belongs to the thread that opened it (sqlite3's
rule); the database runs in WAL mode so an import never blocks the server's readers.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TypeVar

from dlserver import _catalog_write
from dlserver._catalog_schema import SCHEMA_VERSION, CatalogError, migrate
from dlserver._catalog_types import (
    Album,
    AlbumSummary,
    Artist,
    FileState,
    MediaFile,
    Track,
    TrackRecord,
    search_key,
)

__all__ = [
    "CATALOG_FILENAME",
    "MEDIA_DIRNAME",
    "SCHEMA_VERSION",
    "Album",
    "AlbumSummary",
    "Artist",
    "Catalog",
    "CatalogError",
    "FileState",
    "MediaFile",
    "Track",
    "TrackRecord",
]

CATALOG_FILENAME = "catalog.sqlite3"
MEDIA_DIRNAME = "media"

_TRACK_SELECT = """
SELECT t.id, t.title, t.disc, t.number, ar.id, ar.name, al.id, al.title, al.year,
       aa.id, aa.name, f.path, f.size, f.crc32, f.mtime_ns, f.mime, f.duration
FROM track t
JOIN file f ON f.id = t.file_id
JOIN album al ON al.id = t.album_id
JOIN artist ar ON ar.id = t.artist_id
JOIN artist aa ON aa.id = al.artist_id
"""
_PLAY_ORDER = " ORDER BY t.disc, t.number IS NULL, t.number, t.title, t.id"

_T = TypeVar("_T")
_Row = tuple[
    int, str, int, "int | None", int, str, int, str, "int | None",
    int, str, str, int, int, int, str, "float | None",
]


def _track_from_row(row: _Row) -> Track:
    (track_id, title, disc, number, artist_id, artist_name, album_id, album_title, year,
     album_artist_id, album_artist_name, path, size, crc, mtime_ns, mime, duration) = row
    artist = Artist(artist_id, artist_name)
    album_artist = (
        artist if album_artist_id == artist_id else Artist(album_artist_id, album_artist_name)
    )
    media = MediaFile(path, size, crc, mtime_ns, mime, duration)
    return Track(
        track_id, title, artist, album_id, album_title, album_artist, disc, number, year, media
    )


def _remember(cache: dict[int, _T], key: int, value: _T, limit: int) -> None:
    if len(cache) >= limit > 0:
        # Evict the oldest entry: dicts keep insertion order, so this is FIFO, as good as
        # LRU for a cache that is dropped on every catalog change anyway.
        del cache[next(iter(cache))]
    if limit > 0:
        cache[key] = value


class Catalog:
    """An open catalog database. Create with :meth:`open` or :meth:`open_data_dir`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, media_root: Path,
                 cache_size: int) -> None:
        """Wrap an open, migrated connection; use :meth:`open` instead."""
        self._conn = conn
        self._path = path
        self._media_root = media_root
        self._cache_size = cache_size
        self._tracks: dict[int, Track] = {}
        self._albums: dict[int, Album] = {}
        self._data_version = self._read_data_version()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, media_root: str | os.PathLike[str] | None = None,
             cache_size: int = 4096) -> Catalog:
        """Open (creating and migrating if needed) the catalog database at ``path``.

        Args:
            path: the SQLite file.
            media_root: where the files live. Stored in the database: pass it once (or
                again to move the media); by default ``media/`` beside the database.
                Stored relative to the database's directory when it is inside it.
            cache_size: how many tracks (and as many albums) to keep in memory.

        Raises:
            CatalogError: the database is from a newer dlserver.
            sqlite3.Error: the file is not a usable SQLite database.
        """
        db_path = Path(path)
        conn = sqlite3.connect(db_path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable enough in WAL mode (a power cut may lose the last commit,
            # never corrupt), and an import does not fsync once per file.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA busy_timeout = 5000")
            migrate(conn)
            root = cls._media_root_setting(conn, db_path, media_root)
        except BaseException:
            conn.close()
            raise
        return cls(conn, db_path, root, cache_size)

    @classmethod
    def open_data_dir(cls, data_dir: str | os.PathLike[str]) -> Catalog:
        """Open the catalog of a data directory (created if missing)."""
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        return cls.open(directory / CATALOG_FILENAME)

    @staticmethod
    def _media_root_setting(conn: sqlite3.Connection, db_path: Path,
                            media_root: str | os.PathLike[str] | None) -> Path:
        base = db_path.absolute().parent
        row = conn.execute("SELECT value FROM meta WHERE key = 'media_root'").fetchone()
        if media_root is None and row is not None:
            return base / str(row[0])  # an absolute stored value replaces base
        wanted = base / MEDIA_DIRNAME if media_root is None else Path(media_root).absolute()
        stored = os.path.relpath(wanted, base) if wanted.is_relative_to(base) else str(wanted)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('media_root', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (stored,),
        )
        return wanted

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def media_root(self) -> Path:
        """The directory that file paths are relative to (absolute, not resolved)."""
        return self._media_root

    def close(self) -> None:
        """Close the database connection."""
        self._conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- reads -----------------------------------------------------------------------

    def _read_data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _check_fresh(self) -> None:
        version = self._read_data_version()
        if version != self._data_version:
            self._data_version = version
            self._forget()

    def _forget(self) -> None:
        self._tracks.clear()
        self._albums.clear()

    def track(self, track_id: int) -> Track | None:
        """The track with ``track_id``, or None."""
        self._check_fresh()
        cached = self._tracks.get(track_id)
        if cached is not None:
            return cached
        row = self._conn.execute(_TRACK_SELECT + " WHERE t.id = ?", (track_id,)).fetchone()
        if row is None:
            return None
        track = _track_from_row(row)
        _remember(self._tracks, track_id, track, self._cache_size)
        return track

    def find_by_path(self, relpath: str) -> Track | None:
        """The track whose file is at ``relpath`` (relative to the media root), or None."""
        row = self._conn.execute(_TRACK_SELECT + " WHERE f.path = ?", (relpath,)).fetchone()
        return None if row is None else _track_from_row(row)

    def album(self, album_id: int) -> Album | None:
        """The album with ``album_id`` and its tracks in play order, or None."""
        self._check_fresh()
        cached = self._albums.get(album_id)
        if cached is not None:
            return cached
        head = self._conn.execute(
            "SELECT al.title, al.year, ar.id, ar.name FROM album al"
            " JOIN artist ar ON ar.id = al.artist_id WHERE al.id = ?",
            (album_id,),
        ).fetchone()
        if head is None:
            return None
        rows = self._conn.execute(_TRACK_SELECT + " WHERE t.album_id = ?" + _PLAY_ORDER,
                                  (album_id,))
        tracks = tuple(_track_from_row(row) for row in rows)
        album = Album(album_id, head[0], Artist(head[2], head[3]), head[1], tracks)
        _remember(self._albums, album_id, album, self._cache_size)
        return album

    def artist(self, artist_id: int) -> Artist | None:
        """The artist with ``artist_id``, or None."""
        row = self._conn.execute(
            "SELECT id, name FROM artist WHERE id = ?", (artist_id,)
        ).fetchone()
        return None if row is None else Artist(row[0], row[1])

    def artists(self) -> list[Artist]:
        """Every artist, by name."""
        rows = self._conn.execute("SELECT id, name FROM artist ORDER BY name, id")
        return [Artist(artist_id, name) for artist_id, name in rows]

    def albums(self, artist_id: int | None = None) -> list[AlbumSummary]:
        """Every album (or every album of one album artist), by artist name then title."""
        sql = (
            "SELECT al.id, al.title, al.year, ar.id, ar.name, count(t.id), sum(f.size)"
            " FROM album al JOIN artist ar ON ar.id = al.artist_id"
            " JOIN track t ON t.album_id = al.id JOIN file f ON f.id = t.file_id"
        )
        params: tuple[int, ...] = ()
        if artist_id is not None:
            sql += " WHERE al.artist_id = ?"
            params = (artist_id,)
        sql += " GROUP BY al.id ORDER BY ar.name, al.title, al.id"
        return [
            AlbumSummary(album_id, title, Artist(aid, name), year, count, size)
            for album_id, title, year, aid, name, count, size in self._conn.execute(sql, params)
        ]

    def search(self, text: str, *, limit: int = 50) -> list[Track]:
        """Tracks whose artist, album or title contain every word of ``text``.

        Case- and accent-insensitive ("zoe cafe" finds "Zoë" and "Café"). A scan of the
        track table: fine for thousands of tracks, not meant for a hot path.
        """
        words = search_key(text).split()
        if not words or limit <= 0:
            return []
        where = " AND ".join("instr(t.search, ?) > 0" for _ in words)
        rows = self._conn.execute(
            _TRACK_SELECT + " WHERE " + where + " ORDER BY ar.name, al.title, t.disc,"
            " t.number IS NULL, t.number, t.id LIMIT ?",
            (*words, limit),
        )
        return [_track_from_row(row) for row in rows]

    def stats(self) -> tuple[int, int, int, int]:
        """``(artists, albums, tracks, total bytes)``."""
        row = self._conn.execute(
            "SELECT (SELECT count(*) FROM artist), (SELECT count(*) FROM album),"
            " (SELECT count(*) FROM track), (SELECT coalesce(sum(size), 0) FROM file)"
        ).fetchone()
        return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    def media_path(self, relpath: str) -> Path:
        """The real path of the media file ``relpath``, checked to be under the media root.

        Call it right before opening a file: the tree may have changed since the import,
        and a symlink that now points outside the root must not be served.

        Raises:
            CatalogError: ``relpath`` is not a plain relative path, or it resolves outside
                the media root.
        """
        pure = PurePosixPath(relpath)
        if (not relpath or "\0" in relpath or pure.is_absolute()
                or any(part in ("", ".", "..") for part in relpath.split("/"))):
            raise CatalogError(f"not a media path: {relpath!r}")
        root = self._media_root.resolve()
        real = (root / pure).resolve()
        if not real.is_relative_to(root):
            raise CatalogError(f"media path leaves the media root: {relpath!r}")
        return real

    # -- writes (the importer's side) ----------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one write transaction (committed on success, else rolled back)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        finally:
            self._forget()
        self._conn.execute("COMMIT")

    def file_states(self, prefix: str = "") -> dict[str, FileState]:
        """Size and mtime of every file under the relative directory ``prefix``, by path."""
        return _catalog_write.file_states(self._conn, prefix)

    def store_track(self, record: TrackRecord) -> int:
        """Insert or update the track at ``record.path``; returns its (stable) ID."""
        self._forget()
        return _catalog_write.store_track(self._conn, record)

    def remove_paths(self, paths: Iterable[str]) -> int:
        """Remove the files at ``paths`` with their tracks; returns how many were removed."""
        self._forget()
        return _catalog_write.remove_paths(self._conn, paths)

    def prune(self) -> None:
        """Remove albums and artists that no longer have tracks."""
        self._forget()
        _catalog_write.prune(self._conn)
