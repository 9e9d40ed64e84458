"""``Cooperator``: runs many iterators a step at a time without blocking the reactor.

Part of ``torsion.task`` (which re-exports every public name here and holds
the global Cooperator); it mirrors the cooperator half of
``twisted.internet.task``, hence the camelCase API.

How it schedules: each tick takes tasks round-robin, one ``next()`` per
task in turn, until the termination predicate says the tick's time is spent
(10 ms by default); then, if tasks remain, it asks the scheduler for another
tick.  A task whose iterator yields a Deferred is taken out of the rotation
(paused) until that Deferred fires.  When the last task leaves, the pending
tick is cancelled, so an idle Cooperator leaves nothing scheduled.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, cast

from torsion._globalreactor import defaultReactor
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.interfaces import IDelayedCall, IReactorTime

__all__ = [
    "CooperativeTask",
    "Cooperator",
    "NotPaused",
    "SchedulerError",
    "SchedulerStopped",
    "TaskDone",
    "TaskFailed",
    "TaskFinished",
    "TaskStopped",
]

_TaskIteratorT = TypeVar("_TaskIteratorT", bound=Iterator[object])


class SchedulerError(Exception):
    """A scheduler or one of its tasks was in the wrong state for an operation.

    Not raised itself; the base class of the scheduler state errors.
    """


class SchedulerStopped(SchedulerError):
    """The scheduler was stopped before, or while, the task ran."""


class TaskFinished(SchedulerError):
    """The task has already finished: completed, stopped or failed."""


class TaskDone(TaskFinished):
    """The task has already completed (its iterator was exhausted)."""


class TaskStopped(TaskFinished):
    """The task was stopped with ``CooperativeTask.stop``."""


class TaskFailed(TaskFinished):
    """The task's iterator raised an exception (or yielded a failing Deferred)."""


class NotPaused(SchedulerError):
    """``resume`` was called on a task that is not paused."""


class _Timer:
    """The default termination predicate: true once a 10 ms slice is used up."""

    MAX_SLICE = 0.01

    def __init__(self) -> None:
        self.end = time.monotonic() + self.MAX_SLICE

    def __call__(self) -> bool:
        return time.monotonic() >= self.end


# A positive delay, so that one tick yields to I/O before the next one.
_EPSILON = 0.00000001


def _defaultScheduler(callable: Callable[[], None]) -> IDelayedCall:
    reactor = cast(
        IReactorTime,
        defaultReactor("create the Cooperator with scheduler=<a callLater wrapper>"),
    )
    return reactor.callLater(_EPSILON, callable)


class CooperativeTask(Generic[_TaskIteratorT]):
    """One iterator being run by a ``Cooperator``; can be paused, resumed and stopped.

    Each step calls ``next`` on the iterator once.  If it yields a Deferred,
    the task pauses until that Deferred fires.  The task finishes when the
    iterator is exhausted (``TaskDone``), raises (``TaskFailed``), is
    stopped (``TaskStopped``) or its cooperator stops (``SchedulerStopped``).

    Create one with ``Cooperator.cooperate``, not directly.
    """

    def __init__(self, iterator: _TaskIteratorT, cooperator: Cooperator) -> None:
        """Register ``iterator`` with ``cooperator`` (private: use ``cooperate``)."""
        self._iterator = iterator
        self._cooperator = cooperator
        self._deferreds: list[Deferred[_TaskIteratorT]] = []
        self._pauseCount = 0
        self._completionState: SchedulerError | None = None
        self._completionResult: _TaskIteratorT | Failure | None = None
        cooperator._addTask(self)

    def whenDone(self) -> Deferred[_TaskIteratorT]:
        """Return a new Deferred for the task's end.

        Returns:
            A Deferred firing with the iterator once it is exhausted, or
            failing with the iterator's error, ``TaskStopped`` or
            ``SchedulerStopped``.  If the task has already finished, it has
            already fired.
        """
        done: Deferred[_TaskIteratorT] = Deferred()
        if self._completionState is None:
            self._deferreds.append(done)
        else:
            result = self._completionResult
            assert result is not None
            done.callback(result)
        return done

    def pause(self) -> None:
        """Stop running steps until ``resume`` is called as many times as ``pause``.

        Raises:
            TaskFinished: The task has already finished (the subclass says how).
        """
        self._checkFinish()
        self._pauseCount += 1
        if self._pauseCount == 1:
            self._cooperator._removeTask(self)

    def resume(self) -> None:
        """Undo one ``pause``; steps run again once every pause is undone.

        Raises:
            NotPaused: The task is not paused.
        """
        if self._pauseCount == 0:
            raise NotPaused()
        self._pauseCount -= 1
        if self._pauseCount == 0 and self._completionState is None:
            self._cooperator._addTask(self)

    def stop(self) -> None:
        """Stop the task for good; ``whenDone`` Deferreds fail with ``TaskStopped``.

        Raises:
            TaskFinished: The task has already finished.
        """
        self._checkFinish()
        self._completeWith(TaskStopped(), Failure(TaskStopped()))

    def _checkFinish(self) -> None:
        if self._completionState is not None:
            raise self._completionState

    def _completeWith(self, state: SchedulerError, result: _TaskIteratorT | Failure) -> None:
        self._completionState = state
        self._completionResult = result
        if not self._pauseCount:
            self._cooperator._removeTask(self)
        # Fire only once the task is out of the cooperator: a callback may stop
        # the cooperator or add tasks, and must not find this task still there.
        for done in self._deferreds:
            done.callback(result)

    def _oneWorkUnit(self) -> None:
        """Take one step of the iterator and act on what it produced."""
        try:
            produced = next(self._iterator)
        except StopIteration:
            self._completeWith(TaskDone(), self._iterator)
        except BaseException:
            self._completeWith(TaskFailed(), Failure())
        else:
            if isinstance(produced, Deferred):
                self.pause()
                produced.addCallbacks(self._resumeAfter, self._failAfter)

    def _resumeAfter(self, result: object) -> None:
        self.resume()

    def _failAfter(self, failure: Failure) -> None:
        self._completeWith(TaskFailed(), failure)


