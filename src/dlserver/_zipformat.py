"""ZIP record encoders (PKWARE APPNOTE 6.3.x): local and central headers, end records.

Pure functions from already-validated values to bytes; :mod:`dlserver.zipstream` decides
the layout and calls them. Only what the album zips need is here: method 0 (stored),
UTF-8 names, no data descriptors, no encryption, one disk.

Hard-won facts:

* A field that does not fit holds all ones (``0xFFFFFFFF``, ``0xFFFF``) and the value
  moves to a ZIP64 record. The sentinel itself therefore cannot be stored as a plain
  value: a size or offset of exactly ``0xFFFFFFFF`` already needs ZIP64 (readers such as
  Python's ``zipfile`` go looking for the ZIP64 extra field when they see it).
* The ZIP64 extra field of a *local* header holds both sizes, always (APPNOTE 4.5.3); the
  one of a *central* header holds only the fields whose 32-bit slot is the sentinel, in
  the fixed order: uncompressed size, compressed size, local header offset.
* DOS date/time has no time zone and a two-second resolution. We encode UTC, so the
  bytes (and so the resumable ranges and the ETag) never depend on the server's time
  zone; the extended timestamp extra field (0x5455) carries the exact UTC second and is
  what Info-ZIP ``unzip`` uses to set file times.
"""

from __future__ import annotations

import struct
import time

__all__ = [
    "EOCD_SIZE",
    "MAX_16",
    "MAX_32",
    "ZIP64_END_SIZE",
    "central_header",
    "dos_datetime",
    "end_of_central_directory",
    "local_header",
    "local_header_size",
    "unix_timestamp_field",
]

MAX_16 = 0xFFFF
MAX_32 = 0xFFFFFFFF

_LOCAL = struct.Struct("<IHHHHHIIIHH")  # 30 bytes
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # 46 bytes
_EOCD = struct.Struct("<IHHHHIIH")  # 22 bytes
_EOCD64 = struct.Struct("<IQHHIIQQQQ")  # 56 bytes
_LOCATOR = struct.Struct("<IIQI")  # 20 bytes
_EXTRA_HEAD = struct.Struct("<HH")
_UT = struct.Struct("<HHBI")  # extended timestamp, modification time only: 9 bytes

_SIG_LOCAL = 0x04034B50
_SIG_CENTRAL = 0x02014B50
_SIG_EOCD = 0x06054B50
_SIG_EOCD64 = 0x06064B50
_SIG_LOCATOR = 0x07064B50

_TAG_ZIP64 = 0x0001
_TAG_UT = 0x5455

_FLAG_UTF8 = 0x0800  # general purpose bit 11: name (and comment) are UTF-8
_METHOD_STORED = 0
_VERSION_PLAIN = 20  # 2.0: what every reader accepts for stored entries
_VERSION_ZIP64 = 45  # 4.5: ZIP64 extensions
# "Made by" Unix (3) with APPNOTE 6.3, so readers take the external attributes as a
# Unix mode: regular file, rw-r--r--, rather than whatever umask-less default they pick.
_MADE_BY = (3 << 8) | 63
_EXTERNAL_ATTR = 0o100644 << 16

EOCD_SIZE = _EOCD.size
ZIP64_END_SIZE = _EOCD64.size + _LOCATOR.size

# DOS dates run from 1980-01-01 to 2107-12-31; times outside are clamped to the ends.
_DOS_MIN = 315532800  # 1980-01-01T00:00:00Z
_DOS_MAX = 4354819198  # 2107-12-31T23:59:58Z
_UT_MAX = 0x7FFFFFFF  # readers take the extended timestamp as a signed 32-bit time_t


