"""Tests for torsion._delayedcall.DelayedCall and the errors it raises."""

from __future__ import annotations

import heapq
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from torsion._delayedcall import DelayedCall
from torsion.error import AlreadyCalled, AlreadyCancelled
from torsion.interfaces import IDelayedCall


class Hooks:
    """Records the calls made to a DelayedCall's cancel and reset hooks."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.cancelled: list[DelayedCall] = []
        self.reset: list[DelayedCall] = []

    def seconds(self) -> float:
        return self.now

    def make(
        self, when: float, func: Callable[..., object] = print, *args: object, **kw: object
    ) -> DelayedCall:
        return DelayedCall(
            when, func, args, kw, self.cancelled.append, self.reset.append, self.seconds
        )


def nothing(*args: object, **kw: object) -> None:
    """A target for delayed calls."""


class TestState:
    def test_newCallIsActive(self) -> None:
        """A new call is active, neither called nor cancelled, and due at its time."""
        call = Hooks().make(5.0)
        assert call.active()
        assert not call.called
        assert not call.cancelled
        assert call.getTime() == 5.0
        assert call.time == 5.0
        assert call.delayed_time == 0

    def test_providesIDelayedCall(self) -> None:
        """DelayedCall satisfies the runtime-checkable IDelayedCall protocol."""
        assert isinstance(Hooks().make(1.0), IDelayedCall)

    def test_slots(self) -> None:
        """Instances have no __dict__: reactors create many and they must stay small."""
        call = Hooks().make(1.0)
        assert not hasattr(call, "__dict__")
        with pytest.raises(AttributeError):
            call.unknown = 1  # type: ignore[attr-defined]

    def test_attributes(self) -> None:
        """func, args and kw are kept as given."""
        call = Hooks().make(1.0, nothing, 1, 2, x=3)
        assert call.func is nothing
        assert call.args == (1, 2)
        assert call.kw == {"x": 3}

    def test_inactiveOnceCalled(self) -> None:
        """Once the scheduler marks it called, the call is no longer active."""
        call = Hooks().make(1.0)
        call.called = True
        assert not call.active()


class TestCancel:
    def test_cancelRunsHookAndReleasesReferences(self) -> None:
        """cancel() passes the call to the cancel hook, marks it and drops func/args/kw."""
        hooks = Hooks()
        call = hooks.make(1.0, nothing, 1, key=2)
        call.cancel()
        assert hooks.cancelled == [call]
        assert call.cancelled
        assert not call.active()
        for name in ("func", "args", "kw"):
            assert not hasattr(call, name)

    def test_cancelTwice(self) -> None:
        """A second cancel() raises AlreadyCancelled and does not call the hook again."""
        hooks = Hooks()
        call = hooks.make(1.0)
        call.cancel()
        with pytest.raises(AlreadyCancelled):
            call.cancel()
        assert hooks.cancelled == [call]

    def test_cancelAfterCalled(self) -> None:
        """cancel() on a call that ran raises AlreadyCalled."""
        hooks = Hooks()
        call = hooks.make(1.0)
        call.called = True
        with pytest.raises(AlreadyCalled):
            call.cancel()
        assert hooks.cancelled == []

    def test_hookFailureLeavesCallActive(self) -> None:
        """If the cancel hook raises, the call is not marked cancelled."""

        def refuse(call: DelayedCall) -> None:
            raise ValueError("not mine")

        call = DelayedCall(1.0, nothing, (), {}, refuse, lambda c: None, lambda: 0.0)
        with pytest.raises(ValueError):
            call.cancel()
        assert call.active()

    @pytest.mark.parametrize("method", ["reset", "delay"])
    def test_rescheduleInactive(self, method: str) -> None:
        """reset() and delay() raise AlreadyCancelled / AlreadyCalled on inactive calls."""
        hooks = Hooks()
        cancelled = hooks.make(1.0)
        cancelled.cancel()
        with pytest.raises(AlreadyCancelled):
            getattr(cancelled, method)(1)
        called = hooks.make(1.0)
        called.called = True
        with pytest.raises(AlreadyCalled):
            getattr(called, method)(1)
        assert hooks.reset == []

    def test_errorMessages(self) -> None:
        """The errors render like Twisted's: message, optional arguments, full stop."""
        assert str(AlreadyCalled()) == "Tried to cancel an already-called event."
        assert str(AlreadyCancelled()) == "Tried to cancel an already-cancelled event."
        assert str(AlreadyCalled("a", "b")) == "Tried to cancel an already-called event: a b."
        assert issubclass(AlreadyCalled, ValueError)
        assert issubclass(AlreadyCancelled, ValueError)


