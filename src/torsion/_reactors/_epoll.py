"""The epoll backend (Linux): the default reactor there.

Level-triggered epoll, one registration per descriptor whose mask tracks
reading and writing interest; ``doIteration`` dispatches straight from the
event list to ``doRead``/``doWrite``.
"""

from __future__ import annotations

import errno
import select
from typing import Any

from torsion._reactors._posix import PosixReactorBase

__all__ = ["EPollReactor"]

_IN = select.EPOLLIN
_OUT = select.EPOLLOUT
_HUP = select.EPOLLHUP | select.EPOLLERR


class EPollReactor(PosixReactorBase):
    """A reactor on ``select.epoll``."""

    def __init__(self) -> None:
        self._poller = select.epoll()
        self._reads: dict[int, Any] = {}
        self._writes: dict[int, Any] = {}
        self._selectables: dict[int, Any] = {}
        super().__init__()

    def addReader(self, reader: Any) -> None:
        fd = reader.fileno()
        if fd in self._reads:
            return
        if fd in self._writes:
            self._poller.modify(fd, _IN | _OUT)
        else:
            self._poller.register(fd, _IN)
        self._reads[fd] = reader
        self._selectables[fd] = reader

    def addWriter(self, writer: Any) -> None:
        fd = writer.fileno()
        if fd in self._writes:
            return
        if fd in self._reads:
            self._poller.modify(fd, _IN | _OUT)
        else:
            self._poller.register(fd, _OUT)
        self._writes[fd] = writer
        self._selectables[fd] = writer

    def _find(self, xer: Any) -> int:
        fd: int = xer.fileno()
        if fd == -1 or self._selectables.get(fd) is not xer:
            # Already closed (or the number reused): look it up by identity.
            for known, selectable in self._selectables.items():
                if selectable is xer:
                    return known
            return -1
        return fd

    def removeReader(self, reader: Any) -> None:
        fd = self._find(reader)
        if fd not in self._reads:
            return
        del self._reads[fd]
        if fd in self._writes:
            self._poller.modify(fd, _OUT)
        else:
            del self._selectables[fd]
            self._unregister(fd)

    def removeWriter(self, writer: Any) -> None:
        fd = self._find(writer)
        if fd not in self._writes:
            return
        del self._writes[fd]
        if fd in self._reads:
            self._poller.modify(fd, _IN)
        else:
            del self._selectables[fd]
            self._unregister(fd)

    def _unregister(self, fd: int) -> None:
        try:
            self._poller.unregister(fd)
        except OSError:  # the descriptor was closed first: epoll dropped it already
            pass

    def _close_poller(self) -> None:
        self._poller.close()

    def getReaders(self) -> list[Any]:
        return list(self._reads.values())

    def getWriters(self) -> list[Any]:
        return list(self._writes.values())

    def doIteration(self, timeout: float | None) -> None:
        """Wait for events at most ``timeout`` seconds (forever for None) and dispatch them."""
        if timeout is None:
            timeout = -1
        try:
            events = self._poller.poll(timeout, len(self._selectables) or 1)
        except OSError as exc:
            if exc.errno == errno.EINTR:
                return
            raise
        self._dispatchPollEvents(
            events, self._selectables, self._reads, self._writes, _IN, _OUT, _HUP
        )
