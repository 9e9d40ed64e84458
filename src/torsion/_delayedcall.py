"""``DelayedCall``: one scheduled call, shared by ``task.Clock`` and the reactors.

It mirrors ``twisted.internet.base.DelayedCall`` (attribute names included),
so its methods and attributes are camelCase where Twisted's are.

Notes for schedulers (a fake clock, a reactor's timer heap):

- The object does not run itself.  The scheduler pops it when due, sets
  ``called = True`` and calls ``func(*args, **kw)``.
- ``time`` is the heap key and ``getTime()`` the real due time; they differ by
  ``delayed_time``.  Moving a call *later* (``delay`` or ``reset``) only grows
  ``delayed_time``, so a heap never needs a sift-down and the ``reset`` hook is
  not called.  When such a call reaches the top of the heap, the scheduler sees
  ``delayed_time != 0``, calls ``activate_delay()`` and pushes it back.  Moving
  a call *earlier* lowers ``time`` and calls the ``reset`` hook, which must
  restore the heap order (a sift-up, or re-sorting a list).
- Ordering (``<``, ``<=``) is by ``time``, then by creation order, so calls
  due at the same time pop in the order they were scheduled.
- ``cancel()`` calls the ``cancel`` hook (to drop the call, or count it for a
  lazy purge) and releases ``func``, ``args`` and ``kw``.
"""

from __future__ import annotations

import itertools
import time as _time
import traceback
from collections.abc import Callable, Sequence
from typing import ClassVar

from torsion.error import AlreadyCalled, AlreadyCancelled

__all__ = ["DelayedCall"]

# Creation order, for the tie-break between calls due at the same time.
_sequence = itertools.count()


def _safeRepr(obj: object) -> str:
    """Return ``repr(obj)``, or a placeholder if that ``repr`` raises."""
    try:
        return repr(obj)
    except Exception:
        return f"<{type(obj).__qualname__} instance at 0x{id(obj):x} with broken repr>"


def _callableName(func: object) -> str:
    """Return a short, readable name for ``func``."""
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    if isinstance(name, str):
        return name
    return _safeRepr(func)


