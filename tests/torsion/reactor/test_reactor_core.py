"""The reactor's life cycle on every backend: run, stop, crash, triggers, iterate."""

from __future__ import annotations

import time
from typing import Any

import pytest
from reactor_support import run_for, run_until, sleep

from torsion.defer import Deferred, fail
from torsion.error import ReactorAlreadyRunning, ReactorNotRestartable, ReactorNotRunning
from torsion.reactor import BACKENDS, new_reactor


def test_new_reactor_names_every_backend(backend: str) -> None:
    """``new_reactor(name)`` returns a new, independent reactor each time."""
    a, b = new_reactor(backend), new_reactor(backend)
    try:
        assert a is not b
        assert type(a) is type(b)
        assert backend in BACKENDS
    finally:
        a.close()
        b.close()


def test_unknown_backend_is_refused() -> None:
    """An unknown backend name raises ValueError listing the known ones."""
    with pytest.raises(ValueError, match="epoll"):
        new_reactor("no-such-backend")


def test_run_until_stop(reactor: Any) -> None:
    """``run()`` returns after ``stop()``; ``running`` is True inside and False after."""
    seen: list[bool] = []

    def inside() -> None:
        seen.append(reactor.running)
        reactor.stop()

    assert not reactor.running
    reactor.callWhenRunning(inside)
    reactor.run(installSignalHandlers=False)
    assert seen == [True]
    assert not reactor.running


def test_running_becomes_true_during_startup(reactor: Any) -> None:
    """``running`` is False in "before startup" triggers and True in "after startup" ones."""
    seen: list[tuple[str, bool]] = []
    reactor.addSystemEventTrigger(
        "before", "startup", lambda: seen.append(("before", reactor.running))
    )
    reactor.addSystemEventTrigger(
        "after", "startup", lambda: seen.append(("after", reactor.running))
    )
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert seen == [("before", False), ("after", True)]


def test_call_when_running_before_and_after_run(reactor: Any) -> None:
    """Calls queued before ``run`` run once at startup in order; while running, at once."""
    ran: list[str] = []
    reactor.callWhenRunning(ran.append, "first")
    reactor.callWhenRunning(ran.append, "second")

    def later() -> None:
        assert reactor.callWhenRunning(ran.append, "immediate") is None
        ran.append("after immediate")
        reactor.stop()

    reactor.callLater(0.01, later)
    reactor.run(installSignalHandlers=False)
    assert ran == ["first", "second", "immediate", "after immediate"]


def test_call_when_running_can_be_withdrawn(reactor: Any) -> None:
    """``callWhenRunning`` before ``run`` returns a trigger ID that removes the call."""
    ran: list[str] = []
    handle = reactor.callWhenRunning(ran.append, "withdrawn")
    reactor.removeSystemEventTrigger(handle)
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert ran == []


def test_stop_when_not_running(reactor: Any) -> None:
    """``stop()`` on a reactor that never ran raises ReactorNotRunning."""
    with pytest.raises(ReactorNotRunning):
        reactor.stop()


def test_stop_twice(reactor: Any) -> None:
    """A second ``stop()`` while the first is under way raises ReactorNotRunning."""
    errors: list[BaseException] = []

    def stop_twice() -> None:
        reactor.stop()
        try:
            reactor.stop()
        except ReactorNotRunning as exc:
            errors.append(exc)

    reactor.callWhenRunning(stop_twice)
    reactor.run(installSignalHandlers=False)
    assert len(errors) == 1
    with pytest.raises(ReactorNotRunning):
        reactor.stop()


def test_restart_after_stop_is_refused(reactor: Any) -> None:
    """Running again after ``stop()`` raises ReactorNotRestartable."""
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    with pytest.raises(ReactorNotRestartable):
        reactor.run(installSignalHandlers=False)


def test_run_while_running_is_refused(reactor: Any) -> None:
    """``run()`` from inside the running reactor raises ReactorAlreadyRunning."""
    errors: list[BaseException] = []

    def nested() -> None:
        try:
            reactor.run(installSignalHandlers=False)
        except ReactorAlreadyRunning as exc:
            errors.append(exc)
        reactor.stop()

    reactor.callWhenRunning(nested)
    reactor.run(installSignalHandlers=False)
    assert len(errors) == 1


def test_crash_skips_shutdown_and_allows_another_run(reactor: Any) -> None:
    """``crash()`` ends ``run()`` without the shutdown event; the reactor can run again."""
    fired: list[str] = []
    reactor.addSystemEventTrigger("before", "shutdown", fired.append, "shutdown")
    reactor.callWhenRunning(reactor.crash)
    reactor.run(installSignalHandlers=False)
    assert fired == []
    assert not reactor.running
    ran: list[int] = []
    reactor.callLater(0, ran.append, 1)
    run_for(reactor, 0.02)
    assert ran == [1]
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert fired == ["shutdown"]


