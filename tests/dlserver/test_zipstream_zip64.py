"""dlserver.zipstream: ZIP64, exactly at and past its thresholds, and never below them.

Nothing here reads gigabytes: the 4.5 GiB file is sparse, its CRC comes from
``crc32_zeros`` (CRC arithmetic, no data), zipfile reads the archive through
``LayoutReader`` (which materialises only the ranges asked for), and archives written
for ``unzip`` leave the zero data as holes.
"""

from __future__ import annotations

import os
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zipstream_support import (
    LayoutReader,
    Source,
    Zeros,
    archive_bytes,
    crc32_zeros,
    materialise,
    write_archive,
)

from dlserver.zipstream import FileSlice, ZipEntry, ZipLayout

BIG = 4_831_838_208  # 4.5 GiB
MAX_32 = 0xFFFFFFFF
HEADER = 30 + 9  # a local header without name and zip64 extra (with the 0x5455 field)
MTIME = 1.6e9


def zeros_entry(name: str, size: int) -> ZipEntry[Source]:
    """An entry of ``size`` zero bytes, with no file behind it."""
    return ZipEntry(name, size, crc32_zeros(size), MTIME, Zeros(size))


def bytes_entry(name: str, data: bytes) -> ZipEntry[Source]:
    """An in-memory entry."""
    return ZipEntry(name, len(data), zlib.crc32(data), MTIME, data)


def zip64_signatures(layout: ZipLayout[Source]) -> bool:
    """Whether the end records include the ZIP64 end record and locator."""
    tail = archive_bytes(layout, max(0, layout.size - 22 - 76), layout.size)
    return b"PK\x06\x06" in tail and b"PK\x06\x07" in tail


@pytest.mark.parametrize("count", [0, 10])
def test_crc32_zeros_matches_zlib(count: int) -> None:
    """The test helper agrees with zlib, so the big entries' CRCs are right."""
    for n in (count, count + 1, 4096 + count, 1_000_003):
        assert crc32_zeros(n) == zlib.crc32(bytes(n))
        assert crc32_zeros(n, 0xDEADBEEF) == zlib.crc32(bytes(n), 0xDEADBEEF)


@pytest.fixture
def sparse_album(tmp_path: Path) -> list[ZipEntry[Source]]:
    """A small file, a sparse 4.5 GiB one, and a small file whose header is past 4 GiB."""
    big = tmp_path / "big.wav"
    with open(big, "wb") as out:
        out.truncate(BIG)
    before = tmp_path / "before.txt"
    before.write_bytes(b"before\n")
    after = tmp_path / "after.txt"
    after.write_bytes(b"after the big one\n")
    return [
        ZipEntry("before.txt", 7, zlib.crc32(b"before\n"), MTIME, before),
        ZipEntry("big.wav", BIG, crc32_zeros(BIG), MTIME, big),
        ZipEntry("after.txt", 18, zlib.crc32(b"after the big one\n"), MTIME, after),
    ]


def test_zipfile_reads_a_sparse_4_5_gib_album(sparse_album: list[ZipEntry[Source]]) -> None:
    """Sizes and offsets past 4 GiB go through ZIP64 extra fields and end records."""
    layout = ZipLayout(sparse_album)
    assert layout.zip64
    assert zip64_signatures(layout)
    with zipfile.ZipFile(LayoutReader(layout)) as zf:
        before, big, after = zf.infolist()
        assert (before.extract_version, big.extract_version, after.extract_version) == (20, 45, 45)
        assert big.file_size == big.compress_size == BIG
        assert (big.CRC, big.date_time) == (crc32_zeros(BIG), (2020, 9, 13, 12, 26, 40))
        assert after.header_offset > BIG
        assert zf.read("before.txt") == b"before\n"
        assert zf.read("after.txt") == b"after the big one\n"  # CRC checked
        with zf.open("big.wav") as member:
            assert member.read(65536) == bytes(65536)


