"""The receive buffer: extraction, resumable searches, and its O(n) guarantee."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from torsion.web.sansio._receivebuffer import ReceiveBuffer


def make(*pieces: bytes) -> ReceiveBuffer:
    buf = ReceiveBuffer()
    for piece in pieces:
        buf.append(piece)
    return buf


def test_extract_at_most_and_len() -> None:
    """Bytes come out from the front, at most the count asked."""
    buf = make(b"hello ", b"world")
    assert len(buf) == 11 and buf
    assert buf.extract_at_most(3) == b"hel"
    assert buf.extract_at_most(100) == b"lo world"
    assert not buf and buf.extract_at_most(5) == b""


def test_extract_until_waits_for_the_delimiter_across_appends() -> None:
    """A delimiter split over two appends is found; its bytes are dropped."""
    buf = make(b"GET / HTTP/1.1\r\n\r")
    assert buf.extract_until(b"\r\n\r\n") is None
    buf.append(b"\nrest")
    assert buf.extract_until(b"\r\n\r\n") == b"GET / HTTP/1.1"
    assert bytes(buf) == b"rest"


def test_extract_line_ends_at_lf() -> None:
    """A line is what precedes the next LF; the CR is left for the caller to check."""
    buf = make(b"a\r\nb\nc")
    assert buf.extract_line() == b"a\r"
    assert buf.extract_line() == b"b"
    assert buf.extract_line() is None and bytes(buf) == b"c"


def test_resumed_search_stays_correct_after_drops() -> None:
    """Remembered search positions shift with the bytes removed in front."""
    buf = make(b"xxxx\r\n\r")
    assert buf.find(b"\r\n\r\n") == -1
    buf.drop(2)
    buf.append(b"\n")
    assert buf.find(b"\r\n\r\n") == 2
    assert buf.find(b"\r\n", end=3) == -1 and buf.find(b"\r\n") == 2


def test_find_bare_lf() -> None:
    """An LF not after a CR is found, and only new bytes are scanned each time."""
    buf = make(b"a\r\nb\r")
    assert buf.find_bare_lf() == -1
    buf.append(b"\nc")
    assert buf.find_bare_lf() == -1
    buf.append(b"\n")
    assert buf.find_bare_lf() == 7 == buf.find_bare_lf()
    buf.drop(2)
    assert buf.find_bare_lf() == 5
    assert make(b"\nx").find_bare_lf() == 0


@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=10),
       st.sampled_from([b"\n", b"\r\n", b"\r\n\r\n"]))
def test_find_matches_bytes_find_whatever_the_split(
    data: bytes, cuts: list[int], sub: bytes
) -> None:
    """Searching as the bytes trickle in gives what one search of the whole would."""
    buf = ReceiveBuffer()
    points = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    for a, b in itertools.pairwise(points):
        buf.append(data[a:b])
        buf.find(sub)
    assert buf.find(sub) == data.find(sub)
    bare = [i for i in range(len(data)) if data[i] == 10 and (i == 0 or data[i - 1] != 13)]
    assert buf.find_bare_lf() == (bare[0] if bare else -1)


class CountingBytearray(bytearray):
    """A bytearray that counts the bytes its ``find`` calls scan."""

    scanned = 0

    def find(self, sub, start=None, end=None):  # type: ignore[no-untyped-def]
        result = super().find(sub, start, end)
        stop = len(self) if end is None else end
        CountingBytearray.scanned += stop - (start or 0) if result < 0 else result - (start or 0)
        return result


def test_waiting_for_a_delimiter_one_byte_at_a_time_is_linear() -> None:
    """16 KiB arriving byte by byte costs a few times 16 KiB of scanning, not 16 KiB squared.

    Each miss rescans the last ``len(delimiter) - 1`` bytes: the constant is small.
    """
    buf = ReceiveBuffer()
    buf._data = CountingBytearray()
    CountingBytearray.scanned = 0
    size = 16 * 1024
    for _ in range(size):
        buf.append(b"a")
        assert buf.extract_until(b"\r\n\r\n") is None
        assert buf.find_bare_lf() == -1
    assert CountingBytearray.scanned <= 5 * size


def test_the_bytearray_keeps_its_identity() -> None:
    """``data`` is one object for the buffer's life (Connection holds on to it)."""
    buf = ReceiveBuffer()
    data = buf.data
    buf.append(b"GET / HTTP/1.1\r\n\r\nrest\r\n")
    buf.drop(4)
    assert buf.extract_until(b"\r\n\r\n") is not None
    buf.extract_at_most(100)
    buf.append(b"abc")
    buf.drop(3)
    assert buf.data is data and len(data) == 0
