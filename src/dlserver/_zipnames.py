"""Member names of album zips: the safety rules, and making duplicates unique.

A name is a relative path with ``/`` separators that every unzipper extracts inside the
target folder, whatever the platform:

* not empty, at most 65535 bytes of UTF-8 (the header field is 16-bit), no lone
  surrogates (they have no UTF-8 encoding);
* no NUL and no other control character (U+0000-U+001F, U+007F): they end names in C
  tools or hide parts of them in listings;
* no backslash: Windows extractors take it for a separator, so ``..\\x`` would escape;
* not absolute: no leading ``/``, no drive (``C:``) in the first component;
* no empty, ``.`` or ``..`` component, and no trailing ``/`` (entries are files; the
  folders they need are created by the unzippers).

Two names clash when they would land on the same file on a case-insensitive,
normalising file system (Windows, macOS): they are compared after Unicode NFC and case
folding. A file also clashes with a folder of the same name (``a`` and ``a/b``).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["NameRegistry", "ZipNameError", "check_name"]

_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")
_DRIVE = re.compile(r"[A-Za-z]:")
_MAX_NAME_BYTES = 0xFFFF


class ZipNameError(ValueError):
    """A member name breaks the rules (unsafe, too long, or a duplicate when refused)."""


def check_name(name: str) -> bytes:
    """Checks one name against the rules and returns its UTF-8 encoding.

    Raises:
        ZipNameError: the name is not acceptable; the message says which rule.
    """
    if not name:
        raise ZipNameError("zip member name must not be empty")
    bad = _FORBIDDEN.search(name)
    if bad is not None:
        raise ZipNameError(
            f"zip member name {name!r} contains {bad.group()!r}: "
            "no control characters or backslashes allowed"
        )
    if name.startswith("/") or _DRIVE.match(name):
        raise ZipNameError(f"zip member name {name!r} must be relative")
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise ZipNameError(
                f"zip member name {name!r} has an empty, '.' or '..' component"
            )
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise ZipNameError(f"zip member name {name!r} is not valid Unicode") from None
    if len(encoded) > _MAX_NAME_BYTES:
        raise ZipNameError(f"zip member name is {len(encoded)} bytes long, at most 65535")
    return encoded


def _key(name: str) -> str:
    return unicodedata.normalize("NFC", name).casefold()


def _numbered(name: str, number: int) -> str:
    """``dir/Title.flac`` -> ``dir/Title (2).flac``; a leading dot is not an extension.

    Example:
        >>> _numbered("A/Title.flac", 2), _numbered("A/.hidden", 3), _numbered("x.tar.gz", 2)
        ('A/Title (2).flac', 'A/.hidden (3)', 'x.tar (2).gz')
    """
    folder, slash, base = name.rpartition("/")
    stem, dot, ext = base.rpartition(".")
    if not stem:
        stem, dot, ext = base, "", ""
    return f"{folder}{slash}{stem} ({number}){dot}{ext}"


class NameRegistry:
    """The names taken so far in one archive, files and the folders they imply."""

    __slots__ = ("_files", "_folders", "_rename")

    def __init__(self, *, rename: bool) -> None:
        self._files: set[str] = set()
        self._folders: set[str] = set()
        self._rename = rename

    def add(self, name: str) -> str:
        """Takes ``name``, or the first free ``name (N)`` when renaming; returns the name used.

        Raises:
            ZipNameError: a duplicate while not renaming, or a folder of the name is
                already a file (renaming the file part would not help).
        """
        key = _key(name)
        folders = key.split("/")[:-1]
        for depth in range(1, len(folders) + 1):
            folder = "/".join(folders[:depth])
            if folder in self._files:
                raise ZipNameError(f"zip member name {name!r} needs a folder that is a file")
        chosen = name
        number = 1
        while key in self._files or key in self._folders:
            if not self._rename:
                raise ZipNameError(f"duplicate zip member name {name!r}")
            number += 1
            chosen = _numbered(name, number)
            key = _key(chosen)
        self._files.add(key)
        for depth in range(1, len(folders) + 1):
            self._folders.add("/".join(folders[:depth]))
        return chosen
