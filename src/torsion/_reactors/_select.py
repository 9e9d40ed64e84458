"""The select backend: portable, limited to descriptors below FD_SETSIZE (1024)."""

from __future__ import annotations

import errno
import select
from typing import Any

from torsion._reactors._posix import PosixReactorBase

__all__ = ["SelectReactor"]


class SelectReactor(PosixReactorBase):
    """A reactor on ``select.select``."""

    def __init__(self) -> None:
        self._reads: dict[Any, None] = {}
        self._writes: dict[Any, None] = {}
        super().__init__()

    def addReader(self, reader: Any) -> None:
        self._reads[reader] = None

    def addWriter(self, writer: Any) -> None:
        self._writes[writer] = None

    def removeReader(self, reader: Any) -> None:
        self._reads.pop(reader, None)

    def removeWriter(self, writer: Any) -> None:
        self._writes.pop(writer, None)

    def getReaders(self) -> list[Any]:
        return list(self._reads)

    def getWriters(self) -> list[Any]:
        return list(self._writes)

    def doIteration(self, timeout: float | None) -> None:
        """Wait for readiness at most ``timeout`` seconds (forever for None) and dispatch it."""
        while True:
            try:
                readable, writable, _ = select.select(
                    list(self._reads), list(self._writes), [], timeout
                )
                break
            except ValueError:
                # A closed descriptor (fileno -1) slipped in: drop the bad ones.
                self._prune()
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    return
                if exc.errno == errno.EBADF:
                    self._prune()
                    continue
                raise
        reads, writes = self._reads, self._writes
        for selectable in readable:
            if selectable in reads:
                self._dispatch(selectable, True)
        for selectable in writable:
            if selectable in writes:
                self._dispatch(selectable, False)

    def _dispatch(self, selectable: Any, is_read: bool) -> None:
        try:
            why = selectable.doRead() if is_read else selectable.doWrite()
        except BaseException:
            why = self._dispatch_failed(selectable)
        if why:
            self._disconnectSelectable(selectable, why, is_read)

    def _prune(self) -> None:
        for selectable in list(self._reads) + list(self._writes):
            try:
                fd = selectable.fileno()
                if fd < 0:
                    raise ValueError(fd)
                select.select([fd], [fd], [], 0)
            except (ValueError, OSError):
                self.removeReader(selectable)
                self.removeWriter(selectable)
                why = OSError(errno.EBADF, "bad descriptor")
                self._disconnectSelectable(selectable, why, False)