class Cooperator:
    """Runs iterators a step at a time, sharing time between them round-robin.

    Each tick runs one step of each task in turn, and keeps going round until
    the termination predicate says the tick has used its time; then it asks
    the scheduler for another tick.  Several Cooperators do not coordinate
    with each other: prefer the global one (``cooperate``, ``coiterate``).
    """

    def __init__(
        self,
        terminationPredicateFactory: Callable[[], Callable[[], bool]] = _Timer,
        scheduler: Callable[[Callable[[], None]], IDelayedCall] = _defaultScheduler,
        started: bool = True,
    ) -> None:
        """Create a Cooperator.

        Args:
            terminationPredicateFactory: Called at the start of each tick; the
                predicate it returns is polled after each step and ends the
                tick when true.  The default allows about 10 ms per tick.
            scheduler: Called with the tick function; must call it later and
                return something with ``cancel()``.  The default uses the
                default reactor's ``callLater``.
            started: Run tasks as soon as they are added (True), or only once
                ``start`` is called.
        """
        self._tasks: list[CooperativeTask[Any]] = []
        self._metarator: Iterator[CooperativeTask[Any]] = iter(())
        self._terminationPredicateFactory = terminationPredicateFactory
        self._scheduler = scheduler
        self._delayedCall: IDelayedCall | None = None
        self._stopped = False
        self._started = started
        self._mustScheduleOnStart = False

    def coiterate(
        self, iterator: _TaskIteratorT, doneDeferred: Deferred[_TaskIteratorT] | None = None
    ) -> Deferred[_TaskIteratorT]:
        """Run ``iterator`` as a task and return a Deferred for its end.

        Args:
            iterator: The task's iterator.
            doneDeferred: The Deferred to fire; a new one by default.

        Returns:
            A Deferred firing with ``iterator`` when it is exhausted, or failing
            as ``CooperativeTask.whenDone`` does.
        """
        if doneDeferred is None:
            doneDeferred = Deferred()
        CooperativeTask(iterator, self).whenDone().chainDeferred(doneDeferred)
        return doneDeferred

    def cooperate(self, iterator: _TaskIteratorT) -> CooperativeTask[_TaskIteratorT]:
        """Run ``iterator`` as a task.

        Args:
            iterator: The task's iterator.

        Returns:
            The task, to pause, resume, stop or wait for.
        """
        return CooperativeTask(iterator, self)

    def _addTask(self, task: CooperativeTask[Any]) -> None:
        self._tasks.append(task)
        if self._stopped:
            # _completeWith removes the task again, so it must be listed first.
            task._completeWith(SchedulerStopped(), Failure(SchedulerStopped()))
        else:
            self._reschedule()

    def _removeTask(self, task: CooperativeTask[Any]) -> None:
        self._tasks.remove(task)
        if not self._tasks and self._delayedCall is not None:
            self._delayedCall.cancel()
            self._delayedCall = None

    def _tasksWhileNotStopped(self) -> Iterator[CooperativeTask[Any]]:
        """Yield tasks round-robin until the tick's time is up or none remain."""
        terminator = self._terminationPredicateFactory()
        while self._tasks:
            for task in self._metarator:
                yield task
                if terminator():
                    return
            self._metarator = iter(self._tasks)

    def _tick(self) -> None:
        """Run one tick: steps of each task in turn, then schedule the next tick."""
        self._delayedCall = None
        for task in self._tasksWhileNotStopped():
            task._oneWorkUnit()
        self._reschedule()

    def _reschedule(self) -> None:
        if not self._started:
            self._mustScheduleOnStart = True
            return
        if self._delayedCall is None and self._tasks:
            self._delayedCall = self._scheduler(self._tick)

    def start(self) -> None:
        """Begin running tasks (for a Cooperator created with ``started=False``)."""
        self._stopped = False
        self._started = True
        if self._mustScheduleOnStart:
            self._mustScheduleOnStart = False
            self._reschedule()

    def stop(self) -> None:
        """Stop running tasks: their ``whenDone`` Deferreds fail with ``SchedulerStopped``.

        A task that is paused (or waiting on a Deferred it yielded) is not in
        the rotation: it fails the same way when it is resumed, without taking
        another step.  Tasks added afterwards fail at once, until ``start``.
        """
        self._stopped = True
        for task in self._tasks:
            task._completeWith(SchedulerStopped(), Failure(SchedulerStopped()))
        self._tasks = []
        if self._delayedCall is not None:
            self._delayedCall.cancel()
            self._delayedCall = None

    @property
    def running(self) -> bool:
        """True if started and not stopped."""
        return self._started and not self._stopped
