"""Bytes to events: the parsers for heads and bodies.

A reader takes the :class:`ReceiveBuffer`, removes what it parses and returns an event,
or ``None`` when it needs more bytes. Readers raise :class:`RemoteProtocolError` only.

Decisions (see also ``_abnf.py``):

- Lines end with CRLF. A bare LF is refused (400) wherever it appears: in the head, in
  chunk-size lines, after chunk data, in trailers. RFC 9112 section 2.2 lets a
  recipient accept a lone LF as a line end; refusing it closes the desync between
  parsers that do and parsers that don't (the line-terminator smuggling vectors), and
  every mainstream client sends CRLF. A bare CR is refused always (section 2.2 allows
  nothing else but replacing it with SP).
- Empty lines (CRLF) before a start line are skipped (section 2.2 "SHOULD ignore").
- The same bytes give the same error status however they are split (a property test
  holds us to it). A head that is still incomplete is checked for what is already
  wrong (start line too long, bare LF, head too big); when several are, or when a whole
  head arrives at once, the error reported is the one a byte-by-byte arrival would
  have met first (:func:`_check_head_shape`). Field count and grammar come after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from ._abnf import CHUNK_LINE, FIELD_VALUE, HOST, REQUEST_LINE, STATUS_LINE, TOKEN
from ._accel import speedups
from ._errors import RemoteProtocolError
from ._events import Data, EndOfMessage, Headers, InformationalResponse, Request, Response
from ._framing import FORBIDDEN_TRAILERS, Framing
from ._receivebuffer import ReceiveBuffer

__all__ = [
    "BodyReader",
    "ChunkedReader",
    "ContentLengthReader",
    "EMPTY_BODY",
    "Limits",
    "UntilCloseReader",
    "body_reader",
    "read_request_head",
    "read_response_head",
]

_Triple = tuple[bytes, bytes, bytes]

MAX_CHUNK_LINE_SIZE = 4096
"""Longest chunk-size line (size and extensions, without CRLF). Extensions carry no
meaning here; the limit bounds what a peer can make us buffer and scan per chunk."""

_MAX_CHUNK_SIZE_DIGITS = 16
_MAX_CHUNK_SIZE = 2**63 - 1

_NO_HEADERS = Headers._trusted(())


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits a reader enforces; see :class:`Connection` for their meaning."""

    max_incomplete_event_size: int
    max_request_line_size: int
    max_header_count: int
    max_body_size: int | None


def _first_bare_lf(data: bytes) -> int:
    """The index of the first LF of ``data`` not preceded by CR, or -1."""
    index = data.find(b"\n")
    while index >= 0:
        if index == 0 or data[index - 1] != 0x0D:
            return index
        index = data.find(b"\n", index + 1)
    return -1


def _check_head_shape(
    size: int, first_lf: int, lf_after_cr: bool, bare_lf: int, limits: Limits, what: str
) -> None:
    """Raise the error that a byte-by-byte parse would have met first, if any.

    Args:
        size: the bytes of the head seen so far (with its final CRLF CRLF if complete).
        first_lf: the index of its first LF, or -1.
        lf_after_cr: whether that LF follows a CR.
        bare_lf: the index of its first bare LF, or -1.
        limits: the limits.
        what: "request", "status" or "trailer".

    Each check has the prefix length at which it would first fail; the smallest wins
    (ties in the order start line, bare LF, size). Checking a whole head, or a buffer
    that grew by a large piece, thus gives the status that byte-by-byte arrival gives.
    """
    failures: list[tuple[int, int, RemoteProtocolError]] = []
    max_line = limits.max_request_line_size
    if what != "trailer":
        position = -1
        if first_lf < 0 or first_lf >= max_line + 2:
            if size >= max_line + 2:  # the line's CR may be the last byte seen
                position = max_line + 2
        elif (first_lf - 1 if lf_after_cr else first_lf) > max_line:
            position = first_lf + 1
        if position >= 0:
            status = 414 if what == "request" else 400
            failures.append((position, 0, RemoteProtocolError(
                f"{what} line over {max_line} bytes", status)))
    if bare_lf >= 0:
        failures.append((bare_lf + 1, 1, RemoteProtocolError(
            f"bare LF in the {what} section: lines end with CRLF", 400)))
    max_size = limits.max_incomplete_event_size
    if size > max_size:
        failures.append((max_size + 1, 2, RemoteProtocolError(
            f"{what} section over {max_size} bytes", 431)))
    if failures:
        raise min(failures, key=lambda failure: failure[:2])[2]


