"""torsion.web.static.File over a StringTransport: headers, conditionals, ranges,
directories and path safety, deterministic (the read-and-write path; the sendfile path
is exercised on loopback in test_server_loopback.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from test_server_support import Conn, Reply, connect, one

from torsion.web._conditional import http_date
from torsion.web.static import File, content_type

SECRET = b"TOP SECRET, outside the root"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """www/ with files, a subdirectory and symlinks; a secret file beside www/."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    www = tmp_path / "www"
    www.mkdir()
    (www / "hello.txt").write_bytes(b"hello, static world\n")
    (www / "big.bin").write_bytes(bytes(range(256)) * 1200)  # 300 KiB: several reads
    (www / "archive.tar.gz").write_bytes(b"\x1f\x8b")
    (www / "noext").write_bytes(b"?")
    sub = www / "sub"
    sub.mkdir()
    (sub / "<script>&.txt").write_bytes(b"x")
    (sub / "inner.txt").write_bytes(b"inner")
    withindex = www / "site"
    withindex.mkdir()
    (withindex / "index.html").write_bytes(b"<h1>index</h1>")
    (www / "escape").symlink_to(tmp_path / "secret.txt")
    (www / "escape-dir").symlink_to(tmp_path)
    (www / "alias.txt").symlink_to(www / "hello.txt")
    return www


def fetch(conn: Conn, request: bytes, method: bytes = b"GET") -> Reply:
    conn.send(request)
    for _ in range(1000):
        if not conn.clock.getDelayedCalls() or conn.channel._request is None:
            break
        conn.clock.advance(0)
    return one(conn.take(), method)