def dos_datetime(timestamp: float) -> tuple[int, int]:
    """The DOS ``(time, date)`` words for a POSIX timestamp, in UTC, clamped to 1980-2107.

    Example:
        >>> dos_datetime(0.0)  # before 1980: clamped
        (0, 33)
    """
    seconds = min(max(int(timestamp // 1), _DOS_MIN), _DOS_MAX)
    t = time.gmtime(seconds)
    dos_time = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    dos_date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    return dos_time, dos_date


def unix_timestamp_field(timestamp: float) -> int | None:
    """The whole second for the extended timestamp field, or None when it cannot hold it."""
    seconds = int(timestamp // 1)
    return seconds if 0 <= seconds <= _UT_MAX else None


def _ut_extra(seconds: int | None) -> bytes:
    if seconds is None:
        return b""
    return _UT.pack(_TAG_UT, 5, 0x01, seconds)


def local_header_size(name_length: int, size: int, ut_seconds: int | None) -> int:
    """The length of :func:`local_header`'s output, without building it."""
    extra = (20 if size >= MAX_32 else 0) + (0 if ut_seconds is None else _UT.size)
    return _LOCAL.size + name_length + extra


def local_header(
    name: bytes, size: int, crc: int, dos: tuple[int, int], ut_seconds: int | None,
    *, zip64: bool,
) -> bytes:
    """A local file header carrying sizes and CRC (no data descriptor follows the data).

    Args:
        name: the UTF-8 encoded name.
        size: the data length (stored: compressed and uncompressed sizes are equal).
        crc: the CRC-32 of the data.
        dos: ``(time, date)`` from :func:`dos_datetime`.
        ut_seconds: the extended timestamp, or None for none.
        zip64: whether the central header of this entry needs ZIP64 (version 4.5).
    """
    if size >= MAX_32:
        extra = _EXTRA_HEAD.pack(_TAG_ZIP64, 16) + struct.pack("<QQ", size, size)
        size32 = MAX_32
    else:
        extra = b""
        size32 = size
    extra += _ut_extra(ut_seconds)
    version = _VERSION_ZIP64 if zip64 else _VERSION_PLAIN
    head = _LOCAL.pack(
        _SIG_LOCAL, version, _FLAG_UTF8, _METHOD_STORED, dos[0], dos[1],
        crc, size32, size32, len(name), len(extra),
    )
    return head + name + extra


def central_header(
    name: bytes, size: int, crc: int, dos: tuple[int, int], ut_seconds: int | None,
    offset: int,
) -> bytes:
    """A central directory file header for the entry whose local header is at ``offset``."""
    fields: list[int] = []
    size32 = size
    offset32 = offset
    if size >= MAX_32:
        fields += (size, size)
        size32 = MAX_32
    if offset >= MAX_32:
        fields.append(offset)
        offset32 = MAX_32
    extra = b""
    if fields:
        extra = _EXTRA_HEAD.pack(_TAG_ZIP64, 8 * len(fields))
        extra += struct.pack(f"<{len(fields)}Q", *fields)
    extra += _ut_extra(ut_seconds)
    version = _VERSION_ZIP64 if fields else _VERSION_PLAIN
    head = _CENTRAL.pack(
        _SIG_CENTRAL, _MADE_BY, version, _FLAG_UTF8, _METHOD_STORED, dos[0], dos[1],
        crc, size32, size32, len(name), len(extra), 0, 0, 0, _EXTERNAL_ATTR, offset32,
    )
    return head + name + extra


def end_of_central_directory(
    count: int, cd_offset: int, cd_size: int, comment: bytes, *, zip64: bool,
) -> bytes:
    """The end records: ZIP64 end record and locator when ``zip64``, then the classic one.

    Args:
        count: the number of entries.
        cd_offset: where the central directory starts.
        cd_size: the central directory's length.
        comment: the archive comment (at most 65535 bytes).
        zip64: write the ZIP64 end record and its locator (they go right after the
            central directory, so the ZIP64 record is at ``cd_offset + cd_size``).
    """
    out = b""
    if zip64:
        eocd64_offset = cd_offset + cd_size
        out = _EOCD64.pack(
            _SIG_EOCD64, _EOCD64.size - 12, _MADE_BY, _VERSION_ZIP64, 0, 0,
            count, count, cd_size, cd_offset,
        ) + _LOCATOR.pack(_SIG_LOCATOR, 0, eocd64_offset, 1)
    # Only the fields that overflow hold the sentinel (APPNOTE 4.4.1.4).
    count16 = min(count, MAX_16)
    return out + _EOCD.pack(
        _SIG_EOCD, 0, 0, count16, count16, min(cd_size, MAX_32), min(cd_offset, MAX_32),
        len(comment),
    ) + comment
