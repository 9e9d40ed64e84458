"""The sans-IO multipart/form-data parser and the urlencoded parser, deterministically.

Hypothesis: a form of fields and files (random bytes, and pieces that look like the
start of a delimiter) round-trips through the encoder below, whatever the split of its
bytes; random or mutated bodies raise nothing but ``FormError``. Then the grammar's
corners (preamble, epilogue, padding, quoting, ``filename*``) and each limit.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from torsion.web._multipart import (
    End,
    Event,
    FormError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    parse_boundary,
    parse_options_header,
)
from torsion.web.forms import parse_urlencoded

BOUNDARY = b"----torsionBoundary7MA4YWxk"
Part = tuple[str, str | None, bytes]  # name, filename, data


def encode(parts: Iterable[Part], boundary: bytes = BOUNDARY, preamble: bytes = b"",
           epilogue: bytes = b"") -> bytes:
    """A multipart/form-data body, as browsers and curl write it."""
    out = [preamble + b"\r\n" if preamble else b""]
    for name, filename, data in parts:
        out.append(b"--" + boundary + b"\r\n")
        disposition = b'form-data; name="%s"' % escaped(name)
        if filename is not None:
            disposition += b'; filename="%s"' % escaped(filename)
        out.append(b"Content-Disposition: " + disposition + b"\r\n")
        if filename is not None:
            out.append(b"Content-Type: application/octet-stream\r\n")
        out.append(b"\r\n" + data + b"\r\n")
    out.append(b"--" + boundary + b"--\r\n" + epilogue)
    return b"".join(out)


def escaped(text: str) -> bytes:
    """A name as the HTML standard (and curl) writes it in a quoted value."""
    return text.encode().replace(b'"', b"%22").replace(b"\r", b"%0D").replace(b"\n", b"%0A")


def as_sent(parts: list[Part]) -> list[Part]:
    """What the parser returns for ``parts``: names as escaped on the wire."""
    return [(escaped(n).decode(), None if f is None else escaped(f).decode(), d)
            for n, f, d in parts]


def merged(events: Iterable[Event]) -> list[Event]:
    """Events with consecutive data pieces joined (their split is not significant)."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, PartData) and out and isinstance(out[-1], PartData):
            out[-1] = PartData(out[-1].data + event.data)
        elif not (isinstance(event, PartData) and not event.data):
            out.append(event)
    return out


def parse(body: bytes, splits: Iterable[int] = (), **limits: int) -> list[Event]:
    parser = MultipartParser(BOUNDARY, **limits)
    events: list[Event] = []
    last = 0
    for cut in sorted(set(splits)):
        events += parser.feed(body[last:cut])if cut > last else []
        last = max(last, cut)
    events += parser.feed(body[last:]) if last < len(body) else []
    events += parser.close()
    return merged(events)


def decoded(events: list[Event]) -> list[Part]:
    parts: list[Part] = []
    current: PartStart | None = None
    data = b""
    for event in events:
        if isinstance(event, PartStart):
            current, data = event, b""
        elif isinstance(event, PartData):
            data += event.data
        elif isinstance(event, PartEnd):
            assert current is not None
            parts.append((current.name, current.filename, data))
    assert isinstance(events[-1], End)
    return parts


LOOKALIKES = [b"\r", b"\n", b"\r\n", b"\r\n-", b"\r\n--", b"--", b"\r\r\n--"] + [
    b"\r\n--" + BOUNDARY[:k] for k in range(1, len(BOUNDARY))
] + [b"--" + BOUNDARY, b"\r\n-" + BOUNDARY]

data_st = st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(LOOKALIKES)),
                   max_size=12).map(b"".join)
name_st = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)
part_st = st.tuples(name_st, st.none() | name_st, data_st)


def safe(parts: list[Part]) -> bool:
    """No part holds the whole delimiter (an encoder picks a boundary so)."""
    return all(b"\r\n--" + BOUNDARY not in b"\r\n" + d + b"\r\n" for _, _, d in parts)


@given(st.lists(part_st, min_size=1, max_size=6), st.lists(st.integers(0, 2000), max_size=8),
       st.binary(max_size=30), st.binary(max_size=30))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_round_trip_whatever_the_split(parts: list[Part], splits: list[int], preamble: bytes,
                                       epilogue: bytes) -> None:
    """A generated form decodes to what was encoded, the same events for every split."""
    assume(safe(parts) and b"--" + BOUNDARY not in preamble)
    body = encode(parts, preamble=preamble.replace(b"\r", b"").replace(b"\n", b""),
                  epilogue=epilogue)
    whole = parse(body)
    assert decoded(whole) == as_sent(parts)
    assert parse(body, splits) == whole
    assert parse(body, range(len(body))) == whole  # one byte at a time


