"""The parsers: valid heads and bodies, and tables of malformed input with their status hints.

Every malformed case runs twice, with the bytes whole and one byte at a time: the
same bytes must give the same error however they are split.
"""

from __future__ import annotations

import pytest
from http_helpers import feed, normalize

from torsion.web.sansio import (
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    RemoteProtocolError,
    Request,
    Response,
    Role,
    State,
)
from torsion.web.sansio._framing import Framing
from torsion.web.sansio._readers import Limits, body_reader
from torsion.web.sansio._receivebuffer import ReceiveBuffer

SPLITS = ["whole", "bytewise"]


def pieces(data: bytes, split: str) -> list[bytes]:
    if split == "whole":
        return [data] if data else []
    return [data[i : i + 1] for i in range(len(data))]


def server_parse(data: bytes, split: str = "whole", *, eof: bool = False, **limits: int):  # type: ignore[no-untyped-def]
    conn = Connection(Role.SERVER, **limits)
    events = feed(conn, pieces(data, split) + ([b""] if eof else []))
    return conn, normalize(events)


def client_parse(data: bytes, split: str = "whole", *, method: str = "GET", eof: bool = False):  # type: ignore[no-untyped-def]
    conn = Connection(Role.CLIENT)
    conn.send(Request(method=method, target="/", headers=[("Host", "a")]))
    conn.send(EndOfMessage())
    events = feed(conn, pieces(data, split) + ([b""] if eof else []))
    return conn, normalize(events)


def req(head: bytes, body: bytes = b"") -> bytes:
    return head.replace(b"\n", b"\r\n") + b"\r\n" + body


# -- valid input ------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_request_with_content_length_body(split: str) -> None:
    """A Content-Length body arrives as Data then EndOfMessage, headers as sent."""
    data = b"POST /up?x=1 HTTP/1.1\r\nHost: a:8080\r\nContent-Length: 5\r\nX-Y:  z \r\n\r\nhello"
    conn, events = server_parse(data, split)
    assert events == [
        Request(method="POST", target="/up?x=1",
                headers=[("Host", "a:8080"), ("Content-Length", "5"), ("X-Y", "z")]),
        Data(b"hello"),
        EndOfMessage(),
    ]
    assert events[0].headers.raw_items()[2] == (b"X-Y", b"z")
    assert conn.their_http_version == b"1.1" and conn.their_state is State.DONE


@pytest.mark.parametrize("split", SPLITS)
def test_chunked_body_with_extensions_and_trailers(split: str) -> None:
    """Chunk extensions are accepted and dropped; trailers end up in EndOfMessage."""
    data = req(
        b"POST / HTTP/1.1\nHost: a\nTransfer-Encoding: Chunked\n",
        b"5;name=val;q=\"a\\\"b\"\r\nhello\r\n1\r\n \r\n000\r\nDigest: x\r\nX-N: 2\r\n\r\n",
    )
    _, events = server_parse(data, split)
    assert events[1:] == [Data(b"hello "), EndOfMessage(headers=[("Digest", "x"), ("X-N", "2")])]


def test_chunk_flags_mark_chunk_boundaries() -> None:
    """chunk_start and chunk_end tell where each chunk begins and ends."""
    buf = ReceiveBuffer()
    reader = body_reader(Framing.CHUNKED, 0, Limits(16384, 8192, 100, None))
    buf.append(b"6\r\nabc")
    assert reader.read(buf) == Data(b"abc", chunk_start=True, chunk_end=False)
    assert reader.read(buf) is None
    buf.append(b"def\r\n2\r\ngh\r\n0\r\n\r\n")
    assert reader.read(buf) == Data(b"def", chunk_start=False, chunk_end=True)
    assert reader.read(buf) == Data(b"gh", chunk_start=True, chunk_end=True)
    assert reader.read(buf) == EndOfMessage()


