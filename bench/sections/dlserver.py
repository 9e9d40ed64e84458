"""The download server: an album as a zip made on the fly, against its plain files.

One album of 8 tracks (WAV files of 128 MiB each, 16 MiB with --quick) is imported into
a dlserver data directory. One ``curl`` (CPU 1) downloads, from a server on CPU 0:

* ``torsion`` (the baseline): the album's zip from dlserver (stored entries, file data
  with sendfile);
* ``torsion-files``: the album's 8 tracks from the same server, one after the other on
  one keep-alive connection (the plain-file path);
* ``nginx-files``: the same 8 files from nginx (Debian nginx-light, ``sendfile on``).

The value is bytes per second over the whole transfer; every byte count is checked.
Goal (issue 8): the zip at 0.8x of ``torsion-files`` or better.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from urllib.parse import quote

from bench.model import BenchError, Case, Context, Direction, Measure, Measurement
from bench.servers import pin_to, serve, server_cpus

TRACKS = 8
MiB = 1024 * 1024


def _build(root: Path, track_size: int) -> tuple[Path, list[str], str, list[str], int]:
    """Data dir, track link paths, album link path, media paths, album zip size."""
    from dlserver._http_album import album_layout  # noqa: PLC0415
    from dlserver.catalog import Catalog  # noqa: PLC0415
    from dlserver.importer import import_folder  # noqa: PLC0415
    from dlserver.links import album_path, signer_for, track_path  # noqa: PLC0415

    data = root / "data"
    folder = data / "media" / "Bench Artist" / "Bench Album"
    folder.mkdir(parents=True)
    frames = bytes(range(256)) * (track_size // 256)
    for number in range(1, TRACKS + 1):
        with wave.open(str(folder / f"{number:02d} Track {number}.wav"), "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(44100)
            out.writeframes(frames)
    with Catalog.open_data_dir(data) as catalog:
        import_folder(catalog)
        album = catalog.album(catalog.albums()[0].id)
        assert album is not None and len(album.tracks) == TRACKS
        expires = int(time.time()) + 24 * 3600
        signer = signer_for(data)
        tracks = [signer.sign(track_path(t), expires) for t in album.tracks]
        zipped = signer.sign(album_path(album), expires)
        media = [t.file.path for t in album.tracks]
        size = album_layout(album).size  # what the server will send
    return data, tracks, zipped, media, size


def _fetch(urls: list[str], expected: int) -> float:
    """Download ``urls`` with one curl (one connection); returns seconds."""
    curl = shutil.which("curl")
    if curl is None:
        raise BenchError("curl is not installed (apt-get install curl)")
    argv = [*pin_to(1), curl, "-sS", "-f", "-w", "%{size_download}\\n"]
    for url in urls:
        argv += ["-o", "/dev/null", url]
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise BenchError(f"curl failed: {done.stderr.strip()}")
    got = sum(int(n) for n in done.stdout.split())
    if got != expected:
        raise BenchError(f"got {got} bytes, expected {expected}")
    return seconds


def _measure(peer: str) -> Measure:
    def measure(context: Context) -> Measurement:
        track_size = (16 if context.quick else 128) * MiB
        with tempfile.TemporaryDirectory(prefix="bench-dl-") as tmp:
            data, tracks, zipped, media, zip_size = _build(Path(tmp), track_size)
            sizes = sum((data / "media" / p).stat().st_size for p in media)
            if peer == "nginx-files":
                if not any(os.path.exists(p) for p in ("/usr/sbin/nginx", "/usr/bin/nginx")):
                    raise BenchError("nginx is not installed (apt-get install nginx-light)")
                argv = [sys.executable, "-m", "bench.peers.http", "files", "nginx",
                        str(data / "media")]
            else:
                argv = [sys.executable, "-m", "bench.peers.dlserver", str(data)]
            with serve(argv, cpus=server_cpus(), ready_timeout=30) as server:
                base = f"http://127.0.0.1:{server.port}"
                if peer == "torsion":
                    total, seconds = zip_size, _fetch([base + zipped], zip_size)
                elif peer == "torsion-files":
                    total, seconds = sizes, _fetch([base + t for t in tracks], sizes)
                else:
                    urls = [base + "/" + quote(p) for p in media]
                    total, seconds = sizes, _fetch(urls, sizes)
        return Measurement(total / seconds, "B/s", Direction.HIGHER_IS_BETTER,
                           extra={"bytes": total, "seconds": seconds})

    return measure


CASES = [
    Case(
        name="album",
        about="one curl: an 8-track album (1 GiB; 128 MiB with --quick) as a zip made on the "
        "fly, as 8 plain files from the same server, and from nginx; bytes per second.",
        peers={peer: _measure(peer) for peer in ("torsion", "torsion-files", "nginx-files")},
    ),
]
