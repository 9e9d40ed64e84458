"""Where a message body ends, and whether the connection lives on (RFC 9112 sections 6, 9.3).

Receiving: :func:`request_framing` and :func:`response_framing` read the framing
headers of a message from the peer and raise :class:`RemoteProtocolError` on anything
that could let two parsers disagree on where the body ends (the request smuggling
vectors): Content-Length with Transfer-Encoding, differing Content-Length values, a
transfer coding list that is not exactly ``chunked``, Transfer-Encoding in HTTP/1.0.

Sending: :func:`prepare_request` and :func:`prepare_response` choose the framing of our
message and adjust its headers (``Transfer-Encoding: chunked`` when there is no length,
``Connection: close`` or ``keep-alive``), raising :class:`LocalProtocolError` on
headers we would be wrong to send.
"""

from __future__ import annotations

import dataclasses
from enum import Enum

from ._abnf import CONTENT_LENGTH_ELEMENT, TOKEN
from ._errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from ._events import Headers, InformationalResponse, Request, Response

__all__ = [
    "FORBIDDEN_TRAILERS",
    "Framing",
    "check_connect_accept",
    "check_informational",
    "connection_options",
    "content_length",
    "expects_continue",
    "keep_alive",
    "prepare_request",
    "prepare_response",
    "proposes_upgrade",
    "request_framing",
    "response_framing",
]

# 18 digits: below 2**63 and far above any real body, and it keeps int() off the
# huge digit strings that Python refuses (ValueError past 4300 digits).
_MAX_CONTENT_LENGTH_DIGITS = 18

FORBIDDEN_TRAILERS = frozenset(
    {
        b"content-length", b"transfer-encoding", b"trailer",  # framing
        b"host",  # routing
        b"connection", b"keep-alive", b"proxy-connection", b"te", b"upgrade",  # connection
        b"expect",  # request modifiers
    }
)
"""Fields refused in a trailer section, either way (RFC 9110 section 6.5.1: fields
needed before the content, framing above all, are not processed from trailers)."""


class Framing(Enum):
    """How a body is delimited."""

    CONTENT_LENGTH = "content-length"
    """Exactly ``length`` bytes (0 for bodiless messages)."""
    CHUNKED = "chunked"
    """The chunked transfer coding, with optional trailers."""
    UNTIL_CLOSE = "until-close"
    """Responses only: the body ends when the connection closes."""
    DISCARD = "discard"
    """Sending only: a response to HEAD; body data given to ``send`` is dropped."""


def _split_list(values: list[bytes]) -> list[bytes]:
    """The elements of a comma-separated list field, OWS stripped, empty ones dropped.

    RFC 9110 section 5.6.1: a recipient ignores empty list elements.
    """
    return [item for value in values for e in value.split(b",") if (item := e.strip(b" \t"))]


def connection_options(headers: Headers) -> set[bytes]:
    """The lower-cased options of the ``Connection`` fields.

    Example:
        >>> sorted(connection_options(Headers([("Connection", "Keep-Alive, Upgrade")])))
        [b'keep-alive', b'upgrade']
    """
    if b"connection" not in headers._lookup():
        return set()
    return {item.lower() for item in _split_list(headers.get_all(b"connection"))}


def keep_alive(http_version: bytes, headers: Headers) -> bool:
    """Whether a message lets the connection persist (RFC 9112 section 9.3).

    ``close`` ends it; HTTP/1.1 persists by default; HTTP/1.0 only with ``keep-alive``.
    """
    options = connection_options(headers)
    if b"close" in options:
        return False
    if http_version < b"1.1":
        return b"keep-alive" in options
    return True


def expects_continue(request: Request) -> bool:
    """Whether the client waits for ``100 Continue`` before sending its body.

    RFC 9110 section 10.1.1: ``Expect: 100-continue`` (case-insensitive); ignored in
    an HTTP/1.0 request.
    """
    if request.http_version < b"1.1" or b"expect" not in request.headers._lookup():
        return False
    expectations = _split_list(request.headers.get_all(b"expect"))
    return b"100-continue" in (item.lower() for item in expectations)


def proposes_upgrade(request: Request) -> bool:
    """Whether a request proposes an Upgrade (RFC 9110 section 7.8).

    It needs an ``Upgrade`` field and the ``upgrade`` connection option (which keeps
    intermediaries from forwarding it), and is ignored in HTTP/1.0.
    """
    return (
        request.http_version >= b"1.1"
        and bool(_split_list(request.headers.get_all(b"upgrade")))
        and b"upgrade" in connection_options(request.headers)
    )


