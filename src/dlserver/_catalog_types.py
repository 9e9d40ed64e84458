"""Value types of the catalog: what reads return and what the importer writes.

All frozen and slotted: the server caches and shares them between requests.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = [
    "Album",
    "AlbumSummary",
    "Artist",
    "FileState",
    "MediaFile",
    "Track",
    "TrackRecord",
    "search_key",
]


@dataclass(frozen=True, slots=True)
class Artist:
    """An artist (performer or album artist). ``id`` is stable and never reused."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class MediaFile:
    """A file under the media root, as last imported.

    Attributes:
        path: relative to the media root, ``/``-separated, never starting with ``/``.
        size: bytes.
        crc32: CRC-32 (``zlib.crc32``) of the whole file, for zip entries.
        mtime_ns: modification time in nanoseconds since the epoch.
        mime: the MIME type served for it.
        duration: seconds, when the tags tell.
    """

    path: str
    size: int
    crc32: int
    mtime_ns: int
    mime: str
    duration: float | None

    @property
    def mtime(self) -> float:
        """The modification time in seconds since the epoch."""
        return self.mtime_ns / 1e9


@dataclass(frozen=True, slots=True)
class Track:
    """A track with its artist, album and file. ``id`` is stable across re-imports."""

    id: int
    title: str
    artist: Artist
    album_id: int
    album_title: str
    album_artist: Artist
    disc: int
    number: int | None
    year: int | None
    file: MediaFile


@dataclass(frozen=True, slots=True)
class AlbumSummary:
    """An album without its tracks, as :meth:`Catalog.albums` lists them."""

    id: int
    title: str
    artist: Artist
    year: int | None
    track_count: int
    size: int


@dataclass(frozen=True, slots=True)
class Album:
    """An album with its tracks in play order (disc, then track number, then title)."""

    id: int
    title: str
    artist: Artist
    year: int | None
    tracks: tuple[Track, ...]

    @property
    def size(self) -> int:
        """The total size of the album's files, in bytes."""
        return sum(track.file.size for track in self.tracks)

    @property
    def duration(self) -> float | None:
        """The total duration in seconds, or None when any track's is unknown."""
        total = 0.0
        for track in self.tracks:
            if track.file.duration is None:
                return None
            total += track.file.duration
        return total


@dataclass(frozen=True, slots=True)
class FileState:
    """What the importer needs to decide whether a file changed since the last import."""

    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class TrackRecord:
    """One imported audio file with its tags: the importer's write to the catalog."""

    path: str
    size: int
    crc32: int
    mtime_ns: int
    mime: str
    duration: float | None
    title: str
    artist: str
    album_artist: str
    album: str
    disc: int = 1
    number: int | None = None
    year: int | None = None


def search_key(text: str) -> str:
    """Fold ``text`` for accent- and case-insensitive matching ("Zoë" matches "zoe")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
