"""Conditional requests and byte ranges (RFC 9110 sections 13 and 14), as pure functions.

No I/O here: a static file resource asks :func:`evaluate_preconditions` whether to
answer 304 or 412, :func:`if_range_allows` whether a ``Range`` still applies, and
:func:`parse_range` which bytes to send::

    >>> parse_range(b"bytes=0-99,-10", 1000)
    [(0, 100), (990, 1000)]
    >>> evaluate_preconditions(b"GET", {b"if-none-match": b'"abc"'}.get, b'"abc"', 0)
    304
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import formatdate, mktime_tz, parsedate_tz
from typing import Final

__all__ = [
    "MAX_RANGES",
    "Unsatisfiable",
    "evaluate_preconditions",
    "http_date",
    "if_range_allows",
    "parse_etags",
    "parse_http_date",
    "parse_range",
]

MAX_RANGES: Final = 32
"""More ranges than this in one request and the Range header is ignored (the whole
representation is sent): many small or overlapping ranges cost more than they save
(RFC 9110 section 14.2 lets a server ignore them)."""

_ETAG = re.compile(rb'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')
_RANGE_SPEC = re.compile(rb"\s*(\d*)\s*-\s*(\d*)\s*")
_MAX_DIGITS = 18


class Unsatisfiable(Exception):
    """No range of a valid ``Range`` header overlaps the representation: answer 416."""


def http_date(seconds: float) -> bytes:
    """An IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``) for ``seconds`` since the epoch."""
    return formatdate(seconds, usegmt=True).encode("ascii")


def parse_http_date(value: bytes) -> int | None:
    """Seconds since the epoch of an HTTP date in any of its three formats, or ``None``.

    Example:
        >>> parse_http_date(b"Sun, 06 Nov 1994 08:49:37 GMT")
        784111777
    """
    try:
        parsed = parsedate_tz(value.decode("ascii"))
    except (UnicodeDecodeError, ValueError, TypeError, IndexError):
        return None
    if parsed is None:
        return None
    try:
        return int(mktime_tz(parsed))
    except (OverflowError, ValueError):
        return None


def parse_etags(value: bytes) -> list[tuple[bool, bytes]] | None:
    """The entity tags of an ``If-Match``/``If-None-Match`` value as ``(weak, tag)``.

    ``*`` gives ``[(False, b"*")]``; a malformed list gives ``None`` (the header is
    then ignored).

    Example:
        >>> parse_etags(b'"a", W/"b"')
        [(False, b'"a"'), (True, b'"b"')]
    """
    if value.strip() == b"*":
        return [(False, b"*")]
    tags = []
    pos = 0
    while pos < len(value):
        match = _ETAG.match(value, pos)
        if match is None:
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        pos = match.end()
    return tags or None


def _matches(tags: list[tuple[bool, bytes]], etag: bytes, strong: bool) -> bool:
    for weak, tag in tags:
        if tag == b"*":
            return True
        if strong and weak:
            continue
        if tag == etag:
            return True
    return False


def evaluate_preconditions(
    method: bytes,
    header: Callable[[bytes], bytes | None],
    etag: bytes,
    last_modified: int,
) -> int | None:
    """The status a conditional request gets, or ``None`` to serve it normally.

    The order of RFC 9110 section 13.2.2: ``If-Match`` (else ``If-Unmodified-Since``)
    may fail with 412; then ``If-None-Match`` (else ``If-Modified-Since``, for GET and
    HEAD only) may answer 304 (412 for other methods).

    Args:
        method: the request method.
        header: looks up a lower-case request header (``request.getHeader``).
        etag: the representation's strong entity tag, quotes included.
        last_modified: its modification time, whole seconds since the epoch.
    """
    if_match = header(b"if-match")
    if if_match is not None:
        tags = parse_etags(if_match)
        if tags is not None and not _matches(tags, etag, strong=True):
            return 412
    else:
        since = header(b"if-unmodified-since")
        stamp = parse_http_date(since) if since is not None else None
        if stamp is not None and last_modified > stamp:
            return 412
    safe = method in (b"GET", b"HEAD")
    if_none_match = header(b"if-none-match")
    if if_none_match is not None:
        tags = parse_etags(if_none_match)
        if tags is not None and _matches(tags, etag, strong=False):
            return 304 if safe else 412
    elif safe:
        since = header(b"if-modified-since")
        stamp = parse_http_date(since) if since is not None else None
        if stamp is not None and last_modified <= stamp:
            return 304
    return None


def if_range_allows(value: bytes, etag: bytes, last_modified: int) -> bool:
    """Whether an ``If-Range`` value lets the ``Range`` apply (RFC 9110 section 13.1.5).

    An entity tag must match strongly; a date must equal the modification time
    exactly. Anything else means: send the whole representation.
    """
    value = value.strip()
    if value.startswith((b'"', b"W/")):
        return not value.startswith(b"W/") and value == etag
    stamp = parse_http_date(value)
    return stamp is not None and stamp == last_modified


def parse_range(value: bytes, size: int) -> list[tuple[int, int]] | None:
    """The byte ranges a ``Range`` header asks of a ``size``-byte representation.

    Returns:
        ``(start, end)`` pairs, ``end`` exclusive, clipped to ``size``, in the order
        asked, overlapping or adjacent ones merged; ``None`` when the header is to be
        ignored (not ``bytes``, malformed, or more than :data:`MAX_RANGES` ranges).

    Raises:
        Unsatisfiable: the header is valid but no range overlaps the representation.

    Example:
        >>> parse_range(b"bytes=500-", 1000), parse_range(b"items=0-1", 1000)
        ([(500, 1000)], None)
    """
    unit, sep, specs = value.partition(b"=")
    if not sep or unit.strip().lower() != b"bytes":
        return None
    pieces = specs.split(b",")
    if len(pieces) > MAX_RANGES:
        return None
    ranges: list[tuple[int, int]] = []
    seen_valid = False
    for piece in pieces:
        if not piece.strip():
            continue  # empty list elements are allowed (RFC 9110 section 5.6.1)
        match = _RANGE_SPEC.fullmatch(piece)
        if match is None:
            return None
        first, last = match.group(1), match.group(2)
        if len(first) > _MAX_DIGITS or len(last) > _MAX_DIGITS or not (first or last):
            return None
        if first:
            start = int(first)
            if last and int(last) < start:
                return None  # "500-400" is invalid syntax, not merely unsatisfiable
            end = min(int(last) + 1, size) if last else size
            seen_valid = True
            if start < size:
                ranges.append((start, end))
        else:
            suffix = int(last)
            seen_valid = True
            if suffix > 0 and size > 0:
                ranges.append((max(size - suffix, 0), size))
    if not seen_valid:
        return None
    if not ranges:
        raise Unsatisfiable(value)
    return _coalesce(ranges)


def _coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Merge overlapping or adjacent ranges; keep the order asked when none overlap."""
    ordered = sorted(ranges)
    merged = [ordered[0]]
    for start, end in ordered[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    if len(merged) == len(ranges):
        return ranges
    return merged
