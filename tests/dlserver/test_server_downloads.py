"""The download server on 127.0.0.1 against real clients: curl, wget, aria2c, unzip.

Tracks and album zips: whole, ranges, resume (a zip cut in the middle resumes to the
same bytes), conditional GET, HEAD, refused links. Peers: Debian ``curl``, ``wget``,
``unzip``, ``aria2``.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from test_server_harness import Running, build_data

from support.peers import need

pytestmark = pytest.mark.torsion_timeout(90)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_data(tmp_path_factory.mktemp("dl"))


def headers_of(text: bytes) -> dict[str, str]:
    """The last response head in curl ``-D -`` output, lower-case names."""
    head = text.split(b"\r\n\r\n")[-2] if text.count(b"\r\n\r\n") > 1 else text
    found = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    return found


async def test_curl_and_wget_get_a_track(reactor: Any, data: Path, tmp_path: Path) -> None:
    """A signed track link: curl and wget get the file's bytes, named by the header."""
    running = await Running.start(reactor, data)
    track = running.track_titled("Café")
    expected = running.media(track)
    url = running.track_url(track)
    got = await running.curl("-D", str(tmp_path / "head"), "-o", str(tmp_path / "c"), url)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "c").read_bytes() == expected
    head = (tmp_path / "head").read_bytes()
    assert b"HTTP/1.1 200" in head and b"Content-Length: %d" % len(expected) in head
    assert b"Accept-Ranges: bytes" in head and b"Content-Type: audio/" in head
    assert (b"Content-Disposition: attachment; filename=\"Zoe Angstrom - Cafe.wav\"; "
            b"filename*=UTF-8''" + quote("Zoë Ångström - Café.wav").encode()) in head
    assert b"X-Queue-Position-At-Arrival: 0" in head
    folder = tmp_path / "wget"
    folder.mkdir()
    fetched = await running.run(need("wget"), "-q", "--content-disposition", "-P", str(folder),
                                url)
    assert fetched.returncode == 0, fetched.stderr
    assert (folder / "Zoë Ångström - Café.wav").read_bytes() == expected
    await running.stop()


async def test_track_ranges_and_resume(reactor: Any, data: Path, tmp_path: Path) -> None:
    """curl -r (one range, several ranges) and -C - resume give the exact bytes."""
    running = await Running.start(reactor, data)
    track = running.track_titled("Lumière")
    expected = running.media(track)
    url = running.track_url(track)
    part = await running.curl("-r", "100-1099", url)
    assert part.stdout == expected[100:1100]
    several = await running.curl("-D", "-", "-r", "0-9,-10", url)
    assert b"206" in several.stdout.split(b"\r\n")[0]
    assert b"multipart/byteranges" in several.stdout
    assert expected[:10] in several.stdout and expected[-10:] in several.stdout
    partial = tmp_path / "partial.wav"
    partial.write_bytes(expected[:12345])
    resumed = await running.curl("-C", "-", "-o", str(partial), url)
    assert resumed.returncode == 0, resumed.stderr
    assert partial.read_bytes() == expected
    beyond = await running.curl("-w", "%{http_code}", "-o", "/dev/null", "-r",
                                f"{len(expected)}-", url)
    assert beyond.stdout == b"416"
    await running.stop()


