"""The descriptor table of the backends that watch one mask per descriptor (poll, epoll, Tk).

:class:`DescriptorTableReactor` records which selectable reads and which writes on
each descriptor, and tells the backend the descriptor's new mask
(``_set_mask``) whenever that interest changes.
"""

from __future__ import annotations

from typing import Any

from torsion._reactors._posix import PosixReactorBase

__all__ = ["DescriptorTableReactor", "find_fd"]


def find_fd(table: dict[int, Any], xer: Any) -> int:
    """The descriptor ``xer`` is recorded under in ``table``; -1 when it is not there."""
    fd: int = xer.fileno()
    if fd == -1 or table.get(fd) is not xer:
        # Already closed (or the number reused): look it up by identity.
        for known, selectable in table.items():
            if selectable is xer:
                return known
        return -1
    return fd


class DescriptorTableReactor(PosixReactorBase):
    """A reactor keeping, per descriptor, its reader, its writer and the backend's mask.

    A backend sets ``_READ_MASK`` and ``_WRITE_MASK`` (its event bits) and
    implements ``_set_mask``.
    """

    _READ_MASK = 1
    _WRITE_MASK = 2

    def __init__(self) -> None:
        self._reads: dict[int, Any] = {}
        self._writes: dict[int, Any] = {}
        self._selectables: dict[int, Any] = {}
        super().__init__()

    def _set_mask(self, fd: int, old: int, new: int) -> None:
        """Make the backend watch ``fd`` for ``new`` (0: not at all) instead of ``old``."""
        raise NotImplementedError

    def _mask(self, fd: int) -> int:
        return (self._READ_MASK if fd in self._reads else 0) | (
            self._WRITE_MASK if fd in self._writes else 0
        )

    def _watch(self, table: dict[int, Any], fd: int, xer: Any) -> None:
        old = self._mask(fd)
        table[fd] = xer
        self._selectables[fd] = xer
        self._set_mask(fd, old, self._mask(fd))

    def _unwatch(self, table: dict[int, Any], xer: Any) -> None:
        fd = find_fd(self._selectables, xer)
        if fd not in table:
            return
        old = self._mask(fd)
        del table[fd]
        if fd not in self._reads and fd not in self._writes:
            del self._selectables[fd]
        self._set_mask(fd, old, self._mask(fd))

    def _add(self, table: dict[int, Any], xer: Any) -> None:
        fd = xer.fileno()
        if fd not in table:
            self._watch(table, fd, xer)

    def addReader(self, reader: Any) -> None:
        self._add(self._reads, reader)

    def addWriter(self, writer: Any) -> None:
        self._add(self._writes, writer)

    def removeReader(self, reader: Any) -> None:
        self._unwatch(self._reads, reader)

    def removeWriter(self, writer: Any) -> None:
        self._unwatch(self._writes, writer)

    def getReaders(self) -> list[Any]:
        return list(self._reads.values())

    def getWriters(self) -> list[Any]:
        return list(self._writes.values())

    def _dispatch_events(self, events: list[tuple[int, int]], hup_mask: int) -> None:
        """Dispatch poll's or epoll's ``(fd, event mask)`` pairs."""
        self._dispatchPollEvents(
            events, self._selectables, self._reads, self._writes,
            self._READ_MASK, self._WRITE_MASK, hup_mask,
        )
