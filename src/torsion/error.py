"""Exceptions raised by the reactor and its helpers.

This module mirrors ``twisted.internet.error``: class names, base classes and
the text of ``str(exc)`` are part of the compatibility contract.  Each error
has a fixed ``MESSAGE``; positional arguments given when raising it are
appended after a colon, and the text ends with a full stop.
"""

from __future__ import annotations

__all__ = ["AlreadyCalled", "AlreadyCancelled"]


def _describe(message: str, args: tuple[object, ...]) -> str:
    """Render ``message`` plus any exception arguments, Twisted-style."""
    if args:
        message = f"{message}: {' '.join(str(arg) for arg in args)}"
    return f"{message}."


class AlreadyCalled(ValueError):
    """Tried to cancel or reschedule a delayed call that has already run."""

    MESSAGE = "Tried to cancel an already-called event"

    def __str__(self) -> str:
        return _describe(self.MESSAGE, self.args)


class AlreadyCancelled(ValueError):
    """Tried to cancel or reschedule a delayed call that was already cancelled."""

    MESSAGE = "Tried to cancel an already-cancelled event"

    def __str__(self) -> str:
        return _describe(self.MESSAGE, self.args)
