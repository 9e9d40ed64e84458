"""Look at a Deferred's result right now, without running anything."""

from __future__ import annotations

from typing import Any, TypeVar

from torsion.defer import Deferred
from torsion.failure import Failure

__all__ = ["assert_no_result", "failure_result_of", "success_result_of"]

_T = TypeVar("_T")


def _current(d: Deferred[Any]) -> list[object]:
    seen: list[object] = []

    def take(result: object) -> object:
        seen.append(result)
        return result

    d.addBoth(take)
    return seen


def success_result_of(d: Deferred[_T]) -> _T:
    """Return ``d``'s result, which must already be a success.

    Raises:
        AssertionError: when ``d`` has no result yet or has failed.
    """
    seen = _current(d)
    if not seen:
        raise AssertionError(f"success result expected on {d!r}, found no result instead")
    result = seen[0]
    if isinstance(result, Failure):
        raise AssertionError(
            f"success result expected on {d!r}, found failure result instead:\n"
            f"{result.getTraceback()}"
        )
    return result  # type: ignore[return-value]


def failure_result_of(d: Deferred[Any], *expected: type[BaseException]) -> Failure:
    """Return ``d``'s Failure, which must already be there (and of ``expected`` types).

    Taking the failure handles it: it is not reported as unhandled afterwards.

    Raises:
        AssertionError: when ``d`` has no result, succeeded, or failed with
            another exception type.
    """
    seen = _current(d)
    if not seen:
        raise AssertionError(f"failure result expected on {d!r}, found no result instead")
    result = seen[0]
    if not isinstance(result, Failure):
        raise AssertionError(
            f"failure result expected on {d!r}, found success result ({result!r}) instead"
        )
    d.addErrback(lambda _: None)
    if expected and result.check(*expected) is None:
        names = " or ".join(e.__qualname__ for e in expected)
        raise AssertionError(
            f"failure of type {names} expected on {d!r}, found type {result.type!r} instead:\n"
            f"{result.getTraceback()}"
        )
    return result


def assert_no_result(d: Deferred[Any]) -> None:
    """Assert that ``d`` has no result yet.

    Raises:
        AssertionError: when it has one (a failure found is handled, so it is
            not reported twice).
    """
    seen = _current(d)
    if seen:
        result = seen[0]
        if isinstance(result, Failure):
            d.addErrback(lambda _: None)
        raise AssertionError(f"no result expected on {d!r}, found {result!r} instead")
