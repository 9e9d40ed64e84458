"""Tags of an audio file, read with mutagen, with fallbacks from the file's path.

mutagen gives three shapes of tags: ID3 frames (MP3, and WAV/AIFF with an ``id3 `` chunk),
MP4 atoms (M4A) and Vorbis comments (FLAC, Ogg Vorbis/Opus). :func:`read_tags` maps all
three to :class:`Tags`; :func:`with_fallbacks` fills what is missing from the path
``Artist/Album/NN Title.ext``. mutagen's API is untyped, so every value is converted and
checked here, at the boundary.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import mutagen
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Tags

__all__ = ["Tags", "read_tags", "with_fallbacks"]

UNKNOWN_ARTIST = "Unknown Artist"
UNKNOWN_ALBUM = "Unknown Album"

# "03 Title", "03 - Title", "03. Title", "1-03 Title" (disc 1). At most three digits for
# the number, so "1984 - Title" and "2001 A Space Odyssey" keep their numbers.
_NUMBERED = re.compile(
    r"(?:(?P<disc>\d{1,2})-)?(?P<number>\d{1,3})(?:\s*[-._]\s*|\s+)(?P<title>.+)"
)
_LEADING_INT = re.compile(r"\s*(\d+)")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


@dataclass(frozen=True, slots=True)
class Tags:
    """What we use from a file's tags; None where the file does not say."""

    title: str | None = None
    artist: str | None = None
    album_artist: str | None = None
    album: str | None = None
    number: int | None = None
    disc: int | None = None
    year: int | None = None
    duration: float | None = None


def _first_text(value: object) -> str | None:
    """The first non-empty string of a tag value (list, frame or string)."""
    text = getattr(value, "text", value)
    items = text if isinstance(text, list | tuple) else [text]
    for item in items:
        if item is None:
            continue
        string = str(item).strip().replace("\0", "")
        if string:
            return string
    return None


def _leading_int(text: str | None) -> int | None:
    """``"3/12"`` -> 3; None for anything without a leading number or for 0."""
    if text is None:
        return None
    match = _LEADING_INT.match(text)
    if match is None or len(match.group(1)) > 6:  # a garbage tag, not a track number
        return None
    return int(match.group(1)) or None


def _year(text: str | None) -> int | None:
    match = _YEAR.search(text) if text else None
    return int(match.group(1)) if match else None


def _get(tags: Any, key: str) -> object:  # Any: mutagen's mapping methods are untyped
    return tags.get(key)


# Where each field of Tags lives in each tag shape: the first key with a value wins.
_TagKeys = dict[str, tuple[str, ...]]
_ID3_KEYS: _TagKeys = {
    "title": ("TIT2",),
    "artist": ("TPE1",),
    "album_artist": ("TPE2",),
    "album": ("TALB",),
    "number": ("TRCK",),
    "disc": ("TPOS",),
    "year": ("TDRC", "TYER"),
}
_MP4_KEYS: _TagKeys = {
    "title": ("\xa9nam",),
    "artist": ("\xa9ART",),
    "album_artist": ("aART",),
    "album": ("\xa9alb",),
    "number": ("trkn",),
    "disc": ("disk",),
    "year": ("\xa9day",),
}
_MP4_PAIRS = frozenset({"trkn", "disk"})
_VORBIS_KEYS: _TagKeys = {
    "title": ("title",),
    "artist": ("artist",),
    "album_artist": ("albumartist", "album artist", "album_artist"),
    "album": ("album",),
    "number": ("tracknumber",),
    "disc": ("discnumber",),
    "year": ("date", "year"),
}


def _fields(keys: _TagKeys, read: Callable[[str], str | None]) -> dict[str, str | None]:
    """Each field's first non-empty value, ``read`` from its keys in order."""
    return {field: next(filter(None, map(read, names)), None) for field, names in keys.items()}


def _pair_number(value: object) -> str | None:
    """MP4 ``trkn``/``disk`` hold ``[(number, total)]``."""
    if isinstance(value, list) and value and isinstance(value[0], tuple) and value[0]:
        return str(value[0][0])
    return None


def _read_mp4(tags: MP4Tags, key: str) -> str | None:
    value = _get(tags, key)
    return _pair_number(value) if key in _MP4_PAIRS else _first_text(value)


def _read_vorbis(tags: Any, key: str) -> str | None:  # Any: mutagen's VComment is untyped
    try:
        return _first_text(_get(tags, key))
    except (KeyError, ValueError):
        return None


def read_tags(path: Path) -> Tags:
    """The tags and duration of the audio file at ``path``; empty Tags if unreadable.

    A file mutagen cannot parse is still a file we can serve, so parse errors give
    empty tags (the path fallbacks then apply) instead of failing the import.
    """
    try:
        audio = mutagen.File(path)
    except (mutagen.MutagenError, OSError, ValueError, EOFError):
        return Tags()
    if audio is None:
        return Tags()
    length = getattr(audio.info, "length", None)
    duration = float(length) if isinstance(length, int | float) and length > 0 else None
    tags = audio.tags
    if isinstance(tags, ID3):
        raw = _fields(_ID3_KEYS, lambda key: _first_text(_get(tags, key)))
    elif isinstance(tags, MP4Tags):
        raw = _fields(_MP4_KEYS, lambda key: _read_mp4(tags, key))
    elif tags is not None and hasattr(tags, "get"):
        raw = _fields(_VORBIS_KEYS, lambda key: _read_vorbis(tags, key))
    else:
        return Tags(duration=duration)
    return Tags(
        title=raw["title"],
        artist=raw["artist"],
        album_artist=raw["album_artist"],
        album=raw["album"],
        number=_leading_int(raw["number"]),
        disc=_leading_int(raw["disc"]),
        year=_year(raw["year"]),
        duration=duration,
    )


def with_fallbacks(tags: Tags, relpath: str) -> Tags:
    """``tags`` completed from ``relpath`` (``.../Artist/Album/NN Title.ext``).

    Title and number come from the file name, the album from the parent folder, the
    artist from the grandparent folder; the album artist defaults to the artist.
    """
    path = PurePosixPath(relpath)
    parents = path.parent.parts
    stem = path.stem
    name_number: int | None = None
    name_disc: int | None = None
    match = _NUMBERED.fullmatch(stem)
    if match:
        stem = match.group("title")
        name_number = int(match.group("number")) or None
        name_disc = int(match.group("disc")) if match.group("disc") else None
    title = stem.replace("_", " ").strip() or path.name
    folder_artist = parents[-2] if len(parents) >= 2 else None
    folder_album = parents[-1] if parents else None
    artist = tags.artist or tags.album_artist or folder_artist or UNKNOWN_ARTIST
    return Tags(
        title=tags.title or title,
        artist=artist,
        album_artist=tags.album_artist or tags.artist or folder_artist or UNKNOWN_ARTIST,
        album=tags.album or folder_album or UNKNOWN_ALBUM,
        number=tags.number if tags.number is not None else name_number,
        disc=tags.disc or name_disc or 1,
        year=tags.year,
        duration=tags.duration,
    )
