"""The demo catalog: real, tagged, deterministic WAV files, imported once."""

from __future__ import annotations

import stat
import wave
import zlib
from pathlib import Path

import pytest

from dlserver._importer_tags import read_tags
from dlserver.catalog import Catalog
from dlserver.demo import DEMO_ALBUMS, build_demo
from dlserver.importer import ImportReport
from dlserver.links import KEYS_FILENAME


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ImportReport]:
    data = tmp_path_factory.mktemp("demo") / "data"
    report = build_demo(data)
    assert report is not None
    return data, report


def test_demo_catalog_shape(demo: tuple[Path, ImportReport]) -> None:
    """3 artists x 2 albums x 4 tracks, everything imported, nothing refused."""
    data, report = demo
    assert (report.added, report.refused, report.skipped) == (24, (), ())
    with Catalog.open_data_dir(data) as catalog:
        artists, albums, tracks, size = catalog.stats()
        assert (artists, albums, tracks) == (3, 6, 24)
        assert 24 * 40_000 < size < 24 * 60_000  # small: ~48 kB a track
        names = {a.name for a in catalog.artists()}
        assert "Zoë Ångström" in names
        titles = {s.title for s in catalog.albums()}
        assert "Été \u2013 Live" in titles


def test_demo_files_are_real_wavs_with_distinct_tones(demo: tuple[Path, ImportReport]) -> None:
    """Every file is a valid 8 kHz mono WAV of 3 s; every track sounds different."""
    data, _ = demo
    with Catalog.open_data_dir(data) as catalog:
        crcs = set()
        for summary in catalog.albums():
            album = catalog.album(summary.id)
            assert album is not None and [t.number for t in album.tracks] == [1, 2, 3, 4]
            for track in album.tracks:
                path = catalog.media_path(track.file.path)
                with wave.open(str(path), "rb") as audio:
                    assert (audio.getframerate(), audio.getnchannels(), audio.getnframes()) == (
                        8000, 1, 24000)
                    crcs.add(zlib.crc32(audio.readframes(24000)))
                assert track.file.crc32 == zlib.crc32(path.read_bytes())
                assert track.file.duration == pytest.approx(3.0)
        assert len(crcs) == 24


def test_tags_carry_what_file_names_cannot(demo: tuple[Path, ImportReport]) -> None:
    """'Left/Right' is a tag title; on disk the slash is replaced, and import reads the tag."""
    data, _ = demo
    with Catalog.open_data_dir(data) as catalog:
        (track,) = catalog.search("left right")
        assert track.title == "Left/Right"
        assert track.file.path == "The Sine Waves/Square One/02 Left-Right.wav"
        tags = read_tags(catalog.media_path(track.file.path))
        assert (tags.title, tags.artist, tags.year) == ("Left/Right", "The Sine Waves", 2022)
        (cafe,) = catalog.search("café")
        assert (cafe.artist.name, cafe.album_title) == ("Zoë Ångström", "Été \u2013 Live")


def test_second_build_does_nothing(demo: tuple[Path, ImportReport]) -> None:
    """An initialised data directory is left alone."""
    data, _ = demo
    before = sorted(p.stat().st_mtime_ns for p in (data / "media").rglob("*.wav"))
    assert build_demo(data) is None
    assert sorted(p.stat().st_mtime_ns for p in (data / "media").rglob("*.wav")) == before


def test_demo_creates_private_keys(demo: tuple[Path, ImportReport]) -> None:
    """The data directory gets its signing keys, mode 0600."""
    data, _ = demo
    assert stat.S_IMODE((data / KEYS_FILENAME).stat().st_mode) == 0o600


def test_demo_is_deterministic(demo: tuple[Path, ImportReport], tmp_path: Path) -> None:
    """Two builds write byte-identical files (stable sizes and CRCs for tests)."""
    data, _ = demo
    assert build_demo(tmp_path / "again") is not None
    with Catalog.open_data_dir(data) as first, Catalog.open_data_dir(tmp_path / "again") as second:
        def files(catalog: Catalog) -> dict[str, tuple[int, int]]:
            return {t.file.path: (t.file.size, t.file.crc32) for s in catalog.albums()
                    for t in catalog.album(s.id).tracks}  # type: ignore[union-attr]
        assert files(first) == files(second)
        assert len(files(first)) == 4 * len(DEMO_ALBUMS)