class DelayedCall:
    """A call scheduled to run once at an absolute time; provides ``IDelayedCall``.

    Attributes:
        time: The heap key: the due time, less ``delayed_time``.
        delayed_time: Seconds the call was pushed back and not yet applied to
            ``time`` (see the module notes).
        func: The callable; deleted on cancellation.
        args: Its positional arguments; deleted on cancellation.
        kw: Its keyword arguments; deleted on cancellation.
        cancelled: True once ``cancel`` succeeded.
        called: True once the scheduler started running the call (it sets it).
        seconds: Returns the scheduler's current time.
        debug: Class-wide switch: record the creating stack, shown by ``repr``.
    """

    __slots__ = (
        "_repr",
        "_seq",
        "args",
        "called",
        "cancelled",
        "canceller",
        "creator",
        "delayed_time",
        "func",
        "kw",
        "resetter",
        "seconds",
        "time",
    )

    debug: ClassVar[bool] = False

    time: float
    func: Callable[..., object]
    args: Sequence[object]
    kw: dict[str, object]
    canceller: Callable[[DelayedCall], object]
    resetter: Callable[[DelayedCall], object]
    seconds: Callable[[], float]
    cancelled: bool
    called: bool
    delayed_time: float
    creator: list[str]
    _repr: str
    _seq: int

    def __init__(
        self,
        time: float,
        func: Callable[..., object],
        args: Sequence[object],
        kw: dict[str, object],
        cancel: Callable[[DelayedCall], object],
        reset: Callable[[DelayedCall], object],
        seconds: Callable[[], float] = _time.time,
    ) -> None:
        """Create a pending call; the scheduler adds it to its queue itself.

        Args:
            time: The absolute due time, on the scale of ``seconds()``.
            func: The callable to run.
            args: Positional arguments for ``func``.
            kw: Keyword arguments for ``func``.
            cancel: Called with this object when it is cancelled, before the
                state changes; it should drop the call from the queue.
            reset: Called with this object after ``time`` moved earlier; it
                should restore the queue's order.
            seconds: Returns the current time; ``reset`` measures from it.
        """
        self.time = time
        self.func = func
        self.args = args
        self.kw = kw
        self.canceller = cancel
        self.resetter = reset
        self.seconds = seconds
        self.cancelled = False
        self.called = False
        self.delayed_time = 0.0
        self._seq = next(_sequence)
        if self.debug:
            self.creator = traceback.format_stack()[:-2]

    def getTime(self) -> float:
        """Return the absolute time at which the call is due.

        Returns:
            ``time + delayed_time``, on the scale of ``seconds()``.
        """
        return self.time + self.delayed_time

    def _checkActive(self) -> None:
        if self.cancelled:
            raise AlreadyCancelled
        if self.called:
            raise AlreadyCalled

    def cancel(self) -> None:
        """Unschedule the call; it will never run.

        Calls the ``cancel`` hook, marks the call cancelled and drops the
        references to ``func``, ``args`` and ``kw``.

        Raises:
            AlreadyCancelled: The call was already cancelled.
            AlreadyCalled: The call has already run or is running.
        """
        self._checkActive()
        self.canceller(self)
        self.cancelled = True
        if self.debug:
            self._repr = repr(self)
        del self.func, self.args, self.kw

    def reset(self, secondsFromNow: float) -> None:
        """Make the call due ``secondsFromNow`` seconds after ``seconds()``.

        Args:
            secondsFromNow: The new delay, measured from now.

        Raises:
            AlreadyCancelled: The call was cancelled.
            AlreadyCalled: The call has already run.
        """
        self._checkActive()
        newTime = self.seconds() + secondsFromNow
        if newTime < self.time:
            self.delayed_time = 0.0
            self.time = newTime
            self.resetter(self)
        else:
            self.delayed_time = newTime - self.time

    def delay(self, secondsLater: float) -> None:
        """Move the due time by ``secondsLater`` seconds (earlier if negative).

        Args:
            secondsLater: Seconds to add to the current due time.

        Raises:
            AlreadyCancelled: The call was cancelled.
            AlreadyCalled: The call has already run.
        """
        self._checkActive()
        self.delayed_time += secondsLater
        if self.delayed_time < 0.0:
            self.activate_delay()
            self.resetter(self)

    def activate_delay(self) -> None:
        """Fold ``delayed_time`` into ``time`` (for schedulers; see module notes)."""
        self.time += self.delayed_time
        self.delayed_time = 0.0

    def active(self) -> bool:
        """Return True while the call has neither run nor been cancelled."""
        return not (self.cancelled or self.called)

    def __lt__(self, other: DelayedCall) -> bool:
        if self.time == other.time:
            return self._seq < other._seq
        return self.time < other.time

    def __le__(self, other: DelayedCall) -> bool:
        if self.time == other.time:
            return self._seq <= other._seq
        return self.time < other.time

    def __repr__(self) -> str:
        saved: str | None = getattr(self, "_repr", None)
        if saved is not None:
            return saved
        parts = [
            f"<DelayedCall 0x{id(self):x} [{self.time - self.seconds()}s]"
            f" called={int(self.called)} cancelled={int(self.cancelled)}"
        ]
        func = getattr(self, "func", None)
        if func is not None:
            arguments = [_safeRepr(arg) for arg in self.args]
            arguments.extend(f"{key}={_safeRepr(value)}" for key, value in self.kw.items())
            parts.append(f" {_callableName(func)}({', '.join(arguments)})")
        creator = getattr(self, "creator", None)
        if creator is not None:
            parts.append("\n\ntraceback at creation: \n\n{}".format("    ".join(creator)))
        parts.append(">")
        return "".join(parts)
