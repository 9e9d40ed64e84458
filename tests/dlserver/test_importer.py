"""The importer: real tagged files on disk, CRCs, fallbacks, idempotence, symlinks."""

from __future__ import annotations

import os
import struct
import wave
import zlib
from collections.abc import Iterator
from pathlib import Path

import mutagen
import pytest
from mutagen.flac import FLAC
from mutagen.id3 import ID3, TALB, TDRC, TIT2, TPE1, TPE2, TPOS, TRCK
from mutagen.wave import WAVE

from dlserver import importer
from dlserver._importer_tags import Tags, with_fallbacks
from dlserver.catalog import Catalog, Track
from dlserver.importer import ImportFolderError, ImportProgress, import_folder

ID3_FRAMES = {"title": TIT2, "artist": TPE1, "albumartist": TPE2, "album": TALB,
              "track": TRCK, "disc": TPOS, "date": TDRC}


def write_wav(path: Path, seconds: float = 0.5, rate: int = 8000, **tags: str) -> Path:
    """A real mono 16-bit WAV of ``seconds``, with ID3 ``tags`` (title=..., artist=...)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        size = int(seconds * rate) * 2
        out.writeframes((bytes(range(256)) * (size // 256 + 1))[:size])
    if tags:
        audio = mutagen.File(path)
        assert isinstance(audio, WAVE)
        audio.add_tags()
        for name, value in tags.items():
            audio.tags.add(ID3_FRAMES[name](encoding=3, text=[value]))
        audio.save()
    return path


def write_flac(path: Path, **comments: str) -> Path:
    """A FLAC stream header (STREAMINFO: 1 s at 8 kHz) with Vorbis comments.

    No audio frames, which mutagen does not need: enough to test the Vorbis path.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    packed = (8000 << 44) | (0 << 41) | (15 << 36) | 8000  # rate, channels-1, bps-1, samples
    info = struct.pack(">HH", 4096, 4096) + bytes(6) + packed.to_bytes(8, "big") + bytes(16)
    path.write_bytes(b"fLaC" + bytes([0x80]) + len(info).to_bytes(3, "big") + info)
    audio = FLAC(path)
    audio.add_tags()
    for name, value in comments.items():
        audio[name] = value
    audio.save()
    return path


