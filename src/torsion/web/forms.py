"""Reading HTML form submissions: urlencoded and ``multipart/form-data`` request bodies.

:func:`parse_form` reads a request's body through its public body API
(``request.readChunk()``: streamed from the connection for a resource with
``streamRequestBody``, else from ``request.content``) and returns a :class:`Form`.
Uploaded files are kept in memory up to ``spool_limit`` bytes each, then in a
temporary file, so a 1 GiB upload takes bounded memory.

A body that is not a valid form, or is over a limit, raises :class:`FormError`; its
``status`` is the answer to send (400 malformed, 413 too large, 415 not a form)::

    from torsion.web.forms import FormError, parse_form

    class Upload(Resource):
        isLeaf = True
        streamRequestBody = True   # read the body as it arrives, not buffered first

        async def render_POST(self, request):
            try:
                form = await parse_form(request, max_file_size=100 * 1024 * 1024)
            except FormError as e:
                request.setResponseCode(e.status)
                return f"bad form: {e}\\n"
            with form:                        # closes the uploaded files' temporaries
                title = form.fields["title"][0]
                upload = form.files["file"][0]
                data = upload.file.read()     # or shutil.copyfileobj(upload.file, dest)
                return f"{title}: {upload.filename}, {upload.size} bytes\\n"
"""

from __future__ import annotations

import codecs
import tempfile
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any
from urllib.parse import parse_qsl

from torsion.web._multipart import (
    End,
    FormError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    parse_boundary,
    parse_options_header,
)

__all__ = ["Form", "FormError", "UploadedFile", "parse_form", "parse_urlencoded"]

_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


@dataclass
class UploadedFile:
    """A file part of a multipart form.

    Attributes:
        filename: the name the client gave (``filename*`` decoded); never a path to
            trust: use it only after checking, or not at all.
        content_type: the part's Content-Type (``text/plain`` when absent, RFC 7578).
        size: its length in bytes.
        file: its bytes, positioned at 0: a ``SpooledTemporaryFile`` (in memory up
            to the spool limit, then on disk).
        headers: all the part's headers, names lower-cased.
    """

    filename: str
    content_type: str
    size: int
    file: IO[bytes]
    headers: tuple[tuple[str, str], ...] = ()

    def close(self) -> None:
        """Release the file (its temporary file, if it went to disk)."""
        self.file.close()


@dataclass
class Form:
    """The fields and files of a form, each name to its values in order.

    A context manager: leaving the ``with`` block closes the files.
    """

    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[UploadedFile]] = field(default_factory=dict)

    def close(self) -> None:
        """Close every uploaded file."""
        for uploads in self.files.values():
            for upload in uploads:
                upload.close()

    def __enter__(self) -> Form:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def parse_urlencoded(body: bytes, *, max_fields: int = 1000) -> dict[str, list[str]]:
    """The fields of an ``application/x-www-form-urlencoded`` body, UTF-8 decoded.

    Example:
        >>> parse_urlencoded(b"a=1&b=x+y&a=%E2%82%AC&c=")
        {'a': ['1', '€'], 'b': ['x y'], 'c': ['']}

    Raises:
        FormError: (413) more than ``max_fields`` fields; (400) not ASCII, or a
            value that is not UTF-8 once unquoted.
    """
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise FormError("a urlencoded form with bytes that are not ASCII") from None
    if text.count("&") >= max_fields:
        raise FormError(f"the form has more than {max_fields} fields", 413)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise FormError("a urlencoded form field that is not UTF-8") from None
    fields: dict[str, list[str]] = {}
    for name, value in pairs:
        fields.setdefault(name, []).append(value)
    return fields


