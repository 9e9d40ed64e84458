"""``parse_form``: over a stand-in request, then on a real server against curl.

The stand-in request feeds the body in chosen pieces through ``readChunk``: fields,
files spooled to memory or disk, limits and errors, files closed on failure. On
127.0.0.1 a Site's ``async def render_POST`` parses what ``curl -F`` (fields, files,
a 20 MiB file with the server's memory watched) and ``curl --data-urlencode`` send,
and answers 400 to a malformed body sent with ``http.client``. Peer: Debian ``curl``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
from pathlib import Path
from typing import Any

import pytest
from test_multipart import BOUNDARY, encode

from support.deferreds import run_in_thread
from support.peers import need
from torsion import error
from torsion.defer import Deferred, fail, succeed
from torsion.web import Form, FormError, parse_form
from torsion.web.resource import Resource
from torsion.web.server import Request, Site

pytestmark = pytest.mark.torsion_timeout(60)

MiB = 1024 * 1024
LOCAL = "127.0.0.1"
MULTIPART = b"multipart/form-data; boundary=" + BOUNDARY


class Body:
    """A stand-in request: a Content-Type and a body read in the given pieces."""

    def __init__(self, content_type: bytes | None, pieces: list[bytes],
                 lost_after: int | None = None) -> None:
        self.content_type = content_type
        self.pieces = list(pieces)
        self.lost_after = lost_after
        self.reads = 0

    def getHeader(self, name: bytes) -> bytes | None:
        assert name == b"content-type"
        return self.content_type

    def readChunk(self) -> Deferred[bytes]:
        self.reads += 1
        if self.lost_after is not None and self.reads > self.lost_after:
            return fail(error.ConnectionLost("gone"))
        return succeed(self.pieces.pop(0) if self.pieces else b"")


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def test_fields_and_files_in_memory_and_on_disk() -> None:
    """Fields by name in order; a small file in memory, a large one rolled to disk."""
    small, large = os.urandom(100), os.urandom(300_000)
    body = encode([("a", None, b"1"), ("f", "s.bin", small), ("a", None, "é".encode()),
                   ("f", "l.bin", large)])
    form = await parse_form(Body(MULTIPART, pieces(body, 1000)), spool_limit=1000)
    with form:
        assert form.fields == {"a": ["1", "é"]}
        first, second = form.files["f"]
        assert (first.filename, first.size, first.content_type) == (
            "s.bin", 100, "application/octet-stream")
        assert first.file.read() == small and not first.file._rolled  # type: ignore[attr-defined]
        assert second.size == len(large) and second.file.read() == large
        assert second.file._rolled  # type: ignore[attr-defined]
    assert first.file.closed and second.file.closed


async def test_field_charset_from_part_content_type() -> None:
    """A field part naming a charset is decoded with it; UTF-8 otherwise."""
    body = (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="x"\r\n'
            b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\n\xe9\r\n--" + BOUNDARY + b"--")
    form = await parse_form(Body(MULTIPART, [body]))
    assert form.fields == {"x": ["é"]}


async def test_urlencoded_body() -> None:
    form = await parse_form(Body(b"application/x-www-form-urlencoded", [b"a=1&b=", b"x+y"]))
    assert form.fields == {"a": ["1"], "b": ["x y"]} and form.files == {}


@pytest.mark.parametrize(
    ("content_type", "body", "options", "status"),
    [
        (b"text/plain", b"x", {}, 415),
        (None, b"x", {}, 415),
        (b"application/x-www-form-urlencoded", b"a=" + b"x" * 100, {"max_field_size": 50}, 413),
        (b"application/x-www-form-urlencoded", b"a=1&b=2&c=3", {"max_fields": 2}, 413),
        (MULTIPART, encode([("a", None, b"x" * 100)]), {"max_field_size": 50}, 413),
        (MULTIPART, encode([("f", "f", b"x" * 100)]), {"max_file_size": 50}, 413),
        (MULTIPART, encode([("f", "f", b"x" * 100)]), {"max_body_size": 150}, 413),
        (MULTIPART, encode([("a", None, b"1")] * 3), {"max_fields": 2}, 413),
        (MULTIPART, encode([("a", None, b"\xff")]), {}, 400),
        (MULTIPART, encode([("a", None, b"1")])[:-10], {}, 400),
        (b"multipart/form-data", b"", {}, 400),
    ],
)
async def test_errors_have_a_status(content_type: bytes | None, body: bytes,
                                    options: dict[str, int], status: int) -> None:
    """Not a form: 415; over a limit: 413; malformed: 400."""
    with pytest.raises(FormError) as caught:
        await parse_form(Body(content_type, pieces(body, 16)), **options)
    assert caught.value.status == status


async def test_files_are_closed_when_the_form_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The spooled files made before an error (or a lost connection) are closed."""
    made: list[Any] = []
    import tempfile  # noqa: PLC0415

    real = tempfile.SpooledTemporaryFile

    def spy(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", spy)
    body = encode([("f", "a", b"x" * 10), ("g", "b", b"y" * 5000)])
    with pytest.raises(FormError):
        await parse_form(Body(MULTIPART, pieces(body, 100)), max_file_size=1000)
    assert len(made) == 2 and all(f.closed for f in made)
    made.clear()
    with pytest.raises(error.ConnectionLost):
        await parse_form(Body(MULTIPART, pieces(body, 100), lost_after=30))
    assert len(made) == 2 and all(f.closed for f in made)


# -- on a real server ---------------------------------------------------------------------

def summary(form: Form) -> dict[str, Any]:
    files = {
        name: [[u.filename, u.content_type, u.size, hashlib.sha256(u.file.read()).hexdigest()]
               for u in uploads]
        for name, uploads in form.files.items()
    }
    return {"fields": form.fields, "files": files}


class FormResource(Resource):
    """POST: parse the form, answer its summary as JSON (or the FormError's status)."""

    isLeaf = True

    def __init__(self, stream: bool) -> None:
        super().__init__()
        self.streamRequestBody = stream

    async def render_POST(self, request: Request) -> bytes:
        try:
            form = await parse_form(request, max_file_size=64 * MiB)
        except FormError as exc:
            request.setResponseCode(exc.status)
            return f"{exc}\n".encode()
        with form:
            request.setHeader(b"content-type", b"application/json")
            return json.dumps(summary(form)).encode()


class Server:
    def __init__(self, reactor: Any) -> None:
        root = Resource()
        root.putChild(b"stream", FormResource(stream=True))
        root.putChild(b"buffered", FormResource(stream=False))
        self.port = reactor.listenTCP(0, Site(root, reactor=reactor), interface=LOCAL)
        self.url = f"http://{LOCAL}:{self.port.getHost().port}"
        self.reactor = reactor

    def curl(self, *args: str) -> Deferred[Any]:
        import subprocess  # noqa: PLC0415

        argv = [need("curl"), "-sS", *args]
        return run_in_thread(self.reactor, lambda: subprocess.run(
            argv, capture_output=True, timeout=60, check=False))


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("path", ["stream", "buffered"])
async def test_curl_form_fields_and_files(reactor: Any, tmp_path: Path, path: str) -> None:
    """curl -F: fields, two files under one name, a UTF-8 filename, a typed file."""
    one = tmp_path / "one.bin"
    one.write_bytes(os.urandom(70_000) + b"\r\n--" + BOUNDARY[:10])
    two = tmp_path / "h\u00e9llo wörld.txt"
    two.write_bytes(b"hello\r\n")
    server = Server(reactor)
    got = await server.curl(
        "-F", "title=Summer mix", "-F", "title=second", "-F", "tag=caf\u00e9 & more",
        "-F", f"file=@{one}", "-F", f"file=@{two};type=text/plain",
        server.url + "/" + path,
    )
    assert got.returncode == 0, got.stderr
    answer = json.loads(got.stdout)
    assert answer["fields"] == {"title": ["Summer mix", "second"], "tag": ["café & more"]}
    sha = hashlib.sha256
    assert answer["files"]["file"] == [
        ["one.bin", "application/octet-stream", 70_014, sha(one.read_bytes()).hexdigest()],
        ["h\u00e9llo wörld.txt", "text/plain", 7, sha(b"hello\r\n").hexdigest()],
    ]
    await server.port.stopListening()


async def test_curl_20_mib_upload_bounded_memory(reactor: Any, tmp_path: Path) -> None:
    """A 20 MiB file streams to a spooled temporary file: exact bytes, RSS bounded."""
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        for i in range(20):
            f.write(hashlib.sha256(b"%d" % i).digest() * (MiB // 32))
    server = Server(reactor)
    base = rss()
    got = await server.curl("-F", "name=big", "-F", f"upload=@{big}", server.url + "/stream")
    assert got.returncode == 0, got.stderr
    assert rss() - base < 16 * MiB
    answer = json.loads(got.stdout)
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    assert answer["files"]["upload"] == [["big.bin", "application/octet-stream", 20 * MiB, digest]]
    assert answer["fields"] == {"name": ["big"]}
    await server.port.stopListening()


@pytest.mark.parametrize("path", ["stream", "buffered"])
async def test_curl_data_urlencode(reactor: Any, path: str) -> None:
    """curl --data-urlencode: reserved characters and UTF-8 come back as sent."""
    server = Server(reactor)
    got = await server.curl("--data-urlencode", "q=a&b=c d+e%", "--data-urlencode",
                            "name=Zoë €", "-d", "empty=", server.url + "/" + path)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == {
        "fields": {"q": ["a&b=c d+e%"], "name": ["Zoë €"], "empty": [""]}, "files": {},
    }
    await server.port.stopListening()


async def test_malformed_and_oversized_bodies_get_4xx(reactor: Any) -> None:
    """http.client: a body with garbage after its boundary gets 400; not a form 415;
    a field over the limit 413."""
    server = Server(reactor)

    def post(content_type: bytes, body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(LOCAL, server.port.getHost().port, timeout=10)
        try:
            conn.request("POST", "/stream", body=body, headers={"Content-Type": content_type})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def run() -> list[tuple[int, bytes]]:
        return [
            post(MULTIPART, b"--" + BOUNDARY + b"garbage\r\n\r\n"),
            post(MULTIPART, encode([("a", None, b"1")])[:-12]),
            post(b"text/plain", b"hello"),
            post(MULTIPART, encode([("a", None, b"x" * (MiB + 1))])),
        ]

    results = await run_in_thread(reactor, run)
    assert [status for status, _ in results] == [400, 400, 415, 413]
    assert b"garbage after a multipart boundary" in results[0][1]
    await server.port.stopListening()
