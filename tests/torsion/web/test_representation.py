"""torsion.web.representation: serve_representation over a StringTransport (ranges,
conditionals, HEAD, the close hook, custom senders) and content_disposition values."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_server_support import Reply, connect, one

from torsion.defer import Deferred
from torsion.web.representation import FileRegion, content_disposition, serve_representation
from torsion.web.resource import Resource

DATA = bytes(range(256)) * 40  # 10240 bytes
ETAG = b'"v1"'
MTIME = 1_700_000_000


class Generated(Resource):
    """DATA, served through serve_representation; records body calls and closes."""

    isLeaf = True

    def __init__(self, data: bytes = DATA, **options: Any) -> None:
        super().__init__()
        self.data = data
        self.options = options
        self.calls: list[tuple[int, int]] = []
        self.closed = 0

    def body(self, start: int, end: int) -> list[bytes]:
        self.calls.append((start, end))
        middle = (start + end) // 2  # several pieces, to check they are joined in order
        return [self.data[start:middle], b"", self.data[middle:end]]

    def close(self) -> None:
        self.closed += 1

    def render_GET(self, request: Any) -> object:
        options = {"content_disposition": content_disposition("Zoë.bin"), **self.options}
        return serve_representation(
            request, size=len(self.data), etag=ETAG, last_modified=MTIME + 0.5,
            content_type=b"application/x-test", body=self.body, close=self.close, **options)


def fetch(resource: Resource, *headers: bytes, method: bytes = b"GET") -> Reply:
    conn = connect(resource)
    extra = b"".join(h + b"\r\n" for h in headers)
    conn.send(b"%s /x HTTP/1.1\r\nHost: t\r\n%s\r\n" % (method, extra))
    for _ in range(1000):
        if not conn.clock.getDelayedCalls():
            break
        conn.clock.advance(0)
    return one(conn.take(), method)


def test_whole_representation() -> None:
    """200 with every header; the body is the bytes; close runs once, after."""
    resource = Generated()
    reply = fetch(resource)
    assert reply.status == 200 and reply.body == DATA
    assert reply.header(b"content-length") == b"%d" % len(DATA)
    assert reply.header(b"etag") == ETAG and reply.header(b"accept-ranges") == b"bytes"
    assert reply.header(b"last-modified") == b"Tue, 14 Nov 2023 22:13:20 GMT"
    assert reply.header(b"content-type") == b"application/x-test"
    assert reply.header(b"content-disposition") == content_disposition("Zoë.bin")
    assert resource.calls == [(0, len(DATA))] and resource.closed == 1


def test_single_and_multiple_ranges() -> None:
    """One range: 206 and Content-Range; several: multipart/byteranges with each part."""
    resource = Generated()
    reply = fetch(resource, b"Range: bytes=100-199")
    assert (reply.status, reply.body) == (206, DATA[100:200])
    assert reply.header(b"content-range") == b"bytes 100-199/10240"
    assert resource.calls == [(100, 200)] and resource.closed == 1
    multi = fetch(Generated(), b"Range: bytes=0-9,-5")
    assert multi.status == 206
    kind = multi.header(b"content-type") or b""
    boundary = kind.split(b"boundary=")[1]
    parts = multi.body.split(b"--" + boundary)
    assert len(parts) == 4 and parts[-1] == b"--\r\n"
    assert parts[1].endswith(b"\r\n\r\n" + DATA[:10] + b"\r\n")
    assert b"Content-Range: bytes 10235-10239/10240" in parts[2]
    assert parts[2].endswith(DATA[-5:] + b"\r\n")
    assert multi.header(b"content-length") == b"%d" % len(multi.body)


def test_unsatisfiable_conditional_and_head_send_no_body() -> None:
    """416, 304, 412 and HEAD: body is never asked for, close still runs once."""
    cases = [
        ((b"Range: bytes=20000-",), b"GET", 416),
        ((b'If-None-Match: "v1"',), b"GET", 304),
        ((b"If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT",), b"GET", 304),
        ((b'If-Match: "v2"',), b"GET", 412),
        ((b"If-Unmodified-Since: Mon, 13 Nov 2023 00:00:00 GMT",), b"GET", 412),
        ((), b"HEAD", 200),
    ]
    for headers, method, status in cases:
        resource = Generated()
        reply = fetch(resource, *headers, method=method)
        assert reply.status == status, headers
        assert resource.calls == [] and resource.closed == 1
        if status == 416:
            assert reply.header(b"content-range") == b"bytes */10240"
        if method == b"HEAD":
            assert reply.body == b"" and reply.header(b"content-length") == b"10240"


def test_if_range() -> None:
    """If-Range with the current ETag keeps the range; with another, the whole body."""
    assert fetch(Generated(), b"Range: bytes=0-0", b'If-Range: "v1"').body == DATA[:1]
    stale = fetch(Generated(), b"Range: bytes=0-0", b'If-Range: "old"')
    assert (stale.status, stale.body) == (200, DATA)


def test_body_giving_wrong_length_is_refused(logged_failures: Any) -> None:
    """A body that gives fewer bytes than asked is a bug: 500, and close still runs."""
    resource = Generated()
    resource.body = lambda start, end: [b"short"]  # type: ignore[method-assign]
    assert fetch(resource).status == 500
    assert resource.closed == 1
    assert len(logged_failures.flush(ValueError)) == 1


def test_file_regions_and_custom_sender(tmp_path: Path) -> None:
    """FileRegion pieces are read from the file; a custom sender gets the pieces."""
    path = tmp_path / "f.bin"
    path.write_bytes(DATA)
    fd = os.open(path, os.O_RDONLY)
    closed: list[int] = []
    seen: list[list[Any]] = []

    class FromFile(Resource):
        isLeaf = True

        def render_GET(self, request: Any) -> object:
            def sender(request: Any, pieces: list[Any]) -> Deferred[None]:
                seen.append(pieces)
                for piece in pieces:
                    request.write(piece if isinstance(piece, bytes)
                                  else os.pread(piece.fd, piece.count, piece.offset))
                request.finish()
                d: Deferred[None] = Deferred()
                d.callback(None)
                return d

            return serve_representation(
                request, size=len(DATA) + 2, etag=ETAG, last_modified=MTIME,
                content_type=b"x/y", sender=sender, close=lambda: closed.append(fd),
                body=lambda start, end: [b"<", FileRegion(fd, 0, len(DATA)), b">"])

    try:
        reply = fetch(FromFile())
    finally:
        os.close(fd)
    assert reply.body == b"<" + DATA + b">" and closed == [fd]
    assert [type(p).__name__ for p in seen[0]] == ["bytes", "FileRegion", "bytes"]


@given(st.integers(0, len(DATA) - 1), st.integers(0, len(DATA) - 1))
def test_any_range_gives_its_bytes(a: int, b: int) -> None:
    """Property: bytes=a-b gives exactly DATA[min:max+1] and asks the body for just that."""
    start, last = min(a, b), max(a, b)
    resource = Generated()
    reply = fetch(resource, b"Range: bytes=%d-%d" % (start, last))
    assert reply.body == DATA[start:last + 1]
    assert resource.calls == [(start, last + 1)]


@pytest.mark.parametrize(("name", "inline", "expected"), [
    ("a.txt", False, b'attachment; filename="a.txt"'),
    ("a.txt", True, b'inline; filename="a.txt"'),
    ("Zoë - Café.wav", False,
     b"attachment; filename=\"Zoe - Cafe.wav\"; filename*=UTF-8''Zo%C3%AB%20-%20Caf%C3%A9.wav"),
    ('Say "Hi"; 100%.mp3', False,
     b"attachment; filename=\"Say _Hi__ 100_.mp3\"; "
     b"filename*=UTF-8''Say%20%22Hi%22%3B%20100%25.mp3"),
    ("日本.flac", False,
     b"attachment; filename=\"__.flac\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.flac"),
    ("a/b\\c\r\n.txt", False,
     b"attachment; filename=\"a_b_c__.txt\"; filename*=UTF-8''a%2Fb%5Cc%0D%0A.txt"),
])
def test_content_disposition(name: str, inline: bool, expected: bytes) -> None:
    """ASCII fallback with quotes, separators and controls replaced; exact UTF-8 name in
    filename* (RFC 8187), only when the fallback differs."""
    assert content_disposition(name, inline) == expected


@given(st.text(min_size=1, max_size=40))
def test_content_disposition_round_trips(name: str) -> None:
    """Property: any name is ASCII on the wire, the fallback is a safe quoted string, and
    filename* decodes back to the exact name."""
    value = content_disposition(name).decode("ascii")
    match = re.fullmatch(r'attachment; filename="([ -~]*)"(?:; filename\*=UTF-8\'\'(\S+))?', value)
    assert match is not None
    assert not set(match.group(1)) & set('"\\/')
    encoded = match.group(2)
    decoded = name if encoded is None else unquote(encoded, errors="surrogatepass")
    assert decoded == name
