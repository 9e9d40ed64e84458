"""The asyncio reactor on a uvloop event loop (``pip install uvloop``)."""

from __future__ import annotations

from typing import Any

from torsion._reactors._asyncio import AsyncioReactor

__all__ = ["UVLoopReactor"]


class UVLoopReactor(AsyncioReactor):
    """:class:`AsyncioReactor` on a new uvloop loop.

    Raises:
        ModuleNotFoundError: when uvloop is not installed (extra ``uvloop``).
    """

    def __init__(self) -> None:
        import uvloop  # noqa: PLC0415 - an optional dependency

        loop = uvloop.new_event_loop()
        self._recheck: set[Any] = set()
        self._recheck_scheduled = False
        super().__init__(loop)
        self._owns_loop = True  # made here: close() closes it
        # Our own loop: errors the loop catches are reported like other backends'.
        loop.set_exception_handler(self._loop_error)

    # uvloop watches a descriptor with a libuv poll handle.  When the kernel
    # reports an error condition on it (POLLERR: a connected UDP socket that
    # got an ICMP "port unreachable", a stream reset with data still unread),
    # libuv stops the handle, and uvloop runs the callbacks once and closes
    # it: nobody hears of that descriptor again.  The other backends keep
    # reporting it, and the selectable reads the error and goes on (a UDP
    # port reports connectionRefused and keeps listening).  So after each
    # dispatch, on the next turn (the handle is closed only once the callback
    # returns), the reactor checks that the watch is still alive and makes it
    # anew if not.
    def _ready(self, selectable: Any, is_read: bool) -> None:
        super()._ready(selectable, is_read)
        self._recheck.add(selectable)
        if not self._recheck_scheduled:
            self._recheck_scheduled = True
            self._asyncioEventloop.call_soon(self._rewatch)

    def _rewatch(self) -> None:
        self._recheck_scheduled = False
        selectables, self._recheck = self._recheck, set()
        loop = self._asyncioEventloop
        for selectable in selectables:
            fd = selectable.fileno()
            if fd < 0:
                continue
            if self._readers.get(fd) is selectable:
                try:
                    # Cheap on a live watch: it only replaces the callback.
                    loop.add_reader(fd, self._ready, selectable, True)
                except RuntimeError:  # "the handler is closed": watch anew
                    loop.remove_reader(fd)
                    loop.add_reader(fd, self._ready, selectable, True)
            if self._writers.get(fd) is selectable:
                try:
                    loop.add_writer(fd, self._ready, selectable, False)
                except RuntimeError:
                    loop.remove_writer(fd)
                    loop.add_writer(fd, self._ready, selectable, False)
