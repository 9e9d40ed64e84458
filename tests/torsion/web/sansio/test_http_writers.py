"""The writers: heads byte for byte, and each body framing."""

from __future__ import annotations

import pytest

from torsion.web.sansio import (
    Headers,
    InformationalResponse,
    LocalProtocolError,
    Request,
    Response,
)
from torsion.web.sansio._framing import Framing
from torsion.web.sansio._writers import body_writer, write_request_head, write_response_head


def collect(fn, *args) -> bytes:  # type: ignore[no-untyped-def]
    out: list[bytes] = []
    fn(*args, out.append)
    return b"".join(out)


def test_request_head_keeps_raw_names_and_order() -> None:
    """Names go out as written, in order."""
    request = Request(method="GET", target="/a", headers=[("HOST", "x"), ("x-Odd", "1")])
    assert collect(write_request_head, request) == b"GET /a HTTP/1.1\r\nHOST: x\r\nx-Odd: 1\r\n\r\n"


def test_response_head_reason_phrases() -> None:
    """The reason given, the standard one when empty, nothing for unknown codes."""
    assert collect(write_response_head, Response(status_code=404)).startswith(
        b"HTTP/1.1 404 Not Found\r\n")
    assert collect(write_response_head, Response(status_code=200, reason="Fine")).startswith(
        b"HTTP/1.1 200 Fine\r\n")
    assert collect(write_response_head, Response(status_code=599)) == b"HTTP/1.1 599 \r\n\r\n"
    assert collect(write_response_head, InformationalResponse(status_code=100)) == (
        b"HTTP/1.1 100 Continue\r\n\r\n")


def test_chunked_writer() -> None:
    """Hex sizes, empty data skipped, last chunk with trailers."""
    writer = body_writer(Framing.CHUNKED, 0)
    out: list[bytes] = []
    writer.write_data(b"a" * 26, out.append)
    writer.write_data(b"", out.append)
    writer.write_end(Headers([("X-Check", "1")]), out.append)
    assert b"".join(out) == b"1a\r\n" + b"a" * 26 + b"\r\n0\r\nX-Check: 1\r\n\r\n"


def test_chunked_writer_refuses_framing_trailers() -> None:
    """Content-Length in trailers is our error."""
    with pytest.raises(LocalProtocolError, match="trailers"):
        body_writer(Framing.CHUNKED, 0).write_end(Headers([("Content-Length", "1")]), print)


def test_until_close_and_discard_writers() -> None:
    """Close framing writes data raw; HEAD framing writes nothing."""
    out: list[bytes] = []
    body_writer(Framing.UNTIL_CLOSE, 0).write_data(b"raw", out.append)
    body_writer(Framing.DISCARD, 0).write_data(b"gone", out.append)
    body_writer(Framing.DISCARD, 0).write_end(Headers([("X", "y")]), out.append)
    assert out == [b"raw"]
    with pytest.raises(LocalProtocolError):
        body_writer(Framing.UNTIL_CLOSE, 0).write_end(Headers([("X", "y")]), out.append)
