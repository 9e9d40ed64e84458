"""Import a folder of audio files into the catalog (``dlserver import``).

:func:`import_folder` makes the catalog match a folder under the media root: new files
are added, changed files (size or mtime differ) are re-read and re-hashed, files that
are gone are removed, and unchanged files cost one ``stat``, so running it again is
cheap and changes nothing. Each file is read twice at most: once by mutagen for its
tags (only the header), once in 1 MiB chunks for its size and CRC-32.

Supported: mp3, ogg/oga/opus, flac, wav, m4a. Tags: artist, album artist, album, title,
track and disc number, year, duration; missing ones fall back to the path
``Artist/Album/NN Title.ext`` (see ``_importer_tags``). Symlinks: see ``_importer_scan``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dlserver._importer_scan import AUDIO_TYPES, Found, crc32_file, scan
from dlserver._importer_tags import read_tags, with_fallbacks
from dlserver.catalog import Catalog, TrackRecord

__all__ = [
    "AUDIO_TYPES",
    "ImportFolderError",
    "ImportProgress",
    "ImportReport",
    "import_folder",
]

_BATCH = 100  # files per write transaction: short enough that a crash loses little


class ImportFolderError(Exception):
    """The folder cannot be imported (missing, not a directory, outside the media root)."""


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """Sent to the progress callback after each file: ``done`` of ``total`` files."""

    done: int
    total: int
    path: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did. ``refused`` and ``skipped`` hold ``"path: reason"`` lines."""

    added: int
    updated: int
    unchanged: int
    removed: int
    refused: tuple[str, ...]
    skipped: tuple[str, ...]

    @property
    def total(self) -> int:
        """How many audio files the folder holds now (in the catalog after the import)."""
        return self.added + self.updated + self.unchanged


def _record(found: Found) -> TrackRecord:
    size, crc, mtime_ns = crc32_file(found.path)
    tags = with_fallbacks(read_tags(found.path), found.relpath)
    assert tags.title and tags.artist and tags.album_artist and tags.album  # fallbacks
    return TrackRecord(
        path=found.relpath,
        size=size,
        crc32=crc,
        mtime_ns=mtime_ns,
        mime=AUDIO_TYPES[os.path.splitext(found.relpath)[1].lower()],
        duration=tags.duration,
        title=tags.title,
        artist=tags.artist,
        album_artist=tags.album_artist,
        album=tags.album,
        disc=tags.disc or 1,
        number=tags.number,
        year=tags.year,
    )


def _resolve_folder(catalog: Catalog, folder: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The resolved media root and the folder's prefix relative to it ("" for the root)."""
    root = catalog.media_root.resolve()
    target = root if folder is None else Path(folder).resolve()
    if not target.is_dir():
        raise ImportFolderError(f"{folder or catalog.media_root} is not a directory")
    if not target.is_relative_to(root):
        raise ImportFolderError(
            f"{folder} is outside the media root {catalog.media_root}: move it there,"
            " or choose another media root"
        )
    prefix = target.relative_to(root).as_posix()
    return root, "" if prefix == "." else prefix


def import_folder(
    catalog: Catalog,
    folder: str | os.PathLike[str] | None = None,
    *,
    progress: Callable[[ImportProgress], object] | None = None,
) -> ImportReport:
    """Make the catalog's view of ``folder`` (default: the whole media root) match the disk.

    Args:
        catalog: the catalog to update; ``folder`` must be inside its media root.
        folder: the directory to import (a filesystem path, relative to the current
            directory if relative). Files of the catalog outside it are left alone.
        progress: called with an :class:`ImportProgress` after every file.

    Returns:
        counts of what changed, and the files refused or skipped with the reason.

    Raises:
        ImportFolderError: ``folder`` is missing, not a directory, or outside the root.
    """
    root, prefix = _resolve_folder(catalog, folder)
    found = scan(root, root / prefix if prefix else root)
    known = catalog.file_states(prefix)
    skipped = list(found.skipped)
    added = updated = unchanged = 0
    seen: set[str] = set()
    pending: list[TrackRecord] = []

    def flush() -> None:
        with catalog.transaction():
            for record in pending:
                catalog.store_track(record)
        pending.clear()

    total = len(found.found)
    for done, item in enumerate(found.found, 1):
        seen.add(item.relpath)
        state = known.get(item.relpath)
        if state is not None and (state.size, state.mtime_ns) == (item.size, item.mtime_ns):
            unchanged += 1
        else:
            try:
                pending.append(_record(item))
            except OSError as exc:
                # Keep the old row, if any: a file we cannot read now may be readable
                # next time, and dropping it would change its track ID.
                skipped.append(f"{item.relpath}: {exc.strerror or exc}")
            else:
                if state is None:
                    added += 1
                else:
                    updated += 1
            if len(pending) >= _BATCH:
                flush()
        if progress is not None:
            progress(ImportProgress(done, total, item.relpath))
    gone = [path for path in known if path not in seen]
    with catalog.transaction():
        for record in pending:
            catalog.store_track(record)
        removed = catalog.remove_paths(gone)
        catalog.prune()
    return ImportReport(
        added, updated, unchanged, removed, tuple(found.refused), tuple(skipped)
    )