def _check_incomplete_head(buf: ReceiveBuffer, limits: Limits, what: str) -> None:
    """Raise if an unfinished head (or trailer section) is already invalid or too big."""
    first_lf = buf.find(b"\n")
    lf_after_cr = first_lf > 0 and buf.find(b"\r\n") == first_lf - 1
    _check_head_shape(len(buf), first_lf, lf_after_cr, buf.find_bare_lf(), limits, what)


def _check_complete_head(block: bytes, limits: Limits, what: str) -> None:
    """:func:`_check_incomplete_head` for a whole head: ``block`` and then CRLF CRLF."""
    first_lf = block.find(b"\n")
    if first_lf < 0:
        first_lf, lf_after_cr = len(block) + 1, True  # the LF of the final CRLF CRLF
    else:
        lf_after_cr = block[first_lf - 1 : first_lf] == b"\r"
    bare_lf = _first_bare_lf(block) if block.count(b"\n") != block.count(b"\r\n") else -1
    _check_head_shape(len(block) + 4, first_lf, lf_after_cr, bare_lf, limits, what)


def _read_head(buf: ReceiveBuffer, limits: Limits, what: str) -> tuple[bytes, Headers] | None:
    """Extract a start line and its header fields, or ``None`` if incomplete."""
    while buf.startswith(b"\r\n"):
        buf.drop(2)
    if buf.startswith(b"\n"):
        raise RemoteProtocolError(f"bare LF before the {what} line", 400)
    block = buf.extract_until(b"\r\n\r\n")
    if block is None:
        _check_incomplete_head(buf, limits, what)
        return None
    _check_complete_head(block, limits, what)
    lines = block.split(b"\r\n")
    return lines[0], Headers._trusted(_parse_fields(lines, 1, limits, "header"))


def _parse_fields(lines: list[bytes], first: int, limits: Limits, what: str) -> list[_Triple]:
    """Parse ``field-name ":" OWS field-value OWS`` lines (RFC 9112 section 5)."""
    if len(lines) - first > limits.max_header_count:
        raise RemoteProtocolError(
            f"{len(lines) - first} {what} fields, over {limits.max_header_count}", 431
        )
    fields: list[_Triple] = []
    token = TOKEN.fullmatch
    field_value = FIELD_VALUE.fullmatch
    for index in range(first, len(lines)):
        line = lines[index]
        name, colon, value = line.partition(b":")
        if token(name) is None or not colon:
            _bad_field_line(line, index == first, what)
        value = value.strip(b" \t")
        if field_value(value) is None:
            raise RemoteProtocolError(
                f"invalid character in the value of {what} {name!r}: no CTL, CR, LF or NUL", 400
            )
        fields.append((name, name.lower(), value))
    return fields


def _bad_field_line(line: bytes, first: bool, what: str) -> None:
    if line[:1] in (b" ", b"\t"):
        if first:
            raise RemoteProtocolError(f"whitespace before the first {what} line", 400)
        raise RemoteProtocolError(f"obsolete line folding (obs-fold) in {what} fields", 400)
    name, colon, _ = line.partition(b":")
    if not colon:
        raise RemoteProtocolError(f"{what} line without a colon: {line[:40]!r}", 400)
    if name and name.rstrip(b" \t") != name:
        raise RemoteProtocolError(
            f"whitespace between {what} name {name.rstrip()!r} and colon", 400
        )
    raise RemoteProtocolError(f"invalid {what} name {name[:40]!r}: token characters only", 400)


