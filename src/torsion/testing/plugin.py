"""The torsion pytest plugin, registered through the ``pytest11`` entry point.

* ``async def`` tests, and tests returning a Deferred, are run to completion
  on a fresh torsion reactor (the ``reactor`` fixture's, when the test asks
  for it), which is stopped afterwards so its shutdown closes what the test
  left open (``torsion_timeout`` ini option or
  ``@pytest.mark.torsion_timeout(seconds)``; default 60 seconds).
  ``@pytest.mark.torsion_asyncio`` runs the test on a fresh asyncio loop
  instead, for tests of asyncio interplay.
* ``reactor`` fixture: a new reactor of the backend named by
  ``TORSION_REACTOR`` (the platform default otherwise), closed after the test.
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
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.reactor import new_reactor
from torsion.task import Clock
from torsion.testing._driver import run_on_reactor, run_to_completion

__all__ = ["LoggedFailures"]

_DEFAULT_TIMEOUT = 60.0


class LoggedFailures:
    """The failures logged under the ``torsion`` logger during one test."""

    def __init__(self) -> None:
        self.failures: list[tuple[Failure, str]] = []

    def flush(self, *errorTypes: type[BaseException]) -> list[Failure]:
        """Forget and return the failures of ``errorTypes`` (all of them if none given)."""
        gc.collect()
        taken = [f for f, _ in self.failures if not errorTypes or f.check(*errorTypes)]
        self.failures = [
            (f, m) for f, m in self.failures if errorTypes and not f.check(*errorTypes)
        ]
        return taken


class _Collector(logging.Handler):
    """Hands ERROR records that carry a Failure to a :class:`LoggedFailures`.

    Kept apart from LoggedFailures so that ``logging.shutdown`` flushing every
    handler ever made stays cheap (its ``flush`` collects garbage).
    """

    def __init__(self, log: LoggedFailures) -> None:
        super().__init__(level=logging.ERROR)
        self.log = log

    def emit(self, record: logging.LogRecord) -> None:
        failure = getattr(record, "failure", None)
        if isinstance(failure, Failure):
            self.log.failures.append((failure, record.getMessage()))


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
    config.addinivalue_line(
        "markers", "torsion_asyncio: drive this async test on an asyncio loop, not a reactor"
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
        _drive(pyfuncitem, lambda: func(**kwargs))
        return True
    if inspect.isgeneratorfunction(func):
        return None
    result = func(**kwargs)
    if isinstance(result, Deferred):
        deferred = result
        _drive(pyfuncitem, lambda: deferred)
    return True


def _drive(item: pytest.Function, start: Callable[[], Any]) -> None:
    timeout = _timeout(item)
    if item.get_closest_marker("torsion_asyncio") is not None:
        run_to_completion(start, timeout)
        return
    reactor = item.funcargs.get("reactor")
    if reactor is None:
        reactor = new_reactor()
        try:
            run_on_reactor(reactor, start, timeout)
        finally:
            _close_reactor(reactor)
    else:
        run_on_reactor(reactor, start, timeout)


def _close_reactor(reactor: Any) -> None:
    if reactor.running:
        reactor.crash()
    reactor.disconnectAll()
    reactor._stopThreadPool()
    close = getattr(reactor, "close", None)
    if close is not None:
        close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    log = _log_for(item)
    handler = _Collector(log)
    logger = logging.getLogger("torsion")
    logger.addHandler(handler)
    try:
        result = yield
        gc.collect()
    finally:
        logger.removeHandler(handler)
    if log.failures:
        report = "\n\n".join(f"{message}" for _, message in log.failures)
        log.failures.clear()
        pytest.fail(f"unhandled failure logged during the test:\n{report}", pytrace=False)
    return result


def _log_for(item: pytest.Item) -> LoggedFailures:
    log = getattr(item, "_torsion_logged_failures", None)
    if log is None:
        log = LoggedFailures()
        item._torsion_logged_failures = log  # type: ignore[attr-defined]
    return log


@pytest.fixture
def logged_failures(request: pytest.FixtureRequest) -> Iterator[LoggedFailures]:
    """The failures logged as unhandled so far in this test; ``flush`` takes them."""
    yield _log_for(request.node)


@pytest.fixture
def reactor() -> Iterator[Any]:
    """A new reactor (backend from ``TORSION_REACTOR``), cleaned up after the test."""
    created = new_reactor()
    yield created
    _close_reactor(created)


@pytest.fixture
def clock() -> Clock:
    """A fresh deterministic clock: time moves only with ``advance``."""
    return Clock()
