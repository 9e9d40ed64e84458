"""dlserver.zipstream: album zips laid out in advance, checked with zipfile and Info-ZIP.

Archives are built from real files in ``tmp_path`` (the catalog's CRCs computed with
``zlib.crc32``), turned into bytes by reading every ``FileSlice`` with ``os.pread`` and
read back by Python's ``zipfile``, by a streaming walk of the local headers, and by the
Debian ``unzip``/``zip`` programs. ZIP64 is in ``test_zipstream_zip64.py``, name rules
in ``test_zipstream_names.py``.
"""

from __future__ import annotations

import doctest
import io
import os
import random
import re
import shutil
import stat
import subprocess
import zipfile
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from zipstream_support import Source, archive_bytes, local_records, materialise

from dlserver import _zipformat, _zipnames, zipstream
from dlserver.zipstream import FileSlice, ZipEntry, ZipError, ZipLayout

WHEN = datetime(2021, 6, 15, 12, 34, 57, tzinfo=UTC)  # an odd second: DOS keeps 56
UTF8_NAME = "Café \u2013 Été.wav"  # an en dash: three bytes of UTF-8


def make_entry(
    folder: Path, name: str, data: bytes, mtime: datetime | float = WHEN
) -> ZipEntry[Source]:
    """A real file under ``folder`` and its catalog entry."""
    path = folder / f"src{len(list(folder.iterdir()))}"
    path.write_bytes(data)
    return ZipEntry(name, len(data), zlib.crc32(data), mtime, path)


@pytest.fixture
def album(tmp_path: Path) -> list[ZipEntry[Source]]:
    """A small album: audio-ish data, a UTF-8 name, a folder, an empty file."""
    folder = tmp_path / "files"
    folder.mkdir()
    rng = random.Random(8)
    return [
        make_entry(folder, "01 Intro.flac", rng.randbytes(70_001)),
        make_entry(folder, UTF8_NAME, rng.randbytes(4_096)),
        make_entry(folder, "empty.txt", b""),
        make_entry(folder, "Disc 2/01 Song.flac", rng.randbytes(123_457)),
        make_entry(folder, "cover.jpg", rng.randbytes(10)),
    ]


