"""Events check what user code gives them and compare by value; Headers keep order and case."""

from __future__ import annotations

import dataclasses

import pytest

from torsion.web.sansio import (
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Headers,
    InformationalResponse,
    LocalProtocolError,
    Request,
    Response,
)

HOST = [("Host", "example.com")]


def test_headers_keep_order_raw_names_and_lowercase_lookup() -> None:
    """Items are lower-cased pairs in order; raw_items keep the written names."""
    h = Headers([("Content-Type", "text/plain"), (b"X-A", b"1"), ("x-a", "2")])
    assert list(h) == [(b"content-type", b"text/plain"), (b"x-a", b"1"), (b"x-a", b"2")]
    assert h.raw_items() == [(b"Content-Type", b"text/plain"), (b"X-A", b"1"), (b"x-a", b"2")]
    assert h.get(b"x-a") == b"1" and h.get_all(b"x-a") == [b"1", b"2"] and h.get(b"nope") is None
    assert h[0] == (b"content-type", b"text/plain") and h[1:] == [(b"x-a", b"1"), (b"x-a", b"2")]
    assert len(h) == 3 and "Content-Type" in repr(h)


def test_headers_strip_surrounding_whitespace_of_values() -> None:
    """OWS around a value is not part of it (RFC 9110 section 5.5)."""
    assert Headers([("A", " \tb c\t ")]).get(b"a") == b"b c"


def test_headers_equality_ignores_name_case_and_accepts_pair_lists() -> None:
    """Headers compare case-insensitively by name, with Headers or lists of pairs."""
    a = Headers([("Host", "x")])
    assert a == Headers([("HOST", "x")])
    assert a == [(b"host", b"x")]
    assert a == [(b"HoSt", b"x")]
    assert a != Headers([("Host", "y")]) and a != [(b"host",)] and a != "host"
    assert hash(a) == hash(Headers([("host", "x")]))


@pytest.mark.parametrize(
    "pair",
    [("Bad Name", "v"), ("", "v"), ("a:b", "v"), ("ok", "a\x00b"), ("ok", "a\r\nb: c"),
     ("ok", "\x7f"), ("é", "v"), ("ok", "é"), (1, "v"), ("only-one",)],
)
def test_headers_refuse_invalid_fields(pair: tuple[object, ...]) -> None:
    """Names must be tokens, values free of controls, both bytes or ASCII str."""
    with pytest.raises(LocalProtocolError):
        Headers([pair])  # type: ignore[list-item]


def test_request_fields_and_defaults() -> None:
    """A Request takes str or bytes and stores bytes; HTTP/1.1 by default."""
    r = Request(method="GET", target="/a?b", headers=HOST)
    assert (r.method, r.target, r.http_version) == (b"GET", b"/a?b", b"1.1")
    assert r.headers == [(b"host", b"example.com")]
    assert r == Request(method=b"GET", target=b"/a?b", headers=[(b"host", b"example.com")])
    assert hash(r) == hash(Request(method="GET", target="/a?b", headers=HOST))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"method": "G ET", "target": "/", "headers": HOST},
        {"method": "", "target": "/", "headers": HOST},
        {"method": "GET", "target": "", "headers": HOST},
        {"method": "GET", "target": "/a b", "headers": HOST},
        {"method": "GET", "target": "/\xe9", "headers": HOST},
        {"method": "GET", "target": "/", "headers": []},
        {"method": "GET", "target": "/", "headers": HOST * 2},
        {"method": "GET", "target": "/", "headers": HOST, "http_version": "1"},
        {"method": "GET", "target": "/", "headers": HOST, "http_version": "HTTP/1.1"},
    ],
)
def test_request_refuses_invalid_fields(kwargs: dict[str, object]) -> None:
    """Method token, visible ASCII target, one Host in 1.1, DIGIT.DIGIT version."""
    with pytest.raises(LocalProtocolError):
        Request(**kwargs)  # type: ignore[arg-type]


def test_http10_request_may_omit_host() -> None:
    """Host is only required from HTTP/1.1 on."""
    assert Request(method="GET", target="/", http_version="1.0").headers == []


def test_responses_check_their_status_range() -> None:
    """1xx are InformationalResponse, 200-999 Response; the reason has no controls."""
    assert InformationalResponse(status_code=101).status_code == 101
    assert Response(status_code=599, reason="Odd").reason == b"Odd"
    for cls, code in [(InformationalResponse, 200), (InformationalResponse, 99),
                      (Response, 199), (Response, 1000)]:
        with pytest.raises(LocalProtocolError, match="status_code"):
            cls(status_code=code)
    with pytest.raises(LocalProtocolError):
        Response(status_code=200, reason="a\r\nb")
    with pytest.raises(LocalProtocolError):
        Response(status_code=True)  # a bool is not a status code


def test_events_are_frozen_slotted_and_compare_by_type() -> None:
    """Events cannot be changed, have no __dict__, and differ across classes."""
    r = Response(status_code=200)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.status_code = 404  # type: ignore[misc]
    assert not hasattr(r, "__dict__")
    assert InformationalResponse(status_code=100) != Response(status_code=200)  # type: ignore[comparison-overlap]
    assert Data(b"x") == Data(b"x") and Data(b"x") != Data(b"x", chunk_start=True)
    assert EndOfMessage() == EndOfMessage(headers=[]) and ConnectionClosed() == ConnectionClosed()


def test_event_union_works_with_isinstance() -> None:
    """``Event`` is the union of the event classes."""
    assert all(isinstance(e, Event) for e in (Data(b""), EndOfMessage(), ConnectionClosed()))
    assert not isinstance(b"x", Event)


def test_dataclasses_replace_revalidates() -> None:
    """replace() goes through the checking constructor."""
    r = Request(method="GET", target="/", headers=HOST)
    assert dataclasses.replace(r, target=b"/x").target == b"/x"
    with pytest.raises(LocalProtocolError):
        dataclasses.replace(r, method=b"BAD METHOD")
