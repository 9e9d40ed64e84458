"""A sans-IO ``multipart/form-data`` parser (RFC 7578 on RFC 2046 section 5.1).

Bytes in, in pieces of any size; events out: :class:`PartStart` (a part's headers),
:class:`PartData` (pieces of its body), :class:`PartEnd`, then :class:`End` at the close
delimiter. No sockets, no files: :mod:`torsion.web.forms` stores what it is given.

The grammar, as read here:

* the body is a preamble (ignored), ``--boundary`` at the start or after CRLF, then
  parts each ended by ``CRLF--boundary``; ``--`` right after a delimiter closes the
  multipart, and what follows (the epilogue) is ignored;
* a delimiter may be followed by spaces or tabs (transport padding) before its CRLF;
  anything else after ``--boundary`` is an error (the boundary must not occur in
  the data, RFC 2046: an encoder chooses one that does not);
* a part's headers end at an empty line; each part needs ``Content-Disposition:
  form-data; name=...`` (RFC 7578 section 4.2), ``filename`` makes it a file and
  ``filename*`` (RFC 8187 ``UTF-8''%..``) wins over it; folded header lines are
  refused (obsolete, RFC 7230 section 3.2.4);
* quoted parameter values end at the next ``"``, with no backslash escapes: browsers
  (the HTML standard) and curl send ``"``, CR and LF in names as ``%22``, ``%0D``,
  ``%0A`` and a backslash as itself (old browsers sent ``C:\\path\\name``), so
  those are returned as sent.

Strict and bounded: every malformed input raises :class:`FormError` (with an HTTP
status: 400, or 413 past a limit) and nothing else, and the memory held between
calls is at most a header block or a delimiter's length, whatever is fed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn
from urllib.parse import unquote_to_bytes

__all__ = [
    "End",
    "Event",
    "FormError",
    "MultipartParser",
    "PartData",
    "PartEnd",
    "PartStart",
    "parse_boundary",
    "parse_options_header",
]


class FormError(Exception):
    """A request body that is not a valid form, or is over a limit.

    Attributes:
        status: the HTTP status to answer with: 400 (malformed), 413 (over a
            limit) or 415 (not a form's media type).
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class PartStart:
    """A part begins: its headers (names lower-cased, values decoded) and what they say."""

    name: str
    filename: str | None
    content_type: str
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class PartData:
    """A piece of the current part's body."""

    data: bytes


@dataclass(frozen=True, slots=True)
class PartEnd:
    """The current part's body is complete."""


@dataclass(frozen=True, slots=True)
class End:
    """The close delimiter was read: the form is complete."""


Event = PartStart | PartData | PartEnd | End

# RFC 2046 bchars, 1 to 70 of them, not ending with a space.
_BOUNDARY = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_KIND = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:/[!#$%&'*+\-.^_`|~0-9A-Za-z]+)?")
_PARAM = re.compile(
    rb"""\s*;\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*"""
    rb"""(?:"([^"]*)"|([!#$%&'*+\-.^_`|~0-9A-Za-z]+))""",
    re.DOTALL,
)
_EXT_VALUE = re.compile(rb"([!#$%&+\-^_`{}~0-9A-Za-z]+)'[^']*'(.*)", re.DOTALL)
_PADDING = b" \t"

_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _EPILOGUE, _FAILED = range(6)


def parse_options_header(value: bytes) -> tuple[str, dict[str, str]]:
    """Split ``type; a=1; b="x y"`` into the lower-cased type and its parameters.

    Parameter names are lower-cased; ``name*`` (RFC 8187) values are decoded and
    replace ``name``'s.

    Raises:
        FormError: (400) for a value that does not follow the grammar.
    """
    value = value.strip()
    match = _KIND.match(value)
    if match is None:
        raise FormError(f"malformed header value: {value[:80]!r}")
    kind = match.group().lower().decode("ascii")
    rest = value[match.end():]
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    position = 0
    while position < len(rest):
        param = _PARAM.match(rest, position)
        if param is None:
            if rest[position:].strip(b" \t;") == b"":
                break  # a trailing ";" is common and harmless
            raise FormError(f"malformed header parameters: {rest[position:][:80]!r}")
        position = param.end()
        name = param.group(1).lower().decode("ascii")
        raw = param.group(2) if param.group(2) is not None else param.group(3)
        if name.endswith("*"):
            extended[name[:-1]] = _decode_ext_value(raw)
        else:
            params[name] = _text(raw)
    params.update(extended)
    return kind, params


def _decode_ext_value(raw: bytes) -> str:
    """An RFC 8187 ext-value: ``charset'language'percent-encoded``."""
    match = _EXT_VALUE.fullmatch(raw)
    if match is None:
        raise FormError(f"malformed extended parameter: {raw[:80]!r}")
    charset = match.group(1).decode("ascii").lower()
    if charset not in ("utf-8", "iso-8859-1"):
        raise FormError(f"unsupported charset in an extended parameter: {charset}")
    try:
        return unquote_to_bytes(match.group(2)).decode(charset)
    except UnicodeDecodeError:
        raise FormError("an extended parameter is not valid UTF-8") from None


def _text(raw: bytes) -> str:
    """Header text: UTF-8 as browsers send it, else ISO-8859-1 (never fails)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def parse_boundary(content_type: bytes | str) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type value.

    Example:
        >>> parse_boundary(b'multipart/form-data; boundary="a b"')
        b'a b'

    Raises:
        FormError: (415) not multipart/form-data; (400) no valid boundary.
    """
    try:
        raw = content_type.encode("latin-1") if isinstance(content_type, str) else content_type
        kind, params = parse_options_header(raw)
        if kind != "multipart/form-data":
            raise FormError(f"not a multipart/form-data body: {kind}", 415)
        boundary = params.get("boundary", "").encode("ascii")
    except UnicodeEncodeError:
        boundary = b""
    if _BOUNDARY.fullmatch(boundary) is None:
        raise FormError("multipart/form-data without a valid boundary parameter")
    return boundary


class MultipartParser:
    """Turns a multipart/form-data body, fed in pieces, into events.

    Args:
        boundary: from :func:`parse_boundary`.
        max_parts: the most parts (413 past it).
        max_header_size: the most bytes in one part's header block (413).
        max_field_size: the most body bytes of a part without a filename (413).
        max_file_size: the most body bytes of a part with one (413); None: no limit.
        max_total_size: the most bytes fed in all (413); None: no limit.

    Example:
        >>> p = MultipartParser(b"xyz")
        >>> events = p.feed(b'--xyz\\r\\nContent-Disposition: form-data; name="a"\\r\\n\\r\\n1')
        >>> events += p.feed(b"\\r\\n--xyz--\\r\\n") + p.close()
        >>> [type(e).__name__ for e in events]
        ['PartStart', 'PartData', 'PartEnd', 'End']
    """

    def __init__(
        self,
        boundary: bytes,
        *,
        max_parts: int = 1000,
        max_header_size: int = 16 * 1024,
        max_field_size: int = 1024 * 1024,
        max_file_size: int | None = None,
        max_total_size: int | None = None,
    ) -> None:
        if _BOUNDARY.fullmatch(boundary) is None:
            raise ValueError(f"not a valid multipart boundary: {boundary!r}")
        self._delimiter = b"\r\n--" + boundary
        self._max_parts = max_parts
        self._max_header_size = max_header_size
        self._max_field_size = max_field_size
        self._max_file_size = max_file_size
        self._max_total_size = max_total_size
        # The preamble is read as if a CRLF came first, so a body opening with
        # the delimiter needs no special case.
        self._buffer = bytearray(b"\r\n")
        self._state = _PREAMBLE
        self._parts = 0
        self._part_size = 0
        self._part_limit = 0
        self._total = 0

    def feed(self, data: bytes) -> list[Event]:
        """Take the next bytes of the body (``b""`` means the end: see :meth:`close`).

        Returns:
            The events these bytes complete, in order.

        Raises:
            FormError: the body is malformed or over a limit; the parser is then
                unusable (every later call raises too).
        """
        if not data:
            return self.close()
        if self._state == _FAILED:
            raise FormError("the form was already found malformed")
        self._total += len(data)
        if self._max_total_size is not None and self._total > self._max_total_size:
            self._fail(f"the form is larger than {self._max_total_size} bytes", 413)
        if self._state == _EPILOGUE:
            return []
        self._buffer += data
        events: list[Event] = []
        try:
            while self._step(events):
                pass
        except FormError:
            self._state = _FAILED
            raise
        return events

    def close(self) -> list[Event]:
        """The body has ended.

        Raises:
            FormError: (400) it ended before the close delimiter.
        """
        if self._state == _EPILOGUE:
            return []
        self._state = _FAILED
        raise FormError("the form ended before its closing boundary")

    def _fail(self, message: str, status: int = 400) -> NoReturn:
        self._state = _FAILED
        raise FormError(message, status)

    def _step(self, events: list[Event]) -> bool:
        """Advance by one state if the buffer allows; whether to call again."""
        state = self._state
        if state == _BODY:
            return self._body(events)
        if state == _PREAMBLE:
            return self._preamble()
        if state == _AFTER_DELIMITER:
            return self._after_delimiter(events)
        if state == _HEADERS:
            return self._headers(events)
        return False  # _EPILOGUE: ignore the rest

    def _preamble(self) -> bool:
        buffer = self._buffer
        found = buffer.find(self._delimiter)
        if found < 0:
            del buffer[: self._partial_start()]
            return False
        del buffer[: found + len(self._delimiter)]
        self._state = _AFTER_DELIMITER
        return True

    def _after_delimiter(self, events: list[Event]) -> bool:
        buffer = self._buffer
        if buffer[:2] == b"--":
            buffer.clear()
            self._state = _EPILOGUE
            events.append(End())
            return False
        if len(buffer) < 2:
            return False  # "-" alone, or nothing yet
        line_end = buffer.find(b"\r\n")
        if line_end < 0:
            if len(buffer) > 256 or bytes(buffer.strip(_PADDING)) not in (b"", b"\r"):
                self._fail("garbage after a multipart boundary")
            return False
        if buffer[:line_end].strip(_PADDING):
            self._fail("garbage after a multipart boundary")
        del buffer[: line_end + 2]
        self._state = _HEADERS
        return True

    def _headers(self, events: list[Event]) -> bool:
        buffer = self._buffer
        if buffer[:2] == b"\r\n":
            end, block = 2, b""  # no header at all (then no Content-Disposition either)
        else:
            found = buffer.find(b"\r\n\r\n")
            if found < 0:
                if len(buffer) > self._max_header_size:
                    self._fail(f"a part's headers are over {self._max_header_size} bytes", 413)
                return False
            end, block = found + 4, bytes(buffer[:found])
        if end > self._max_header_size:
            self._fail(f"a part's headers are over {self._max_header_size} bytes", 413)
        del buffer[:end]
        self._parts += 1
        if self._parts > self._max_parts:
            self._fail(f"the form has more than {self._max_parts} parts", 413)
        start = self._part_start(block)
        if start.filename is None:
            self._part_limit = self._max_field_size
        else:
            self._part_limit = -1 if self._max_file_size is None else self._max_file_size
        self._part_size = 0
        events.append(start)
        self._state = _BODY
        return True

    def _part_start(self, block: bytes) -> PartStart:
        headers: list[tuple[str, str]] = []
        disposition: bytes | None = None
        content_type: bytes | None = None
        for line in block.split(b"\r\n") if block else ():
            name, colon, value = line.partition(b":")
            if not colon or _TOKEN.fullmatch(name) is None:
                self._fail(f"malformed part header line: {line[:80]!r}")
            key = name.lower()
            value = value.strip(_PADDING)
            if b"\r" in value or b"\n" in value or b"\0" in value:
                self._fail("a control character in a part header")
            if key == b"content-disposition":
                if disposition is not None:
                    self._fail("a part with two Content-Disposition headers")
                disposition = value
            elif key == b"content-type":
                content_type = value
            headers.append((key.decode("ascii"), _text(value)))
        if disposition is None:
            self._fail("a part without Content-Disposition (RFC 7578 section 4.2)")
        kind, params = parse_options_header(disposition)
        if kind != "form-data" or "name" not in params:
            self._fail("a part's Content-Disposition is not form-data with a name")
        kind_text = "text/plain"
        if content_type is not None:
            kind_text = _text(content_type).strip() or kind_text
        return PartStart(params["name"], params.get("filename"), kind_text, tuple(headers))

    def _body(self, events: list[Event]) -> bool:
        buffer = self._buffer
        delimiter = self._delimiter
        found = buffer.find(delimiter)
        if found < 0:
            cut = self._partial_start()
            if cut:
                self._data(events, bytes(buffer[:cut]))
                del buffer[:cut]
            return False
        if found:
            self._data(events, bytes(buffer[:found]))
        del buffer[: found + len(delimiter)]
        events.append(PartEnd())
        self._state = _AFTER_DELIMITER
        return True

    def _data(self, events: list[Event], data: bytes) -> None:
        self._part_size += len(data)
        if 0 <= self._part_limit < self._part_size:
            what = "field" if self._part_limit == self._max_field_size else "file"
            self._fail(f"a {what} of the form is over {self._part_limit} bytes", 413)
        events.append(PartData(data))

    def _partial_start(self) -> int:
        """Where a delimiter may begin at the buffer's end (its length if nowhere)."""
        buffer = self._buffer
        delimiter = self._delimiter
        size = len(buffer)
        position = buffer.find(b"\r", max(0, size - len(delimiter) + 1))
        while position >= 0:
            if delimiter.startswith(buffer[position:]):
                return position
            position = buffer.find(b"\r", position + 1)
        return size