@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=5))
@settings(max_examples=300)
def test_random_bytes_raise_only_form_error(body: bytes, splits: list[int]) -> None:
    """Anything fed gives events or FormError, never another exception."""
    try:
        parse(body, splits, max_parts=3, max_header_size=100, max_field_size=50)
    except FormError as exc:
        assert exc.status in (400, 413)


@given(st.lists(part_st, min_size=1, max_size=3),
       st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4))
@settings(max_examples=300)
def test_mutated_bodies_raise_only_form_error(parts: list[Part],
                                              flips: list[tuple[int, int]]) -> None:
    """A valid body with bytes changed: events or FormError, nothing else."""
    body = bytearray(encode(parts))
    for position, value in flips:
        body[position % len(body)] = value
    try:
        parse(bytes(body), [len(body) // 3])
    except FormError as exc:
        assert exc.status in (400, 413)


# -- the grammar -------------------------------------------------------------------------

def test_preamble_epilogue_and_padding() -> None:
    """The preamble and epilogue are ignored; spaces after a delimiter are padding."""
    body = (b"This is the preamble.\r\n--" + BOUNDARY + b" \t\r\n"
            b'Content-Disposition: form-data; name="a"\r\n\r\nvalue\r\n--'
            + BOUNDARY + b"--\r\nthe epilogue\r\n--" + BOUNDARY + b"\r\n")
    events = parse(body)
    assert events == [
        PartStart("a", None, "text/plain",
                  (("content-disposition", 'form-data; name="a"'),)),
        PartData(b"value"), PartEnd(), End(),
    ]


def test_close_delimiter_without_crlf_and_empty_part() -> None:
    """``--boundary--`` at the very end, and a part with an empty body."""
    body = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="e"\r\n\r\n\r\n--'
    body += BOUNDARY + b"--"
    assert decoded(parse(body)) == [("e", None, b"")]


def test_disposition_parameters() -> None:
    """Quoted values (no backslash escapes), tokens, filename* in UTF-8 winning."""
    header = (b"form-data; name=\"a %22q%22 b\"; filename=\"plain.txt\"; "
              b"filename*=UTF-8''%E2%82%AC%20rates.txt")
    kind, params = parse_options_header(header)
    assert kind == "form-data"
    assert params == {"name": "a %22q%22 b", "filename": "€ rates.txt"}
    _, params = parse_options_header(b'form-data; name="\\"; filename="C:\\dir\\f.txt"')
    assert params == {"name": "\\", "filename": "C:\\dir\\f.txt"}
    assert parse_options_header(b"form-data; name=field;") == ("form-data", {"name": "field"})


def test_file_part_content_type_and_utf8_filename() -> None:
    """The part's Content-Type and a raw UTF-8 filename (as browsers send it)."""
    body = (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"f\"; "
            b"filename=\"caf\xc3\xa9.txt\"\r\nContent-Type: text/csv\r\n\r\na,b\r\n--"
            + BOUNDARY + b"--\r\n")
    start = parse(body)[0]
    assert isinstance(start, PartStart)
    assert (start.name, start.filename, start.content_type) == ("f", "café.txt", "text/csv")


@pytest.mark.parametrize(
    ("content_type", "boundary"),
    [
        (b"multipart/form-data; boundary=abc", b"abc"),
        (b'Multipart/Form-Data; charset=utf-8; boundary="a b:c"', b"a b:c"),
        ("multipart/form-data;boundary=----WebKitFormBoundaryX", b"----WebKitFormBoundaryX"),
    ],
)
def test_parse_boundary(content_type: bytes | str, boundary: bytes) -> None:
    """Quoted or not, among other parameters, any case for the type."""
    assert parse_boundary(content_type) == boundary


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        (b"multipart/mixed; boundary=abc", 415),
        (b"text/plain", 415),
        (b"multipart/form-data", 400),
        (b"multipart/form-data; boundary=", 400),
        (b'multipart/form-data; boundary="ends with space "', 400),
        (b"multipart/form-data; boundary=" + b"x" * 71, 400),
        (b"multipart/form-data; boundary=a; junk", 400),
        ("multipart/form-data; boundary=\u20ac", 400),
    ],
)
def test_bad_content_types(content_type: bytes | str, status: int) -> None:
    """Not form-data: 415; no usable boundary: 400."""
    with pytest.raises(FormError) as caught:
        parse_boundary(content_type)
    assert caught.value.status == status


def part(name: bytes = b"a", body: bytes = b"1", extra: bytes = b"") -> bytes:
    return (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name + b'"'
            + extra + b"\r\n\r\n" + body + b"\r\n")


