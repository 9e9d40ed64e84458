"""The catalog: schema and migrations, typed reads, stable IDs, caching, media paths."""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from dlserver import _catalog_schema
from dlserver.catalog import (
    CATALOG_FILENAME,
    SCHEMA_VERSION,
    Catalog,
    CatalogError,
    TrackRecord,
)


def record(path: str, **overrides: object) -> TrackRecord:
    values: dict[str, object] = {
        "path": path, "size": 100, "crc32": 0xDEADBEEF, "mtime_ns": 1_700_000_000_123_456_789,
        "mime": "audio/wav", "duration": 2.5, "title": Path(path).stem, "artist": "Artist",
        "album_artist": "Artist", "album": "Album", "disc": 1, "number": None, "year": 2020,
    }
    values.update(overrides)
    return TrackRecord(**values)  # type: ignore[arg-type]


def store(catalog: Catalog, *records: TrackRecord) -> list[int]:
    with catalog.transaction():
        return [catalog.store_track(r) for r in records]


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    with Catalog.open(tmp_path / CATALOG_FILENAME) as opened:
        yield opened


def test_new_database_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    """Opening creates the schema at the current version, in WAL journal mode."""
    with Catalog.open(tmp_path / "c.db"):
        pass
    conn = sqlite3.connect(tmp_path / "c.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"artist", "album", "track", "file", "meta"} <= tables
    conn.close()


def test_reopening_keeps_data_and_does_not_migrate_again(tmp_path: Path) -> None:
    """A second open finds the schema current and the rows intact."""
    with Catalog.open(tmp_path / "c.db") as first:
        (track_id,) = store(first, record("a/b/x.wav"))
    with Catalog.open(tmp_path / "c.db") as second:
        found = second.track(track_id)
        assert found is not None and found.file.path == "a/b/x.wav"
        conn = sqlite3.connect(tmp_path / "c.db")
        assert _catalog_schema.migrate(conn) == SCHEMA_VERSION
        conn.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database from a newer dlserver raises CatalogError rather than being misread."""
    conn = sqlite3.connect(tmp_path / "c.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(CatalogError, match="newer"):
        Catalog.open(tmp_path / "c.db")


def test_failed_migration_rolls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration that fails leaves the version (and schema) as they were."""
    broken = ((*_catalog_schema._MIGRATIONS[0], "CREATE TABLE artist (x)"),)
    monkeypatch.setattr(_catalog_schema, "_MIGRATIONS", broken)
    conn = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    with pytest.raises(sqlite3.OperationalError):
        _catalog_schema.migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    conn.close()


def test_track_read_back_with_all_fields(catalog: Catalog) -> None:
    """A stored track comes back typed, with its artist, album and file."""
    (track_id,) = store(catalog, record(
        "Art/Alb/01 Song.wav", title="Song", artist="Guest", album_artist="Art", album="Alb",
        disc=2, number=7, year=1999, size=4242, crc32=0xFFFFFFFF, duration=None,
    ))
    track = catalog.track(track_id)
    assert track is not None
    assert (track.title, track.artist.name, track.album_artist.name, track.album_title) == (
        "Song", "Guest", "Art", "Alb")
    assert (track.disc, track.number, track.year) == (2, 7, 1999)
    assert track.file.path == "Art/Alb/01 Song.wav"
    assert (track.file.size, track.file.crc32, track.file.duration) == (4242, 0xFFFFFFFF, None)
    assert track.file.mtime == pytest.approx(1_700_000_000.123456789)
    assert catalog.artist(track.artist.id) == track.artist
    assert catalog.track(track_id + 1000) is None
    assert catalog.artist(9999) is None and catalog.album(9999) is None


def test_find_by_path(catalog: Catalog) -> None:
    """find_by_path looks a track up by its file's relative path, exactly."""
    ids = store(catalog, record("x/1.wav"), record("x/2.wav"))
    found = catalog.find_by_path("x/2.wav")
    assert found is not None and found.id == ids[1]
    assert catalog.find_by_path("x/3.wav") is None
    assert catalog.find_by_path("X/2.wav") is None


def test_album_tracks_in_play_order(catalog: Catalog) -> None:
    """Album tracks sort by disc, then number (unnumbered last), then title."""
    store(catalog,
          record("a/d2t1.wav", disc=2, number=1, title="d2t1"),
          record("a/nonum-b.wav", number=None, title="B"),
          record("a/d1t2.wav", number=2, title="d1t2"),
          record("a/nonum-a.wav", number=None, title="A"),
          record("a/d1t1.wav", number=1, title="d1t1"))
    (summary,) = catalog.albums()
    album = catalog.album(summary.id)
    assert album is not None
    assert [t.title for t in album.tracks] == ["d1t1", "d1t2", "A", "B", "d2t1"]
    assert album.size == 500 and album.duration == pytest.approx(12.5)
    assert (summary.track_count, summary.size, summary.year) == (5, 500, 2020)


def test_album_duration_unknown_when_any_track_lacks_it(catalog: Catalog) -> None:
    """One track without a duration makes the album's unknown, not a wrong sum."""
    store(catalog, record("a/1.wav"), record("a/2.wav", duration=None))
    album = catalog.album(catalog.albums()[0].id)
    assert album is not None and album.duration is None


def test_albums_and_artists_listing(catalog: Catalog) -> None:
    """albums() lists per album artist; a performer differing from it is its own artist."""
    store(catalog,
          record("b/1.wav", artist="Beta", album_artist="Beta", album="Two"),
          record("a/1.wav", artist="Alpha", album_artist="Alpha", album="One"),
          record("a/2.wav", artist="Guest", album_artist="Alpha", album="One"))
    summaries = catalog.albums()
    assert [(s.artist.name, s.title, s.track_count) for s in summaries] == [
        ("Alpha", "One", 2), ("Beta", "Two", 1)]
    assert [a.name for a in catalog.artists()] == ["Alpha", "Beta", "Guest"]
    alpha = summaries[0].artist
    assert [s.title for s in catalog.albums(alpha.id)] == ["One"]


def test_same_album_title_by_two_artists_is_two_albums(catalog: Catalog) -> None:
    """Albums are keyed by (album artist, title): "Greatest Hits" is not one album."""
    store(catalog, record("a/1.wav", album_artist="A", artist="A", album="Hits"),
          record("b/1.wav", album_artist="B", artist="B", album="Hits"))
    assert len(catalog.albums()) == 2


def test_update_keeps_ids(catalog: Catalog) -> None:
    """Storing the same path again updates in place: the track keeps its ID."""
    (first,) = store(catalog, record("a/1.wav", title="Old", crc32=1))
    (second,) = store(catalog, record("a/1.wav", title="New", crc32=2, album="Other"))
    assert first == second
    track = catalog.track(first)
    assert track is not None and (track.title, track.file.crc32) == ("New", 2)
    catalog.prune()
    assert [s.title for s in catalog.albums()] == ["Other"]


def test_remove_prunes_and_ids_are_never_reused(catalog: Catalog) -> None:
    """Removed tracks take empty albums/artists along; new rows get fresh IDs."""
    ids = store(catalog, record("a/1.wav"), record("b/1.wav", artist="B", album_artist="B"))
    old_album = catalog.track(ids[1])
    assert old_album is not None
    with catalog.transaction():
        assert catalog.remove_paths(["b/1.wav", "missing.wav"]) == 1
        catalog.prune()
    assert catalog.track(ids[1]) is None
    assert [a.name for a in catalog.artists()] == ["Artist"]
    (new,) = store(catalog, record("b/1.wav", artist="B", album_artist="B"))
    assert new > max(ids)
    again = catalog.track(new)
    assert again is not None and again.album_id > old_album.album_id


def test_names_are_unicode_normalised(catalog: Catalog) -> None:
    """An NFD name (macOS file names) and an NFC one (tags) are the same artist."""
    nfd = unicodedata.normalize("NFD", "Zoë")
    store(catalog, record("a/1.wav", artist=nfd, album_artist=nfd),
          record("a/2.wav", artist="Zoë", album_artist="Zoë"))
    assert [a.name for a in catalog.artists()] == ["Zoë"]


def test_search_ignores_case_and_accents(catalog: Catalog) -> None:
    """search() matches every word against artist, album and title, folded."""
    store(catalog, record("z/1.wav", artist="Zoë Ångström", album_artist="Zoë Ångström",
                          album="Été", title="Café"),
          record("z/2.wav", artist="Other", album_artist="Other", title="Cafeteria"))
    assert [t.title for t in catalog.search("zoe CAFE")] == ["Café"]
    assert [t.title for t in catalog.search("cafe")] == ["Cafeteria", "Café"]  # by artist
    assert catalog.search("ete angstrom")[0].title == "Café"
    assert catalog.search("   ") == [] and len(catalog.search("cafe", limit=1)) == 1
    assert catalog.search("100%") == []


def test_transaction_rolls_back_on_error(catalog: Catalog) -> None:
    """An exception inside transaction() undoes its writes."""
    with pytest.raises(RuntimeError), catalog.transaction():
        catalog.store_track(record("a/1.wav"))
        raise RuntimeError("boom")
    assert catalog.stats() == (0, 0, 0, 0)


def test_stats_and_file_states(catalog: Catalog) -> None:
    """stats() counts; file_states() selects exactly one folder's subtree."""
    store(catalog, record("A/B/1.wav", size=10), record("A/B 2/1.wav", size=20),
          record("A/B0/1.wav", size=30), record("A/B/C/2.wav", size=40), record("top.wav"))
    assert catalog.stats() == (1, 1, 5, 200)
    assert sorted(catalog.file_states("A/B")) == ["A/B/1.wav", "A/B/C/2.wav"]
    assert len(catalog.file_states()) == 5
    state = catalog.file_states("A/B")["A/B/1.wav"]
    assert (state.size, state.mtime_ns) == (10, 1_700_000_000_123_456_789)


def test_cache_sees_commits_from_another_connection(tmp_path: Path) -> None:
    """A cached track is re-read after another connection (an import) changes it."""
    with Catalog.open(tmp_path / "c.db") as server, Catalog.open(tmp_path / "c.db") as importer:
        (track_id,) = store(importer, record("a/1.wav", title="Before"))
        first = server.track(track_id)
        assert first is not None and server.track(track_id) is first  # cached
        album_before = server.album(first.album_id)
        store(importer, record("a/1.wav", title="After"))
        after = server.track(track_id)
        assert after is not None and after.title == "After"
        album_after = server.album(first.album_id)
        assert album_before is not None and album_after is not None
        assert album_after.tracks[0].title == "After"


def test_cache_sees_own_writes_and_is_bounded(tmp_path: Path) -> None:
    """Our own writes clear the cache; it never holds more than cache_size entries."""
    with Catalog.open(tmp_path / "c.db", cache_size=2) as catalog:
        ids = store(catalog, *(record(f"a/{i}.wav") for i in range(5)))
        for track_id in ids:
            assert catalog.track(track_id) is not None
        assert len(catalog._tracks) == 2
        store(catalog, record("a/0.wav", title="renamed"))
        renamed = catalog.track(ids[0])
        assert renamed is not None and renamed.title == "renamed"


@pytest.mark.parametrize("query", [
    "SELECT 1 FROM track t JOIN file f ON f.id = t.file_id WHERE t.id = 1",
    "SELECT 1 FROM track t JOIN file f ON f.id = t.file_id WHERE f.path = 'x'",
    "SELECT 1 FROM track t WHERE t.album_id = 1 ORDER BY t.disc, t.number",
    "SELECT 1 FROM album WHERE artist_id = 1 AND title = 'x'",
])
def test_per_request_queries_use_indexes(catalog: Catalog, query: str) -> None:
    """The lookups the server makes per request never scan a table."""
    plan = " ".join(str(row[-1]) for row in catalog._conn.execute("EXPLAIN QUERY PLAN " + query))
    assert "SCAN" not in plan, plan


def test_media_root_defaults_beside_the_database_and_moves_with_it(tmp_path: Path) -> None:
    """The default media root is stored relative, so a moved data dir keeps working."""
    data = tmp_path / "data"
    with Catalog.open_data_dir(data) as catalog:
        assert catalog.media_root == data / "media"
    data.rename(tmp_path / "moved")
    with Catalog.open_data_dir(tmp_path / "moved") as catalog:
        assert catalog.media_root == tmp_path / "moved" / "media"


def test_explicit_media_root_is_stored(tmp_path: Path) -> None:
    """A media_root passed once is remembered by later opens."""
    with Catalog.open(tmp_path / "c.db", media_root=tmp_path / "music"):
        pass
    with Catalog.open(tmp_path / "c.db") as catalog:
        assert catalog.media_root == tmp_path / "music"
    outside = tmp_path.parent / "elsewhere"
    with Catalog.open(tmp_path / "c.db", media_root=outside):
        pass
    with Catalog.open(tmp_path / "c.db") as catalog:
        assert catalog.media_root == outside


def test_media_path_refuses_escapes(tmp_path: Path) -> None:
    """media_path() resolves inside the root and refuses .., absolute paths and escaping links."""
    root = tmp_path / "media"
    (root / "a").mkdir(parents=True)
    (root / "a" / "ok.wav").write_bytes(b"x")
    (tmp_path / "secret.wav").write_bytes(b"s")
    (root / "a" / "evil.wav").symlink_to(tmp_path / "secret.wav")
    (root / "a" / "alias.wav").symlink_to(root / "a" / "ok.wav")
    with Catalog.open(tmp_path / "c.db", media_root=root) as catalog:
        assert catalog.media_path("a/ok.wav") == (root / "a" / "ok.wav").resolve()
        assert catalog.media_path("a/alias.wav") == (root / "a" / "ok.wav").resolve()
        for bad in ["", "/etc/passwd", "../secret.wav", "a/../../secret.wav", "a//ok.wav",
                    "./a/ok.wav", "a/evil.wav", "a/\0.wav"]:
            with pytest.raises(CatalogError):
                catalog.media_path(bad)
