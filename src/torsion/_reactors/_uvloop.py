"""The asyncio reactor on a uvloop event loop (``pip install uvloop``)."""

from __future__ import annotations

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
        super().__init__(loop)
        # Our own loop: errors the loop catches are reported like other backends'.
        loop.set_exception_handler(self._loop_error)
