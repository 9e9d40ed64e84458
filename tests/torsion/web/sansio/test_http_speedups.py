"""The C accelerator answers exactly what its Python twins answer.

``parse_simple_head`` is compared with ``_parse_simple_head_py`` on well-formed heads,
on heads with one byte changed, inserted or removed (every grammar rule the fast lane
checks, and the limits), and on random bytes; ``join_head`` with ``_join_head_py``.
The rest of the suite runs the whole core on each (``conftest.py``).
"""

from __future__ import annotations

import os
import string
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torsion.web.sansio._accel import speedups
from torsion.web.sansio._readers import _parse_simple_head_py
from torsion.web.sansio._writers import _join_head_py

pytestmark = pytest.mark.skipif(speedups is None, reason="the C accelerator is not built")

TCHARS = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits
# Bytes that matter to the grammar: separators, controls, DEL, obs-text, and tchars.
INTERESTING = b" \t\r\n:\x00\x01\x0b\x1f\x7f\x80\xff/." + TCHARS.encode()

tokens = st.text(alphabet=TCHARS, min_size=1, max_size=8).map(str.encode)
values = st.binary(max_size=16).map(
    lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128)
)
targets = st.binary(min_size=1, max_size=20).map(lambda b: bytes(c for c in b if 0x21 <= c <= 0x7E))


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from([b"GET", b"HEAD", b"POST", b"PATCH"]) | tokens)
    target = draw(targets) or b"/"
    minor = draw(st.sampled_from(b"0123456789"))
    lines = [b"%s %s HTTP/1.%c\r\n" % (method, target, minor)]
    for name, value in draw(st.lists(st.tuples(tokens, values), max_size=6)):
        space = draw(st.sampled_from([b"", b" ", b"\t ", b"  "]))
        trailing = draw(st.sampled_from([b"", b" ", b"\t"]))
        lines.append(name + b":" + space + value + trailing + b"\r\n")
    return b"".join(lines) + b"\r\n"


@st.composite
def mutated_heads(draw: st.DrawFn) -> bytes:
    head = bytearray(draw(heads()))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(head) - 1))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(st.sampled_from(INTERESTING))
        if action == "replace":
            head[at] = byte
        elif action == "insert":
            head.insert(at, byte)
        elif len(head) > 1:
            del head[at]
    return bytes(head)


def both(data: bytes, max_line: int = 8190, max_fields: int = 100) -> object:
    """The C answer, after checking that the Python twin gives the same one."""
    buffer = bytearray(data) + b"trailing bytes of the next request"
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    expected = _parse_simple_head_py(buffer, end, max_line, max_fields)
    got = speedups.parse_simple_head(buffer, end, max_line, max_fields)  # type: ignore[union-attr]
    assert got == expected
    return got


def test_a_typical_head() -> None:
    head = (
        b"GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept:  */* \r\n"
        b"X-Two: 1\r\nx-two: 2\r\n\r\n"
    )
    assert both(head) == (
        b"GET",
        b"/a?b=c",
        b"1.1",
        [(b"Host", b"host", b"example.com"), (b"Accept", b"accept", b"*/*"),
         (b"X-Two", b"x-two", b"1"), (b"x-two", b"x-two", b"2")],
        {b"host": [b"example.com"], b"accept": [b"*/*"], b"x-two": [b"1", b"2"]},
    )


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.0\r\nA:\r\n\r\n",
        b"GET / HTTP/1.7\r\nA: \t \r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1 \r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nA : b\r\n\r\n",
        b"GET / HTTP/1.1\r\n A: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: \x80\xff\r\n\r\n",
        b"GET /\x80 HTTP/1.1\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nA\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\nC: d\r\n\r\n",
        b"GET / HTTP/1.1\r\nA: b\rC: d\r\n\r\n",
        b"GET / HTTP/1.",
        b"GET / HTTP/1.1\r\n" + b"L" * 100 + b": x\r\n\r\n",
    ],
)
def test_edges(head: bytes) -> None:
    both(head)


def test_limits() -> None:
    head = b"GET /abcdef HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n"
    line = len(b"GET /abcdef HTTP/1.1")
    assert both(head, max_line=line) is not None
    assert both(head, max_line=line - 1) is None
    assert both(head, max_fields=2) is not None
    assert both(head, max_fields=1) is None



def test_limits_of_any_size() -> None:
    # The Connection's limits have no upper bound: no OverflowError from the C side.
    head = b"GET / HTTP/1.1\r\nA: 1\r\n\r\n"
    assert both(head, max_line=10**30, max_fields=10**30) is not None
    assert both(head, max_line=-(10**30)) is None
    assert both(b"GET / HTTP/1.1\r\n\r\n", max_fields=-1) is None


@pytest.mark.parametrize("kind", [bytes, memoryview])
def test_other_buffers(kind: type) -> None:
    data = bytearray(b"GET / HTTP/1.1\r\nA: 1\r\n\r\n")
    end = data.find(b"\r\n\r\n")
    expected = _parse_simple_head_py(data, end, 8190, 100)
    assert expected is not None
    assert speedups.parse_simple_head(kind(data), end, 8190, 100) == expected  # type: ignore[union-attr]

@settings(max_examples=500)
@given(heads())
def test_well_formed_heads(head: bytes) -> None:
    assert both(head) is not None


@settings(max_examples=2000)
@given(mutated_heads(), st.integers(10, 60), st.integers(0, 4))
def test_mutated_heads(head: bytes, max_line: int, max_fields: int) -> None:
    both(head, max_line, max_fields)


@settings(max_examples=500)
@given(st.binary(max_size=80))
def test_random_bytes(data: bytes) -> None:
    both(data + b"\r\n\r\n")


def test_end_must_lie_inside_the_data() -> None:
    with pytest.raises(ValueError):
        speedups.parse_simple_head(b"GET / HTTP/1.1\r\n\r\n", 100, 8190, 100)  # type: ignore[union-attr]


@pytest.mark.parametrize("end", [0, 3, sys.maxsize])
def test_end_must_point_at_crlf_crlf(end: int) -> None:
    # The scanner stops at the CR at data[end]: a buffer without a trailing NUL (a
    # memoryview of an array) would otherwise be read past its end.
    with pytest.raises(ValueError):
        speedups.parse_simple_head(bytearray(b"GETGETGET\r\n\r\n"), end, 8190, 100)  # type: ignore[union-attr]


small = st.binary(max_size=10)


@given(st.binary(max_size=20), st.lists(st.tuples(small, small, small), max_size=6))
def test_join_head(start: bytes, triples: list[tuple[bytes, bytes, bytes]]) -> None:
    assert speedups.join_head(start, triples) == _join_head_py(start, triples)  # type: ignore[union-attr]
    assert speedups.join_head(start, tuple(triples)) == _join_head_py(start, triples)  # type: ignore[union-attr]


def test_join_head_refuses_what_is_not_bytes() -> None:
    with pytest.raises(TypeError):
        speedups.join_head(b"", [("a", b"a", b"b")])  # type: ignore[union-attr]
    with pytest.raises(TypeError):
        speedups.join_head("", [])  # type: ignore[union-attr]


def test_the_environment_turns_the_accelerator_off() -> None:
    code = "from torsion.web.sansio import _accel, _readers; " \
        "print(_accel.speedups, _readers._parse_simple_head.__name__)"
    env = {**os.environ, "TORSION_NO_SPEEDUPS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=30)
    assert out.stdout.split() == ["None", "_parse_simple_head_py"]