# The fast lane: one regular expression accepts a whole well-formed head (what every
# real client sends) in a single pass, with the same grammar as the careful path
# (``_abnf.py``: tokens, visible-ASCII target, field values of field-vchar, SP and
# HTAB). Anything it does not match (leading CRLFs, bad bytes, other versions) takes
# the careful path, which finds the exact error: the fast lane only ever accepts what
# the careful path accepts, and returns the same event. ``_speedups.c`` has the same
# lane in C (used when built); the expression is the reference for both.
_FAST_REQUEST_HEAD = re.compile(
    rb"(" + TOKEN.pattern + rb") ([\x21-\x7e]++) HTTP/1\.([0-9])\r\n"
    rb"((?:" + TOKEN.pattern + rb":[\t \x21-\x7e\x80-\xff]*+\r\n)*+)\r\n"
)
_FAST_FIELD_LINE = re.compile(rb"([^:]++):[ \t]*+((?:[^\r]*[^\r \t])?)[ \t]*+\r\n")


def _parse_simple_head_py(
    data: bytearray, end: int, max_line: int, max_fields: int
) -> tuple[bytes, bytes, bytes, list[_Triple], dict[bytes, list[bytes]]] | None:
    """The head in ``data[:end + 4]`` (its first CRLF CRLF at ``end``) as
    ``(method, target, version, triples, index)``, or ``None`` if the fast lane
    declines it. The Python twin of ``_speedups.parse_simple_head``."""
    match = _FAST_REQUEST_HEAD.match(data)
    if match is None:
        return None
    method, target, minor, block = match.groups()
    if len(method) + len(target) + 10 > max_line:
        return None
    pairs = _FAST_FIELD_LINE.findall(block)
    if len(pairs) > max_fields:
        return None
    # The field index, built here in the same pass (the framing rules look it up).
    triples = []
    index: dict[bytes, list[bytes]] = {}
    for name, value in pairs:
        lower = name.lower()
        triples.append((name, lower, value))
        values = index.get(lower)
        if values is None:
            index[lower] = [value]
        else:
            values.append(value)
    return method, target, b"1." + minor, triples, index


# Bound once: a class-attribute lookup per call is not free on Python 3.11.
_trusted_headers = Headers._trusted
_request_head = Request._wire

_parse_simple_head = (
    speedups.parse_simple_head if speedups is not None else _parse_simple_head_py
)


