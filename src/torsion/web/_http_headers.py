"""A mutable, case-insensitive collection of HTTP header fields, in Twisted's shape.

``Headers`` mirrors ``twisted.web.http_headers.Headers`` (camelCase names are the
contract): a field name maps to a list of raw values, names compare without regard to
case, and a ``str`` name or value is accepted wherever ``bytes`` is (names encoded as
ISO-8859-1, values as UTF-8; asked for by a ``str`` name, values come back as ``str``)::

    >>> h = Headers()
    >>> h.addRawHeader(b"Set-Cookie", b"a=1")
    >>> h.addRawHeader("set-cookie", "b=2")
    >>> h.getRawHeaders(b"SET-COOKIE")
    [b'a=1', b'b=2']
    >>> h.hasHeader("Content-Type")
    False

Values never carry a line break or another control character onto the wire: each is
replaced by a space, as Twisted does for CR and LF. Names must be HTTP tokens
(``ValueError`` otherwise), which keeps header injection out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar, overload

__all__ = ["Headers", "canonical_name", "field_name", "field_value"]

_T = TypeVar("_T")

_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
# Control characters other than HTAB, which a field value may not hold (RFC 9110 5.5).
_CTL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_CTL_TO_SPACE = bytes(
    0x20 if (c < 0x20 and c != 0x09) or c == 0x7F else c for c in range(256)
)

# Names whose usual spelling is not Capitalized-Per-Word.
_SPECIAL_CAPS = {
    b"content-md5": b"Content-MD5",
    b"dnt": b"DNT",
    b"etag": b"ETag",
    b"p3p": b"P3P",
    b"te": b"TE",
    b"www-authenticate": b"WWW-Authenticate",
    b"x-xss-protection": b"X-XSS-Protection",
}
_canonical_cache: dict[bytes, bytes] = {}


def canonical_name(name: bytes) -> bytes:
    """The usual spelling of a lower-case field name, for output.

    Example:
        >>> canonical_name(b"content-type"), canonical_name(b"etag")
        (b'Content-Type', b'ETag')
    """
    cached = _canonical_cache.get(name)
    if cached is None:
        cached = _SPECIAL_CAPS.get(name) or b"-".join(p.capitalize() for p in name.split(b"-"))
        if len(_canonical_cache) < 1024:
            _canonical_cache[name] = cached
    return cached


_checked_names: dict[bytes | str, bytes] = {}


def field_name(name: bytes | str) -> bytes:
    """A header name checked (an HTTP token) and lower-cased.

    Raises:
        TypeError: ``name`` is neither bytes nor str.
        ValueError: ``name`` is not a token.
    """
    known = _checked_names.get(name)
    if known is not None:
        return known
    raw = name.encode("iso-8859-1") if isinstance(name, str) else name
    if not isinstance(raw, bytes):
        raise TypeError(f"a header name is bytes or str, not {type(name).__name__}")
    if _TOKEN.fullmatch(raw) is None:
        raise ValueError(f"header name {raw!r} is not an HTTP token")
    lowered = raw.lower()
    if len(_checked_names) < 1024:  # the names a program uses: a few dozen
        _checked_names[name] = lowered
    return lowered


def field_value(value: bytes | str) -> bytes:
    """A header value as bytes (str is UTF-8), control characters made spaces.

    Raises:
        TypeError: ``value`` is neither bytes nor str.
    """
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if not isinstance(raw, bytes):
        raise TypeError(f"a header value is bytes or str, not {type(value).__name__}")
    if _CTL.search(raw) is not None:
        raw = raw.translate(_CTL_TO_SPACE)
    return raw


class Headers:
    """Header fields: lower-cased names to lists of values, in insertion order.

    Args:
        rawHeaders: initial fields, a mapping of names to lists of values.

    Raises:
        ValueError: a name is not an HTTP token.
        TypeError: a name or value is neither ``bytes`` nor ``str``.

    Example:
        >>> h = Headers({b"Content-Type": [b"text/plain"]})
        >>> list(h.getAllRawHeaders())
        [(b'Content-Type', [b'text/plain'])]
    """

    __slots__ = ("_fields",)

    def __init__(
        self, rawHeaders: Mapping[bytes | str, Sequence[bytes | str]] | None = None
    ) -> None:
        self._fields: dict[bytes, list[bytes]] = {}
        if rawHeaders is not None:
            for name, values in rawHeaders.items():
                self.setRawHeaders(name, values)

    @classmethod
    def _from_pairs(cls, pairs: Sequence[tuple[bytes, bytes]]) -> Headers:
        """Build from ``(lower-cased name, value)`` pairs already checked (by the parser)."""
        headers = cls.__new__(cls)
        fields: dict[bytes, list[bytes]] = {}
        for name, value in pairs:
            values = fields.get(name)
            if values is None:
                fields[name] = [value]
            else:
                values.append(value)
        headers._fields = fields
        return headers

    def __repr__(self) -> str:
        shown = {canonical_name(name): values for name, values in self._fields.items()}
        return f"Headers({shown!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._fields == other._fields
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def copy(self) -> Headers:
        """An independent copy."""
        twin = Headers.__new__(Headers)
        twin._fields = {name: list(values) for name, values in self._fields.items()}
        return twin

    def hasHeader(self, name: bytes | str) -> bool:
        """Whether a field called ``name`` (any case) is present."""
        return field_name(name) in self._fields

    def removeHeader(self, name: bytes | str) -> None:
        """Remove every value of ``name``; nothing happens if there is none."""
        self._fields.pop(field_name(name), None)

    def setRawHeaders(self, name: bytes | str, values: Sequence[bytes | str]) -> None:
        """Replace the values of ``name`` with ``values`` (a list; may be empty).

        Raises:
            TypeError: ``values`` is a single ``bytes`` or ``str`` instead of a list.
        """
        if isinstance(values, bytes | str):
            raise TypeError(f"setRawHeaders takes a list of values, not {type(values).__name__}")
        self._fields[field_name(name)] = [field_value(v) for v in values]

    def addRawHeader(self, name: bytes | str, value: bytes | str) -> None:
        """Append ``value`` to the values of ``name``."""
        key = field_name(name)
        values = self._fields.get(key)
        if values is None:
            self._fields[key] = [field_value(value)]
        else:
            values.append(field_value(value))

    @overload
    def getRawHeaders(self, name: bytes) -> list[bytes] | None: ...

    @overload
    def getRawHeaders(self, name: str) -> list[str] | None: ...

    @overload
    def getRawHeaders(self, name: bytes, default: _T) -> list[bytes] | _T: ...

    @overload
    def getRawHeaders(self, name: str, default: _T) -> list[str] | _T: ...

    def getRawHeaders(
        self, name: bytes | str, default: object = None
    ) -> list[bytes] | list[str] | object:
        """The values of ``name``, or ``default`` when there is none.

        Asked for by a ``str`` name, the values are decoded from UTF-8.
        """
        values = self._fields.get(field_name(name))
        if values is None:
            return default
        if isinstance(name, str):
            return [v.decode("utf-8", "replace") for v in values]
        return list(values)

    def getAllRawHeaders(self) -> Iterator[tuple[bytes, list[bytes]]]:
        """Every ``(name, values)``, names in their usual spelling (``Content-Type``)."""
        for name, values in self._fields.items():
            yield canonical_name(name), list(values)

    # -- torsion helpers -------------------------------------------------------------------

    def _first(self, name: bytes) -> bytes | None:
        """The first value of a lower-case ``name``, unchecked (the hot path)."""
        values = self._fields.get(name)
        return values[0] if values else None

    def _set(self, name: bytes, value: bytes) -> None:
        """Set one value for a lower-case, known-good ``name`` (the hot path)."""
        self._fields[name] = [field_value(value)]

    def _wire(self) -> list[tuple[bytes, bytes, bytes]]:
        """``(spelled name, lower name, value)`` triples, for the sans-IO core."""
        spelled = _canonical_cache.get
        return [
            (spelled(name) or canonical_name(name), name, value)
            for name, values in self._fields.items()
            for value in values
        ]