def unzip_env() -> dict[str, str]:
    """A UTF-8 locale (so unzip prints names as they are) and UTC times."""
    return {**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"}


def run_peer(*args: str) -> str:
    """Runs an Info-ZIP program; its output (it must succeed)."""
    if shutil.which(args[0]) is None:
        pytest.fail(f"{args[0]} is not installed (Debian package {args[0]})")
    done = subprocess.run(args, capture_output=True, env=unzip_env(), timeout=60, check=False)
    output = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    assert done.returncode == 0, output
    return output


def test_zipfile_reads_the_album(album: list[ZipEntry[Source]], tmp_path: Path) -> None:
    """zipfile finds every member with its contents, CRC, UTF-8 flag, date and mode."""
    layout = ZipLayout(album)
    data = archive_bytes(layout)
    assert len(data) == layout.size
    archive = tmp_path / "album.zip"
    archive.write_bytes(data)
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        assert zf.namelist() == [entry.name for entry in album]
        for entry, info in zip(album, zf.infolist(), strict=True):
            assert isinstance(entry.source, Path)
            assert zf.read(info) == entry.source.read_bytes()
            assert (info.CRC, info.file_size) == (entry.crc32, entry.size)
            assert info.flag_bits & 0x0800
            assert not info.flag_bits & 0x0008  # no data descriptor
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.file_size == info.compress_size == entry.size
            assert info.date_time == (2021, 6, 15, 12, 34, 56)
            assert info.external_attr >> 16 == 0o100644
            assert info.extract_version == 20
    assert not layout.zip64
    assert b"PK\x06\x06" not in data and b"PK\x06\x07" not in data


def test_local_headers_alone_describe_every_entry(album: list[ZipEntry[Source]]) -> None:
    """A streaming unzipper, reading only local headers, gets names, sizes and CRCs."""
    data = archive_bytes(ZipLayout(album))
    records = list(local_records(data))
    assert [name for name, _, _, _ in records] == [entry.name for entry in album]
    for (_, content, crc, flags), entry in zip(records, album, strict=True):
        assert zlib.crc32(content) == crc == entry.crc32
        assert flags == 0x0800


def test_unzip_lists_utf8_names_and_utc_times(
    album: list[ZipEntry[Source]], tmp_path: Path
) -> None:
    """``unzip -l`` shows the UTF-8 names as written and the extended (UTC) timestamp."""
    archive = tmp_path / "album.zip"
    archive.write_bytes(archive_bytes(ZipLayout(album)))
    listing = run_peer("unzip", "-l", str(archive))
    for entry in album:
        # Debian's unzip prints ISO dates; upstream 6.0 prints MM-DD-YYYY.
        line = rf"\n +{entry.size}  (2021-06-15|06-15-2021) 12:34   {re.escape(entry.name)}\n"
        assert re.search(line, listing), (line, listing)
    assert UTF8_NAME in listing
    assert " 5 files" in listing


def test_unzip_and_zip_test_the_archive(album: list[ZipEntry[Source]], tmp_path: Path) -> None:
    """``unzip -t`` checks every CRC; ``zip -T`` agrees."""
    archive = tmp_path / "album.zip"
    archive.write_bytes(archive_bytes(ZipLayout(album, comment="Album — 2021")))
    output = run_peer("unzip", "-t", str(archive))
    assert "No errors detected" in output
    assert f"testing: {UTF8_NAME}" in output
    assert "OK" in run_peer("zip", "-T", str(archive))


def test_unzip_extracts_contents_exact_times_and_modes(
    album: list[ZipEntry[Source]], tmp_path: Path
) -> None:
    """Extracted files match, with the exact second (extended timestamp) and rw-r--r--."""
    archive = tmp_path / "album.zip"
    archive.write_bytes(archive_bytes(ZipLayout(album)))
    out = tmp_path / "out"
    run_peer("unzip", "-q", str(archive), "-d", str(out))
    for entry in album:
        extracted = out / entry.name
        assert isinstance(entry.source, Path)
        assert extracted.read_bytes() == entry.source.read_bytes()
        info = extracted.stat()
        assert info.st_mtime == WHEN.timestamp()  # 57, which DOS time cannot hold
        assert stat.S_IMODE(info.st_mode) == 0o644


def test_whole_pieces_are_not_copied(album: list[ZipEntry[Source]]) -> None:
    """A full-range walk yields the layout's own header objects and one slice per file."""
    layout = ZipLayout(album)
    first = list(layout.segments())
    second = list(layout.segments())
    assert all(len(piece) > 0 for piece in first)
    for a, b in zip(first, second, strict=True):
        if isinstance(a, bytes):
            assert a is b
    slices = [piece for piece in first if isinstance(piece, FileSlice)]
    assert [(s.source, s.offset, s.length) for s in slices] == [
        (entry.source, 0, entry.size) for entry in album if entry.size
    ]
    # Header bytes alternate with file data: empty files merge into the next block.
    kinds = [isinstance(piece, bytes) for piece in first]
    assert all(kinds[i] != kinds[i + 1] for i in range(len(kinds) - 1))


def test_range_edges_around_file_data(album: list[ZipEntry[Source]]) -> None:
    """Ranges ending and starting exactly at data boundaries cut nothing extra."""
    layout = ZipLayout(album)
    full = archive_bytes(layout)
    header_length = 30 + len(album[0].name.encode()) + 9
    data_end = header_length + album[0].size
    assert list(layout.segments(header_length, data_end)) == [
        FileSlice(album[0].source, 0, album[0].size)
    ]
    assert list(layout.segments(header_length + 5, header_length + 9)) == [
        FileSlice(album[0].source, 5, 4)
    ]
    pieces = list(layout.segments(data_end - 1, data_end + 1))
    assert pieces[0] == FileSlice(album[0].source, album[0].size - 1, 1)
    assert pieces[1] == b"P"
    assert materialise(pieces) == full[data_end - 1 : data_end + 1]
    assert list(layout.segments(layout.size, layout.size)) == []
    assert list(layout.segments(3, 3)) == []
    assert materialise(layout.segments(layout.size - 1)) == full[-1:]


@pytest.mark.parametrize(("start", "end"), [(-1, None), (5, 4), (0, 10**9), (10**9, None)])
def test_ranges_outside_the_archive_raise_at_once(
    album: list[ZipEntry[Source]], start: int, end: int | None
) -> None:
    """segments() checks its range when called, before any iteration."""
    layout = ZipLayout(album)
    with pytest.raises(ValueError, match="outside the archive"):
        layout.segments(start, end)


names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\:."),
    min_size=1,
    max_size=12,
)
contents = st.binary(max_size=300)
entry_lists = st.lists(st.tuples(names, contents), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=entry_lists, data=st.data())
def test_any_range_is_the_slice_of_the_archive(
    files: list[tuple[str, bytes]], data: st.DataObject
) -> None:
    """For random entries, every range [a, b) of segments is exactly archive[a:b]."""
    entries: list[ZipEntry[Source]] = [
        ZipEntry(name, len(content), zlib.crc32(content), 1.6e9 + i, content)
        for i, (name, content) in enumerate(files)
    ]
    layout = ZipLayout(entries)
    full = archive_bytes(layout)
    assert len(full) == layout.size
    for _ in range(5):
        a = data.draw(st.integers(0, layout.size), label="start")
        b = data.draw(st.integers(a, layout.size), label="end")
        pieces = list(layout.segments(a, b))
        assert all(len(piece) > 0 for piece in pieces)
        assert materialise(pieces) == full[a:b]
    # And the whole archive is a valid zip of those files (renamed when clashing).
    with zipfile.ZipFile(io.BytesIO(full)) as zf:
        assert zf.testzip() is None
        assert [zf.read(info) for info in zf.infolist()] == [c for _, c in files]
        assert zf.namelist() == [entry.name for entry in layout.entries]


