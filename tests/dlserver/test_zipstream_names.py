"""dlserver.zipstream: member name rules, duplicate handling and entry checks."""

from __future__ import annotations

import io
import unicodedata
import zipfile
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zipstream_support import Source, archive_bytes

from dlserver.zipstream import ZipEntry, ZipError, ZipLayout, ZipNameError


def entry(name: str, data: bytes = b"") -> ZipEntry[Source]:
    """An in-memory entry (empty unless ``data``)."""
    return ZipEntry(name, len(data), zlib.crc32(data), 1.6e9, data)


def names_of(layout: ZipLayout[Source]) -> list[str]:
    """The names zipfile reads back from the layout's bytes."""
    with zipfile.ZipFile(io.BytesIO(archive_bytes(layout))) as zf:
        return zf.namelist()


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/etc/passwd",
        "C:/Windows/x.dll",
        "c:x",
        "../up.flac",
        "a/../../up.flac",
        "a/..",
        "./a",
        "a/./b",
        "a//b",
        "folder/",
        "a\\..\\b",
        "nul\x00byte",
        "line\nbreak",
        "tab\there",
        "del\x7f",
        "lone \udc80 surrogate",
        "é" * 40000,  # 80000 bytes of UTF-8
    ],
)
def test_unsafe_or_impossible_names_are_refused(name: str) -> None:
    """Names that could escape the target folder, or cannot be encoded, raise."""
    with pytest.raises(ZipNameError):
        ZipLayout([entry(name)])


@pytest.mark.parametrize(
    "name",
    [
        "Café \u2013 Été.wav",
        "Disc 1/01 Intro.flac",
        "..hidden but fine",
        "a..b/c...d",
        ".cover.jpg",
        "Op. 27: Adagio.flac",  # a colon past the first two characters is no drive
        "日本語/曲.mp3",
        "e\u0301",  # a decomposed é stays as given
        "x" * 65535,
    ],
)
def test_safe_names_are_kept_as_given(name: str) -> None:
    """Valid names reach the archive unchanged, in UTF-8."""
    layout = ZipLayout([entry(name)])
    assert layout.entries[0].name == name
    assert names_of(layout) == [name]


def test_duplicates_are_renamed_by_default() -> None:
    """Clashes, compared after NFC and case folding, get the first free number."""
    given_names = [
        "Intro.flac",
        "Intro.flac",
        "intro.FLAC",
        "Intro (2).flac",
        "Disc 1/Été.wav",
        "disc 1/" + unicodedata.normalize("NFD", "Été.wav"),
        ".hidden",
        ".HIDDEN",
        "noext",
        "NoExt",
    ]
    layout = ZipLayout([entry(n) for n in given_names])
    expected = [
        "Intro.flac",
        "Intro (2).flac",
        "intro (3).FLAC",
        "Intro (2) (2).flac",
        "Disc 1/Été.wav",
        "disc 1/" + unicodedata.normalize("NFD", "Été (2).wav"),
        ".hidden",
        ".HIDDEN (2)",
        "noext",
        "NoExt (2)",
    ]
    assert [e.name for e in layout.entries] == expected
    assert names_of(layout) == expected


def test_a_file_and_a_folder_of_the_same_name() -> None:
    """A file named like an existing folder is renamed; a folder over a file is refused."""
    layout = ZipLayout([entry("Disc 1/a.wav"), entry("disc 1")])
    assert [e.name for e in layout.entries] == ["Disc 1/a.wav", "disc 1 (2)"]
    with pytest.raises(ZipNameError, match="folder that is a file"):
        ZipLayout([entry("Disc 1"), entry("Disc 1/a.wav")])
    with pytest.raises(ZipNameError, match="folder that is a file"):
        ZipLayout([entry("a/b"), entry("a/b/c/d")])


def test_duplicates_refused_on_request() -> None:
    """duplicates="error" raises on the first clash instead of renaming."""
    ZipLayout([entry("a"), entry("b")], duplicates="error")
    with pytest.raises(ZipNameError, match="duplicate"):
        ZipLayout([entry("a"), entry("A")], duplicates="error")
    with pytest.raises(ValueError, match="rename"):
        ZipLayout([entry("a")], duplicates="skip")  # type: ignore[arg-type]


def test_renaming_keeps_the_length_limit() -> None:
    """A renamed name that would pass 65535 bytes is refused, not truncated."""
    name = "x" * 65535
    with pytest.raises(ZipNameError, match="at most 65535"):
        ZipLayout([entry(name), entry(name)])


def test_renamed_entries_keep_their_data() -> None:
    """Renaming changes the name only: sizes, CRCs, sources stay with their entry."""
    layout = ZipLayout([entry("a", b"one"), entry("A", b"two")])
    with zipfile.ZipFile(io.BytesIO(archive_bytes(layout))) as zf:
        assert zf.read("a") == b"one"
        assert zf.read("A (2)") == b"two"


@given(st.lists(st.sampled_from(["a", "A", "a (2)", "b/a", "B/A", "b/a (2)"]), max_size=10))
def test_renamed_names_never_clash(given_names: list[str]) -> None:
    """Whatever the input, the laid-out names are unique under case folding."""
    layout = ZipLayout([entry(n) for n in given_names])
    keys = [e.name.casefold() for e in layout.entries]
    assert len(set(keys)) == len(keys) == len(given_names)


@pytest.mark.parametrize(
    ("size", "crc", "message"),
    [
        (-1, 0, "size"),
        (1 << 64, 0, "size"),
        (1, -1, "crc32"),
        (1, 1 << 32, "crc32"),
        (0, 5, "empty file"),
    ],
)
def test_entry_numbers_are_checked(size: int, crc: int, message: str) -> None:
    """Sizes must fit 64 bits, CRCs 32 bits, and an empty file's CRC is 0."""
    with pytest.raises(ZipError, match=message):
        ZipEntry("a", size, crc, 0.0, None)


@pytest.mark.parametrize("mtime", [float("nan"), float("inf"), -float("inf")])
def test_entry_times_must_be_finite(mtime: float) -> None:
    """A NaN or infinite mtime has no DOS time: refused when the entry is made."""
    with pytest.raises(ZipError, match="finite"):
        ZipEntry("a", 0, 0, mtime, None)
