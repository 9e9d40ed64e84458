"""The pure functions behind File: Range parsing, entity tags, HTTP dates, preconditions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torsion.web._conditional import (
    MAX_RANGES,
    Unsatisfiable,
    evaluate_preconditions,
    http_date,
    if_range_allows,
    parse_etags,
    parse_http_date,
    parse_range,
)


@pytest.mark.parametrize(("header", "size", "expected"), [
    (b"bytes=0-0", 10, [(0, 1)]),
    (b"bytes=0-", 10, [(0, 10)]),
    (b"bytes=-3", 10, [(7, 10)]),
    (b"bytes=-30", 10, [(0, 10)]),
    (b"bytes=5-100", 10, [(5, 10)]),
    (b"BYTES = 1-2 , 4-5", 10, [(1, 3), (4, 6)]),
    (b"bytes=4-5,1-2", 10, [(4, 6), (1, 3)]),
    (b"bytes=1-4,3-6", 10, [(1, 7)]),
    (b"bytes=1-2,3-4", 10, [(1, 5)]),
    (b"bytes=1-2,,", 10, [(1, 3)]),
    (b"bytes=20-30,1-2", 10, [(1, 3)]),
    (b"bytes=5-4", 10, None),
    (b"bytes=a-b", 10, None),
    (b"bytes=-", 10, None),
    (b"bytes=", 10, None),
    (b"lines=1-2", 10, None),
    (b"bytes 1-2", 10, None),
    (b"bytes=1-2-3", 10, None),
    (b"bytes=" + b"9" * 30 + b"-", 10, None),
])
def test_parse_range(header: bytes, size: int, expected: list[tuple[int, int]] | None) -> None:
    """Ranges clipped to the size, order kept, overlaps merged; bad syntax is ignored."""
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [
    (b"bytes=10-", 10), (b"bytes=10-20,30-", 10), (b"bytes=-0", 10), (b"bytes=0-", 0),
    (b"bytes=-5", 0),
])
def test_unsatisfiable(header: bytes, size: int) -> None:
    """Valid ranges that all miss the representation raise Unsatisfiable (416)."""
    with pytest.raises(Unsatisfiable):
        parse_range(header, size)


def test_too_many_ranges_ignored() -> None:
    """More than MAX_RANGES ranges: the header is ignored."""
    many = b"bytes=" + b",".join(b"%d-%d" % (i, i) for i in range(MAX_RANGES + 1))
    assert parse_range(many, 1000) is None


specs = st.lists(
    st.one_of(
        st.tuples(st.integers(0, 300), st.none() | st.integers(0, 300)).filter(
            lambda t: t[1] is None or t[1] >= t[0]),
        st.tuples(st.none(), st.integers(0, 300)),
    ),
    min_size=1, max_size=MAX_RANGES,
)


@given(specs, st.integers(0, 250))
def test_ranges_cover_exactly_what_was_asked(pieces: list[tuple[int | None, int | None]],
                                             size: int) -> None:
    """Property: the result covers exactly the requested bytes that exist, with disjoint
    non-empty ranges inside the representation (or Unsatisfiable when none exist)."""
    header = b"bytes=" + b",".join(
        (b"%d" % a if a is not None else b"") + b"-" + (b"%d" % b if b is not None else b"")
        for a, b in pieces)
    wanted: set[int] = set()
    for first, last in pieces:
        if first is None:
            assert last is not None
            wanted.update(range(max(size - last, 0), size) if last else ())
        else:
            wanted.update(range(first, min(last + 1, size) if last is not None else size))
    try:
        ranges = parse_range(header, size)
    except Unsatisfiable:
        assert not wanted
        return
    assert ranges is not None
    covered: list[int] = []
    for start, end in ranges:
        assert 0 <= start < end <= size
        covered.extend(range(start, end))
    assert len(covered) == len(set(covered))
    assert set(covered) == wanted


def test_http_dates() -> None:
    """All three HTTP date formats parse; garbage does not; formatting round-trips."""
    for text in (b"Sun, 06 Nov 1994 08:49:37 GMT", b"Sunday, 06-Nov-94 08:49:37 GMT",
                 b"Sun Nov  6 08:49:37 1994"):
        assert parse_http_date(text) == 784111777
    assert parse_http_date(b"yesterday") is None
    assert parse_http_date(b"\xff") is None
    assert parse_http_date(http_date(784111777)) == 784111777


def test_etags() -> None:
    """Entity tag lists: strong and weak tags, *, and malformed lists (None)."""
    assert parse_etags(b'"a" , W/"b",') == [(False, b'"a"'), (True, b'"b"')]
    assert parse_etags(b" * ") == [(False, b"*")]
    assert parse_etags(b"a") is None
    assert parse_etags(b"") is None


def test_preconditions_for_unsafe_methods() -> None:
    """If-None-Match matching a PUT/DELETE gives 412, not 304; If-Modified-Since is
    only for GET and HEAD."""
    headers = {b"if-none-match": b'"x"'}
    assert evaluate_preconditions(b"DELETE", headers.get, b'"x"', 0) == 412
    since = {b"if-modified-since": http_date(100)}
    assert evaluate_preconditions(b"POST", since.get, b'"x"', 50) is None
    assert evaluate_preconditions(b"GET", since.get, b'"x"', 50) == 304


def test_if_range() -> None:
    """If-Range: strong ETag match or exact date; weak tags never match."""
    assert if_range_allows(b'"e"', b'"e"', 5)
    assert not if_range_allows(b'W/"e"', b'"e"', 5)
    assert if_range_allows(http_date(5), b'"e"', 5)
    assert not if_range_allows(http_date(6), b'"e"', 5)
    assert not if_range_allows(b"junk", b'"e"', 5)
