"""Events to bytes: heads, and bodies in the framing chosen for them.

Writers hand pieces to a ``write`` callback instead of joining them, so that body data
reaches the caller as the very object it gave (``send_with_data_passthrough``): no
copy of the body, and room for objects that stand for bytes (a file region to
``sendfile``). Messages always go out as HTTP/1.1, whatever ``http_version`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Protocol

from ._accel import speedups
from ._errors import LocalProtocolError
from ._events import Headers, InformationalResponse, Request, Response, _Triple
from ._framing import FORBIDDEN_TRAILERS, Framing

__all__ = [
    "BodyWriter",
    "ChunkedWriter",
    "ContentLengthWriter",
    "DiscardWriter",
    "UntilCloseWriter",
    "Write",
    "body_writer",
    "write_request_head",
    "write_response_head",
]

Write = Callable[[bytes], object]
"""Where writers put their output, piece by piece."""


def _join_head_py(start: bytes, triples: Sequence[_Triple]) -> bytes:
    """``start``, a line per field, and the empty line, joined: the Python twin of
    ``_speedups.join_head``."""
    return b"".join([start, *[b"%s: %s\r\n" % (raw, value) for raw, _, value in triples], b"\r\n"])


_join_head = speedups.join_head if speedups is not None else _join_head_py


def write_request_head(request: Request, write: Write) -> None:
    """Write a request line and header section.

    Example:
        >>> out = []
        >>> request = Request(method="GET", target="/", headers=[("Host", "a")])
        >>> write_request_head(request, out.append)
        >>> out
        [b'GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n']
    """
    start = b"%s %s HTTP/1.1\r\n" % (request.method, request.target)
    write(_join_head(start, request.headers._triples()))


_REASONS = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}


def _reason(status_code: int) -> bytes:
    return _REASONS.get(status_code, b"")


def write_response_head(response: InformationalResponse | Response, write: Write) -> None:
    """Write a status line and header section.

    An empty reason phrase is replaced by the standard one (``404 Not Found``), when
    the status code has one.
    """
    reason = response.reason or _reason(response.status_code)
    start = b"HTTP/1.1 %d %s\r\n" % (response.status_code, reason)
    write(_join_head(start, response.headers._triples()))


class BodyWriter(Protocol):
    """Writes one message body in its framing."""

    def write_data(self, data: bytes, write: Write) -> None:
        """Write a piece of the body.

        Raises:
            LocalProtocolError: the framing cannot carry it.
        """

    def write_end(self, trailers: Headers, write: Write) -> None:
        """Write the end of the body.

        Raises:
            LocalProtocolError: the body is short, or trailers without chunked framing.
        """


def _no_trailers(trailers: Headers) -> None:
    if trailers:
        raise LocalProtocolError("trailers need a chunked body (no Content-Length)")


class ContentLengthWriter:
    """Exactly the declared number of bytes."""

    __slots__ = ("_remaining",)

    def __init__(self, length: int) -> None:
        self._remaining = length

    def write_data(self, data: bytes, write: Write) -> None:
        size = len(data)
        if size > self._remaining:
            raise LocalProtocolError(
                f"{size} bytes of data with {self._remaining} left to the declared Content-Length"
            )
        self._remaining -= size
        if size:
            write(data)

    def write_end(self, trailers: Headers, write: Write) -> None:
        if self._remaining:
            raise LocalProtocolError(
                f"message ended {self._remaining} bytes short of its Content-Length"
            )
        _no_trailers(trailers)


class ChunkedWriter:
    """One chunk per piece of data; the last chunk carries the trailers."""

    __slots__ = ()

    def write_data(self, data: bytes, write: Write) -> None:
        size = len(data)
        if size:  # a zero-size chunk would end the body
            write(b"%x\r\n" % size)
            write(data)
            write(b"\r\n")

    def write_end(self, trailers: Headers, write: Write) -> None:
        for _, name, _ in trailers._triples():
            if name in FORBIDDEN_TRAILERS:
                raise LocalProtocolError(f"{name.decode()} is not allowed in trailers")
        write(_join_head(b"0\r\n", trailers._triples()))


class UntilCloseWriter:
    """A response body that the close of the connection will end."""

    __slots__ = ()

    def write_data(self, data: bytes, write: Write) -> None:
        if len(data):
            write(data)

    def write_end(self, trailers: Headers, write: Write) -> None:
        _no_trailers(trailers)


class DiscardWriter:
    """The body of a response to HEAD: not sent (so one handler can serve GET and HEAD)."""

    __slots__ = ()

    def write_data(self, data: bytes, write: Write) -> None:
        pass

    def write_end(self, trailers: Headers, write: Write) -> None:
        pass


def body_writer(framing: Framing, length: int) -> BodyWriter:
    """The writer for a body framed as ``framing``."""
    if framing is Framing.CHUNKED:
        return ChunkedWriter()
    if framing is Framing.UNTIL_CLOSE:
        return UntilCloseWriter()
    if framing is Framing.DISCARD:
        return DiscardWriter()
    return ContentLengthWriter(length)
