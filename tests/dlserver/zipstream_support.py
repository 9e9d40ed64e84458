"""Helpers for the zipstream tests: turning layouts into bytes, files and readers.

Sources used by the tests:

* a ``pathlib.Path``: a real file, read with ``os.pread`` (what sendfile would send);
* ``bytes``: the file's contents in memory (fast property tests);
* :class:`Zeros`: a file of N zero bytes that need not exist (huge layouts).
"""

from __future__ import annotations

import dataclasses
import io
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from dlserver.zipstream import FileSlice, ZipLayout


@dataclasses.dataclass(frozen=True)
class Zeros:
    """A source standing for ``size`` zero bytes."""

    size: int


Source = Path | bytes | Zeros


def read_slice(piece: FileSlice[Source]) -> bytes:
    """The bytes a file slice stands for."""
    source = piece.source
    assert piece.length > 0
    if isinstance(source, Path):
        fd = os.open(source, os.O_RDONLY)
        try:
            data = os.pread(fd, piece.length, piece.offset)
        finally:
            os.close(fd)
    elif isinstance(source, bytes):
        data = source[piece.offset : piece.offset + piece.length]
    else:
        assert piece.offset + piece.length <= source.size
        data = bytes(piece.length)
    assert len(data) == piece.length, "slice past the end of its source"
    return data


def materialise(pieces: Iterable[bytes | FileSlice[Source]]) -> bytes:
    """The bytes of a sequence of segments, each slice read from its source."""
    return b"".join(p if isinstance(p, bytes) else read_slice(p) for p in pieces)


def archive_bytes(layout: ZipLayout[Source], start: int = 0, end: int | None = None) -> bytes:
    """``layout``'s bytes in ``[start, end)``."""
    return materialise(layout.segments(start, end))


def write_archive(layout: ZipLayout[Source], path: Path) -> None:
    """Writes the archive to ``path``, leaving :class:`Zeros` data as holes (sparse)."""
    with open(path, "wb") as out:
        position = 0
        for piece in layout.segments():
            if isinstance(piece, FileSlice) and isinstance(piece.source, Zeros):
                position += piece.length
                out.seek(position)
                continue
            data = piece if isinstance(piece, bytes) else read_slice(piece)
            out.write(data)
            position += len(data)
        out.truncate(layout.size)


class LayoutReader(io.RawIOBase):
    """A seekable read-only file over a layout, materialising only the ranges read."""

    def __init__(self, layout: ZipLayout[Source]) -> None:
        self._layout = layout
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._layout.size}
        self._position = base[whence] + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        start = min(self._position, self._layout.size)
        end = min(start + len(buffer), self._layout.size)
        data = archive_bytes(self._layout, start, end)
        buffer[: len(data)] = data
        self._position = end
        return len(data)


def _gf2_apply(matrix: list[int], vector: int) -> int:
    result = 0
    column = 0
    while vector:
        if vector & 1:
            result ^= matrix[column]
        vector >>= 1
        column += 1
    return result


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_apply(matrix, column) for column in matrix]


_ONE_ZERO_BIT = [0xEDB88320] + [1 << (column - 1) for column in range(1, 32)]
_ZERO_BYTE = _gf2_square(_gf2_square(_gf2_square(_ONE_ZERO_BIT)))


def crc32_zeros(count: int, crc: int = 0) -> int:
    """``zlib.crc32(bytes(count), crc)`` in O(log count) steps, without the bytes.

    Appending a zero bit to the message is a linear map on the CRC register (shift
    right, xor the reflected polynomial when the low bit falls out), so appending
    ``count`` zero bytes is that map's ``8 * count``-th power, built by squaring.
    """
    power = _ZERO_BYTE
    register = crc ^ 0xFFFFFFFF
    while count:
        if count & 1:
            register = _gf2_apply(power, register)
        count >>= 1
        if count:
            power = _gf2_square(power)
    return register ^ 0xFFFFFFFF


def local_records(archive: bytes) -> Iterator[tuple[str, bytes, int, int]]:
    """Walks the local headers from the start, as a streaming unzipper would.

    Yields ``(name, data, crc, flags)`` per entry and stops at the central directory;
    fails on a data descriptor (flag bit 3) or a compressed entry.
    """
    position = 0
    while archive[position : position + 4] == b"PK\x03\x04":
        head = archive[position : position + 30]
        flags = int.from_bytes(head[6:8], "little")
        assert not flags & 0x0008, "data descriptor"
        assert int.from_bytes(head[8:10], "little") == 0, "not stored"
        crc = int.from_bytes(head[14:18], "little")
        size = int.from_bytes(head[22:26], "little")
        assert int.from_bytes(head[18:22], "little") == size
        name_length = int.from_bytes(head[26:28], "little")
        extra_length = int.from_bytes(head[28:30], "little")
        name_start = position + 30
        data_start = name_start + name_length + extra_length
        name = archive[name_start : name_start + name_length].decode("utf-8")
        data = archive[data_start : data_start + size]
        yield name, data, crc, flags
        position = data_start + size
    assert archive[position : position + 4] == b"PK\x01\x02" or archive[
        position : position + 4
    ] == b"PK\x05\x06"
