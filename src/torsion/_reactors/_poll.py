"""The poll backend: any POSIX system; the default where epoll is missing."""

from __future__ import annotations

import errno
import select
from typing import Any

from torsion._reactors._posix import PosixReactorBase

__all__ = ["PollReactor"]

_IN = select.POLLIN
_OUT = select.POLLOUT
_HUP = select.POLLHUP | select.POLLERR | select.POLLNVAL


class PollReactor(PosixReactorBase):
    """A reactor on ``select.poll``."""

    def __init__(self) -> None:
        self._poller = select.poll()
        self._reads: dict[int, Any] = {}
        self._writes: dict[int, Any] = {}
        self._selectables: dict[int, Any] = {}
        super().__init__()

    def _update(self, fd: int) -> None:
        mask = (_IN if fd in self._reads else 0) | (_OUT if fd in self._writes else 0)
        if mask:
            self._poller.register(fd, mask)  # register also modifies
        else:
            try:
                self._poller.unregister(fd)
            except KeyError:
                pass

    def addReader(self, reader: Any) -> None:
        fd = reader.fileno()
        if fd not in self._reads:
            self._reads[fd] = reader
            self._selectables[fd] = reader
            self._update(fd)

    def addWriter(self, writer: Any) -> None:
        fd = writer.fileno()
        if fd not in self._writes:
            self._writes[fd] = writer
            self._selectables[fd] = writer
            self._update(fd)

    def _find(self, xer: Any) -> int:
        fd: int = xer.fileno()
        if fd == -1 or self._selectables.get(fd) is not xer:
            for known, selectable in self._selectables.items():
                if selectable is xer:
                    return known
            return -1
        return fd

    def removeReader(self, reader: Any) -> None:
        fd = self._find(reader)
        if fd in self._reads:
            del self._reads[fd]
            if fd not in self._writes:
                del self._selectables[fd]
            self._update(fd)

    def removeWriter(self, writer: Any) -> None:
        fd = self._find(writer)
        if fd in self._writes:
            del self._writes[fd]
            if fd not in self._reads:
                del self._selectables[fd]
            self._update(fd)

    def getReaders(self) -> list[Any]:
        return list(self._reads.values())

    def getWriters(self) -> list[Any]:
        return list(self._writes.values())

    def doIteration(self, timeout: float | None) -> None:
        """Wait for events at most ``timeout`` seconds (forever for None) and dispatch them."""
        ms = None if timeout is None else int(timeout * 1000 + 0.999)
        try:
            events = self._poller.poll(ms)
        except OSError as exc:
            if exc.errno == errno.EINTR:
                return
            raise
        self._dispatchPollEvents(
            events, self._selectables, self._reads, self._writes, _IN, _OUT, _HUP
        )