END = b"--" + BOUNDARY + b"--\r\n"


@pytest.mark.parametrize(
    "body",
    [
        b"",  # nothing at all
        b"no boundary anywhere",
        part(),  # no close delimiter
        part()[:-5],  # cut inside a body
        b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=\"a\"\r\n",  # cut headers
        b"--" + BOUNDARY + b"X\r\n" + END,  # garbage after a boundary
        b"--" + BOUNDARY + b"\r\n\r\nno headers\r\n" + END,  # no Content-Disposition
        b"--" + BOUNDARY + b"\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\n\r\n" + END,
        b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data\r\n\r\n\r\n" + END,
        b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data;\r\n name=\"a\"\r\n\r\n\r\n"
        + END,  # a folded header line
        b"--" + BOUNDARY + b"\r\nno colon here\r\n\r\n\r\n" + END,
        part(extra=b"; filename*=latin9''x") + END,  # unsupported charset
        part(body=b"a\r\n--" + BOUNDARY + b"Z") + END,  # the delimiter inside a body
    ],
)
def test_malformed_bodies_are_400(body: bytes) -> None:
    """Each malformation raises FormError with status 400."""
    with pytest.raises(FormError) as caught:
        parse(body)
    assert caught.value.status == 400


def test_a_failed_parser_stays_failed() -> None:
    parser = MultipartParser(BOUNDARY)
    with pytest.raises(FormError):
        parser.feed(b"--" + BOUNDARY + b"X\r\n")
    with pytest.raises(FormError):
        parser.feed(b"more")


@pytest.mark.parametrize(
    ("body", "limits"),
    [
        (part() * 3 + END, {"max_parts": 2}),
        (part(extra=b"; x=" + b"y" * 200) + END, {"max_header_size": 100}),
        (b"--" + BOUNDARY + b"\r\nX-Long: " + b"y" * 500, {"max_header_size": 100}),  # unended
        (part(body=b"z" * 101) + END, {"max_field_size": 100}),
        (part(body=b"z" * 101, extra=b'; filename="f"') + END, {"max_file_size": 100}),
        (part(body=b"z" * 500) + END, {"max_total_size": 400}),
    ],
)
def test_limits_are_413(body: bytes, limits: dict[str, int]) -> None:
    """Past each limit: FormError 413, whatever the split (here: 7-byte pieces)."""
    with pytest.raises(FormError) as caught:
        parse(body, range(0, len(body), 7), **limits)
    assert caught.value.status == 413


def test_limits_hold_exactly() -> None:
    """At each limit exactly, the form parses."""
    body = part(body=b"z" * 100) + part(b"f", b"y" * 50, b'; filename="f"') + END
    events = parse(body, max_parts=2, max_field_size=100, max_file_size=50,
                   max_total_size=len(body))
    assert [p[2] for p in decoded(events)] == [b"z" * 100, b"y" * 50]


def test_memory_held_is_bounded() -> None:
    """A 4 MiB file fed in 64 KiB pieces: the parser never holds more than a delimiter."""
    parser = MultipartParser(BOUNDARY)
    parser.feed(b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="f"; '
                b'filename="f"\r\n\r\n')
    piece = b"\r\n-" * 21845 + b"\r"  # lookalikes throughout
    for _ in range(64):
        events = parser.feed(piece)
        assert sum(len(e.data) for e in events if isinstance(e, PartData)) >= len(piece) - 80
        assert len(parser._buffer) < len(BOUNDARY) + 4


def test_boundary_argument_is_checked() -> None:
    with pytest.raises(ValueError):
        MultipartParser(b"")


# -- urlencoded ----------------------------------------------------------------------------

def test_urlencoded() -> None:
    """Repeated names, '+' and %-escapes, blank values, UTF-8."""
    assert parse_urlencoded(b"a=1&a=2&b=x+y%21&c=&d&%C3%A9=%E2%82%AC") == {
        "a": ["1", "2"], "b": ["x y!"], "c": [""], "d": [""], "é": ["€"],
    }
    assert parse_urlencoded(b"") == {}


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"a=\xff", 400), (b"a=%FF", 400), (b"&".join([b"x=1"] * 11), 413)],
)
def test_urlencoded_errors(body: bytes, status: int) -> None:
    with pytest.raises(FormError) as caught:
        parse_urlencoded(body, max_fields=10)
    assert caught.value.status == status


@given(st.binary(max_size=200))
def test_urlencoded_random_bytes(body: bytes) -> None:
    """Random bytes: fields or FormError, nothing else."""
    try:
        parse_urlencoded(body, max_fields=20)
    except FormError:
        pass