async def parse_form(
    request: Any,
    *,
    max_fields: int = 1000,
    max_field_size: int = 1024 * 1024,
    max_file_size: int | None = None,
    max_body_size: int | None = None,
    spool_limit: int = 1024 * 1024,
) -> Form:
    """Read and parse the form in ``request``'s body.

    Args:
        request: a :class:`~torsion.web.server.Request` (anything with
            ``getHeader`` and ``readChunk``) whose body was not read yet.
        max_fields: the most fields and files together (413 past it).
        max_field_size: the most bytes of one field's value; also of a whole
            urlencoded body unless ``max_body_size`` is given (413).
        max_file_size: the most bytes of one file (413); None: no limit.
        max_body_size: the most body bytes (413); None: no limit of its own (the
            site's limits still apply).
        spool_limit: files up to this size stay in memory, larger ones go to disk.

    Returns:
        The form; close it (or use it in a ``with`` block) to release its files.

    Raises:
        FormError: not a form (415), malformed (400) or over a limit (413).
        ConnectionLost: the client went away while the body was read.
    """
    kind, _ = parse_options_header(request.getHeader(b"content-type") or b"-")
    if kind == _URLENCODED:
        limit = max_body_size if max_body_size is not None else max_field_size
        body = await _read_all(request, limit)
        return Form(fields=parse_urlencoded(body, max_fields=max_fields))
    if kind != _MULTIPART:
        raise FormError(f"not a form: {kind}", 415)
    parser = MultipartParser(
        parse_boundary(request.getHeader(b"content-type")),
        max_parts=max_fields,
        max_field_size=max_field_size,
        max_file_size=max_file_size,
        max_total_size=max_body_size,
    )
    builder = _Builder(spool_limit)
    try:
        while True:
            chunk = await request.readChunk()
            events = parser.feed(chunk)
            for event in events:
                builder.add(event)
            if not chunk:
                break
        if not builder.ended:
            raise FormError("the form ended before its closing boundary")
    except BaseException:
        builder.form.close()
        builder.discard()
        raise
    return builder.form


async def _read_all(request: Any, limit: int) -> bytes:
    pieces: list[bytes] = []
    size = 0
    while chunk := await request.readChunk():
        size += len(chunk)
        if size > limit:
            raise FormError(f"the form is larger than {limit} bytes", 413)
        pieces.append(chunk)
    return b"".join(pieces)


class _Builder:
    """Collects the parser's events into a :class:`Form`."""

    def __init__(self, spool_limit: int) -> None:
        self.form = Form()
        self.ended = False
        self._spool_limit = spool_limit
        self._start: PartStart | None = None
        self._pieces: list[bytes] = []
        self._file: IO[bytes] | None = None
        self._size = 0

    def add(self, event: PartStart | PartData | PartEnd | End) -> None:
        if isinstance(event, PartData):
            self._size += len(event.data)
            if self._file is not None:
                self._file.write(event.data)
            else:
                self._pieces.append(event.data)
        elif isinstance(event, PartStart):
            self._start = event
            self._size = 0
            if event.filename is not None:
                self._file = tempfile.SpooledTemporaryFile(self._spool_limit)  # noqa: SIM115
        elif isinstance(event, PartEnd):
            self._part_done()
        else:
            self.ended = True

    def _part_done(self) -> None:
        start = self._start
        assert start is not None  # the parser starts every part it ends
        self._start = None
        upload, self._file = self._file, None
        if upload is not None:
            upload.seek(0)
            stored = UploadedFile(
                start.filename or "", start.content_type, self._size, upload, start.headers
            )
            self.form.files.setdefault(start.name, []).append(stored)
            return
        data, self._pieces = b"".join(self._pieces), []
        self.form.fields.setdefault(start.name, []).append(_field_text(data, start))

    def discard(self) -> None:
        """Close the file of a part cut short."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _field_text(data: bytes, start: PartStart) -> str:
    """A field's value: its part's charset if it names one, else UTF-8 (RFC 7578 4.5)."""
    charset = "utf-8"
    try:
        _, params = parse_options_header(start.content_type.encode("latin-1"))
        charset = params.get("charset", charset)
        codecs.lookup(charset)
    except (FormError, UnicodeEncodeError, LookupError):
        charset = "utf-8"
    try:
        return data.decode(charset)
    except UnicodeDecodeError:
        raise FormError(f"the value of field {start.name!r} is not {charset}") from None
