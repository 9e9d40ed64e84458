"""Tests for waiting on several Deferreds: DeferredList, gatherResults and race."""

from __future__ import annotations

from typing import Any

from torsion.defer import (
    FAILURE,
    SUCCESS,
    CancelledError,
    Deferred,
    DeferredList,
    FailureGroup,
    FirstError,
    fail,
    gatherResults,
    race,
    succeed,
)
from torsion.failure import Failure
from torsion.testing import assert_no_result, failure_result_of, success_result_of


class Boom(Exception):
    """A recognisable application error."""


class TestDeferredList:
    def test_success_and_failure_flags(self) -> None:
        """SUCCESS is True and FAILURE is False, as the first item of each result pair."""
        assert SUCCESS is True
        assert FAILURE is False

    def test_empty_list_fires_with_empty_list(self) -> None:
        """DeferredList([]) has already fired with []."""
        assert success_result_of(DeferredList([])) == []

    def test_empty_list_with_fire_on_one_callback_never_fires(self) -> None:
        """With fireOnOneCallback, an empty DeferredList never fires (no success can come)."""
        assert_no_result(DeferredList([], fireOnOneCallback=True))

    def test_empty_list_with_fire_on_one_errback_fires_empty(self) -> None:
        """With only fireOnOneErrback, an empty DeferredList fires with []."""
        assert success_result_of(DeferredList([], fireOnOneErrback=True)) == []

    def test_results_in_given_order_whatever_the_firing_order(self) -> None:
        """The result lists (success, value) pairs in the order the Deferreds were given,
        and fires only when the last one fires."""
        a: Deferred[str] = Deferred()
        b: Deferred[str] = Deferred()
        c: Deferred[str] = Deferred()
        dl = DeferredList([a, b, c])
        c.callback("c")
        a.callback("a")
        assert_no_result(dl)
        b.callback("b")
        assert success_result_of(dl) == [(True, "a"), (True, "b"), (True, "c")]

    def test_failures_are_listed_not_raised(self) -> None:
        """Without fireOnOneErrback a failure is listed as (False, failure); the list
        itself succeeds."""
        error = Boom("member failed")
        dl = DeferredList([succeed(1), fail(error)], consumeErrors=True)
        result = success_result_of(dl)
        assert result[0] == (True, 1)
        assert result[1][0] is False
        assert isinstance(result[1][1], Failure)
        assert result[1][1].value is error

    def test_already_fired_members_counted(self) -> None:
        """Members that fired before the DeferredList was made count at once."""
        dl = DeferredList([succeed(1), succeed(2)])
        assert success_result_of(dl) == [(True, 1), (True, 2)]

    def test_result_list_attribute(self) -> None:
        """``resultList`` holds the pairs as they come in, with None for unfired ones."""
        a: Deferred[int] = Deferred()
        b: Deferred[int] = Deferred()
        dl = DeferredList([a, b])
        b.callback(2)
        assert dl.resultList == [None, (True, 2)]
        a.callback(1)
        assert success_result_of(dl) == [(True, 1), (True, 2)]
        assert dl.resultList == [(True, 1), (True, 2)]

    def test_accepts_any_iterable(self) -> None:
        """The Deferreds may come from a generator."""
        dl = DeferredList(succeed(i) for i in range(3))
        assert success_result_of(dl) == [(True, 0), (True, 1), (True, 2)]

    def test_fire_on_one_callback(self) -> None:
        """fireOnOneCallback fires with (result, index) of the first success; later
        results are still recorded in resultList but do not fire it again."""
        a: Deferred[str] = Deferred()
        b: Deferred[str] = Deferred()
        dl = DeferredList([a, b], fireOnOneCallback=True)
        b.callback("second")
        assert success_result_of(dl) == ("second", 1)
        a.callback("first")
        assert dl.resultList == [(True, "first"), (True, "second")]

    def test_fire_on_one_callback_skips_failures(self) -> None:
        """With fireOnOneCallback a failure does not fire the list; if all fail, it fires
        with the whole result list once the last one is in."""
        a: Deferred[str] = Deferred()
        b: Deferred[str] = Deferred()
        dl = DeferredList([a, b], fireOnOneCallback=True, consumeErrors=True)
        a.errback(Boom("a"))
        assert_no_result(dl)
        b.errback(Boom("b"))
        result = success_result_of(dl)
        assert [ok for ok, _ in result] == [False, False]

    def test_fire_on_one_errback_gives_first_error(self) -> None:
        """fireOnOneErrback fails at the first failure with a FirstError carrying the
        member's Failure (subFailure) and its index."""
        a: Deferred[str] = Deferred()
        b: Deferred[str] = Deferred()
        dl = DeferredList([a, b], fireOnOneErrback=True, consumeErrors=True)
        error = Boom("b broke")
        b.errback(error)
        failure = failure_result_of(dl, FirstError)
        first = failure.value
        assert first.index == 1
        assert isinstance(first.subFailure, Failure)
        assert first.subFailure.value is error
        a.callback("late")
        assert dl.resultList[0] == (True, "late")

    def test_fire_on_one_errback_with_all_successes(self) -> None:
        """fireOnOneErrback with no failure fires with the full list."""
        dl = DeferredList([succeed(1), succeed(2)], fireOnOneErrback=True)
        assert success_result_of(dl) == [(True, 1), (True, 2)]

    def test_consume_errors_stops_propagation(self) -> None:
        """With consumeErrors, a failed member's own chain continues with None after the
        list has seen it (so nothing is logged as unhandled)."""
        member: Deferred[int] = Deferred()
        DeferredList([member], consumeErrors=True)
        member.errback(Boom())
        assert success_result_of(member) is None

    def test_without_consume_errors_member_keeps_failure(self, logged_failures: Any) -> None:
        """Without consumeErrors the member's chain still carries the failure after the
        list: if nobody handles it, it is reported as an unhandled error."""
        member: Deferred[int] = Deferred()
        dl = DeferredList([member])
        member.errback(Boom("still here"))
        assert isinstance(member.result, Failure)
        assert member.result.check(Boom)
        assert success_result_of(dl)[0][1].check(Boom)
        del member, dl
        assert [f.getErrorMessage() for f in logged_failures.flush(Boom)] == ["still here"]

    def test_callbacks_after_list_see_member_result(self) -> None:
        """A member's callbacks added after the list see the member's own result."""
        member: Deferred[int] = Deferred()
        DeferredList([member])
        member.callback(5)
        assert success_result_of(member) == 5


