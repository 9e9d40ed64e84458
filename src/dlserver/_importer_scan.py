"""Finding audio files under the media root, and hashing them.

The symlink policy: a symlinked *file* is imported (under the link's own path) when its
target is inside the media root, and refused when it escapes; symlinked *directories*
are never followed (a link inside the root would list the same files twice, and
following links invites loops) and are refused when they point outside the root. Hidden
entries (``.name``, e.g. macOS ``._song.mp3`` resource forks) are skipped.
"""

from __future__ import annotations

import os
import stat
import zlib
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["AUDIO_TYPES", "FileChangedError", "Found", "Scan", "crc32_file", "scan"]

#: Extension (lower case) to the MIME type we serve. Opus is ``audio/ogg`` (RFC 7845);
#: ``audio/opus`` names the RTP payload, not the file.
AUDIO_TYPES: dict[str, str] = {
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
}

_CHUNK = 1 << 20


class FileChangedError(OSError):
    """The file changed while it was being hashed."""


@dataclass(frozen=True, slots=True)
class Found:
    """An audio file found by :func:`scan` (``size`` and ``mtime_ns`` from stat)."""

    relpath: str
    path: Path
    size: int
    mtime_ns: int


@dataclass(slots=True)
class Scan:
    """What :func:`scan` saw: audio files, refused symlinks, skipped entries (with why)."""

    found: list[Found] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _inside(path: str, root: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(root)


def _relpath(path: str, root: Path) -> str | None:
    """``path`` relative to ``root``, ``/``-separated; None if not valid UTF-8 (SQLite text)."""
    rel = Path(path).relative_to(root).as_posix()
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # an undecodable byte, kept by Python as a lone surrogate
        return None
    return rel


def _visit_file(scan_: Scan, root: Path, path: str) -> None:
    rel = _relpath(path, root)
    shown = rel if rel is not None else os.fsencode(path).decode("utf-8", "replace")
    if rel is None:
        scan_.skipped.append(f"{shown}: file name is not UTF-8")
        return
    try:
        link = stat.S_ISLNK(os.lstat(path).st_mode)
        if link and not _inside(path, root):
            scan_.refused.append(f"{rel}: symlink leaves the media root")
            return
        info = os.stat(path)
    except OSError as exc:
        scan_.skipped.append(f"{rel}: {exc.strerror or exc}")
        return
    if not stat.S_ISREG(info.st_mode):
        scan_.skipped.append(f"{rel}: not a regular file")
        return
    scan_.found.append(Found(rel, Path(path), info.st_size, info.st_mtime_ns))


def scan(root: Path, folder: Path) -> Scan:
    """The audio files under ``folder``, which must be inside ``root``; both resolved.

    Files come back sorted by relative path, so imports are deterministic.
    """
    result = Scan()

    def on_error(exc: OSError) -> None:
        result.skipped.append(f"{exc.filename}: {exc.strerror or exc}")

    for dirpath, dirnames, filenames in os.walk(folder, onerror=on_error):
        kept = []
        for name in sorted(dirnames):
            full = os.path.join(dirpath, name)
            if name.startswith("."):
                continue
            if os.path.islink(full):
                if not _inside(full, root):
                    rel = _relpath(full, root) or repr(full)
                    result.refused.append(f"{rel}: symlink leaves the media root")
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in AUDIO_TYPES:
                continue
            _visit_file(result, root, os.path.join(dirpath, name))
    result.found.sort(key=lambda found: found.relpath)
    return result


def crc32_file(path: Path) -> tuple[int, int, int]:
    """``(size, crc32, mtime_ns)`` of the file at ``path``, read once in 1 MiB chunks.

    Size and mtime come from the open file, before and after reading, so the three
    values describe the same content.

    Raises:
        FileChangedError: the file was written to while we read it.
        OSError: it cannot be read.
    """
    buffer = bytearray(_CHUNK)
    view = memoryview(buffer)
    crc = 0
    count = 0
    with open(path, "rb", buffering=0) as handle:
        before = os.fstat(handle.fileno())
        while True:
            got = handle.readinto(buffer)
            if not got:
                break
            crc = zlib.crc32(view[:got], crc)
            count += got
        after = os.fstat(handle.fileno())
    if (count, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or (
        count != before.st_size
    ):
        raise FileChangedError(f"{path}: changed while being read")
    return count, crc, after.st_mtime_ns