def content_length(values: list[bytes], error: type[ProtocolError]) -> int:
    """The value of the ``Content-Length`` fields.

    Identical values repeated, as separate fields or as a list (``5, 5``), are one value
    (RFC 9110 section 8.6); anything else is an error.

    Raises:
        ProtocolError: of class ``error``, with hint 400.
    """
    elements = [e.strip(b" \t") for value in values for e in value.split(b",")]
    for element in elements:
        if CONTENT_LENGTH_ELEMENT.fullmatch(element) is None:
            raise error(f"invalid Content-Length {element!r}: digits only", 400)
        if len(element) > _MAX_CONTENT_LENGTH_DIGITS:
            raise error(f"Content-Length {element!r} is too large", 400)
    lengths = {int(element) for element in elements}
    if len(lengths) != 1:
        raise error(f"conflicting Content-Length values {sorted(lengths)}", 400)
    return lengths.pop()


def _check_transfer_encoding(values: list[bytes], error: type[ProtocolError]) -> None:
    """Accept a Transfer-Encoding that is exactly ``chunked``, or raise.

    ``chunked`` must be the final coding and appear once (RFC 9112 section 6.1, 400
    otherwise); other codings (gzip, ...) are not implemented here (501).
    """
    codings = [item.lower() for item in _split_list(values)]
    for coding in codings:
        if TOKEN.fullmatch(coding) is None:
            raise error(f"invalid transfer coding {coding!r}", 400)
    if not codings or codings[-1] != b"chunked" or codings.count(b"chunked") != 1:
        raise error(
            f"Transfer-Encoding {b', '.join(codings)!r} does not end with chunked (once)", 400
        )
    if len(codings) > 1:
        raise error(f"transfer coding {codings[0]!r} is not implemented: only chunked", 501)


def _body_framing(
    version: bytes, headers: Headers, error: type[ProtocolError], *, default: Framing
) -> tuple[Framing, int]:
    index = headers._lookup()
    te = index.get(b"transfer-encoding")
    cl = index.get(b"content-length")
    if te:
        if cl:
            raise error("both Content-Length and Transfer-Encoding", 400)
        if version < b"1.1":
            # RFC 9112 section 6.1: the framing of such a message is faulty.
            raise error("Transfer-Encoding in an HTTP/1.0 message", 400)
        _check_transfer_encoding(te, error)
        return Framing.CHUNKED, 0
    if cl:
        return Framing.CONTENT_LENGTH, content_length(cl, error)
    return default, 0


def request_framing(request: Request) -> tuple[Framing, int]:
    """The framing of a received request's body: ``(framing, length)``.

    Raises:
        RemoteProtocolError: the framing headers are ambiguous or unsupported.
    """
    return _body_framing(
        request.http_version, request.headers, RemoteProtocolError, default=Framing.CONTENT_LENGTH
    )


def _bodiless(status_code: int, request_method: bytes | None) -> bool:
    return request_method == b"HEAD" or status_code in (204, 304) or status_code < 200


def response_framing(response: Response, request_method: bytes | None) -> tuple[Framing, int]:
    """The framing of a received response's body (RFC 9112 section 6.3).

    Responses to HEAD and 1xx, 204 and 304 responses have no body whatever their
    headers say; without Content-Length or Transfer-Encoding, the body runs to the close.

    Raises:
        RemoteProtocolError: the framing headers are ambiguous or unsupported.
    """
    if _bodiless(response.status_code, request_method):
        return Framing.CONTENT_LENGTH, 0
    return _body_framing(
        response.http_version, response.headers, RemoteProtocolError, default=Framing.UNTIL_CLOSE
    )


def _set_connection_options(headers: Headers, add: bytes, remove: bytes) -> Headers:
    """Headers with one ``Connection`` field: the old options, plus ``add``, minus ``remove``."""
    triples = headers._triples()
    old = [item for value in headers.get_all(b"connection") for item in _split_list([value])]
    options = [item for item in old if item.lower() not in (add, remove)] + [add]
    kept = [t for t in triples if t[1] != b"connection"]
    return Headers._trusted([*kept, (b"Connection", b"connection", b", ".join(options))])


def _without(headers: Headers, name: bytes) -> Headers:
    return Headers._trusted([t for t in headers._triples() if t[1] != name])


def _with(headers: Headers, raw_name: bytes, value: bytes) -> Headers:
    return Headers._trusted([*headers._triples(), (raw_name, raw_name.lower(), value)])


def _connection_header(headers: Headers, keep: bool, peer_version: bytes | None) -> Headers:
    options = connection_options(headers)
    if not keep:
        if b"close" in options and b"keep-alive" not in options:
            return headers
        return _set_connection_options(headers, b"close", b"keep-alive")
    if peer_version is not None and peer_version < b"1.1" and b"keep-alive" not in options:
        # An HTTP/1.0 client only reuses the connection if told it may.
        return _set_connection_options(headers, b"keep-alive", b"close")
    return headers


