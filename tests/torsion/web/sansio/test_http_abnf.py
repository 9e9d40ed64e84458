"""The grammar patterns accept what RFC 9110/9112 allow, refuse the rest, in linear time."""

from __future__ import annotations

import time

import pytest

from torsion.web.sansio import _abnf


@pytest.mark.parametrize("good", [b"GET", b"x", b"!#$%&'*+-.^_`|~09AZaz"])
def test_token_accepts_tchars(good: bytes) -> None:
    """Every tchar of RFC 9110 section 5.6.2 is accepted."""
    assert _abnf.TOKEN.fullmatch(good)


@pytest.mark.parametrize("bad", [b"", b"a b", b"a:b", b"a(b", b"\x00", b"\xff", b"a\r", b'"'])
def test_token_refuses_delimiters_and_controls(bad: bytes) -> None:
    """Delimiters, whitespace, controls and non-ASCII are not token characters."""
    assert _abnf.TOKEN.fullmatch(bad) is None


@pytest.mark.parametrize("good", [b"", b"a", b"a b\tc", b"\x80\xff", b"~!"])
def test_field_value_accepts_vchar_obs_text_and_inner_whitespace(good: bytes) -> None:
    """field-value: VCHAR, obs-text, SP and HTAB."""
    assert _abnf.FIELD_VALUE.fullmatch(good)


@pytest.mark.parametrize("bad", [b"a\x00", b"a\rb", b"a\nb", b"\x7f", b"\x01", b"\x1f"])
def test_field_value_refuses_controls(bad: bytes) -> None:
    """NUL, CR, LF and the other CTLs are refused (RFC 9110 section 5.5)."""
    assert _abnf.FIELD_VALUE.fullmatch(bad) is None


@pytest.mark.parametrize(
    ("line", "groups"),
    [
        (b"GET / HTTP/1.1", (b"GET", b"/", b"1", b"1")),
        (b"OPTIONS * HTTP/1.0", (b"OPTIONS", b"*", b"1", b"0")),
        (b"CONNECT a.b:443 HTTP/1.1", (b"CONNECT", b"a.b:443", b"1", b"1")),
        (b"GET http://a/b?c=d#e HTTP/2.0", (b"GET", b"http://a/b?c=d#e", b"2", b"0")),
    ],
)
def test_request_line_groups(line: bytes, groups: tuple[bytes, ...]) -> None:
    """The request line splits into method, target, major and minor."""
    match = _abnf.REQUEST_LINE.fullmatch(line)
    assert match is not None and match.groups() == groups


@pytest.mark.parametrize(
    "bad",
    [
        b"GET  / HTTP/1.1",
        b" GET / HTTP/1.1",
        b"GET / HTTP/1.1 ",
        b"GET /\t HTTP/1.1",
        b"GET / http/1.1",
        b"GET / HTTP/1.10",
        b"GET / HTTP/11",
        b"GET /",
        b"GET /\xc3\xa9 HTTP/1.1",
        b"G(T / HTTP/1.1",
    ],
)
def test_request_line_is_strict(bad: bytes) -> None:
    """One SP between parts, a case-sensitive DIGIT.DIGIT version, an ASCII target."""
    assert _abnf.REQUEST_LINE.fullmatch(bad) is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"HTTP/1.1 200 OK", b"OK"),
        (b"HTTP/1.1 200 ", b""),
        (b"HTTP/1.1 200", None),
        (b"HTTP/1.0 404 Not \tFound \xe9", b"Not \tFound \xe9"),
    ],
)
def test_status_line(line: bytes, reason: bytes | None) -> None:
    """The status line, with its reason phrase optional."""
    match = _abnf.STATUS_LINE.fullmatch(line)
    assert match is not None and match.group(4) == reason


@pytest.mark.parametrize("bad", [b"HTTP/1.1 20 OK", b"HTTP/1.1 2000 OK", b"HTTP/1.1  200 OK",
                                 b"HTTP/1.1 200 O\rK", b"ICY 200 OK"])
def test_status_line_refuses(bad: bytes) -> None:
    """Three digits exactly, one SP, no CR in the reason."""
    assert _abnf.STATUS_LINE.fullmatch(bad) is None


@pytest.mark.parametrize(
    "good",
    [b"0", b"1f", b"A", b"5;a", b"5 ; a = b", b'5;a="q\\"x";b', b"5;a;b=c", b"5\t;a"],
)
def test_chunk_line_accepts_extensions(good: bytes) -> None:
    """chunk-size with chunk-ext: names, token or quoted values, BWS around ; and =."""
    assert _abnf.CHUNK_LINE.fullmatch(good)


@pytest.mark.parametrize(
    "bad", [b"", b"g", b"-1", b"0x5", b" 5", b"5 ", b"5;", b"5;a=", b'5;a="x', b"5;a=\"\x00\""]
)
def test_chunk_line_refuses(bad: bytes) -> None:
    """No sign, prefix, leading or trailing whitespace, or unfinished extension."""
    assert _abnf.CHUNK_LINE.fullmatch(bad) is None


@pytest.mark.parametrize("good", [b"", b"a", b"a.b:80", b"[::1]:8080", b"a:", b"xn--e-x.y",
                                  b"127.0.0.1"])
def test_host_accepts(good: bytes) -> None:
    """uri-host [":" port]; empty is allowed."""
    assert _abnf.HOST.fullmatch(good)


@pytest.mark.parametrize("bad", [b"a b", b"u@a", b"a/b", b"a:x", b"[::1", b"a?b"])
def test_host_refuses(bad: bytes) -> None:
    """No userinfo, path, query or stray characters."""
    assert _abnf.HOST.fullmatch(bad) is None


@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        (_abnf.FIELD_VALUE, b" " * 50_000 + b"\x00"),
        (_abnf.CHUNK_LINE, b"5" + b";a" * 20_000 + b";"),
        (_abnf.CHUNK_LINE, b'5;a="' + b"\\a" * 20_000),
        (_abnf.REQUEST_LINE, b"GET /" + b"a" * 50_000 + b" HTTP/1.x"),
        (_abnf.HOST, b"a" * 50_000 + b"@"),
    ],
)
def test_patterns_fail_in_linear_time(pattern: object, subject: bytes) -> None:
    """Near misses on long inputs fail fast: no catastrophic backtracking."""
    start = time.perf_counter()
    assert pattern.fullmatch(subject) is None  # type: ignore[attr-defined]
    assert time.perf_counter() - start < 0.1
