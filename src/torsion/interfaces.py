"""The contracts between reactors, their helpers and application code.

This module mirrors ``twisted.internet.interfaces``, with ``typing.Protocol``
classes in place of ``zope.interface`` interfaces: an object provides an
interface by having the right methods, with no declaration.  Each class is
``runtime_checkable``, so ``isinstance(obj, IReactorTime)`` checks that the
methods exist (not their signatures or behaviour).  The docstrings state the
behaviour every provider promises; the conformance suites test it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

__all__ = ["IDelayedCall", "IReactorTime"]


@runtime_checkable
class IDelayedCall(Protocol):
    """A call scheduled to run once at a given time, as returned by ``callLater``.

    A delayed call is *active* from its creation until it either runs or is
    cancelled; both are final.  Every method but ``getTime`` and ``active``
    raises once the call is no longer active.
    """

    def getTime(self) -> float:
        """Return when the call is due.

        Returns:
            The due time, on the same scale as the ``seconds()`` of the
            reactor that scheduled it.  Reflects any ``delay`` or ``reset``.
        """
        ...

    def cancel(self) -> None:
        """Unschedule the call so that it never runs.

        Raises:
            AlreadyCancelled: The call was already cancelled.
            AlreadyCalled: The call has already run (or is running).
        """
        ...

    def delay(self, secondsLater: float) -> None:
        """Move the due time by ``secondsLater`` seconds relative to the current due time.

        A negative value moves the call earlier.

        Raises:
            AlreadyCancelled: The call was already cancelled.
            AlreadyCalled: The call has already run.
        """
        ...

    def reset(self, secondsFromNow: float) -> None:
        """Make the call due ``secondsFromNow`` seconds after the reactor's current time.

        Raises:
            AlreadyCancelled: The call was already cancelled.
            AlreadyCalled: The call has already run.
        """
        ...

    def active(self) -> bool:
        """Return True while the call has neither run nor been cancelled."""
        ...


@runtime_checkable
class IReactorTime(Protocol):
    """Time-based scheduling: what ``LoopingCall``, ``deferLater`` and timeouts need.

    Providers include every reactor and the deterministic ``torsion.task.Clock``.
    """

    def seconds(self) -> float:
        """Return the provider's current time in seconds.

        This is the scale used by ``IDelayedCall.getTime`` and by the delays
        given to ``callLater``.  A reactor returns wall-clock time (which the
        system may step); a fake clock returns whatever it was advanced to.
        """
        ...

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall:
        """Arrange for ``callable(*args, **kw)`` to run ``delay`` seconds from now.

        The call never runs synchronously inside ``callLater``, even with a
        delay of 0: it runs on a later turn of the reactor (or ``advance`` of
        a clock).  Calls due at the same time run in the order they were
        scheduled.  An exception raised by the callable is logged by a
        reactor and does not stop other calls from running.

        Args:
            delay: Seconds from now, ``>= 0``.
            callable: What to call.
            *args: Positional arguments for ``callable``.
            **kw: Keyword arguments for ``callable``.

        Returns:
            An ``IDelayedCall`` that can cancel or reschedule the call.
        """
        ...

    def getDelayedCalls(self) -> Sequence[IDelayedCall]:
        """Return every call that is scheduled and has not yet run or been cancelled.

        The order of the sequence is unspecified; callers must not mutate it.
        """
        ...