def prepare_request(request: Request) -> tuple[Request, Framing, int, bool]:
    """Our request as it will be sent, its framing, and whether it allows keep-alive.

    Requests go out as HTTP/1.1. Without Content-Length or Transfer-Encoding a request
    has no body.

    Raises:
        LocalProtocolError: the framing headers are ambiguous or unsupported.

    Example:
        >>> fields = [("Host", "a"), ("Content-Length", "3")]
        >>> req = Request(method="POST", target="/", headers=fields)
        >>> prepare_request(req)[1:]
        (<Framing.CONTENT_LENGTH: 'content-length'>, 3, True)
    """
    if request.http_version != b"1.1":
        request = dataclasses.replace(request, http_version=b"1.1")
    framing, length = _body_framing(
        b"1.1", request.headers, LocalProtocolError, default=Framing.CONTENT_LENGTH
    )
    return request, framing, length, keep_alive(b"1.1", request.headers)


def prepare_response(
    response: Response,
    *,
    request_method: bytes | None,
    peer_version: bytes | None,
    keep: bool,
) -> tuple[Response, Framing, int, bool]:
    """Our final response as it will be sent, its framing and whether the connection lives on.

    Args:
        response: the response the server wants to send.
        request_method: the method of the request answered (``None`` if it could not
            be parsed).
        peer_version: the client's HTTP version (``None`` if unknown).
        keep: whether keep-alive is still possible before this response.

    The response goes out as HTTP/1.1. Without Content-Length or Transfer-Encoding the
    body is chunked for an HTTP/1.1 client, and runs to the close for an HTTP/1.0 (or
    unknown) one, which cannot read chunked. ``Connection: close`` is added when the
    connection will close; ``Connection: keep-alive`` for an HTTP/1.0 client that
    asked for it and gets it.

    Raises:
        LocalProtocolError: the framing headers are ambiguous, unsupported, or forbidden
            for this status (RFC 9110 section 8.6, RFC 9112 section 6.1).
    """
    headers = response.headers
    status = response.status_code
    te = headers.get_all(b"transfer-encoding")
    cl = headers.get_all(b"content-length")
    if status == 204 and (te or cl):
        raise LocalProtocolError("a 204 response can't have Content-Length or Transfer-Encoding")
    if status == 304 and te:
        raise LocalProtocolError("a 304 response can't have Transfer-Encoding")
    framing, length = _body_framing(
        b"1.1", headers, LocalProtocolError, default=Framing.UNTIL_CLOSE
    )
    peer_11 = peer_version is not None and peer_version >= b"1.1"
    if request_method == b"HEAD":
        framing, length = Framing.DISCARD, 0
    elif status in (204, 304):
        framing, length = Framing.CONTENT_LENGTH, 0
    elif framing is Framing.CHUNKED and not peer_11:
        headers = _without(headers, b"transfer-encoding")
        framing = Framing.UNTIL_CLOSE
    elif framing is Framing.UNTIL_CLOSE and peer_11:
        headers = _with(headers, b"Transfer-Encoding", b"chunked")
        framing = Framing.CHUNKED
    keep = keep and framing is not Framing.UNTIL_CLOSE and keep_alive(b"1.1", headers)
    headers = _connection_header(headers, keep, peer_version)
    if headers is not response.headers:
        response = Response._wire(status, headers, response.reason, response.http_version)
    return response, framing, length, keep


def check_informational(response: InformationalResponse, peer_version: bytes | None) -> None:
    """Raise if we may not send this 1xx response.

    Raises:
        LocalProtocolError: the client speaks HTTP/1.0 (RFC 9110 section 15.2), or the
            response carries Content-Length or Transfer-Encoding (RFC 9110 section 8.6).
    """
    if peer_version is not None and peer_version < b"1.1":
        raise LocalProtocolError("can't send a 1xx response to an HTTP/1.0 client")
    headers = response.headers
    if headers.get(b"content-length") is not None or headers.get(b"transfer-encoding") is not None:
        raise LocalProtocolError("a 1xx response can't have Content-Length or Transfer-Encoding")


def check_connect_accept(response: Response) -> None:
    """Raise if a 2xx answer to CONNECT carries framing headers (RFC 9110 section 8.6)."""
    headers = response.headers
    if headers.get(b"content-length") is not None or headers.get(b"transfer-encoding") is not None:
        raise LocalProtocolError(
            "a 2xx response to CONNECT can't have Content-Length or Transfer-Encoding"
        )