async def test_album_zip_whole_cut_and_resumed(reactor: Any, data: Path, tmp_path: Path) -> None:
    """The album zip: unzip -t and zipfile accept it; cut in the middle and resumed with
    curl -C - it is byte-identical to a whole download; the CRCs match the files."""
    running = await Running.start(reactor, data)
    album = running.album_named("Été \u2013 Live")
    url = running.album_url(album)
    whole = tmp_path / "whole.zip"
    got = await running.curl("-D", str(tmp_path / "head"), "-o", str(whole), url)
    assert got.returncode == 0, got.stderr
    head = headers_of((tmp_path / "head").read_bytes())
    archive = whole.read_bytes()
    assert head["content-length"] == str(len(archive))
    assert head["content-type"] == "application/zip" and head["etag"].startswith('"zip-')
    tested = await running.run(need("unzip"), "-t", str(whole))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        assert opened.testzip() is None
        names = opened.namelist()
        assert names == [f"Zoë Ångström - Été \u2013 Live/{n:02d} {t}.wav" for n, t in
                         enumerate(("Café", "Naïve Waltz", "Lumière", "Encore!"), 1)]
        for track, name in zip(album.tracks, names, strict=True):
            assert opened.read(name) == running.media(track)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(archive[: len(archive) // 2 + 7])
    resumed = await running.curl("-C", "-", "-o", str(cut), url)
    assert resumed.returncode == 0, resumed.stderr
    assert cut.read_bytes() == archive
    middle = await running.curl("-r", "1000-99999", url)
    assert middle.stdout == archive[1000:100000]
    await running.stop()


async def test_refused_links_get_403_and_no_bytes(reactor: Any, data: Path) -> None:
    """Expired, tampered, unsigned and wrong-client links: 403, a reason, no file bytes."""
    running = await Running.start(reactor, data)
    track = running.track_titled("Fjord")
    secret = running.media(track)[1000:1032]
    good = running.track_url(track)
    cases = {
        "expired": running.track_url(track, expires_in=-10),
        "bad signature": re.sub(r"s=.", lambda m: "s=B" if m.group() == "s=A" else "s=A", good),
        "missing signature": good.split("?")[0],
        "wrong client address": running.track_url(track, client_ip="192.0.2.1"),
    }
    for reason, url in cases.items():
        got = await running.curl("-D", "-", url)
        assert got.stdout.startswith(b"HTTP/1.1 403"), (reason, got.stdout[:200])
        assert got.stdout.endswith(f"forbidden: {reason}\n".encode()), reason
        assert secret not in got.stdout
    other = re.sub(r"/dl/t/(\d+)/", lambda m: f"/dl/t/{int(m.group(1)) + 1}/", good)
    swapped = await running.curl("-w", "%{http_code}", "-o", "/dev/null", other)
    assert swapped.stdout == b"403"
    bound = await running.curl("-o", "/dev/null", "-w", "%{http_code}",
                               running.track_url(track, client_ip="127.0.0.1"))
    assert bound.stdout == b"200"
    await running.stop()


async def test_conditional_get_and_head(reactor: Any, data: Path) -> None:
    """If-None-Match with the ETag gives 304 (track and zip); HEAD gives the headers only."""
    running = await Running.start(reactor, data)
    track = running.track_titled("Octave Up")
    for url in (running.track_url(track), running.album_url(running.album_named("Pure Tones"))):
        first = await running.curl("-D", "-", "-o", "/dev/null", url)
        etag = headers_of(first.stdout)["etag"]
        again = await running.curl("-H", f"If-None-Match: {etag}", "-w", "%{http_code}",
                                   "-o", "/dev/null", url)
        assert again.stdout == b"304"
        head = await running.curl("-I", url)
        fields = headers_of(head.stdout)
        assert head.stdout.startswith(b"HTTP/1.1 200")
        assert fields["content-length"] == headers_of(first.stdout)["content-length"]
        assert fields["etag"] == etag
        modified = await running.curl("-H", 'If-Match: "other"', "-w", "%{http_code}",
                                      "-o", "/dev/null", url)
        assert modified.stdout == b"412"
    await running.stop()


async def test_aria2c_several_connections(reactor: Any, data: Path, tmp_path: Path) -> None:
    """aria2c -x4 -s4 fetches the big track and its album zip over 4 connections each;
    the results are identical to single-connection downloads."""
    aria2c = need("aria2c")
    running = await Running.start(reactor, data, max_per_client=4)
    track = running.track_titled("Long")
    expected = running.media(track)
    album_url = running.album_url(running.album_named("Huge"))
    whole = await running.curl(album_url)
    for url, name, want in ((running.track_url(track), "t.wav", expected),
                            (album_url, "a.zip", whole.stdout)):
        got = await running.run(aria2c, "-x4", "-s4", "-k1M", "--file-allocation=none",
                                "--summary-interval=0", "-d", str(tmp_path), "-o", name, url)
        assert got.returncode == 0, got.stdout[-2000:]
        digest = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert digest == hashlib.sha256(want).hexdigest()
    assert len(whole.stdout) > 8 * 1024 * 1024
    await running.stop()


async def test_unknown_paths_and_methods(reactor: Any, data: Path) -> None:
    """Other paths get 404, other methods 405; a signed link to a missing ID gets 404."""
    running = await Running.start(reactor, data)
    nothing = await running.curl("-w", "%{http_code}", "-o", "/dev/null",
                                 running.base + "/dl/x/1/a")
    assert nothing.stdout == b"404"
    post = await running.curl("-X", "POST", "-w", "%{http_code}", "-o", "/dev/null",
                              running.track_url(running.track_titled("Beat")))
    assert post.stdout == b"405"
    ghost = running.base + running.server.sign("/dl/t/999999/ghost.wav")
    missing = await running.curl("-w", "%{http_code}", "-o", "/dev/null", ghost)
    assert missing.stdout == b"404"
    status = await running.curl(running.base + "/status")
    assert b'"active":0' in status.stdout
    await running.stop()


async def test_rate_limited_download_is_paced_and_exact(reactor: Any, data: Path,
                                                        tmp_path: Path) -> None:
    """With --rate the album zip takes at least (size - burst) / rate seconds and its
    bytes (whole, and a resumed half) are those of an unlimited download."""
    free = await Running.start(reactor, data)
    album = free.album_named("Nordlys")
    expected = (await free.curl(free.album_url(album))).stdout
    await free.stop()
    rate = 300_000
    running = await Running.start(reactor, data, rate=rate)
    url = running.album_url(album)
    got = await running.curl("-w", "%{time_total}", "-o", str(tmp_path / "a.zip"), url)
    assert (tmp_path / "a.zip").read_bytes() == expected
    assert float(got.stdout) >= (len(expected) - 65536) / rate * 0.9
    half = tmp_path / "half.zip"
    half.write_bytes(expected[: len(expected) // 2])
    resumed = await running.curl("-C", "-", "-o", str(half), url)
    assert resumed.returncode == 0 and half.read_bytes() == expected
    await running.stop()