def test_big_local_header_carries_zip64_sizes(sparse_album: list[ZipEntry[Source]]) -> None:
    """The local header of the 4.5 GiB entry has both sizes in its ZIP64 extra field."""
    layout = ZipLayout(sparse_album)
    start = HEADER + len("before.txt") + 7
    head = archive_bytes(layout, start, start + 30 + len("big.wav") + 20)
    assert head[:4] == b"PK\x03\x04"
    assert struct.unpack("<III", head[14:26]) == (crc32_zeros(BIG), MAX_32, MAX_32)
    assert struct.unpack("<HH", head[26:30]) == (len("big.wav"), 20 + 9)
    extra = head[30 + len("big.wav") :]
    assert struct.unpack("<HHQQ", extra) == (1, 16, BIG, BIG)


def test_ranges_across_4_gib_read_the_sparse_file(sparse_album: list[ZipEntry[Source]]) -> None:
    """A range over the end of the big data gives zeros then the next header."""
    layout = ZipLayout(sparse_album)
    data_start = HEADER + len("before.txt") + 7 + HEADER + len("big.wav") + 20
    data_end = data_start + BIG
    pieces = list(layout.segments(data_end - 3, data_end + 4))
    assert pieces == [FileSlice(sparse_album[1].source, BIG - 3, 3), b"PK\x03\x04"]
    assert materialise(pieces) == b"\0\0\0PK\x03\x04"
    # Windows cut anywhere concatenate.
    for cut in (2**32 - 1, 2**32, 2**32 + 1):
        assert archive_bytes(layout, cut - 8, cut) + archive_bytes(layout, cut, cut + 8) == (
            archive_bytes(layout, cut - 8, cut + 8)
        )


def test_unzip_lists_and_tests_around_the_4_5_gib_file(tmp_path: Path) -> None:
    """Info-ZIP reads the ZIP64 directory and extracts the entry stored past 4 GiB."""
    layout = ZipLayout([
        bytes_entry("before.txt", b"before\n"),
        zeros_entry("big.wav", BIG),
        bytes_entry("after.txt", b"after the big one\n"),
    ])
    archive = tmp_path / "sparse.zip"
    write_archive(layout, archive)  # the zeros stay holes
    assert archive.stat().st_size == layout.size
    assert archive.stat().st_blocks * 512 < 1 << 24
    env = {**os.environ, "LC_ALL": "C.UTF-8", "TZ": "UTC"}
    listing = subprocess.run(
        ["unzip", "-l", str(archive)], capture_output=True, env=env, check=True, timeout=60
    ).stdout.decode()
    assert f"{BIG}  " in listing and "big.wav" in listing
    assert f"{BIG + 7 + 18}                     3 files" in listing
    tested = subprocess.run(
        ["unzip", "-t", str(archive), "before.txt", "after.txt"],
        capture_output=True, env=env, check=True, timeout=60,
    ).stdout.decode()
    assert "testing: after.txt                OK" in tested
    assert "No errors detected" in tested
    printed = subprocess.run(
        ["unzip", "-p", str(archive), "after.txt"], capture_output=True, check=True, timeout=60
    ).stdout
    assert printed == b"after the big one\n"


@pytest.mark.parametrize(("size", "local_extra"), [(MAX_32 - 1, False), (MAX_32, True)])
def test_entry_size_threshold(size: int, local_extra: bool) -> None:
    """A size of 0xFFFFFFFF already needs the ZIP64 fields; one less does not."""
    layout = ZipLayout([zeros_entry("big", size)])
    head = archive_bytes(layout, 0, 30)
    assert struct.unpack("<H", head[28:30])[0] == (20 if local_extra else 0) + 9
    assert struct.unpack("<I", head[22:26])[0] == (MAX_32 if local_extra else size)
    assert layout.zip64  # the directory starts past 4 GiB either way
    with zipfile.ZipFile(LayoutReader(layout)) as zf:
        info = zf.infolist()[0]
        assert info.file_size == size
        assert info.extract_version == (45 if local_extra else 20)


