"""The poll backend: any POSIX system; the default where epoll is missing."""

from __future__ import annotations

import errno
import select

from torsion._reactors._fdtable import DescriptorTableReactor

__all__ = ["PollReactor"]

_IN = select.POLLIN
_OUT = select.POLLOUT
_HUP = select.POLLHUP | select.POLLERR | select.POLLNVAL


class PollReactor(DescriptorTableReactor):
    """A reactor on ``select.poll``."""

    _READ_MASK = _IN
    _WRITE_MASK = _OUT

    def __init__(self) -> None:
        self._poller = select.poll()
        super().__init__()

    def _set_mask(self, fd: int, old: int, new: int) -> None:
        if new:
            self._poller.register(fd, new)  # register also modifies
        else:
            try:
                self._poller.unregister(fd)
            except KeyError:
                pass

    def doIteration(self, timeout: float | None) -> None:
        """Wait for events at most ``timeout`` seconds (forever for None) and dispatch them."""
        ms = None if timeout is None else int(timeout * 1000 + 0.999)
        try:
            events = self._poller.poll(ms)
        except OSError as exc:
            if exc.errno == errno.EINTR:
                return
            raise
        self._dispatch_events(events, _HUP)
