"""Album zips laid out in advance, streamed in any byte range: the sans-IO core.

The catalog knows every file's size and CRC-32, so the whole archive is determined
before its first byte (the nginx ``mod_zip`` model): :class:`ZipLayout` computes it
once, gives its exact length (``Content-Length``) and an ETag, and :meth:`ZipLayout.segments`
turns any byte range into header bytes and :class:`FileSlice` pieces. The HTTP adapter
writes the bytes and sends the slices with ``sendfile``; nothing is buffered or copied,
no temporary file exists, and a resumed download (``Range``) gets exactly the bytes the
interrupted one would have.

The format:

* method 0 (stored): audio does not compress; no data descriptors, since sizes and
  CRC are in each local header, which also lets streaming unzippers read the archive;
* names in UTF-8 with general purpose flag bit 11, checked by the rules of
  :mod:`dlserver._zipnames` (relative, no ``..``, no control characters or
  backslashes); clashing names (compared case-insensitively after NFC, as Windows and
  macOS would) are renamed ``Title (2).flac`` by default, or refused;
* DOS date/time in UTC plus the extended timestamp field (0x5455), so the bytes do not
  depend on the server's time zone;
* ZIP64 (extra fields, end record and locator) exactly when a size or offset reaches
  ``0xFFFFFFFF`` or there are ``0xFFFF`` entries or more; never otherwise.

Example:
    >>> from datetime import datetime, timezone
    >>> when = datetime(2024, 5, 1, tzinfo=timezone.utc)
    >>> layout = ZipLayout([ZipEntry("a.txt", 5, 0x3610A686, when, "/srv/a.txt")])
    >>> layout.size
    131
    >>> [type(piece).__name__ for piece in layout.segments()]
    ['bytes', 'FileSlice', 'bytes']
    >>> list(layout.segments(44, 52))
    [FileSlice(source='/srv/a.txt', offset=0, length=5), b'PK\\x01']
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Generic, Literal, TypeVar

from dlserver import _zipformat as fmt
from dlserver._zipnames import NameRegistry, ZipNameError, check_name

__all__ = ["FileSlice", "ZipEntry", "ZipError", "ZipLayout", "ZipNameError"]

# Sources are only handed back, never taken in: a ZipLayout[Path] is a ZipLayout[object].
S_co = TypeVar("S_co", covariant=True)
_T = TypeVar("_T")

_MAX_SIZE = 1 << 64


class ZipError(ValueError):
    """An entry or archive cannot be laid out (bad size, CRC, time or comment)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ZipEntry(Generic[S_co]):
    """One file of the archive, described in advance.

    Attributes:
        name: the member name, a relative ``/``-separated path (rules in
            :mod:`dlserver._zipnames`).
        size: the file's length in bytes.
        crc32: the CRC-32 of its contents (``zlib.crc32``), computed once at import.
        mtime: the modification time: a POSIX timestamp, or a datetime (naive ones are
            taken as UTC).
        source: an opaque handle for the file (a path, a catalog id); it comes back
            in :class:`FileSlice` pieces and never enters the archive's bytes.

    Raises:
        ZipError: on a negative or too large size, a CRC outside 32 bits (or not
            zero for an empty file), or an infinite or NaN mtime.
    """

    name: str
    size: int
    crc32: int
    mtime: datetime | float
    source: S_co

    def __post_init__(self) -> None:
        if not 0 <= self.size < _MAX_SIZE:
            raise ZipError(f"size of {self.name!r} is {self.size}, must be in [0, 2**64)")
        if not 0 <= self.crc32 <= fmt.MAX_32:
            raise ZipError(f"crc32 of {self.name!r} is {self.crc32}, must fit in 32 bits")
        if self.size == 0 and self.crc32 != 0:
            raise ZipError(f"crc32 of the empty file {self.name!r} must be 0")
        if not math.isfinite(self.timestamp()):
            raise ZipError(f"mtime of {self.name!r} is {self.mtime!r}, must be finite")

    def timestamp(self) -> float:
        """The modification time as a POSIX timestamp."""
        if isinstance(self.mtime, datetime):
            mtime = self.mtime
            if mtime.tzinfo is None:
                mtime = mtime.replace(tzinfo=UTC)
            return mtime.timestamp()
        return float(self.mtime)


@dataclasses.dataclass(frozen=True, slots=True)
class FileSlice(Generic[S_co]):
    """``length`` bytes of the file ``source`` from ``offset``: a piece of the archive.

    ``length`` is never 0; ``offset + length`` never passes the entry's size.
    """

    source: S_co
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length


