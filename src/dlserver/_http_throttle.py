"""A bandwidth-limited body sender for :func:`torsion.web.representation.serve_representation`.

Zero-copy ``sendfile`` hands the kernel a whole region at once, which no token bucket
can pace; a limited download instead reads its pieces (``os.pread``) in the chunks the
:class:`~dlserver.ratelimit.DownloadLimiter` grants and writes them through the request,
so the transport's flow control and the limiter both hold it back.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from typing import Any

from dlserver.ratelimit import DownloadLimiter, ThrottledSender
from torsion.defer import Deferred
from torsion.interfaces import IReactorTime
from torsion.web.representation import FileRegion

__all__ = ["PiecesReader", "ThrottledBody"]


class PiecesReader:
    """A file-like ``read(size)`` over literal bytes and file regions, in order."""

    def __init__(self, pieces: Iterable[bytes | FileRegion]) -> None:
        # Regions are copied: their offsets move as they are read.
        self._pieces: deque[bytes | FileRegion] = deque(
            FileRegion(p.fd, p.offset, p.count) if isinstance(p, FileRegion) else p
            for p in pieces
        )

    def read(self, size: int, /) -> bytes:
        """Up to ``size`` bytes (fewer only at the end); ``b""`` once all are read.

        Raises:
            OSError: a file cannot be read, or ends before its region does.
        """
        out: list[bytes] = []
        want = size
        while want > 0 and self._pieces:
            piece = self._pieces[0]
            if isinstance(piece, FileRegion):
                data = os.pread(piece.fd, min(piece.count, want), piece.offset)
                if not data:
                    raise OSError(f"{piece} ended early: the file shrank")
                piece.offset += len(data)
                piece.count -= len(data)
                if not piece.count:
                    self._pieces.popleft()
            else:
                data = piece[:want]
                if len(data) == len(piece):
                    self._pieces.popleft()
                else:
                    self._pieces[0] = piece[want:]
            out.append(data)
            want -= len(data)
        return b"".join(out)


class ThrottledBody:
    """Sends one response body under a limiter; ``sent`` counts the bytes written.

    Use the instance as the ``sender`` of ``serve_representation``.
    """

    def __init__(self, limiter: DownloadLimiter, clock: IReactorTime) -> None:
        self._sender = ThrottledSender(limiter, clock)

    @property
    def sent(self) -> int:
        """Body bytes written to the connection so far."""
        return self._sender.sent

    def __call__(self, request: Any, pieces: list[bytes | FileRegion]) -> Deferred[None]:
        """Send ``pieces`` as the body of ``request``, then finish it."""
        d = self._sender.beginFileTransfer(PiecesReader(pieces), request)

        def finish(_: int) -> None:
            try:
                request.finish()
            except RuntimeError:
                pass  # the connection was lost just as the last byte went out

        return d.addCallback(finish)