def write_mp3(path: Path, frames: int = 40, **tags: str) -> Path:
    """MPEG-1 Layer III frames (128 kb/s, 44.1 kHz, mono, silent) with an ID3 tag."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = b"\xff\xfb\x90\xc4" + bytes(417 - 4)
    path.write_bytes(frame * frames)
    id3 = ID3()
    for name, value in tags.items():
        id3.add(ID3_FRAMES[name](encoding=3, text=[value]))
    id3.save(path)
    return path


@pytest.fixture
def media(tmp_path: Path) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    return root


@pytest.fixture
def catalog(tmp_path: Path, media: Path) -> Iterator[Catalog]:
    with Catalog.open(tmp_path / "catalog.sqlite3", media_root=media) as opened:
        yield opened


def tracks_by_path(catalog: Catalog) -> dict[str, Track]:
    result = {}
    for summary in catalog.albums():
        album = catalog.album(summary.id)
        assert album is not None
        for track in album.tracks:
            result[track.file.path] = track
    return result


def test_tags_size_crc_and_duration_from_a_wav(catalog: Catalog, media: Path) -> None:
    """ID3 tags in a WAV are read; size and CRC match the bytes on disk."""
    path = write_wav(media / "x" / "file.wav", seconds=1.0, title="Café", artist="Zoë",
                     albumartist="Various", album="Été \u2013 Live", track="3/12", disc="2/2",
                     date="2019-05-01")
    report = import_folder(catalog)
    assert (report.added, report.total, report.refused, report.skipped) == (1, 1, (), ())
    track = catalog.find_by_path("x/file.wav")
    assert track is not None
    assert (track.title, track.artist.name, track.album_artist.name, track.album_title) == (
        "Café", "Zoë", "Various", "Été \u2013 Live")
    assert (track.number, track.disc, track.year) == (3, 2, 2019)
    data = path.read_bytes()
    assert track.file.size == len(data) == path.stat().st_size
    assert track.file.crc32 == zlib.crc32(data)
    assert track.file.mtime_ns == path.stat().st_mtime_ns
    assert track.file.mime == "audio/wav"
    assert track.file.duration == pytest.approx(1.0)


def test_crc_of_a_file_larger_than_one_read(catalog: Catalog, media: Path) -> None:
    """Files over 1 MiB are hashed across several reads, to the same CRC."""
    path = write_wav(media / "big.wav", seconds=70.0, rate=8000)  # ~1.1 MB
    assert path.stat().st_size > 1 << 20
    import_folder(catalog)
    track = catalog.find_by_path("big.wav")
    assert track is not None and track.file.crc32 == zlib.crc32(path.read_bytes())


def test_flac_vorbis_comments(catalog: Catalog, media: Path) -> None:
    """FLAC files are read through their Vorbis comments."""
    write_flac(media / "f.flac", title="Flac Song", artist="Ann", albumartist="Ann & Co",
               album="Lossless", tracknumber="4", discnumber="1/2", date="2001")
    import_folder(catalog)
    track = catalog.find_by_path("f.flac")
    assert track is not None
    assert (track.title, track.artist.name, track.album_artist.name, track.album_title) == (
        "Flac Song", "Ann", "Ann & Co", "Lossless")
    assert (track.number, track.disc, track.year, track.file.mime) == (4, 1, 2001, "audio/flac")
    assert track.file.duration == pytest.approx(1.0)


def test_mp3_id3(catalog: Catalog, media: Path) -> None:
    """MP3 files are read through ID3; the duration comes from the MPEG frames."""
    write_mp3(media / "A" / "m.MP3", title="Mp3 Song", artist="Bob", album="Lossy", track="9")
    import_folder(catalog)
    track = catalog.find_by_path("A/m.MP3")
    assert track is not None
    assert (track.title, track.artist.name, track.album_title, track.number) == (
        "Mp3 Song", "Bob", "Lossy", 9)
    assert track.file.mime == "audio/mpeg"
    assert track.file.duration == pytest.approx(40 * 1152 / 44100, rel=0.05)


def test_untagged_file_falls_back_to_its_path(catalog: Catalog, media: Path) -> None:
    """Without tags: artist and album from the folders, number and title from the name."""
    write_wav(media / "Some Artist" / "Some Album" / "03 - My_Song.wav")
    write_wav(media / "loose.wav")
    write_wav(media / "Band" / "LP" / "1-07 Track.wav", title="Tagged Title")
    import_folder(catalog)
    track = catalog.find_by_path("Some Artist/Some Album/03 - My_Song.wav")
    assert track is not None
    assert (track.artist.name, track.album_artist.name, track.album_title) == (
        "Some Artist", "Some Artist", "Some Album")
    assert (track.title, track.number, track.disc, track.year) == ("My Song", 3, 1, None)
    loose = catalog.find_by_path("loose.wav")
    assert loose is not None
    assert (loose.artist.name, loose.album_title, loose.title, loose.number) == (
        "Unknown Artist", "Unknown Album", "loose", None)
    mixed = catalog.find_by_path("Band/LP/1-07 Track.wav")
    assert mixed is not None
    assert (mixed.title, mixed.number, mixed.disc, mixed.artist.name) == (
        "Tagged Title", 7, 1, "Band")


@pytest.mark.parametrize(("name", "title", "number"), [
    ("05. Title.wav", "Title", 5),
    ("12 Title.wav", "Title", 12),
    ("2001 A Space Odyssey.wav", "2001 A Space Odyssey", None),
    ("1984 - Orwell.wav", "1984 - Orwell", None),
    ("Plain.wav", "Plain", None),
    ("07.wav", "07", None),
])
def test_file_name_fallbacks(name: str, title: str, number: int | None) -> None:
    """Leading track numbers are split off, but years and bare numbers are kept."""
    tags = with_fallbacks(Tags(), f"Art/Alb/{name}")
    assert (tags.title, tags.number) == (title, number)


def test_artist_tag_serves_as_album_artist(catalog: Catalog, media: Path) -> None:
    """With only an artist tag, the album artist is that artist (not the folder)."""
    write_wav(media / "folder" / "album" / "a.wav", artist="Tagged", album="Tagged Album")
    import_folder(catalog)
    track = catalog.find_by_path("folder/album/a.wav")
    assert track is not None and track.album_artist.name == "Tagged"


def test_garbage_audio_is_still_imported(catalog: Catalog, media: Path) -> None:
    """A file mutagen cannot parse is catalogued from its path, without a duration."""
    (media / "A" / "B").mkdir(parents=True)
    (media / "A" / "B" / "01 Noise.mp3").write_bytes(b"not audio at all" * 10)
    (media / "A" / "B" / "empty.ogg").write_bytes(b"")
    report = import_folder(catalog)
    assert report.added == 2
    track = catalog.find_by_path("A/B/01 Noise.mp3")
    assert track is not None
    assert (track.title, track.file.duration, track.file.size) == ("Noise", None, 160)


def test_reimport_is_idempotent_and_does_not_rehash(
    catalog: Catalog, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second import of unchanged files changes nothing and reads no file."""
    for i in range(3):
        write_wav(media / "A" / f"{i}.wav", title=f"T{i}")
    first = import_folder(catalog)
    before = tracks_by_path(catalog)

    def no_hashing(path: Path) -> tuple[int, int, int]:
        raise AssertionError(f"re-hashed {path}")

    monkeypatch.setattr(importer, "crc32_file", no_hashing)
    second = import_folder(catalog)
    assert (first.added, second.added, second.updated, second.unchanged, second.removed) == (
        3, 0, 0, 3, 0)
    assert tracks_by_path(catalog) == before