class TestFirstError:
    def _failure(self) -> Failure:
        try:
            raise Boom("sub")
        except Boom:
            return Failure()

    def test_attributes_and_args(self) -> None:
        """FirstError(failure, index) keeps both as subFailure/index and as args."""
        f = self._failure()
        error = FirstError(f, 3)
        assert isinstance(error, Exception)
        assert error.subFailure is f
        assert error.index == 3
        assert error.args == (f, 3)

    def test_repr(self) -> None:
        """repr is ``FirstError[#index, repr(exception)]``."""
        f = self._failure()
        assert repr(FirstError(f, 3)) == "FirstError[#3, Boom('sub')]"

    def test_str(self) -> None:
        """str is ``FirstError[#index, str(failure)]`` (the failure's brief traceback)."""
        f = self._failure()
        assert str(FirstError(f, 2)) == f"FirstError[#2, {f}]"
        assert "[Failure instance: Traceback: " in str(FirstError(f, 2))

    def test_equality(self) -> None:
        """FirstErrors with the same failure and index are equal; a different index is
        not; a FirstError never equals a non-FirstError, not even a (failure, index)
        tuple (Twisted compares only FirstError instances)."""
        f = self._failure()
        assert FirstError(f, 1) == FirstError(f, 1)
        assert (FirstError(f, 1) != FirstError(f, 1)) is False
        assert FirstError(f, 1) != FirstError(f, 2)
        assert FirstError(f, 1) != "FirstError"
        assert FirstError(f, 1) != (f, 1)


class TestGatherResults:
    def test_results_in_order(self) -> None:
        """gatherResults fires with the plain results in the order given."""
        a: Deferred[int] = Deferred()
        b: Deferred[int] = Deferred()
        g = gatherResults([a, b])
        b.callback(2)
        assert_no_result(g)
        a.callback(1)
        assert success_result_of(g) == [1, 2]

    def test_empty(self) -> None:
        """gatherResults([]) fires with []."""
        assert success_result_of(gatherResults([])) == []

    def test_first_failure_fails_at_once(self) -> None:
        """The first failure fails the result at once with FirstError (index and
        subFailure), without waiting for the others."""
        a: Deferred[int] = Deferred()
        b: Deferred[int] = Deferred()
        g = gatherResults([a, b], consumeErrors=True)
        b.errback(Boom("b"))
        failure = failure_result_of(g, FirstError)
        assert failure.value.index == 1
        assert failure.value.subFailure.check(Boom)
        assert_no_result(a)

    def test_consume_errors(self) -> None:
        """With consumeErrors the failed member's chain goes on with None."""
        a: Deferred[int] = Deferred()
        g = gatherResults([a], consumeErrors=True)
        a.errback(Boom())
        failure_result_of(g, FirstError)
        assert success_result_of(a) is None

    def test_without_consume_errors_member_still_fails(self, logged_failures: Any) -> None:
        """Without consumeErrors the member keeps its failure after gatherResults has seen
        it; handled there, nothing is reported."""
        a: Deferred[int] = Deferred()
        g = gatherResults([a])
        a.errback(Boom("kept"))
        failure_result_of(g, FirstError)
        failure_result_of(a, Boom)
        del a, g
        assert logged_failures.flush(Boom) == []