@pytest.mark.parametrize("directory_offset", [MAX_32 - 1, MAX_32])
def test_directory_offset_threshold(directory_offset: int) -> None:
    """The end records switch to ZIP64 when the directory starts at 0xFFFFFFFF."""
    layout = ZipLayout([zeros_entry("big", directory_offset - HEADER - 3)])
    assert layout.zip64 is (directory_offset == MAX_32)
    assert zip64_signatures(layout) is layout.zip64
    end = archive_bytes(layout, layout.size - 22)
    assert struct.unpack("<I", end[16:20])[0] == directory_offset
    with zipfile.ZipFile(LayoutReader(layout)) as zf:
        assert zf.infolist()[0].file_size == directory_offset - HEADER - 3


def test_header_offset_of_exactly_0xffffffff() -> None:
    """An entry whose local header starts at 0xFFFFFFFF gets a ZIP64 offset."""
    layout = ZipLayout([zeros_entry("pad", MAX_32 - HEADER - 3), bytes_entry("x.txt", b"x!")])
    with zipfile.ZipFile(LayoutReader(layout)) as zf:
        pad, x = zf.infolist()
        assert pad.extract_version == 20
        assert x.header_offset == MAX_32
        assert x.extract_version == 45
        assert zf.read("x.txt") == b"x!"


@pytest.mark.parametrize(("count", "zip64"), [(0xFFFE, False), (0xFFFF, True), (70_000, True)])
def test_entry_count_threshold(count: int, zip64: bool) -> None:
    """0xFFFF entries or more need the ZIP64 end records; zipfile lists them all."""
    layout = ZipLayout([zeros_entry(f"{i:05}.txt", 0) for i in range(count)])
    assert layout.zip64 is zip64
    assert zip64_signatures(layout) is zip64
    end = archive_bytes(layout, layout.size - 22)
    assert struct.unpack("<HH", end[8:12]) == (min(count, 0xFFFF),) * 2
    with zipfile.ZipFile(LayoutReader(layout)) as zf:
        names = zf.namelist()
        assert len(names) == count
        assert names[-1] == f"{count - 1:05}.txt"
        assert zf.read(names[count // 2]) == b""


def test_unzip_tests_70000_entries(tmp_path: Path) -> None:
    """Info-ZIP reads a ZIP64 directory of 70000 (small) entries."""
    layout = ZipLayout([bytes_entry(f"d{i % 7}/{i}.txt", b"%d" % i) for i in range(70_000)])
    archive = tmp_path / "many.zip"
    write_archive(layout, archive)
    tested = subprocess.run(
        ["unzip", "-tqq", str(archive)], capture_output=True, check=False, timeout=120
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    listing = subprocess.run(
        ["unzip", "-l", str(archive)], capture_output=True, check=True, timeout=120
    ).stdout.decode()
    assert listing.rstrip().endswith("70000 files")
    with zipfile.ZipFile(archive) as zf:
        assert zf.read("d6/69999.txt") == b"69999"


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(
        st.one_of(st.integers(0, 40), st.integers(MAX_32 - 50, MAX_32 + 50), st.just(BIG)),
        min_size=1,
        max_size=4,
    ),
    data=st.data(),
)
def test_windows_of_huge_layouts_concatenate(sizes: list[int], data: st.DataObject) -> None:
    """Adjacent small windows anywhere in a huge layout add up to the window they span."""
    layout = ZipLayout([zeros_entry(f"f{i}", size) for i, size in enumerate(sizes)])
    for _ in range(4):
        a = data.draw(st.integers(0, layout.size), label="a")
        c = data.draw(st.integers(a, min(layout.size, a + 300)), label="c")
        b = data.draw(st.integers(a, c), label="b")
        whole = archive_bytes(layout, a, c)
        assert len(whole) == c - a
        assert archive_bytes(layout, a, b) + archive_bytes(layout, b, c) == whole
    with zipfile.ZipFile(LayoutReader(layout)) as zf:
        assert [info.file_size for info in zf.infolist()] == sizes
