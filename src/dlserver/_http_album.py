"""Album zips for HTTP: the layout of an album's archive, and the files its ranges need.

An album downloads as ``Album Artist - Album.zip`` holding
``Album Artist - Album/NN Title.ext`` (``D-NN Title.ext`` when the album has several
discs), stored, with each file's size, CRC-32 and mtime from the catalog: the archive's
every byte is known before the first is sent (:class:`dlserver.zipstream.ZipLayout`).

A file that changed on disk since the import would make the archive lie (wrong CRC,
wrong length): :class:`OpenFiles` checks each file's size when it opens it, and the
download fails before any byte is sent (the catalog needs a ``dlserver import``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from dlserver.catalog import Album, Track
from dlserver.zipstream import FileSlice, ZipEntry, ZipLayout
from torsion.web.representation import FileRegion

__all__ = ["OpenFiles", "StaleFileError", "album_layout", "entry_name"]

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_MAX_COMPONENT = 120  # characters: well under the 255-byte limit of file systems


class StaleFileError(OSError):
    """A media file's size is not the catalog's: it changed since the import."""


def _component(text: str, fallback: str) -> str:
    """One path component every file system takes: no separators or controls, not hidden."""
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", text)).strip(" .")
    return cleaned[:_MAX_COMPONENT].rstrip(" .") or fallback


def entry_name(album: Album, track: Track, index: int, discs: int) -> str:
    """The archive member name of ``track``, the ``index``-th (1-based) of ``album``.

    Example:
        >>> from dlserver.catalog import Artist, MediaFile
        >>> artist = Artist(1, "Zoë")
        >>> media = MediaFile("z/a.wav", 4, 0, 0, "audio/wav", None)
        >>> track = Track(3, "Left/Right", artist, 2, "Été", artist, 1, 7, None, media)
        >>> entry_name(Album(2, "Été", artist, None, (track,)), track, 1, 1)
        'Zoë - Été/07 Left_Right.wav'
    """
    folder = _component(f"{album.artist.name} - {album.title}", "album")
    number = track.number if track.number is not None else index
    prefix = f"{track.disc}-{number:02d}" if discs > 1 else f"{number:02d}"
    suffix = os.path.splitext(track.file.path)[1].lower()
    return f"{folder}/{prefix} {_component(track.title, 'track')}{suffix}"


def album_layout(album: Album) -> ZipLayout[str]:
    """The archive of ``album``; entry sources are the files' catalog paths."""
    discs = len({track.disc for track in album.tracks})
    return ZipLayout(
        ZipEntry(entry_name(album, track, index, discs), track.file.size, track.file.crc32,
                 track.file.mtime, track.file.path)
        for index, track in enumerate(album.tracks, 1)
    )


class OpenFiles:
    """The media files one response reads, each opened once, all closed together.

    Args:
        resolve: the real path of a catalog path (``Catalog.media_path``: checked to
            stay under the media root).
        sizes: the catalog size of each catalog path.
    """

    def __init__(self, resolve: Callable[[str], Path], sizes: dict[str, int]) -> None:
        self._resolve = resolve
        self._sizes = sizes
        self._fds: dict[str, int] = {}

    def fd(self, relpath: str) -> int:
        """The open descriptor of ``relpath``.

        Raises:
            OSError: it cannot be opened; :class:`StaleFileError` when its size changed.
            CatalogError: the path leaves the media root.
        """
        fd = self._fds.get(relpath)
        if fd is not None:
            return fd
        fd = os.open(self._resolve(relpath), os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        size = os.fstat(fd).st_size
        if size != self._sizes[relpath]:
            os.close(fd)
            raise StaleFileError(f"{relpath} is {size} bytes, the catalog says "
                                 f"{self._sizes[relpath]}: run dlserver import")
        self._fds[relpath] = fd
        return fd

    def pieces(self, layout: ZipLayout[str], start: int, end: int) -> Iterator[bytes | FileRegion]:
        """The archive's bytes ``[start, end)``: header bytes and regions of open files."""
        for piece in layout.segments(start, end):
            if isinstance(piece, FileSlice):
                yield FileRegion(self.fd(piece.source), piece.offset, piece.length)
            else:
                yield piece

    def close(self) -> None:
        """Close every file opened so far (called once the response is done with them)."""
        fds, self._fds = self._fds, {}
        for fd in fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