class TestRace:
    def test_first_success_wins_with_index(self) -> None:
        """race fires with (index, result) of the first Deferred to succeed."""
        a: Deferred[str] = Deferred()
        b: Deferred[str] = Deferred()
        c: Deferred[str] = Deferred()
        r = race([a, b, c])
        assert_no_result(r)
        b.callback("b wins")
        assert success_result_of(r) == (1, "b wins")

    def test_losers_are_cancelled_before_result_is_seen(self) -> None:
        """When one succeeds, the others are cancelled, and (as in Twisted) already so by
        the time the race's callbacks run; the winner itself is not cancelled."""
        cancelled: list[str] = []
        a: Deferred[str] = Deferred(lambda _: cancelled.append("a"))
        b: Deferred[str] = Deferred(lambda _: cancelled.append("b"))
        c: Deferred[str] = Deferred(lambda _: cancelled.append("c"))
        r = race([a, b, c])
        seen: list[object] = []
        r.addCallback(lambda result: seen.append((result, list(cancelled))))
        b.callback("b")
        assert seen == [((1, "b"), ["a", "c"])]
        # The losers' CancelledErrors were consumed by race: nothing left unhandled.
        assert success_result_of(a) is None
        assert success_result_of(c) is None

    def test_failures_before_a_success_are_ignored(self) -> None:
        """Failures do not end the race while another may still succeed."""
        a: Deferred[str] = Deferred()
        b: Deferred[str] = Deferred()
        r = race([a, b])
        a.errback(Boom("a"))
        assert_no_result(r)
        b.callback("b")
        assert success_result_of(r) == (1, "b")

    def test_all_fail_gives_failure_group_in_order(self) -> None:
        """If all fail, race fails with FailureGroup whose ``failures`` are in the order
        of the Deferreds given (not the order they failed)."""
        a: Deferred[str] = Deferred()
        b: Deferred[str] = Deferred()
        c: Deferred[str] = Deferred()
        r = race([a, b, c])
        c.errback(Boom("c"))
        a.errback(Boom("a"))
        assert_no_result(r)
        b.errback(Boom("b"))
        failure = failure_result_of(r, FailureGroup)
        group = failure.value
        assert isinstance(group, FailureGroup)
        assert isinstance(group, Exception)
        assert [f.getErrorMessage() for f in group.failures] == ["a", "b", "c"]
        assert all(isinstance(f, Failure) for f in group.failures)

    def test_cancel_race_cancels_all(self) -> None:
        """Cancelling the race cancels every member; with all of them failing it fails
        with a FailureGroup of their CancelledErrors."""
        cancelled: list[str] = []
        a: Deferred[str] = Deferred(lambda _: cancelled.append("a"))
        b: Deferred[str] = Deferred(lambda _: cancelled.append("b"))
        r = race([a, b])
        r.cancel()
        assert cancelled == ["a", "b"]
        failure = failure_result_of(r, FailureGroup)
        assert [f.type for f in failure.value.failures] == [CancelledError, CancelledError]

    def test_cancel_race_member_canceller_succeeding_wins(self) -> None:
        """If a member's canceller fires it with a value when the race is cancelled, that
        member wins the race."""
        a: Deferred[str] = Deferred(lambda d: d.callback("a gave a value"))
        b: Deferred[str] = Deferred()
        r = race([a, b])
        r.cancel()
        assert success_result_of(r) == (0, "a gave a value")
        assert b.called

    def test_second_success_ignored(self) -> None:
        """A loser whose canceller succeeds does not change the result."""
        a: Deferred[str] = Deferred()
        b: Deferred[str] = Deferred(lambda d: d.callback("b late"))
        r = race([a, b])
        a.callback("a")
        assert success_result_of(r) == (0, "a")
        assert success_result_of(b) is None

    def test_already_fired_member_wins(self) -> None:
        """A member that already succeeded wins at once and the others are cancelled."""
        b: Deferred[str] = Deferred()
        r = race([succeed("now"), b])
        assert success_result_of(r) == (0, "now")
        assert b.called

    def test_empty_race_never_fires(self) -> None:
        """race([]) never fires."""
        assert_no_result(race([]))