def test_changed_file_is_updated_under_the_same_id(catalog: Catalog, media: Path) -> None:
    """A file whose size or mtime changed is re-read; its track keeps its ID."""
    path = write_wav(media / "A" / "a.wav", title="Old")
    import_folder(catalog)
    old = catalog.find_by_path("A/a.wav")
    write_wav(path, seconds=1.0, title="New")
    os.utime(path, ns=(1, old.file.mtime_ns + 1_000_000_000))  # type: ignore[union-attr]
    report = import_folder(catalog)
    new = catalog.find_by_path("A/a.wav")
    assert report.updated == 1 and old is not None and new is not None
    assert (new.id, new.title) == (old.id, "New")
    assert new.file.crc32 == zlib.crc32(path.read_bytes()) != old.file.crc32


def test_removed_files_are_removed_and_pruned(catalog: Catalog, media: Path) -> None:
    """Files gone from disk leave the catalog, with their now-empty album and artist."""
    write_wav(media / "Keep" / "K" / "1.wav")
    gone = write_wav(media / "Gone" / "G" / "1.wav")
    import_folder(catalog)
    gone.unlink()
    report = import_folder(catalog)
    assert report.removed == 1
    assert [a.name for a in catalog.artists()] == ["Keep"]
    assert [s.title for s in catalog.albums()] == ["K"]