class ZipLayout(Generic[S_co]):
    """The complete byte layout of a stored ZIP archive of known files.

    Building it encodes every header and the central directory (small: about 100 bytes
    plus twice the name per entry); file data is only referenced. Nothing changes it
    after construction: one layout may serve many requests at once.

    Args:
        entries: the files, in archive order.
        comment: the archive comment (``str`` is encoded as UTF-8), at most 65535 bytes.
        duplicates: ``"rename"`` (the default) gives a later clashing name the first
            free ``name (N).ext``; ``"error"`` raises :class:`ZipNameError` instead.

    Raises:
        ZipNameError: a name breaks the rules, or clashes and ``duplicates="error"``.
        ZipError: the comment is too long or contains an end-record signature.
    """

    __slots__ = ("_etag", "_parts", "_starts", "entries", "size", "zip64")

    entries: tuple[ZipEntry[S_co], ...]
    """The entries as laid out: names may differ from the given ones when renamed."""
    size: int
    """The archive's exact length in bytes."""
    zip64: bool
    """Whether the archive has the ZIP64 end records (0xFFFF entries or more, or 4 GiB)."""

    def __init__(
        self,
        entries: Iterable[ZipEntry[S_co]],
        *,
        comment: bytes | str = b"",
        duplicates: Literal["rename", "error"] = "rename",
    ) -> None:
        if isinstance(comment, str):
            comment = comment.encode("utf-8")
        if len(comment) > fmt.MAX_16:
            raise ZipError(f"zip comment is {len(comment)} bytes long, at most 65535")
        if b"PK\x05\x06" in comment:
            # Readers find the end record by searching backwards for its signature.
            raise ZipError("zip comment must not contain the end-record signature")
        if duplicates not in ("rename", "error"):
            raise ValueError(f"duplicates is {duplicates!r}, must be 'rename' or 'error'")
        registry = NameRegistry(rename=duplicates == "rename")
        laid: list[ZipEntry[S_co]] = []
        starts: list[int] = []
        parts: list[bytes | int] = []  # header bytes, or an index into laid (file data)
        pending: list[bytes] = []  # bytes not yet in parts, merged across empty files
        centrals: list[bytes] = []
        offset = 0
        for given in entries:
            entry, encoded = _named(given, registry)
            timestamp = entry.timestamp()
            dos = fmt.dos_datetime(timestamp)
            ut = fmt.unix_timestamp_field(timestamp)
            size = entry.size
            zip64 = size >= fmt.MAX_32 or offset >= fmt.MAX_32
            header = fmt.local_header(encoded, size, entry.crc32, dos, ut, zip64=zip64)
            centrals.append(fmt.central_header(encoded, size, entry.crc32, dos, ut, offset))
            if not pending:
                starts.append(offset)
            pending.append(header)
            offset += len(header)
            if size:
                parts.append(b"".join(pending))
                pending.clear()
                starts.append(offset)
                parts.append(len(laid))
                offset += size
            laid.append(entry)
        directory = b"".join(centrals)
        count = len(laid)
        zip64 = count >= fmt.MAX_16 or offset >= fmt.MAX_32 or len(directory) >= fmt.MAX_32
        end = fmt.end_of_central_directory(count, offset, len(directory), comment, zip64=zip64)
        if not pending:
            starts.append(offset)
        pending += (directory, end)
        parts.append(b"".join(pending))
        self.entries = tuple(laid)
        self.size = offset + len(directory) + len(end)
        self.zip64 = zip64
        self._starts = starts
        self._parts = parts
        self._etag: bytes | None = None

    def __repr__(self) -> str:
        return f"<ZipLayout entries={len(self.entries)} size={self.size} zip64={self.zip64}>"

    def segments(
        self, start: int = 0, end: int | None = None
    ) -> Iterator[bytes | FileSlice[S_co]]:
        """The archive's bytes ``[start, end)`` as header bytes and file slices, in order.

        Pieces are never empty. Whole header blocks come back as the very objects the
        layout holds (no copy); only the first and last piece may be cut. Concatenating
        the pieces, with each slice replaced by its bytes, gives exactly the archive's
        bytes ``[start, end)``.

        Args:
            start: the first byte (an HTTP range ``a-b`` is ``start=a, end=b + 1``).
            end: one past the last byte; None for the end of the archive.

        Raises:
            ValueError: unless ``0 <= start <= end <= size`` (raised at the call, not
                when iterating).
        """
        stop = self.size if end is None else end
        if not 0 <= start <= stop <= self.size:
            raise ValueError(
                f"range [{start}, {end}) is outside the archive, whose size is {self.size}"
            )
        return self._pieces(start, stop)

    def _pieces(self, start: int, stop: int) -> Iterator[bytes | FileSlice[S_co]]:
        starts = self._starts
        parts = self._parts
        index = bisect.bisect_right(starts, start) - 1
        position = start
        while position < stop:
            base = starts[index]
            part = parts[index]
            index += 1
            limit = starts[index] if index < len(starts) else self.size
            lo = position - base
            hi = min(stop, limit) - base
            if isinstance(part, bytes):
                yield part if lo == 0 and hi == len(part) else part[lo:hi]
            else:
                yield FileSlice(self.entries[part].source, lo, hi - lo)
            position = base + hi

    def etag(self) -> bytes:
        """A strong ETag (quotes included) that changes whenever any archive byte would.

        It is a digest of the central directory and end records, which hold every name,
        size, CRC, time and offset (the local headers repeat them): the same entries
        give the same tag across processes and restarts. Sources are not part of it.
        """
        if self._etag is None:
            tail = self._parts[-1]
            assert isinstance(tail, bytes)
            digest = hashlib.sha256(b"dlserver-zip-1\0")
            digest.update(tail)
            self._etag = b'"zip-' + digest.hexdigest()[:40].encode("ascii") + b'"'
        return self._etag


def _named(entry: ZipEntry[_T], registry: NameRegistry) -> tuple[ZipEntry[_T], bytes]:
    """The entry under the name the registry gives it, and that name in UTF-8."""
    encoded = check_name(entry.name)
    name = registry.add(entry.name)
    if name == entry.name:
        return entry, encoded
    # A longer name could pass the 65535-byte limit: check it again.
    return dataclasses.replace(entry, name=name), check_name(name)