class TestReschedule:
    def test_resetLaterIsLazy(self) -> None:
        """reset() to a later time only grows delayed_time: no hook call, no key change."""
        hooks = Hooks(now=2.0)
        call = hooks.make(5.0)
        call.reset(10.0)
        assert call.getTime() == 12.0
        assert call.time == 5.0
        assert call.delayed_time == 7.0
        assert hooks.reset == []

    def test_resetSoonerMovesKey(self) -> None:
        """reset() to an earlier time lowers time, clears delayed_time and calls the hook."""
        hooks = Hooks(now=2.0)
        call = hooks.make(5.0)
        call.delay(3.0)
        call.reset(1.0)
        assert call.time == 3.0
        assert call.delayed_time == 0.0
        assert call.getTime() == 3.0
        assert hooks.reset == [call]

    def test_resetMeasuresFromNow(self) -> None:
        """reset() is relative to seconds() at the time of the reset, not to the old time."""
        hooks = Hooks(now=0.0)
        call = hooks.make(5.0)
        hooks.now = 4.0
        call.reset(3.0)
        assert call.getTime() == 7.0

    def test_delayLater(self) -> None:
        """delay() adds to the due time lazily; repeated delays accumulate."""
        hooks = Hooks()
        call = hooks.make(5.0)
        call.delay(2.0)
        call.delay(1.5)
        assert call.getTime() == 8.5
        assert call.time == 5.0
        assert hooks.reset == []

    def test_delayEarlier(self) -> None:
        """A negative delay that moves the call before its key applies it and calls the hook."""
        hooks = Hooks()
        call = hooks.make(5.0)
        call.delay(-2.0)
        assert call.time == 3.0
        assert call.delayed_time == 0.0
        assert hooks.reset == [call]

    def test_negativeDelayWithinPendingDelay(self) -> None:
        """A negative delay smaller than a pending delay stays lazy."""
        hooks = Hooks()
        call = hooks.make(5.0)
        call.delay(3.0)
        call.delay(-1.0)
        assert call.getTime() == 7.0
        assert call.time == 5.0
        assert hooks.reset == []

    def test_activateDelay(self) -> None:
        """activate_delay() folds delayed_time into time, keeping getTime()."""
        call = Hooks().make(5.0)
        call.delay(2.5)
        call.activate_delay()
        assert (call.time, call.delayed_time, call.getTime()) == (7.5, 0.0, 7.5)


class TestOrdering:
    def test_lessThanByTime(self) -> None:
        """Calls compare by their time key."""
        hooks = Hooks()
        early, late = hooks.make(1.0), hooks.make(2.0)
        assert early < late
        assert not late < early
        assert early <= late
        assert not late <= early

    def test_equalTimesByCreationOrder(self) -> None:
        """Calls with equal times order by creation, so ties fire in scheduling order."""
        hooks = Hooks()
        first, second = hooks.make(1.0), hooks.make(1.0)
        assert first < second
        assert not second < first
        assert first <= second
        assert first <= first

    @given(st.lists(st.integers(min_value=0, max_value=5), max_size=40))
    def test_heapPopsInTimeThenInsertionOrder(self, times: list[int]) -> None:
        """A heapq of DelayedCalls pops by time, equal times in insertion order."""
        hooks = Hooks()
        heap: list[DelayedCall] = []
        for index, when in enumerate(times):
            heapq.heappush(heap, hooks.make(float(when), nothing, index))
        popped = [heapq.heappop(heap).args[0] for _ in range(len(heap))]
        expected = [index for index, _ in sorted(enumerate(times), key=lambda pair: pair[1])]
        assert popped == expected


class TestRepr:
    def test_repr(self) -> None:
        """repr shows the address, time left, state flags, function and arguments."""
        call = Hooks(now=1.5).make(12.0, nothing, 3, A=5)
        expected = f"<DelayedCall 0x{id(call):x} [10.5s] called=0 cancelled=0 nothing(3, A=5)>"
        assert repr(call) == expected
        assert str(call) == expected

    def test_reprCancelled(self) -> None:
        """After cancel the repr has no function, and shows cancelled=1."""
        call = Hooks().make(2.0, nothing, 1)
        call.cancel()
        assert repr(call) == f"<DelayedCall 0x{id(call):x} [2.0s] called=0 cancelled=1>"

    def test_reprMethodAndKeywordsOnly(self) -> None:
        """Methods appear by qualified name; keyword-only calls have no stray comma."""
        call = Hooks().make(1.0, Hooks.seconds, key="v")
        assert repr(call).endswith(" Hooks.seconds(key='v')>")

    def test_reprBrokenArgument(self) -> None:
        """An argument whose repr raises does not break the call's repr."""

        class Broken:
            def __repr__(self) -> str:
                raise RuntimeError("no")

        text = repr(Hooks().make(1.0, nothing, Broken()))
        assert "Broken" in text
        assert "broken repr" in text

    def test_debugRecordsCreator(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With DelayedCall.debug set, the repr includes the stack that created the call."""
        monkeypatch.setattr(DelayedCall, "debug", True)
        call = Hooks().make(1.0)
        assert "traceback at creation" in repr(call)
        assert "test_debugRecordsCreator" in repr(call)
        call.cancel()
        assert "traceback at creation" in repr(call)
