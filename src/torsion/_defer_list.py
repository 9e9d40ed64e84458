"""Waiting on several Deferreds: DeferredList, gatherResults and race.

Re-exported by :mod:`torsion.defer` (mirrors ``twisted.internet.defer``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from torsion._defer_core import _EMPTY_KW, Deferred
from torsion._logging import log_failure
from torsion.failure import Failure

__all__ = [
    "FAILURE",
    "SUCCESS",
    "DeferredList",
    "FailureGroup",
    "FirstError",
    "gatherResults",
    "race",
]

_T = TypeVar("_T")

#: First element of a DeferredList entry whose Deferred succeeded.
SUCCESS = True
#: First element of a DeferredList entry whose Deferred failed.
FAILURE = False


class FirstError(Exception):
    """The first failure among the Deferreds of a DeferredList or gatherResults.

    Attributes:
        subFailure: the Failure of that Deferred.
        index: its position in the list.
    """

    def __init__(self, failure: Failure, index: int) -> None:
        super().__init__(failure, index)
        self.subFailure = failure
        self.index = index

    def __repr__(self) -> str:
        return f"FirstError[#{self.index}, {self.subFailure.value!r}]"

    def __str__(self) -> str:
        return f"FirstError[#{self.index}, {self.subFailure}]"

    def __eq__(self, other: object) -> bool:
        # Only another FirstError compares equal (Twisted 26 dropped the
        # comparison with a ``(subFailure, index)`` tuple).
        if isinstance(other, FirstError):
            return self.subFailure == other.subFailure and self.index == other.index
        return False

    __hash__ = Exception.__hash__


class FailureGroup(Exception):
    """Every Deferred given to :func:`race` failed; ``failures`` holds them in order."""

    def __init__(self, failures: Sequence[Failure]) -> None:
        super().__init__()
        self.failures = list(failures)


class DeferredList(Deferred[Any]):
    """A Deferred that fires once a list of Deferreds has.

    By default it fires with a list of ``(success, result)`` pairs in the
    order given, after all have fired.  ``fireOnOneCallback`` fires with
    ``(result, index)`` of the first success; ``fireOnOneErrback`` fails with
    :class:`FirstError` at the first failure; ``consumeErrors`` stops failures
    from propagating down the members' own chains (so they are not logged as
    unhandled).  Cancelling a DeferredList cancels its members.

    Example::

        dl = DeferredList([getPage(a), getPage(b)], consumeErrors=True)
        dl.addCallback(lambda pairs: [r for ok, r in pairs if ok])
    """

    def __init__(
        self,
        deferredList: Iterable[Deferred[Any]],
        fireOnOneCallback: bool = False,
        fireOnOneErrback: bool = False,
        consumeErrors: bool = False,
    ) -> None:
        self._deferredList = list(deferredList)
        self.resultList: list[Any] = [None] * len(self._deferredList)
        super().__init__()
        if not self._deferredList and not fireOnOneCallback:
            self.callback([])
        self.fireOnOneCallback = fireOnOneCallback
        self.fireOnOneErrback = fireOnOneErrback
        self.consumeErrors = consumeErrors
        self.finishedCount = 0
        on_result = self._cbDeferred
        for index, deferred in enumerate(self._deferredList):
            deferred.callbacks.append(
                ((on_result, (index, SUCCESS), _EMPTY_KW), (on_result, (index, FAILURE), _EMPTY_KW))
            )
            if deferred.called:
                deferred._runCallbacks()

    def _cbDeferred(self, result: Any, index: int, succeeded: bool) -> Any:
        self.resultList[index] = (succeeded, result)
        self.finishedCount += 1
        if not self.called:
            if succeeded and self.fireOnOneCallback:
                self.callback((result, index))
            elif not succeeded and self.fireOnOneErrback:
                self.errback(Failure(FirstError(result, index)))
            elif self.finishedCount == len(self.resultList):
                self.callback(self.resultList)
        if not succeeded and self.consumeErrors:
            return None
        return result

    def cancel(self) -> None:
        """Cancel every member that has not fired; the list then fires as usual."""
        if self.called:
            return
        for deferred in self._deferredList:
            try:
                deferred.cancel()
            except BaseException:
                log_failure(Failure(), "Exception raised from user supplied canceller")


def _only_results(result_list: list[tuple[bool, Any]]) -> list[Any]:
    return [result for _, result in result_list]


def gatherResults(
    deferredList: Iterable[Deferred[_T]], consumeErrors: bool = False
) -> Deferred[list[_T]]:
    """Return a Deferred firing with the list of all results, in order.

    It fails with :class:`FirstError` as soon as one of them fails.
    ``consumeErrors`` keeps that failure from also being reported as an
    unhandled error by the member's own chain.
    """
    d = DeferredList(deferredList, fireOnOneErrback=True, consumeErrors=consumeErrors)
    d.addCallback(_only_results)
    return d


def race(ds: Sequence[Deferred[_T]]) -> Deferred[tuple[int, _T]]:
    """Fire with ``(index, result)`` of the first Deferred to succeed, cancelling the rest.

    If all of them fail, fails with :class:`FailureGroup` holding their
    failures in order.  Cancelling the returned Deferred cancels them all.
    With no Deferreds at all it never fires.
    """
    members = list(ds)
    failures: list[Failure | None] = [None] * len(members)
    failed = 0
    decided = False

    def cancel_all(_: Deferred[tuple[int, _T]]) -> None:
        for member in members:
            member.cancel()

    winner: Deferred[tuple[int, _T]] = Deferred(cancel_all)

    def succeeded(result: _T, index: int) -> None:
        nonlocal decided
        if decided:
            return
        # Decide first, so a loser whose canceller fires it with a result is
        # ignored; cancel the losers before the race's own callbacks run.
        decided = True
        for other_index, other in enumerate(members):
            if other_index != index:
                other.cancel()
        winner.callback((index, result))

    def lost(failure: Failure, index: int) -> None:
        nonlocal failed
        failures[index] = failure
        failed += 1
        if failed == len(members) and not decided:
            winner.errback(FailureGroup([f for f in failures if f is not None]))

    for index, member in enumerate(members):
        member.addCallbacks(succeeded, lost, callbackArgs=(index,), errbackArgs=(index,))
    return winner
