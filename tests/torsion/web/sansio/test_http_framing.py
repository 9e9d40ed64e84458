"""Framing and keep-alive rules (RFC 9112 sections 6 and 9.3), send and receive side."""

from __future__ import annotations

import pytest

from torsion.web.sansio import (
    Headers,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    Response,
)
from torsion.web.sansio._framing import (
    Framing,
    connection_options,
    content_length,
    expects_continue,
    keep_alive,
    prepare_request,
    prepare_response,
    proposes_upgrade,
    request_framing,
    response_framing,
)


def h(*pairs: tuple[str, str]) -> Headers:
    return Headers(pairs)


@pytest.mark.parametrize(
    ("version", "fields", "expected"),
    [
        (b"1.1", [], True),
        (b"1.1", [("Connection", "close")], False),
        (b"1.1", [("Connection", "Upgrade, CLOSE")], False),
        (b"1.1", [("Connection", "keep-alive"), ("Connection", "close")], False),
        (b"1.0", [], False),
        (b"1.0", [("Connection", "keep-alive")], True),
        (b"1.0", [("Connection", " Keep-Alive ,")], True),
        (b"1.0", [("Connection", "keep-alive, close")], False),
    ],
)
def test_keep_alive(version: bytes, fields: list[tuple[str, str]], expected: bool) -> None:
    """close wins; 1.1 persists by default; 1.0 only with keep-alive."""
    assert keep_alive(version, Headers(fields)) is expected


def test_connection_options_split_lists() -> None:
    """Options are lower-cased, OWS stripped, empty elements dropped."""
    assert connection_options(h(("Connection", "A, ,b"), ("connection", "C"))) == {b"a", b"b",
                                                                                  b"c"}


@pytest.mark.parametrize(
    ("values", "expected"),
    [([b"0"], 0), ([b"5", b"5"], 5), ([b"5, 5"], 5), ([b"007", b"7"], 7),
     ([b"999999999999999999"], 999_999_999_999_999_999)],
)
def test_content_length_values(values: list[bytes], expected: int) -> None:
    """Identical values, repeated or listed, are one value."""
    assert content_length(values, RemoteProtocolError) == expected


@pytest.mark.parametrize("values", [[b"1", b"2"], [b"1,2"], [b""], [b"1 1"], [b"1e3"],
                                    [b"9999999999999999999"]])
def test_content_length_errors_use_the_given_class(values: list[bytes]) -> None:
    """Bad values raise the error class passed (local when sending, remote when receiving)."""
    with pytest.raises(LocalProtocolError):
        content_length(values, LocalProtocolError)


def test_request_framing() -> None:
    """Chunked, Content-Length, or no body."""
    def framing(*fields: tuple[str, str]) -> tuple[Framing, int]:
        return request_framing(Request(method="POST", target="/", headers=[("Host", "a"),
                                                                           *fields]))
    assert framing(("Transfer-Encoding", "chunked")) == (Framing.CHUNKED, 0)
    assert framing(("Transfer-Encoding", "chunked,")) == (Framing.CHUNKED, 0)
    assert framing(("Content-Length", "12")) == (Framing.CONTENT_LENGTH, 12)
    assert framing() == (Framing.CONTENT_LENGTH, 0)


def test_response_framing() -> None:
    """HEAD and bodiless statuses first; then TE, CL, or read until close."""
    r = Response(status_code=200, headers=[("Content-Length", "3")])
    assert response_framing(r, b"GET") == (Framing.CONTENT_LENGTH, 3)
    assert response_framing(r, b"HEAD") == (Framing.CONTENT_LENGTH, 0)
    assert response_framing(Response(status_code=200), b"GET") == (Framing.UNTIL_CLOSE, 0)
    assert response_framing(Response(status_code=304, headers=[("Content-Length", "9")]),
                            b"GET") == (Framing.CONTENT_LENGTH, 0)


def test_expect_and_upgrade_detection() -> None:
    """100-continue is found among other expectations; Upgrade needs the connection option."""
    base = [("Host", "a")]
    assert expects_continue(Request(method="PUT", target="/",
                                    headers=[*base, ("Expect", "foo, 100-CONTINUE")]))
    assert not expects_continue(Request(method="PUT", target="/", headers=base))
    up = [*base, ("Upgrade", "websocket"), ("Connection", "keep-alive, Upgrade")]
    assert proposes_upgrade(Request(method="GET", target="/", headers=up))
    assert not proposes_upgrade(Request(method="GET", target="/", headers=up[:2]))
    assert not proposes_upgrade(Request(method="GET", target="/", headers=up[1:],
                                        http_version="1.0"))


def test_prepare_request() -> None:
    """Requests keep their headers; Connection: close turns keep-alive off."""
    request = Request(method="GET", target="/", headers=[("Host", "a"), ("Connection", "close")])
    assert prepare_request(request) == (request, Framing.CONTENT_LENGTH, 0, False)
    with pytest.raises(LocalProtocolError):
        prepare_request(Request(method="GET", target="/", headers=[
            ("Host", "a"), ("Content-Length", "1"), ("Transfer-Encoding", "chunked")]))


@pytest.mark.parametrize(
    ("fields", "method", "peer", "keep", "framing", "out_fields", "out_keep"),
    [
        ([], b"GET", b"1.1", True, Framing.CHUNKED, [("Transfer-Encoding", "chunked")], True),
        ([("Content-Length", "3")], b"GET", b"1.1", True, Framing.CONTENT_LENGTH,
         [("Content-Length", "3")], True),
        ([], b"GET", b"1.0", True, Framing.UNTIL_CLOSE, [("Connection", "close")], False),
        ([("Content-Length", "3")], b"GET", b"1.0", True, Framing.CONTENT_LENGTH,
         [("Content-Length", "3"), ("Connection", "keep-alive")], True),
        ([("Content-Length", "3")], b"GET", b"1.1", False, Framing.CONTENT_LENGTH,
         [("Content-Length", "3"), ("Connection", "close")], False),
        ([("Connection", "Upgrade, keep-alive")], b"HEAD", b"1.1", False, Framing.DISCARD,
         [("Connection", "Upgrade, close")], False),
        ([], None, None, False, Framing.UNTIL_CLOSE, [("Connection", "close")], False),
        ([("Transfer-Encoding", "chunked")], b"GET", b"1.0", True, Framing.UNTIL_CLOSE,
         [("Connection", "close")], False),
        ([("Connection", "close")], b"GET", b"1.1", True, Framing.CHUNKED,
         [("Connection", "close"), ("Transfer-Encoding", "chunked")], False),
    ],
)
def test_prepare_response(
    fields: list[tuple[str, str]], method: bytes | None, peer: bytes | None, keep: bool,
    framing: Framing, out_fields: list[tuple[str, str]], out_keep: bool,
) -> None:
    """The framing chosen and the headers added for each kind of peer and request."""
    response, got_framing, _, got_keep = prepare_response(
        Response(status_code=200, headers=fields), request_method=method, peer_version=peer,
        keep=keep,
    )
    assert (got_framing, got_keep) == (framing, out_keep)
    assert response.headers == Headers(out_fields)
