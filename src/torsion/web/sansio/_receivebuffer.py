"""The receive buffer: bytes waiting to be parsed.

Guarantee: parsing costs O(n) in the bytes received, however they are split.

Two things could make it quadratic, and neither does:

- Waiting for a delimiter (the CRLF CRLF ending a header section, the LF ending a
  chunk-size line) while the bytes arrive a few at a time. Each search remembers,
  per delimiter, where a match could still start, and resumes there: every byte is
  scanned a bounded number of times whatever the split.
- Removing parsed bytes from the front. ``del bytearray[:n]`` is amortised O(1) in
  CPython (it moves the start of the buffer instead of copying the rest), and the
  remembered search positions are shifted rather than forgotten.
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]


class ReceiveBuffer:
    """Bytes received and not parsed yet.

    Example:
        >>> buf = ReceiveBuffer()
        >>> buf.append(b"5\\r\\nhello")
        >>> buf.extract_line(), buf.extract_at_most(3), len(buf)
        (b'5\\r', b'hel', 2)
    """

    __slots__ = ("_data", "_lf_checked", "_resume")

    def __init__(self) -> None:
        self._data = bytearray()
        # delimiter -> index before which no match of it can start
        self._resume: dict[bytes, int] = {}
        # index before which every LF is known to follow a CR
        self._lf_checked = 0

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        return bool(self._data)

    def __bytes__(self) -> bytes:
        return bytes(self._data)

    @property
    def data(self) -> bytearray:
        """The bytes themselves, to read in place (change them only through the methods).

        Always the same bytearray object (it is cleared and trimmed, never replaced):
        ``Connection`` keeps a reference to it for its hot-path size checks.
        """
        return self._data

    def append(self, data: bytes) -> None:
        """Add bytes received at the end."""
        self._data += data

    def startswith(self, prefix: bytes) -> bool:
        """Whether the buffer starts with ``prefix``."""
        return self._data.startswith(prefix)

    def find(self, sub: bytes, end: int | None = None) -> int:
        """The index of the first ``sub`` (before ``end``), or -1, resuming past misses.

        Repeated calls for the same ``sub`` only scan the bytes added since the last
        miss, and a match found is found again at once. ``end`` bounds a search
        without being remembered as scanned beyond it.
        """
        data = self._data
        start = self._resume.get(sub, 0)
        index = data.find(sub, start) if end is None else data.find(sub, start, end)
        if index < 0:
            limit = len(data) if end is None else min(end, len(data))
            self._resume[sub] = max(start, limit - len(sub) + 1)
        else:
            self._resume[sub] = index  # no match starts before the first one
        return index

    def find_bare_lf(self) -> int:
        """The index of the first LF that does not follow a CR, or -1.

        Only the bytes added since the last call are scanned. An LF first in the
        buffer counts as bare: what came before it is gone.
        """
        data = self._data
        position = self._lf_checked
        while True:
            index = data.find(b"\n", position)
            if index < 0:
                self._lf_checked = len(data)
                return -1
            if index == 0 or data[index - 1] != 0x0D:
                self._lf_checked = index  # found again at once next time
                return index
            position = index + 1

    def drop(self, count: int) -> None:
        """Remove the first ``count`` bytes."""
        data = self._data
        if count >= len(data):  # all of it: the usual case, one request per read
            data.clear()
            self._lf_checked = 0
            if self._resume:
                self._resume.clear()  # every remembered position would become 0
            return
        del data[:count]
        self._lf_checked = max(0, self._lf_checked - count)
        if self._resume:
            for sub, index in self._resume.items():
                self._resume[sub] = max(0, index - count)

    def extract_at_most(self, count: int) -> bytes:
        """Remove and return up to ``count`` bytes from the front."""
        data = self._data
        if count >= len(data):
            out = bytes(data)
            data.clear()
            self._resume.clear()
            self._lf_checked = 0
        else:
            out = bytes(data[:count])
            self.drop(count)
        return out

    def extract_until(self, delimiter: bytes) -> bytes | None:
        """Remove and return the bytes before ``delimiter`` (dropping it), or ``None``."""
        index = self.find(delimiter)
        if index < 0:
            return None
        out = bytes(self._data[:index])
        self.drop(index + len(delimiter))
        return out

    def extract_line(self) -> bytes | None:
        """Remove and return the bytes before the next LF (dropping the LF), or ``None``.

        The caller checks that the line ends with CR: HTTP lines end with CRLF.
        """
        return self.extract_until(b"\n")