def test_importing_a_subfolder_leaves_siblings_alone(catalog: Catalog, media: Path) -> None:
    """Removal is scoped to the imported folder, not to names sharing its prefix."""
    write_wav(media / "A" / "B" / "1.wav")
    write_wav(media / "A" / "B 2" / "1.wav")
    write_wav(media / "A" / "B0" / "1.wav")
    import_folder(catalog)
    (media / "A" / "B" / "1.wav").unlink()
    write_wav(media / "A" / "B" / "new.wav")
    report = import_folder(catalog, media / "A" / "B")
    assert (report.added, report.removed, report.unchanged) == (1, 1, 0)
    assert sorted(catalog.file_states()) == ["A/B 2/1.wav", "A/B/new.wav", "A/B0/1.wav"]


def test_folder_must_be_inside_the_media_root(catalog: Catalog, tmp_path: Path) -> None:
    """Folders outside the root, missing ones and files are refused."""
    (tmp_path / "outside").mkdir()
    with pytest.raises(ImportFolderError, match="outside the media root"):
        import_folder(catalog, tmp_path / "outside")
    with pytest.raises(ImportFolderError, match="not a directory"):
        import_folder(catalog, tmp_path / "missing")


def test_symlinks_escaping_the_root_are_refused(
    catalog: Catalog, media: Path, tmp_path: Path
) -> None:
    """Links leaving the root are refused; links inside it are imported (files) or
    not followed (directories)."""
    secret = write_wav(tmp_path / "outside" / "secret.wav", title="Secret")
    inside = write_wav(media / "A" / "real.wav", title="Real")
    (media / "A" / "escape.wav").symlink_to(secret)
    (media / "A" / "alias.wav").symlink_to(inside)
    (media / "escape-dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    (media / "inside-dir").symlink_to(media / "A", target_is_directory=True)
    (media / "A" / "dangling.wav").symlink_to(tmp_path / "nothing.wav")
    report = import_folder(catalog)
    assert sorted(catalog.file_states()) == ["A/alias.wav", "A/real.wav"]
    assert sorted(line.split(":")[0] for line in report.refused) == [
        "A/dangling.wav", "A/escape.wav", "escape-dir"]
    alias = catalog.find_by_path("A/alias.wav")
    assert alias is not None and alias.title == "Real"


def test_a_folder_reached_through_an_escaping_link_is_refused(
    catalog: Catalog, media: Path, tmp_path: Path
) -> None:
    """import_folder(root/link) with link pointing outside is outside the root."""
    (tmp_path / "outside").mkdir()
    (media / "link").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(ImportFolderError, match="outside"):
        import_folder(catalog, media / "link")


def test_hidden_non_audio_and_undecodable_names(catalog: Catalog, media: Path) -> None:
    """Hidden files/folders and other extensions are ignored; non-UTF-8 names skipped."""
    write_wav(media / "A" / "._resource.wav")
    write_wav(media / ".hidden" / "x.wav")
    (media / "A" / "cover.jpg").write_bytes(b"jpeg")
    write_wav(media / "A" / "ok.wav")
    with open(os.path.join(os.fsencode(media / "A"), b"bad\xff.wav"), "wb") as handle:
        handle.write(b"x")
    report = import_folder(catalog)
    assert list(catalog.file_states()) == ["A/ok.wav"]
    assert len(report.skipped) == 1 and "not UTF-8" in report.skipped[0]


def test_progress_reports_every_file(catalog: Catalog, media: Path) -> None:
    """The progress callback sees done counting up to total, with each path."""
    for i in range(4):
        write_wav(media / f"{i}.wav")
    seen: list[ImportProgress] = []
    import_folder(catalog, progress=seen.append)
    assert [(p.done, p.total) for p in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [p.path for p in seen] == ["0.wav", "1.wav", "2.wav", "3.wav"]


def test_many_files_span_several_write_batches(catalog: Catalog, media: Path) -> None:
    """More files than one write batch are all stored."""
    source = write_wav(media / "src" / "0.wav")
    for i in range(1, importer._BATCH + 5):
        os.link(source, media / "src" / f"{i}.wav")
    assert import_folder(catalog).added == importer._BATCH + 5
    assert catalog.stats()[2] == importer._BATCH + 5