def _fast_request_head(buf: ReceiveBuffer, limits: Limits) -> Request | None:
    """A complete, well-formed head within the limits, or ``None`` (take the careful path)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0 or end + 4 > limits.max_incomplete_event_size:
        return None
    parsed = _parse_simple_head(
        buf.data, end, limits.max_request_line_size, limits.max_header_count
    )
    if parsed is None:
        return None
    method, target, version, triples, index = parsed
    buf.drop(end + 4)
    headers = _trusted_headers(triples, index)
    hosts = index.get(b"host")
    if hosts is None or len(hosts) != 1 or HOST.fullmatch(hosts[0]) is None:
        _check_host(headers, version)  # the same verdict, or the error
    return _request_head(method, target, headers, version)


def _check_host(headers: Headers, version: bytes) -> None:
    hosts = headers.get_all(b"host")
    if len(hosts) > 1 or (not hosts and version >= b"1.1"):
        # RFC 9112 section 3.2.
        raise RemoteProtocolError(f"{len(hosts)} Host fields: an HTTP/1.1 request needs one", 400)
    if hosts and HOST.fullmatch(hosts[0]) is None:
        raise RemoteProtocolError(f"invalid Host {hosts[0][:60]!r}", 400)


def read_request_head(buf: ReceiveBuffer, limits: Limits) -> Request | None:
    """Parse a request line and header section.

    Raises:
        RemoteProtocolError: 400 for a malformed head, 414 for a request line over
            ``max_request_line_size``, 431 for a head over ``max_incomplete_event_size``
            or more than ``max_header_count`` fields, 505 for an HTTP major version
            other than 1.
    """
    request = _fast_request_head(buf, limits)
    if request is not None:
        return request
    head = _read_head(buf, limits, "request")
    if head is None:
        return None
    start, headers = head
    match = REQUEST_LINE.fullmatch(start)
    if match is None:
        raise RemoteProtocolError(f"malformed request line {start[:60]!r}", 400)
    method, target, major, minor = match.groups()
    if major != b"1":
        raise RemoteProtocolError(f"HTTP/{major.decode()}.{minor.decode()} not supported", 505)
    version = b"1." + minor
    _check_host(headers, version)
    return Request._wire(method, target, headers, version)


def read_response_head(
    buf: ReceiveBuffer, limits: Limits
) -> InformationalResponse | Response | None:
    """Parse a status line and header section.

    Raises:
        RemoteProtocolError: malformed or oversized head, or an HTTP major version
            other than 1.
    """
    head = _read_head(buf, limits, "status")
    if head is None:
        return None
    start, headers = head
    match = STATUS_LINE.fullmatch(start)
    if match is None:
        raise RemoteProtocolError(f"malformed status line {start[:60]!r}", 400)
    major, minor, code, reason = match.groups()
    if major != b"1":
        raise RemoteProtocolError(f"HTTP/{major.decode()}.{minor.decode()} not supported", 505)
    status = int(code)
    version = b"1." + minor
    if status < 100:
        raise RemoteProtocolError(f"status code {status} is below 100", 400)
    if status < 200:
        return InformationalResponse._wire(status, headers, reason or b"", version)
    return Response._wire(status, headers, reason or b"", version)


class BodyReader(Protocol):
    """Reads one message body."""

    def read(self, buf: ReceiveBuffer) -> Data | EndOfMessage | None:
        """The next piece of the body, its end, or ``None`` to wait for more bytes."""

    def read_eof(self) -> EndOfMessage:
        """The peer closed with nothing left in the buffer: the end, or an error."""


def _check_body_size(size: int, limits: Limits) -> None:
    if limits.max_body_size is not None and size > limits.max_body_size:
        raise RemoteProtocolError(
            f"body of {size}+ bytes is over {limits.max_body_size}", 413
        )


class ContentLengthReader:
    """A body of exactly ``length`` bytes."""

    __slots__ = ("_checked", "_limits", "_remaining")

    def __init__(self, length: int, limits: Limits) -> None:
        self._remaining = length
        self._limits = limits
        self._checked = False

    def read(self, buf: ReceiveBuffer) -> Data | EndOfMessage | None:
        if not self._checked:
            # On the first call, not in __init__: the head event is delivered first.
            self._checked = True
            _check_body_size(self._remaining, self._limits)
        if self._remaining == 0:
            return EndOfMessage._wire(_NO_HEADERS)
        if not buf:
            return None
        data = buf.extract_at_most(self._remaining)
        self._remaining -= len(data)
        return Data(data)

    def read_eof(self) -> EndOfMessage:
        raise RemoteProtocolError(
            f"peer closed the connection with {self._remaining} bytes of the body missing", 400
        )


class _Chunk(Enum):
    SIZE = "size line"
    DATA = "data"
    DATA_END = "CRLF after data"
    TRAILERS = "trailers"


class ChunkedReader:
    """A chunked body (RFC 9112 section 7.1): chunks, a last chunk, trailers."""

    __slots__ = ("_limits", "_remaining", "_start", "_state", "_total")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._state = _Chunk.SIZE
        self._remaining = 0
        self._total = 0
        self._start = False

    def read(self, buf: ReceiveBuffer) -> Data | EndOfMessage | None:
        while True:
            state = self._state
            if state is _Chunk.DATA:
                return self._read_data(buf)
            if state is _Chunk.SIZE:
                if not self._read_size_line(buf):
                    return None
            elif state is _Chunk.DATA_END:
                if len(buf) < 2:
                    if buf.startswith(b"\n"):
                        raise RemoteProtocolError("bare LF after chunk data", 400)
                    return None
                if not buf.startswith(b"\r\n"):
                    raise RemoteProtocolError("chunk data not followed by CRLF", 400)
                buf.drop(2)
                self._state = _Chunk.SIZE
            else:
                return self._read_trailers(buf)

    def _read_size_line(self, buf: ReceiveBuffer) -> bool:
        line = buf.extract_line()
        if line is None:
            if len(buf) > MAX_CHUNK_LINE_SIZE + 1:
                raise RemoteProtocolError(f"chunk-size line over {MAX_CHUNK_LINE_SIZE} bytes", 400)
            return False
        if not line.endswith(b"\r"):
            raise RemoteProtocolError("bare LF in a chunk-size line", 400)
        line = line[:-1]
        if len(line) > MAX_CHUNK_LINE_SIZE:
            raise RemoteProtocolError(f"chunk-size line over {MAX_CHUNK_LINE_SIZE} bytes", 400)
        match = CHUNK_LINE.fullmatch(line)
        if match is None:
            raise RemoteProtocolError(f"invalid chunk-size line {line[:40]!r}", 400)
        digits = match.group(1)
        if len(digits) > _MAX_CHUNK_SIZE_DIGITS:
            raise RemoteProtocolError(f"chunk size of {len(digits)} hex digits is too long", 400)
        size = int(digits, 16)
        if size > _MAX_CHUNK_SIZE:
            raise RemoteProtocolError(f"chunk size {digits!r} overflows", 400)
        if size == 0:
            self._state = _Chunk.TRAILERS
            return True
        self._total += size
        _check_body_size(self._total, self._limits)
        self._remaining = size
        self._start = True
        self._state = _Chunk.DATA
        return True

    def _read_data(self, buf: ReceiveBuffer) -> Data | None:
        if not buf:
            return None
        data = buf.extract_at_most(self._remaining)
        self._remaining -= len(data)
        end = self._remaining == 0
        event = Data(data, self._start, end)
        self._start = False
        if end:
            self._state = _Chunk.DATA_END
        return event

    def _read_trailers(self, buf: ReceiveBuffer) -> EndOfMessage | None:
        if buf.startswith(b"\r\n"):
            buf.drop(2)
            return EndOfMessage._wire(_NO_HEADERS)
        if buf.startswith(b"\n"):
            raise RemoteProtocolError("bare LF after the last chunk", 400)
        block = buf.extract_until(b"\r\n\r\n")
        if block is None:
            _check_incomplete_head(buf, self._limits, "trailer")
            return None
        _check_complete_head(block, self._limits, "trailer")
        fields = _parse_fields(block.split(b"\r\n"), 0, self._limits, "trailer")
        for _, name, _ in fields:
            if name in FORBIDDEN_TRAILERS:
                raise RemoteProtocolError(f"{name.decode()} is not allowed in trailers", 400)
        return EndOfMessage._wire(Headers._trusted(fields))

    def read_eof(self) -> EndOfMessage:
        raise RemoteProtocolError(
            f"peer closed the connection in the middle of a chunked body ({self._state.value})",
            400,
        )


class UntilCloseReader:
    """A response body that ends when the server closes the connection."""

    __slots__ = ("_limits", "_total")

    def __init__(self, limits: Limits) -> None:
        self._limits = limits
        self._total = 0

    def read(self, buf: ReceiveBuffer) -> Data | None:
        if not buf:
            return None
        data = buf.extract_at_most(len(buf))
        self._total += len(data)
        _check_body_size(self._total, self._limits)
        return Data(data)

    def read_eof(self) -> EndOfMessage:
        return EndOfMessage._wire(_NO_HEADERS)


class EmptyBodyReader:
    """The body of a message that has none (no framing fields): its end, at once."""

    __slots__ = ()

    _END = EndOfMessage._wire(_NO_HEADERS)

    def read(self, buf: ReceiveBuffer) -> EndOfMessage:
        return self._END

    def read_eof(self) -> EndOfMessage:  # pragma: no cover - read() never waits
        return self._END


EMPTY_BODY = EmptyBodyReader()
"""The one reader of every empty body (it holds no state)."""


def body_reader(framing: Framing, length: int, limits: Limits) -> BodyReader:
    """The reader for a body framed as ``framing``."""
    if framing is Framing.CONTENT_LENGTH and length == 0:
        return EMPTY_BODY
    if framing is Framing.CHUNKED:
        return ChunkedReader(limits)
    if framing is Framing.UNTIL_CLOSE:
        return UntilCloseReader(limits)
    return ContentLengthReader(length, limits)
