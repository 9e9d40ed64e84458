"""The epoll backend (Linux): the default reactor there.

Level-triggered epoll, one registration per descriptor whose mask tracks
reading and writing interest; ``doIteration`` dispatches straight from the
event list to ``doRead``/``doWrite``.
"""

from __future__ import annotations

import errno
import select

from torsion._reactors._fdtable import DescriptorTableReactor

__all__ = ["EPollReactor"]

_IN = select.EPOLLIN
_OUT = select.EPOLLOUT
_HUP = select.EPOLLHUP | select.EPOLLERR


class EPollReactor(DescriptorTableReactor):
    """A reactor on ``select.epoll``."""

    _READ_MASK = _IN
    _WRITE_MASK = _OUT

    def __init__(self) -> None:
        self._poller = select.epoll()
        super().__init__()

    def _set_mask(self, fd: int, old: int, new: int) -> None:
        if not old:
            self._poller.register(fd, new)
        elif new:
            self._poller.modify(fd, new)
        else:
            try:
                self._poller.unregister(fd)
            except OSError:  # the descriptor was closed first: epoll dropped it already
                pass

    def _close_poller(self) -> None:
        self._poller.close()

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
        self._dispatch_events(events, _HUP)
