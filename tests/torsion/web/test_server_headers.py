"""torsion.web.server.Headers: Twisted's http_headers.Headers API, case-insensitive."""

from __future__ import annotations

import pytest

from torsion.web.server import Headers


def test_names_are_case_insensitive_and_values_ordered() -> None:
    """addRawHeader appends, getRawHeaders finds any spelling, in order."""
    h = Headers()
    h.addRawHeader(b"Set-Cookie", b"a=1")
    h.addRawHeader("set-cookie", "b=2")
    assert h.getRawHeaders(b"SET-COOKIE") == [b"a=1", b"b=2"]
    assert h.hasHeader("Set-Cookie") and not h.hasHeader(b"cookie")


def test_str_names_give_str_values_and_defaults() -> None:
    """A str name returns values decoded from UTF-8; a missing name returns the default."""
    h = Headers({b"X-Name": ["b\u00e4r"]})
    assert h.getRawHeaders(b"x-name") == ["b\u00e4r".encode()]
    assert h.getRawHeaders("x-name") == ["b\u00e4r"]
    assert h.getRawHeaders(b"missing") is None
    assert h.getRawHeaders(b"missing", [b"d"]) == [b"d"]


def test_set_remove_copy_equality() -> None:
    """setRawHeaders replaces, removeHeader deletes, copy is independent, == compares."""
    h = Headers({b"a": [b"1"]})
    h.setRawHeaders(b"A", [b"2", b"3"])
    twin = h.copy()
    twin.removeHeader(b"a")
    twin.removeHeader(b"never-there")
    assert h.getRawHeaders(b"a") == [b"2", b"3"] and not twin.hasHeader(b"a")
    assert h == Headers({b"A": [b"2", b"3"]}) and h != twin


def test_output_spelling() -> None:
    """getAllRawHeaders spells names the usual way (Content-Type, ETag, WWW-Authenticate)."""
    h = Headers({b"content-type": [b"t"], b"etag": [b'"x"'], b"www-authenticate": [b"B"]})
    assert [name for name, _ in h.getAllRawHeaders()] == [
        b"Content-Type", b"ETag", b"WWW-Authenticate"]
    assert "Content-Type" in repr(h)


def test_no_injection() -> None:
    """Control characters in values become spaces; names must be tokens; values are lists."""
    h = Headers()
    h.setRawHeaders(b"x", [b"a\r\nb\x00c\td"])
    assert h.getRawHeaders(b"x") == [b"a  b c\td"]
    with pytest.raises(ValueError):
        h.addRawHeader(b"bad:name", b"v")
    with pytest.raises(TypeError):
        h.setRawHeaders(b"x", b"not a list")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        h.addRawHeader(b"x", 3)  # type: ignore[arg-type]
