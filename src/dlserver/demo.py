"""A small, real demo catalog: generated WAV tones with ID3 tags, imported like any music.

:func:`build_demo` writes 3 artists x 2 albums x 4 tracks of 3-second tones (8 kHz,
16-bit mono: 48 kB each, about 1.2 MB in all) under the data directory's media root,
tags them (ID3 in the WAV's ``id3`` chunk, which mutagen reads back), and runs the
importer. Names include non-ASCII ("Zoë Ångström", "Été \u2013 Live", "Café"), a quote and a
slash ("Left/Right"), which the file name on disk cannot carry but the tag can: what
Content-Disposition headers and zip entry names must get right.

The audio is deterministic (same bytes on every run), so CRCs and sizes are stable.
"""

from __future__ import annotations

import array
import math
import os
import sys
import wave
from collections.abc import Callable
from pathlib import Path

import mutagen
from mutagen.id3 import TALB, TDRC, TIT2, TPE1, TPE2, TPOS, TRCK
from mutagen.wave import WAVE

from dlserver._links_keys import load_keys
from dlserver.catalog import Catalog
from dlserver.importer import ImportProgress, ImportReport, import_folder

__all__ = ["DEMO_ALBUMS", "build_demo", "write_tone"]

RATE = 8000
SECONDS = 3.0

#: (artist, album, year, four track titles) of the demo catalog.
DEMO_ALBUMS: tuple[tuple[str, str, int, tuple[str, str, str, str]], ...] = (
    ("Zoë Ångström", "Été \u2013 Live", 2021, ("Café", "Naïve Waltz", "Lumière", "Encore!")),
    ("Zoë Ångström", "Nordlys", 2019, ("Fjord", "Midnattssol", "Ørsted", "Polar Night")),
    ("The Sine Waves", "Pure Tones", 2020, ("A440", "Octave Up", "Perfect Fifth", "Drone")),
    ("The Sine Waves", "Square One", 2022, ('Say "Hi"', "Left/Right", "Beat", "Outro")),
    ("Kōji & the Harmonics", "Overtones", 2018, ("Fundamental", "Second", "Third", "Fourth")),
    ("Kōji & the Harmonics", "Tempo", 2023, ("Largo", "Andante", "Allegro", "Presto")),
)


def write_tone(path: Path, root_hz: float, *, seconds: float = SECONDS, rate: int = RATE) -> None:
    """Write a mono 16-bit WAV: a major arpeggio (root, third, fifth, octave) on ``root_hz``."""
    frames = int(seconds * rate)
    note_frames = frames // 4
    fade = max(1, rate // 100)  # 10 ms ramps: no clicks between notes
    samples = array.array("h", bytes(2 * frames))
    for note, ratio in enumerate((1.0, 2 ** (4 / 12), 2 ** (7 / 12), 2.0)):
        step = 2 * math.pi * root_hz * ratio / rate
        start = note * note_frames
        for i in range(note_frames):
            envelope = min(1.0, i / fade, (note_frames - i) / fade)
            samples[start + i] = int(9000 * envelope * math.sin(step * i))
    if sys.byteorder == "big":
        samples.byteswap()  # WAV is little-endian
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


def _tag(path: Path, artist: str, album: str, year: int, title: str, number: int) -> None:
    audio = mutagen.File(path)  # not WAVE(path): mutagen's constructors are untyped
    assert isinstance(audio, WAVE)
    audio.add_tags()  # type: ignore[no-untyped-call]
    tags = audio.tags
    assert tags is not None
    for frame in (TPE1(encoding=3, text=[artist]), TPE2(encoding=3, text=[artist]),
                  TALB(encoding=3, text=[album]), TIT2(encoding=3, text=[title]),
                  TRCK(encoding=3, text=[f"{number}/4"]), TPOS(encoding=3, text=["1/1"]),
                  TDRC(encoding=3, text=[str(year)])):
        tags.add(frame)
    audio.save()


def _file_name(text: str) -> str:
    return text.replace("/", "-").replace(os.sep, "-")


def write_demo_media(media_root: Path) -> list[Path]:
    """Write the demo's tagged WAV files under ``media_root``; returns their paths."""
    written = []
    for album_index, (artist, album, year, titles) in enumerate(DEMO_ALBUMS):
        folder = media_root / _file_name(artist) / _file_name(album)
        folder.mkdir(parents=True, exist_ok=True)
        for number, title in enumerate(titles, 1):
            path = folder / f"{number:02d} {_file_name(title)}.wav"
            semitone = album_index * 4 + number - 1  # every track a different pitch
            write_tone(path, 220.0 * 2 ** (semitone / 12))
            _tag(path, artist, album, year, title, number)
            written.append(path)
    return written


def build_demo(
    data_dir: str | os.PathLike[str],
    *,
    progress: Callable[[ImportProgress], object] | None = None,
) -> ImportReport | None:
    """Fill an uninitialised data directory with the demo catalog.

    Creates the directory, its signing keys and catalog if needed. Does nothing (returns
    None) when the catalog already has tracks; otherwise writes the demo files into the
    media root and imports the media root (any other audio already there comes too).

    Returns:
        the import's report, or None if the catalog was already populated.
    """
    directory = Path(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    load_keys(directory)
    with Catalog.open_data_dir(directory) as catalog:
        if catalog.stats()[2] > 0:
            return None
        catalog.media_root.mkdir(parents=True, exist_ok=True)
        write_demo_media(catalog.media_root)
        return import_folder(catalog, progress=progress)