def test_empty_archive(tmp_path: Path) -> None:
    """No entries: the end record alone, which zipfile and unzip accept."""
    layout: ZipLayout[Source] = ZipLayout([])
    data = archive_bytes(layout)
    assert layout.size == len(data) == 22
    assert data.startswith(b"PK\x05\x06")
    archive = tmp_path / "empty.zip"
    archive.write_bytes(data)
    with zipfile.ZipFile(archive) as zf:
        assert zf.namelist() == []


def test_comment(album: list[ZipEntry[Source]]) -> None:
    """The archive comment is stored (str as UTF-8) and checked."""
    layout = ZipLayout(album, comment="Été 2021")
    with zipfile.ZipFile(io.BytesIO(archive_bytes(layout))) as zf:
        assert zf.comment == "Été 2021".encode()
    with pytest.raises(ZipError, match="at most 65535"):
        ZipLayout(album, comment=b"x" * 65536)
    with pytest.raises(ZipError, match="signature"):
        ZipLayout(album, comment=b"see PK\x05\x06")
    assert ZipLayout(album, comment=b"x" * 65535).size == ZipLayout(album).size + 65535


def test_etag_is_stable_and_follows_the_bytes(album: list[ZipEntry[Source]]) -> None:
    """Equal entries give equal tags; any change to the bytes changes the tag."""
    tag = ZipLayout(album).etag()
    assert tag.startswith(b'"') and tag.endswith(b'"')
    assert ZipLayout(list(album)).etag() == tag
    moved = [ZipEntry(e.name, e.size, e.crc32, e.mtime, Path("/elsewhere")) for e in album]
    assert ZipLayout(moved).etag() == tag  # sources never reach the bytes
    first = album[0]
    changes = [
        ZipEntry(first.name, first.size, first.crc32 ^ 1, first.mtime, first.source),
        ZipEntry(first.name + "x", first.size, first.crc32, first.mtime, first.source),
        ZipEntry(first.name, first.size, first.crc32, WHEN + timedelta(seconds=1), first.source),
    ]
    tags = {tag, ZipLayout(album, comment="c").etag(), ZipLayout(album[::-1]).etag()}
    tags |= {ZipLayout([change, *album[1:]]).etag() for change in changes}
    assert len(tags) == 6


@pytest.mark.parametrize(
    ("mtime", "expected"),
    [
        (WHEN, (2021, 6, 15, 12, 34, 56)),
        (datetime(2021, 6, 15, 12, 34, 57), (2021, 6, 15, 12, 34, 56)),  # naive: UTC
        (datetime(2021, 6, 15, 14, 34, 57, tzinfo=timezone(timedelta(hours=2))),
         (2021, 6, 15, 12, 34, 56)),
        (WHEN.timestamp(), (2021, 6, 15, 12, 34, 56)),
        (WHEN.timestamp() + 0.999, (2021, 6, 15, 12, 34, 56)),
        (0.0, (1980, 1, 1, 0, 0, 0)),  # before DOS time: clamped
        (-1e12, (1980, 1, 1, 0, 0, 0)),
        (datetime(2200, 1, 1, tzinfo=UTC), (2107, 12, 31, 23, 59, 58)),
        (datetime(2107, 12, 31, 23, 59, 59, tzinfo=UTC), (2107, 12, 31, 23, 59, 58)),
    ],
)
def test_dos_times_are_utc_and_clamped(
    mtime: datetime | float, expected: tuple[int, ...]
) -> None:
    """DOS date/time is the UTC time, two-second floor, within 1980-2107."""
    layout = ZipLayout([ZipEntry("a", 1, zlib.crc32(b"a"), mtime, b"a")])
    with zipfile.ZipFile(io.BytesIO(archive_bytes(layout))) as zf:
        assert zf.infolist()[0].date_time == expected


@pytest.mark.parametrize(
    ("mtime", "has_ut"),
    [(WHEN, True), (0.0, True), (-1.0, False), (2.0**31 - 1, True), (2.0**31, False)],
)
def test_extended_timestamp_only_when_it_fits(mtime: float | datetime, has_ut: bool) -> None:
    """The 0x5455 field is written when the second fits a signed 32-bit time_t."""
    layout = ZipLayout([ZipEntry("a", 0, 0, mtime, b"")])
    with zipfile.ZipFile(io.BytesIO(archive_bytes(layout))) as zf:
        extra = zf.infolist()[0].extra
    assert (b"UT\x05\x00\x01" in extra) is has_ut
    assert layout.size == 22 + 30 + 46 + 2 + (18 if has_ut else 0)


def test_doctests() -> None:
    """The examples in the modules' docstrings hold."""
    for module in (zipstream, _zipformat, _zipnames):
        failed, _ = doctest.testmod(module)
        assert failed == 0, module.__name__
