"""The events of an HTTP/1.1 exchange: what ``next_event`` returns and ``send`` takes.

A message is a head (:class:`Request`, :class:`InformationalResponse` or
:class:`Response`), then zero or more :class:`Data`, then :class:`EndOfMessage`
(which carries the trailers of a chunked body). :class:`ConnectionClosed` says the
peer closed its side, or is sent to say that we close ours.

Events are frozen, slotted dataclasses. Built by user code, they check their fields
and raise :class:`LocalProtocolError`; built by the parser (which has checked the
bytes already and raises :class:`RemoteProtocolError` itself) they skip the checks.

Headers are a :class:`Headers`: an immutable sequence of ``(name, value)`` byte pairs
in the order received, names lower-cased for lookup, raw names kept for output::

    >>> h = Headers([("Host", "example.com"), (b"X-Thing", b"1")])
    >>> list(h)
    [(b'host', b'example.com'), (b'x-thing', b'1')]
    >>> h.raw_items()
    [(b'Host', b'example.com'), (b'X-Thing', b'1')]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeVar, overload

from ._abnf import FIELD_VALUE, HTTP_VERSION, REASON_PHRASE, REQUEST_TARGET, TOKEN
from ._errors import LocalProtocolError

__all__ = [
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "HeaderInput",
    "Headers",
    "InformationalResponse",
    "Request",
    "Response",
]

_Triple: TypeAlias = tuple[bytes, bytes, bytes]
"""(raw name, lower-cased name, value)."""

# The trusted constructors (``_wire``, ``_trusted``) fill frozen slots directly; module
# aliases spare them a class-attribute lookup per field on Python 3.11.
_new = object.__new__
_setattr = object.__setattr__


def _to_bytes(value: bytes | str, what: str) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("ascii")
        except UnicodeEncodeError:
            raise LocalProtocolError(f"{what} {value!r} is not ASCII: pass bytes") from None
    raise LocalProtocolError(f"{what} must be bytes or str, not {type(value).__name__}")


class Headers(Sequence[tuple[bytes, bytes]]):
    """An immutable, ordered list of header fields.

    Items are ``(lower-cased name, value)`` pairs; :meth:`raw_items` gives the names as
    they were written or received. Equality ignores the case of names and compares
    with another :class:`Headers` or any sequence of pairs.

    Args:
        items: ``(name, value)`` pairs, as ``bytes`` or ASCII ``str``.

    Raises:
        LocalProtocolError: a name is not a ``token`` or a value holds a control
            character (NUL, CR, LF...).

    Example:
        >>> h = Headers([("Content-Type", "text/plain"), ("Vary", "a"), ("vary", "b")])
        >>> h.get(b"content-type"), h.get_all(b"vary")
        (b'text/plain', [b'a', b'b'])
    """

    __slots__ = ("_index", "_items")

    _items: tuple[_Triple, ...]
    _index: dict[bytes, list[bytes]] | None  # name -> values, built on first lookup

    def __init__(self, items: Iterable[tuple[bytes | str, bytes | str]] = ()) -> None:
        triples: list[_Triple] = []
        for item in items:
            try:
                raw_name, raw_value = item
            except (TypeError, ValueError):
                raise LocalProtocolError(f"header {item!r} is not a (name, value) pair") from None
            name = _to_bytes(raw_name, "header name")
            value = _to_bytes(raw_value, "header value").strip(b" \t")
            if TOKEN.fullmatch(name) is None:
                raise LocalProtocolError(f"header name {name!r} is not a token")
            if FIELD_VALUE.fullmatch(value) is None:
                raise LocalProtocolError(
                    f"header value {value!r} of {name!r} holds a control character"
                )
            triples.append((name, name.lower(), value))
        self._items = tuple(triples)
        self._index = None

    @classmethod
    def _trusted(
        cls, triples: Sequence[_Triple], index: dict[bytes, list[bytes]] | None = None
    ) -> Headers:
        """Build from already checked ``(raw name, name, value)`` triples (the parser),
        and their index by name when the caller built it on the way."""
        headers = _new(cls)
        headers._items = tuple(triples)
        headers._index = index
        return headers

    @overload
    def __getitem__(self, index: int) -> tuple[bytes, bytes]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[bytes, bytes]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[bytes, bytes] | Sequence[tuple[bytes, bytes]]:
        if isinstance(index, slice):
            return [(name, value) for _, name, value in self._items[index]]
        _, name, value = self._items[index]
        return (name, value)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        for _, name, value in self._items:
            yield (name, value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return [t[1:] for t in self._items] == [t[1:] for t in other._items]
        if isinstance(other, Sequence) and not isinstance(other, (bytes, str)):
            try:
                return list(self) == [(n.lower(), v) for n, v in other]
            except (TypeError, ValueError, AttributeError):
                return False
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(t[1:] for t in self._items))

    def __repr__(self) -> str:
        return f"Headers({self.raw_items()!r})"

    def raw_items(self) -> list[tuple[bytes, bytes]]:
        """The ``(name, value)`` pairs with names as written, for output."""
        return [(raw, value) for raw, _, value in self._items]

    def _lookup(self) -> dict[bytes, list[bytes]]:
        index = self._index
        if index is None:
            index = {}
            for _, name, value in self._items:
                values = index.get(name)
                if values is None:
                    index[name] = [value]
                else:
                    values.append(value)
            self._index = index
        return index

    def get_all(self, name: bytes) -> list[bytes]:
        """Every value of the field ``name`` (lower-case), in order."""
        values = self._lookup().get(name)
        return list(values) if values else []

    def get(self, name: bytes) -> bytes | None:
        """The first value of the field ``name`` (lower-case), or ``None``."""
        values = self._lookup().get(name)
        return values[0] if values else None

    def _triples(self) -> tuple[_Triple, ...]:
        return self._items


HeaderInput: TypeAlias = Headers | Iterable[tuple[bytes | str, bytes | str]]
"""What event constructors take as headers: a :class:`Headers` or pairs to check."""


def _headers(value: HeaderInput) -> Headers:
    return value if isinstance(value, Headers) else Headers(value)


def _version(value: bytes | str) -> bytes:
    version = _to_bytes(value, "http_version")
    if HTTP_VERSION.fullmatch(b"HTTP/" + version) is None:
        raise LocalProtocolError(f"http_version {version!r} is not DIGIT.DIGIT")
    return version


def _reason(value: bytes | str) -> bytes:
    reason = _to_bytes(value, "reason")
    if REASON_PHRASE.fullmatch(reason) is None:
        raise LocalProtocolError(f"reason {reason!r} holds a control character")
    return reason


@dataclass(frozen=True, slots=True, init=False)
class Request:
    """The head of a request.

    Attributes:
        method: the method token, case-sensitive (``b"GET"``).
        target: the request-target as sent (``b"/index.html?x=1"``).
        headers: the header fields.
        http_version: ``b"1.1"`` or ``b"1.0"`` when received; always sent as 1.1.

    Raises:
        LocalProtocolError: a field is malformed, or an HTTP/1.1 request does not have
            exactly one ``Host`` (RFC 9112 section 3.2).

    Example:
        >>> Request(method=b"GET", target=b"/", headers=[(b"Host", b"example.com")]).method
        b'GET'
    """

    method: bytes
    target: bytes
    headers: Headers
    http_version: bytes

    def __init__(
        self,
        *,
        method: bytes | str,
        target: bytes | str,
        headers: HeaderInput = (),
        http_version: bytes | str = b"1.1",
    ) -> None:
        method_b = _to_bytes(method, "method")
        if TOKEN.fullmatch(method_b) is None:
            raise LocalProtocolError(f"method {method_b!r} is not a token")
        target_b = _to_bytes(target, "target")
        if REQUEST_TARGET.fullmatch(target_b) is None:
            raise LocalProtocolError(f"target {target_b!r} is empty or not visible ASCII")
        fields = _headers(headers)
        version = _version(http_version)
        if version >= b"1.1" and len(fields.get_all(b"host")) != 1:
            raise LocalProtocolError("an HTTP/1.1 request needs exactly one Host header")
        object.__setattr__(self, "method", method_b)
        object.__setattr__(self, "target", target_b)
        object.__setattr__(self, "headers", fields)
        object.__setattr__(self, "http_version", version)

    @classmethod
    def _wire(cls, method: bytes, target: bytes, headers: Headers, version: bytes) -> Request:
        event = _new(cls)
        _setattr(event, "method", method)
        _setattr(event, "target", target)
        _setattr(event, "headers", headers)
        _setattr(event, "http_version", version)
        return event


def _status(value: int, low: int, high: int, kind: str) -> int:
    if type(value) is not int or not low <= value <= high:
        raise LocalProtocolError(f"status_code {value!r} of {kind} must be in {low}..{high}")
    return value


_R = TypeVar("_R", bound="_ResponseBase")


@dataclass(frozen=True, slots=True, init=False)
class _ResponseBase:
    status_code: int
    headers: Headers
    reason: bytes
    http_version: bytes

    _low = 100
    _high = 999

    def __init__(
        self,
        *,
        status_code: int,
        headers: HeaderInput = (),
        reason: bytes | str = b"",
        http_version: bytes | str = b"1.1",
    ) -> None:
        kind = type(self).__name__
        object.__setattr__(self, "status_code", _status(status_code, self._low, self._high, kind))
        object.__setattr__(self, "headers", _headers(headers))
        object.__setattr__(self, "reason", _reason(reason))
        object.__setattr__(self, "http_version", _version(http_version))

    @classmethod
    def _wire(
        cls: type[_R], status_code: int, headers: Headers, reason: bytes, version: bytes
    ) -> _R:
        event = _new(cls)
        _setattr(event, "status_code", status_code)
        _setattr(event, "headers", headers)
        _setattr(event, "reason", reason)
        _setattr(event, "http_version", version)
        return event


@dataclass(frozen=True, slots=True, init=False)
class InformationalResponse(_ResponseBase):
    """An interim 1xx response: ``100 Continue``, ``101 Switching Protocols``, ``103``...

    Attributes:
        status_code: 100 to 199.
        headers: the header fields.
        reason: the reason phrase (informative only).
        http_version: as received; always sent as 1.1.

    Example:
        >>> InformationalResponse(status_code=100).status_code
        100
    """

    _low = 100
    _high = 199


@dataclass(frozen=True, slots=True, init=False)
class Response(_ResponseBase):
    """The head of a final response.

    Attributes:
        status_code: 200 to 999.
        headers: the header fields.
        reason: the reason phrase (informative only).
        http_version: as received; always sent as 1.1.

    Example:
        >>> Response(status_code=404, headers=[("Content-Length", "0")]).status_code
        404
    """

    _low = 200
    _high = 999


@dataclass(frozen=True, slots=True)
class Data:
    """A piece of a message body.

    Attributes:
        data: the bytes. When sending with ``send_with_data_passthrough``, any object
            with ``len()`` (a file region for ``sendfile``, say) may stand in for
            bytes: it is handed back untouched between the framing bytes.
        chunk_start: received only: this piece starts a chunk of a chunked body.
        chunk_end: received only: this piece ends a chunk of a chunked body.

    Example:
        >>> Data(b"hello").data
        b'hello'
    """

    data: bytes
    chunk_start: bool = False
    chunk_end: bool = False


@dataclass(frozen=True, slots=True, init=False)
class EndOfMessage:
    """The end of a message, with its trailer fields (chunked bodies only).

    Example:
        >>> EndOfMessage(headers=[("Digest", "x")]).headers.get(b"digest")
        b'x'
    """

    headers: Headers

    def __init__(self, *, headers: HeaderInput = ()) -> None:
        object.__setattr__(self, "headers", _headers(headers))

    @classmethod
    def _wire(cls, headers: Headers) -> EndOfMessage:
        event = _new(cls)
        _setattr(event, "headers", headers)
        return event


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The peer closed its sending side; sent, it says we are closing ours."""


Event: TypeAlias = (
    Request | InformationalResponse | Response | Data | EndOfMessage | ConnectionClosed
)
"""Any event. ``isinstance(x, Event)`` works: it is a union of the classes."""