@pytest.mark.parametrize("split", SPLITS)
def test_empty_lines_before_a_request_are_skipped(split: str) -> None:
    """RFC 9112 section 2.2: CRLFs before the request line are ignored."""
    _, events = server_parse(b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", split)
    assert [type(e) for e in events] == [Request, EndOfMessage]


def test_http10_request_without_host() -> None:
    """An HTTP/1.0 request needs no Host; its version is reported."""
    conn, events = server_parse(b"GET / HTTP/1.0\r\n\r\n")
    assert events[0] == Request(method="GET", target="/", http_version="1.0")
    assert conn.their_http_version == b"1.0"


def test_higher_minor_version_is_read_as_that_version() -> None:
    """HTTP/1.9 is an HTTP/1.x request (RFC 9110 section 2.5): accepted."""
    _, events = server_parse(b"GET / HTTP/1.9\r\nHost: a\r\n\r\n")
    assert events[0].http_version == b"1.9"


def test_identical_content_lengths_are_one() -> None:
    """Repeated identical values, as fields or as a list, are allowed (RFC 9110 section 8.6)."""
    data = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3, 003\r\n\r\nabc"
    _, events = server_parse(data)
    assert events[1:] == [Data(b"abc"), EndOfMessage()]


@pytest.mark.parametrize("split", SPLITS)
def test_response_variants(split: str) -> None:
    """1xx, then a final response with a Content-Length body."""
    data = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    _, events = client_parse(data, split)
    assert events == [
        InformationalResponse(status_code=100, reason="Continue"),
        InformationalResponse(status_code=103, reason="Early Hints", headers=[("Link", "</a>")]),
        Response(status_code=200, reason="OK", headers=[("Content-Length", "2")]),
        Data(b"hi"),
        EndOfMessage(),
    ]


def test_response_without_reason_phrase() -> None:
    """``HTTP/1.1 200`` with no SP and reason is read, reason empty."""
    _, events = client_parse(b"HTTP/1.1 204\r\n\r\n")
    assert events == [Response(status_code=204), EndOfMessage()]


def test_response_read_until_close() -> None:
    """No length: the body ends at EOF, then ConnectionClosed."""
    conn, events = client_parse(b"HTTP/1.0 200 OK\r\n\r\nsome body", eof=True)
    assert events == [Response(status_code=200, reason="OK", http_version="1.0"),
                      Data(b"some body"), EndOfMessage(), ConnectionClosed()]
    assert conn.their_state is State.CLOSED


@pytest.mark.parametrize("status", [204, 304, 100])
def test_bodiless_statuses_ignore_length_headers(status: int) -> None:
    """1xx, 204 and 304 have no body whatever Content-Length says."""
    data = b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status
    _, events = client_parse(data)
    assert not any(isinstance(e, Data) for e in events)


def test_response_to_head_has_no_body() -> None:
    """A response to HEAD keeps its Content-Length and has no body."""
    _, events = client_parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", method="HEAD")
    assert events == [Response(status_code=200, reason="OK", headers=[("Content-Length", "10")]),
                      EndOfMessage()]


# -- malformed requests -------------------------------------------------------------

HOST = b"Host: a\r\n"

MALFORMED_REQUESTS = {
    # smuggling: framing
    "cl and te": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n", 400),
    "differing cl fields": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                            b"Content-Length: 6\r\n\r\n", 400),
    "differing cl list": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\n", 400),
    "cl plus sign": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400),
    "cl negative": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
    "cl hex": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", 400),
    "cl inner space": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400),
    "cl empty": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400),
    "cl empty element": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,\r\n\r\n", 400),
    "cl huge": (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
                400),
    "te gzip only": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    "te gzip then chunked": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked"
                             b"\r\n\r\n", 501),
    "te chunked then gzip": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip"
                             b"\r\n\r\n", 400),
    "te chunked twice": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n", 400),
    "te identity": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400),
    "te with parameter": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1"
                          b"\r\n\r\n", 400),
    "te empty": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 400),
    "te vertical tab": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked"
                        b"\r\n\r\n", 400),
    "te in http/1.0": (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    # smuggling: chunk sizes
    "chunk size not hex": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"5g\r\nhello\r\n0\r\n\r\n", 400),
    "chunk size 0x": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"0x5\r\nhello\r\n0\r\n\r\n", 400),
    "chunk size negative": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"-5\r\n", 400),
    "chunk size leading space": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
                                 b"\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", 400),
    "chunk size trailing space": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
                                  b"\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400),
    "chunk size empty": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"\r\n", 400),
    "chunk size overflow": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"ffffffffffffffff\r\n", 400),
    "chunk size too long": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"00000000000000005\r\nhello\r\n0\r\n\r\n", 400),
    "chunk ext too long": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"5" + b";a" * 3000 + b"\r\n", 400),
    "chunk ext unterminated": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
                               b"\r\n\r\n5;a=\"b\r\nhello\r\n0\r\n\r\n", 400),
    "chunk data too long": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"5\r\nhelloXX\r\n0\r\n\r\n", 400),
    "chunk forbidden trailer": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
                                b"\r\n\r\n0\r\nContent-Length: 5\r\n\r\n", 400),
    "chunk trailer obs-fold": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked"
                               b"\r\n\r\n0\r\nA: b\r\n c\r\n\r\n", 400),
    # line endings
    "bare lf everywhere": (b"GET / HTTP/1.1\nHost: a\n\n", 400),
    "bare lf in headers": (b"GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400),
    "bare lf ending head": (b"GET / HTTP/1.1\r\nHost: a\r\n\n", 400),
    "bare lf before line": (b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "bare lf in chunk line": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                              b"5\nhello\r\n0\r\n\r\n", 400),
    "bare lf after chunk": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"5\r\nhello\n0\r\n\r\n", 400),
    "bare lf last chunk": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"0\r\n\n", 400),
    "bare lf in trailers": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"0\r\nA: b\nC: d\r\n\r\n", 400),
    "bare cr in header": (b"GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400),
    "bare cr in request line": (b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "bare cr after chunk": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"5\r\nhello\r0\r\n\r\n", 400),
    # header fields
    "obs-fold": (b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400),
    "obs-fold tab": (b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", 400),
    "space before first header": (b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    "space before colon": (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    "tab before colon": (b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400),
    "te space before colon": (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked"
                              b"\r\n\r\n", 400),
    "no colon": (b"GET / HTTP/1.1\r\nHost: a\r\nJunk\r\n\r\n", 400),
    "empty name": (b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", 400),
    "name with space": (b"GET / HTTP/1.1\r\nHost: a\r\nX Y: v\r\n\r\n", 400),
    "name with paren": (b"GET / HTTP/1.1\r\nHost: a\r\nX(Y): v\r\n\r\n", 400),
    "name non-ascii": (b"GET / HTTP/1.1\r\nHost: a\r\nX\xe9: v\r\n\r\n", 400),
    "value with nul": (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400),
    "value with del": (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", 400),
    "value with escape": (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x1bb\r\n\r\n", 400),
    # Host
    "missing host": (b"GET / HTTP/1.1\r\n\r\n", 400),
    "two hosts": (b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    "two hosts in 1.0": (b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400),
    "host with userinfo": (b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
    "host with path": (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    # request line
    "method with paren": (b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "method empty": (b" / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "double space": (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "tab separator": (b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "trailing space": (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
    "no version": (b"GET /\r\nHost: a\r\n\r\n", 400),
    "lowercase version": (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400),
    "version 1.10": (b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
    "version 11": (b"GET / HTTP/11\r\nHost: a\r\n\r\n", 400),
    "version 2.0": (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    "version 0.9": (b"GET / HTTP/0.9\r\n\r\n", 505),
    "version 3.0": (b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505),
    "target non-ascii": (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "target control": (b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "http/2 preface": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    "tls hello": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
}


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", sorted(MALFORMED_REQUESTS))
def test_malformed_request_is_refused_with_its_status(name: str, split: str) -> None:
    """Each malformed request raises RemoteProtocolError with the expected status hint,
    and leaves the client's side in ERROR."""
    data, status = MALFORMED_REQUESTS[name]
    conn = Connection(Role.SERVER)
    with pytest.raises(RemoteProtocolError) as info:
        feed(conn, pieces(data, split))
    assert info.value.error_status_hint == status, str(info.value)
    assert conn.their_state is State.ERROR
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


# -- limits -------------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_request_line_over_the_limit_is_414(split: str) -> None:
    """A request line over max_request_line_size: 414, before its end arrives."""
    line = b"GET /" + b"a" * 200 + b" HTTP/1.1"
    conn = Connection(Role.SERVER, max_request_line_size=100)
    with pytest.raises(RemoteProtocolError) as info:
        feed(conn, pieces(line, split))  # no CRLF yet
    assert info.value.error_status_hint == 414
    _, events = server_parse(b"GET /" + b"a" * 86 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
                             max_request_line_size=100)
    assert isinstance(events[0], Request)


@pytest.mark.parametrize("split", SPLITS)
def test_head_over_the_limit_is_431(split: str) -> None:
    """A head over max_incomplete_event_size: 431, complete or not."""
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"b" * 300 + b"\r\n"
    for data in (head, head + b"\r\n"):
        conn = Connection(Role.SERVER, max_incomplete_event_size=256)
        with pytest.raises(RemoteProtocolError) as info:
            feed(conn, pieces(data, split))
        assert info.value.error_status_hint == 431


def test_head_exactly_at_the_limit_is_accepted() -> None:
    """The limit counts the whole head with its final CRLF CRLF."""
    data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    _, events = server_parse(data, "bytewise", max_incomplete_event_size=len(data))
    assert isinstance(events[0], Request)
    with pytest.raises(RemoteProtocolError):
        server_parse(data, "bytewise", max_incomplete_event_size=len(data) - 1)


def test_too_many_headers_is_431() -> None:
    """More than max_header_count fields: 431; exactly the limit is fine."""
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(9))
    _, events = server_parse(b"GET / HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n",
                             max_header_count=10)
    assert isinstance(events[0], Request)
    with pytest.raises(RemoteProtocolError) as info:
        server_parse(b"GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n" + fields + b"\r\n",
                     max_header_count=10)
    assert info.value.error_status_hint == 431


def test_too_many_trailers_is_431() -> None:
    """Trailers count against max_header_count too."""
    trailers = b"".join(b"X-%d: v\r\n" % i for i in range(11))
    data = (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
            + trailers + b"\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        server_parse(data, max_header_count=10)
    assert info.value.error_status_hint == 431


def test_body_over_max_body_size_is_413_after_the_request_event() -> None:
    """Content-Length over max_body_size: the Request comes out, then 413 before the body."""
    conn = Connection(Role.SERVER, max_body_size=10)
    conn.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
    assert isinstance(conn.next_event(), Request)
    with pytest.raises(RemoteProtocolError) as info:
        conn.next_event()
    assert info.value.error_status_hint == 413
    _, events = server_parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n"
                             + b"x" * 10, max_body_size=10)
    assert events[-2:] == [Data(b"x" * 10), EndOfMessage()]


def test_chunked_body_over_max_body_size_is_413() -> None:
    """Chunk sizes add up against max_body_size, checked as each chunk is announced."""
    data = (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6\r\nabcdef\r\n5\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        server_parse(data, max_body_size=10)
    assert info.value.error_status_hint == 413


def test_zero_max_body_size_refuses_any_body() -> None:
    """max_body_size=0 allows bodiless requests only."""
    _, events = server_parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", max_body_size=0)
    assert events[-1] == EndOfMessage()
    with pytest.raises(RemoteProtocolError):
        server_parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\n", max_body_size=0)


@pytest.mark.parametrize("kwargs", [{"max_incomplete_event_size": 0}, {"max_header_count": 0},
                                    {"max_request_line_size": -1}, {"max_body_size": -1}])
def test_limits_must_be_positive(kwargs: dict[str, int]) -> None:
    """A limit below its minimum is a ValueError naming it."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Connection(Role.SERVER, **kwargs)


# -- EOF in the middle ---------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost:",
        b"\r",
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n",
    ],
)
def test_eof_in_the_middle_of_a_message_is_an_error(data: bytes) -> None:
    """The peer closing before a head or body is complete is a RemoteProtocolError."""
    with pytest.raises(RemoteProtocolError):
        server_parse(data, eof=True)


def test_eof_between_requests_is_connection_closed() -> None:
    """EOF on an idle connection is a clean ConnectionClosed."""
    conn, events = server_parse(b"", eof=True)
    assert events == [ConnectionClosed()] and conn.their_state is State.CLOSED


# -- malformed responses -------------------------------------------------------------

MALFORMED_RESPONSES = {
    "garbage": b"ICY 200 OK\r\n\r\n",
    "status 2 digits": b"HTTP/1.1 20 OK\r\n\r\n",
    "status below 100": b"HTTP/1.1 099 Odd\r\n\r\n",
    "version 2": b"HTTP/2.0 200 OK\r\n\r\n",
    "cl and te": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "te gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    "te in 1.0": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "differing cl": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "bare lf": b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    "101 without upgrade": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
    "closed without response": b"",
    "closed mid body": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
}


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name", sorted(MALFORMED_RESPONSES))
def test_malformed_response_is_refused(name: str, split: str) -> None:
    """The client refuses broken responses with RemoteProtocolError; the server is in ERROR."""
    conn = Connection(Role.CLIENT)
    conn.send(Request(method="GET", target="/", headers=[("Host", "a")]))
    conn.send(EndOfMessage())
    with pytest.raises(RemoteProtocolError):
        feed(conn, [*pieces(MALFORMED_RESPONSES[name], split), b""])
    assert conn.their_state is State.ERROR


def test_server_sending_before_any_request_is_refused() -> None:
    """Bytes from the server while the client has sent nothing are an error."""
    conn = Connection(Role.CLIENT)
    conn.receive_data(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="before any request"):
        conn.next_event()
