"""The torsion pytest plugin, registered through the ``pytest11`` entry point.

* ``async def`` tests, and tests returning a Deferred, are run to completion
  (``torsion_timeout`` ini option or ``@pytest.mark.torsion_timeout(seconds)``;
  default 60 seconds).
* ``clock`` fixture: a fresh :class:`torsion.task.Clock`.
* A failure logged as unhandled (a failing Deferred garbage-collected with
  nobody handling its error) during a test fails that test.  The
  ``logged_failures`` fixture takes such failures: ``flush(*types)`` returns
  and forgets the ones of those types, so a test can expect them.
"""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import Generator, Iterator

import pytest

from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.task import Clock
from torsion.testing._driver import run_to_completion

__all__ = ["LoggedFailures"]

_DEFAULT_TIMEOUT = 60.0


class LoggedFailures(logging.Handler):
    """Collects failures logged under the ``torsion`` logger during one test."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.failures: list[tuple[Failure, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        failure = getattr(record, "failure", None)
        if isinstance(failure, Failure):
            self.failures.append((failure, record.getMessage()))

    def flush(self, *errorTypes: type[BaseException]) -> list[Failure]:  # type: ignore[override]
        """Forget and return the failures of ``errorTypes`` (all of them if none given)."""
        gc.collect()
        taken = [f for f, _ in self.failures if not errorTypes or f.check(*errorTypes)]
        self.failures = [
            (f, m) for f, m in self.failures if errorTypes and not f.check(*errorTypes)
        ]
        return taken


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "torsion_timeout",
        "seconds an async test or a test's Deferred may take (default 60)",
        default=str(_DEFAULT_TIMEOUT),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "torsion_timeout(seconds): how long this test's Deferred may take"
    )


def _timeout(item: pytest.Function) -> float:
    marker = item.get_closest_marker("torsion_timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    return float(item.config.getini("torsion_timeout"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    func = pyfuncitem.obj
    if inspect.isasyncgenfunction(func):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    if inspect.iscoroutinefunction(func):
        run_to_completion(lambda: func(**kwargs), _timeout(pyfuncitem))
        return True
    if inspect.isgeneratorfunction(func):
        return None
    result = func(**kwargs)
    if isinstance(result, Deferred):
        deferred = result
        run_to_completion(lambda: deferred, _timeout(pyfuncitem))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    handler = _handler_for(item)
    logger = logging.getLogger("torsion")
    logger.addHandler(handler)
    try:
        result = yield
        gc.collect()
    finally:
        logger.removeHandler(handler)
    if handler.failures:
        report = "\n\n".join(f"{message}" for _, message in handler.failures)
        handler.failures.clear()
        pytest.fail(f"unhandled failure logged during the test:\n{report}", pytrace=False)
    return result


def _handler_for(item: pytest.Item) -> LoggedFailures:
    handler = getattr(item, "_torsion_logged_failures", None)
    if handler is None:
        handler = LoggedFailures()
        item._torsion_logged_failures = handler  # type: ignore[attr-defined]
    return handler


@pytest.fixture
def logged_failures(request: pytest.FixtureRequest) -> Iterator[LoggedFailures]:
    """The failures logged as unhandled so far in this test; ``flush`` takes them."""
    yield _handler_for(request.node)


@pytest.fixture
def clock() -> Clock:
    """A fresh deterministic clock: time moves only with ``advance``."""
    return Clock()