def test_startup_and_shutdown_phases_run_in_order(reactor: Any) -> None:
    """Triggers run before, during, then after; each phase in the order they were added."""
    order: list[str] = []
    for event in ("startup", "shutdown"):
        for phase in ("after", "during", "before"):
            for n in (1, 2):
                reactor.addSystemEventTrigger(phase, event, order.append, f"{event} {phase} {n}")
    reactor.callWhenRunning(order.append, "running")
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert order == [
        "startup before 1", "startup before 2",
        "startup during 1", "startup during 2",
        "startup after 1", "startup after 2",
        "running",
        "shutdown before 1", "shutdown before 2",
        "shutdown during 1", "shutdown during 2",
        "shutdown after 1", "shutdown after 2",
    ]


def test_deferred_from_before_shutdown_delays_shutdown(reactor: Any) -> None:
    """A "before shutdown" trigger's Deferred holds the shutdown until it fires; loop runs on."""
    events: list[tuple[str, float]] = []
    start = reactor.seconds()

    def before() -> Deferred[None]:
        events.append(("before", reactor.seconds() - start))
        return sleep(reactor, 0.1)

    def tick() -> None:
        events.append(("tick", reactor.seconds() - start))

    reactor.addSystemEventTrigger("before", "shutdown", before)
    reactor.addSystemEventTrigger("during", "shutdown", lambda: events.append(
        ("during", reactor.seconds() - start)))
    reactor.callWhenRunning(reactor.stop)
    reactor.callLater(0.05, tick)
    reactor.run(installSignalHandlers=False)
    names = [name for name, _ in events]
    assert names == ["before", "tick", "during"]
    assert events[2][1] >= 0.1 - 1e-9


def test_failing_before_shutdown_deferred_is_logged(reactor: Any, logged_failures: Any) -> None:
    """A "before shutdown" Deferred that fails is logged and the shutdown completes."""
    done: list[str] = []
    reactor.addSystemEventTrigger("before", "shutdown", lambda: fail(KeyError("trigger")))
    reactor.addSystemEventTrigger("after", "shutdown", done.append, "after")
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert done == ["after"]
    assert len(logged_failures.flush(KeyError)) == 1


def test_exception_in_trigger_is_logged(reactor: Any, logged_failures: Any) -> None:
    """A trigger raising is logged; the other triggers of every phase still run."""
    done: list[str] = []

    def boom() -> None:
        raise ZeroDivisionError("trigger")

    for phase in ("before", "during", "after"):
        reactor.addSystemEventTrigger(phase, "shutdown", boom)
        reactor.addSystemEventTrigger(phase, "shutdown", done.append, phase)
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert done == ["before", "during", "after"]
    assert len(logged_failures.flush(ZeroDivisionError)) == 3


def test_remove_system_event_trigger(reactor: Any) -> None:
    """A removed trigger does not run; removing it again raises ValueError."""
    ran: list[str] = []
    handle = reactor.addSystemEventTrigger("during", "shutdown", ran.append, "removed")
    reactor.addSystemEventTrigger("during", "shutdown", ran.append, "kept")
    reactor.removeSystemEventTrigger(handle)
    with pytest.raises(ValueError):
        reactor.removeSystemEventTrigger(handle)
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert ran == ["kept"]


def test_bad_phase_is_refused(reactor: Any) -> None:
    """A phase other than before/during/after raises KeyError; a non-callable, an error."""
    with pytest.raises(KeyError):
        reactor.addSystemEventTrigger("sometime", "shutdown", lambda: None)
    with pytest.raises((AssertionError, TypeError)):
        reactor.addSystemEventTrigger("before", "shutdown", "not callable")


def test_custom_event_types(reactor: Any) -> None:
    """``fireSystemEvent`` runs the triggers of any event name, in phase order."""
    order: list[str] = []
    reactor.addSystemEventTrigger("after", "reload", order.append, "after")
    reactor.addSystemEventTrigger("before", "reload", order.append, "before")
    reactor.fireSystemEvent("reload")
    reactor.fireSystemEvent("nobody-listens")
    assert order == ["before", "after"]


def test_iterate_runs_due_calls(reactor: Any) -> None:
    """``iterate()`` runs what is due without ``run()``."""
    ran: list[int] = []
    reactor.callLater(0, ran.append, 1)
    deadline = time.monotonic() + 2
    while not ran and time.monotonic() < deadline:
        reactor.iterate(0.01)
    assert ran == [1]


def test_stop_from_a_timer_runs_the_shutdown_event_once(reactor: Any) -> None:
    """Stopping from a timer runs each shutdown trigger exactly once and ends ``run``."""
    fired: list[str] = []
    reactor.addSystemEventTrigger("after", "shutdown", fired.append, "after")
    reactor.callLater(0.01, reactor.stop)
    start = time.monotonic()
    reactor.run(installSignalHandlers=False)
    assert fired == ["after"]
    assert time.monotonic() - start < 2


def test_run_until_helper_timeout(reactor: Any) -> None:
    """The suite's ``run_until`` fails (does not hang) when nothing happens."""
    from reactor_support import ReactorTimeout  # noqa: PLC0415

    never: Deferred[None] = Deferred()
    with pytest.raises(ReactorTimeout):
        run_until(reactor, never, timeout=0.05)
    never.addErrback(lambda _: None)
