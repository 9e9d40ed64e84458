"""Download URL paths: ``/dl/t/<track id>/<file name>`` and ``/dl/a/<album id>/<name>.zip``.

The ID selects what is served; the file name is there for people and for clients that
name the download after the URL (wget, curl -O). It is part of the signed path, so it
cannot be changed either. Names are UTF-8, percent-encoded (RFC 3986), with the
characters no file system likes replaced.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from dlserver._catalog_types import Album, AlbumSummary, Track

__all__ = [
    "DownloadTarget",
    "album_filename",
    "album_path",
    "parse_download_path",
    "track_filename",
    "track_path",
]

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_MAX_NAME = 180  # characters; most file systems allow 255 bytes
_DOWNLOAD = re.compile(r"/dl/(?P<kind>[ta])/(?P<id>[1-9][0-9]{0,17})(?:/[^/?#]*)?")


@dataclass(frozen=True, slots=True)
class DownloadTarget:
    """What a download path names: a track (``"track"``) or an album zip (``"album"``)."""

    kind: Literal["track", "album"]
    id: int


def _safe_name(stem: str, suffix: str) -> str:
    """A portable file name: NFC, no path separators or controls, not hidden, bounded."""
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", stem)).strip(" .") or "download"
    return cleaned[:_MAX_NAME].rstrip(" .") + suffix


def track_filename(track: Track) -> str:
    """The name a track downloads as: ``Artist - Title.ext`` (not encoded)."""
    suffix = os.path.splitext(track.file.path)[1].lower()
    return _safe_name(f"{track.artist.name} - {track.title}", suffix)


def album_filename(album: Album | AlbumSummary) -> str:
    """The name an album zip downloads as: ``Album Artist - Album.zip`` (not encoded)."""
    return _safe_name(f"{album.artist.name} - {album.title}", ".zip")


def track_path(track: Track) -> str:
    """The URL path (percent-encoded) that downloads ``track``."""
    return f"/dl/t/{track.id}/{quote(track_filename(track), safe='')}"


def album_path(album: Album | AlbumSummary) -> str:
    """The URL path (percent-encoded) that downloads ``album`` as a zip."""
    return f"/dl/a/{album.id}/{quote(album_filename(album), safe='')}"


def parse_download_path(path: str) -> DownloadTarget | None:
    """The target of a raw download path, or None if it is not one of ours."""
    match = _DOWNLOAD.fullmatch(path)
    if match is None:
        return None
    kind: Literal["track", "album"] = "track" if match.group("kind") == "t" else "album"
    return DownloadTarget(kind, int(match.group("id")))