def get(root: Path, path: bytes, *headers: bytes, method: bytes = b"GET", **options: Any) -> Reply:
    conn = connect(File(root, **options))
    extra = b"".join(h + b"\r\n" for h in headers)
    return fetch(conn, b"%s %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (method, path, extra), method)


def test_file_with_type_etag_and_dates(root: Path) -> None:
    """A file: its bytes, type from the extension, ETag, Last-Modified, Accept-Ranges."""
    reply = get(root, b"/hello.txt")
    assert reply.status == 200 and reply.body == b"hello, static world\n"
    assert reply.header(b"content-type") == b"text/plain"
    assert reply.header(b"content-length") == b"20"
    assert reply.header(b"accept-ranges") == b"bytes"
    info = os.stat(root / "hello.txt")
    assert reply.header(b"last-modified") == http_date(int(info.st_mtime))
    assert reply.header(b"etag") == b'"%x-%x"' % (info.st_mtime_ns, info.st_size)


def test_large_file_read_in_pieces(root: Path) -> None:
    """A 300 KiB file is read in 64 KiB pieces under a push producer, bytes exact."""
    reply = get(root, b"/big.bin")
    assert reply.body == (root / "big.bin").read_bytes()


def test_head_has_headers_only(root: Path) -> None:
    """HEAD: the GET's headers and Content-Length, no body."""
    reply = get(root, b"/big.bin", method=b"HEAD")
    assert reply.header(b"content-length") == b"307200" and reply.body == b""


def test_media_types() -> None:
    """Types from mimetypes; compressed files as their own type; unknown: the default."""
    assert content_type("a.html", "x/y") == "text/html"
    assert content_type("a.tar.gz", "x/y") == "application/gzip"
    assert content_type("README", "x/y") == "x/y"


@pytest.mark.parametrize(("headers", "status"), [
    ((b"If-None-Match: ETAG",), 304),
    ((b'If-None-Match: "other", ETAG',), 304),
    ((b"If-None-Match: W/ETAG",), 304),
    ((b"If-None-Match: *",), 304),
    ((b'If-None-Match: "other"',), 200),
    ((b"If-Modified-Since: MTIME",), 304),
    ((b"If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT",), 200),
    ((b"If-Modified-Since: not a date",), 200),
    ((b'If-None-Match: "other"', b"If-Modified-Since: MTIME"), 200),
    ((b'If-Match: "other"',), 412),
    ((b"If-Match: ETAG",), 200),
    ((b"If-Match: W/ETAG",), 412),
    ((b"If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT",), 412),
    ((b"If-Unmodified-Since: MTIME",), 200),
])
def test_conditional_get(root: Path, headers: tuple[bytes, ...], status: int) -> None:
    """If-None-Match / If-Modified-Since give 304, If-Match / If-Unmodified-Since 412,
    in the order of RFC 9110 section 13.2.2."""
    info = os.stat(root / "hello.txt")
    etag = b'"%x-%x"' % (info.st_mtime_ns, info.st_size)
    mtime = http_date(int(info.st_mtime))
    filled = [h.replace(b"ETAG", etag).replace(b"MTIME", mtime) for h in headers]
    reply = get(root, b"/hello.txt", *filled)
    assert reply.status == status
    if status == 304:
        assert reply.body == b"" and reply.header(b"etag") == etag


def test_single_range(root: Path) -> None:
    """One range: 206, Content-Range and exactly those bytes; suffix and open ranges."""
    data = (root / "big.bin").read_bytes()
    reply = get(root, b"/big.bin", b"Range: bytes=100-199")
    assert reply.status == 206 and reply.body == data[100:200]
    assert reply.header(b"content-range") == b"bytes 100-199/307200"
    assert get(root, b"/big.bin", b"Range: bytes=-10").body == data[-10:]
    assert get(root, b"/big.bin", b"Range: bytes=307190-").body == data[-10:]
    assert get(root, b"/big.bin", b"Range: bytes=307190-999999999").body == data[-10:]


def test_multiple_ranges_multipart(root: Path) -> None:
    """Several ranges: a multipart/byteranges body, each part with its Content-Range."""
    data = (root / "hello.txt").read_bytes()
    reply = get(root, b"/hello.txt", b"Range: bytes=0-4,7-12")
    assert reply.status == 206
    kind = reply.header(b"content-type")
    assert kind is not None and kind.startswith(b"multipart/byteranges; boundary=")
    boundary = kind.split(b"boundary=")[1]
    parts = reply.body.split(b"--" + boundary)
    assert parts[-1] == b"--\r\n"
    bodies = [p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts[1:-1]]
    assert bodies == [data[0:5], data[7:13]]
    assert b"Content-Range: bytes 7-12/20" in parts[2]
    assert int(reply.header(b"content-length") or 0) == len(reply.body)


def test_overlapping_ranges_are_merged(root: Path) -> None:
    """Overlapping ranges come back as one range."""
    reply = get(root, b"/hello.txt", b"Range: bytes=0-5,3-9")
    assert reply.status == 206 and reply.header(b"content-range") == b"bytes 0-9/20"


def test_unsatisfiable_range(root: Path) -> None:
    """A range past the end: 416 with Content-Range: bytes */SIZE."""
    reply = get(root, b"/hello.txt", b"Range: bytes=100-200")
    assert reply.status == 416 and reply.header(b"content-range") == b"bytes */20"


@pytest.mark.parametrize("header", [
    b"Range: bytes=5-1", b"Range: items=0-1", b"Range: bytes=abc", b"Range: bytes=",
    b"Range: bytes=" + b",".join(b"%d-%d" % (i, i) for i in range(40)),
])
def test_ignored_range_headers(root: Path, header: bytes) -> None:
    """A malformed Range, another unit, or too many ranges: the whole file, 200."""
    assert get(root, b"/hello.txt", header).status == 200


def test_if_range(root: Path) -> None:
    """If-Range with the current ETag or date keeps the range; a stale one gets it all."""
    info = os.stat(root / "hello.txt")
    etag = b'"%x-%x"' % (info.st_mtime_ns, info.st_size)
    date = http_date(int(info.st_mtime))
    assert get(root, b"/hello.txt", b"Range: bytes=0-1", b"If-Range: " + etag).status == 206
    assert get(root, b"/hello.txt", b"Range: bytes=0-1", b"If-Range: " + date).status == 206
    assert get(root, b"/hello.txt", b"Range: bytes=0-1", b'If-Range: "stale"').status == 200
    assert get(root, b"/hello.txt", b"Range: bytes=0-1", b"If-Range: W/" + etag).status == 200


def test_range_ignored_for_head(root: Path) -> None:
    """Ranges are for GET only: HEAD gets the whole representation's headers."""
    reply = get(root, b"/hello.txt", b"Range: bytes=0-1", method=b"HEAD")
    assert reply.status == 200 and reply.header(b"content-length") == b"20"


def test_directories(root: Path) -> None:
    """No trailing slash: 301 (query kept); index.html served; else a listing with
    escaped names, or 403 without listing."""
    moved = get(root, b"/sub?x=1")
    assert moved.status == 301 and moved.header(b"location") == b"/sub/?x=1"
    assert get(root, b"/site/").body == b"<h1>index</h1>"
    listing = get(root, b"/sub/")
    assert listing.status == 200
    assert b"&lt;script&gt;&amp;.txt" in listing.body
    assert b'href="%3Cscript%3E%26.txt"' in listing.body
    assert b"<script>" not in listing.body
    assert get(root, b"/sub/", directoryListing=False).status == 403
    assert get(root, b"/").status == 200


def test_post_is_405(root: Path) -> None:
    """Files answer GET and HEAD only."""
    reply = get(root, b"/hello.txt", b"Content-Length: 0", method=b"POST")
    assert reply.status == 405 and reply.header(b"allow") == b"GET, HEAD"


TRAVERSALS = [
    b"/../secret.txt", b"/sub/../../secret.txt", b"/%2e%2e/secret.txt", b"/%2E%2E/secret.txt",
    b"/sub/%2e%2e/%2e%2e/secret.txt", b"/..%2fsecret.txt", b"/sub/..%2f..%2fsecret.txt",
    b"/%2f..%2fsecret.txt", b"/%2ftmp%2fsecret.txt", b"/hello.txt%00.png",
    b"/sub/%5c..%5c..%5csecret.txt", b"/./../secret.txt", b"/escape", b"/escape-dir/secret.txt",
    b"/hello.txt/", b"/hello.txt/x",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_never_serves_outside(root: Path, path: bytes) -> None:
    """Dot segments (raw or percent-encoded), encoded slashes, NUL and symlinks that
    leave the root: 404 (never the file)."""
    reply = get(root, path)
    assert reply.status in (400, 404)
    assert SECRET not in reply.body


def test_symlinks_inside_root(root: Path) -> None:
    """A symlink to a file under the root is served, unless symlinks are refused."""
    assert get(root, b"/alias.txt").body == b"hello, static world\n"
    assert get(root, b"/alias.txt", allowSymlinks=False).status == 404
    assert get(root, b"/hello.txt", allowSymlinks=False).status == 200


def test_root_is_a_file(tmp_path: Path) -> None:
    """File can serve a single file as the whole site."""
    path = tmp_path / "only.txt"
    path.write_bytes(b"only")
    assert get(path, b"/").body == b"only"
