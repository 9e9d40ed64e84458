"""Reaping children: pidfds and the SIGCHLD fallback, many at once, shutdown, no zombies.

Every test runs on every backend with each reaping mode; the fixture fails a
test that leaves a zombie, a descriptor or a SIGCHLD handler behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from process_support import (
    SH,
    Recorder,
    checked_reactor,
    is_reaped,
    run_for,
    run_until,
    zombie_children,
)

from torsion import error
from torsion._transports import process as process_module
from torsion.defer import Deferred, DeferredList

MANY = 200


@pytest.fixture
def reactor(backend: str) -> Iterator[Any]:
    """A new reactor of each backend, checked for leaked descriptors, threads and zombies."""
    handler_before = signal.getsignal(signal.SIGCHLD)
    with checked_reactor(backend, children=True) as r:
        yield r
    assert signal.getsignal(signal.SIGCHLD) == handler_before, "SIGCHLD handler left installed"


@pytest.fixture(params=["pidfd", "sigchld"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way of noticing that a child exited."""
    name: str = request.param
    if name == "pidfd" and not hasattr(os, "pidfd_open"):
        pytest.skip("os.pidfd_open needs Linux >= 5.3 and Python >= 3.9")
    monkeypatch.setattr(process_module, "_USE_PIDFD", name == "pidfd")
    return name


def test_many_children_exiting_at_once(reactor: Any, mode: str) -> None:
    """200 children released together all end with their own exit code; none is a zombie."""
    protos = []
    transports = []
    for i in range(MANY):
        proto = Recorder()
        transports.append(reactor.spawnProcess(
            proto, SH, [SH, "-c", f"read x; echo {i}; exit {i % 7}"], childFDs={0: "w", 1: "r"}))
        protos.append(proto)
    pids = [t.pid for t in transports]
    run_for(reactor, 0.1)
    for transport in transports:  # every child exits within a moment: SIGCHLDs coalesce
        transport.closeStdin()
    results = run_until(reactor, DeferredList([p.ended for p in protos]), timeout=60)
    for i, (ok, reason) in enumerate(results):
        assert ok
        assert reason.exitCode == i % 7
        assert protos[i].output(1) == f"{i}\n".encode()
    assert all(is_reaped(pid) for pid in pids)
    assert not zombie_children()


def test_exit_status_kinds(reactor: Any, mode: str) -> None:
    """Clean exit, exit code and signal are told apart in both modes."""
    cases = {"exit 0": (0, None), "exit 5": (5, None), "kill -TERM $$": (None, signal.SIGTERM)}
    protos = {}
    for script in cases:
        protos[script] = proto = Recorder()
        reactor.spawnProcess(proto, SH, [SH, "-c", script])
    run_until(reactor, DeferredList([p.ended for p in protos.values()]))
    for script, (code, sig) in cases.items():
        reason = protos[script].ended.result
        assert (reason.exitCode, reason.signal) == (code, sig)
        assert isinstance(reason, error.ProcessDone if code == 0 else error.ProcessTerminated)


def test_other_childrens_status_is_not_stolen(reactor: Any, mode: str) -> None:
    """Children we did not spawn (subprocess) keep their status: we reap only our pids."""
    other = subprocess.Popen([SH, "-c", "exit 9"])
    proto = Recorder()
    reactor.spawnProcess(proto, SH, [SH, "-c", "sleep 0.2"])
    run_until(reactor, proto.ended)
    assert other.wait(timeout=10) == 9


def test_processEnded_waits_for_pipes(reactor: Any, mode: str) -> None:
    """processExited comes at exit; processEnded only once a grandchild closes the pipe too."""
    proto = Recorder()
    reactor.spawnProcess(proto, SH, [SH, "-c", "(sleep 0.4; echo late) & exit 0"])
    run_until(reactor, _exited(reactor, proto))
    assert ("ended",) not in proto.events  # stdout is still open in the grandchild
    reason = run_until(reactor, proto.ended)
    assert isinstance(reason, error.ProcessDone)
    assert proto.output(1) == b"late\n"


def _exited(reactor: Any, proto: Recorder) -> Deferred[None]:
    """A Deferred firing once ``proto`` has heard processExited."""
    d: Deferred[None] = Deferred()

    def check() -> None:
        if ("exited",) in proto.events:
            d.callback(None)
        else:
            reactor.callLater(0.01, check)

    check()
    return d


def test_polling_when_no_handler_can_be_installed(
    reactor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without pidfds and without a SIGCHLD handler (not the main thread), pids are polled."""
    monkeypatch.setattr(process_module, "_USE_PIDFD", False)
    monkeypatch.setattr(process_module, "_sigchld_add", lambda reaper: False)
    proto = Recorder()
    reactor.spawnProcess(proto, SH, [SH, "-c", "exit 4"])
    assert run_until(reactor, proto.ended).exitCode == 4


def test_shutdown_leaves_running_child_running(reactor: Any, mode: str) -> None:
    """At shutdown pipes close and a running child is left running (as in Twisted), unwatched."""
    proto = Recorder()
    transport = reactor.spawnProcess(proto, SH, [SH, "-c", "exec sleep 30"])
    pid = transport.pid
    run_for(reactor, 0.05)
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    try:
        assert proto.lost() == {0, 1, 2}
        assert ("exited",) not in proto.events
        os.kill(pid, 0)  # still running
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_shutdown_reaps_child_that_already_exited(reactor: Any, mode: str) -> None:
    """A child that exited before shutdown is reaped then, and its protocol told."""
    proto = Recorder()
    transport = reactor.spawnProcess(proto, SH, [SH, "-c", "exit 2"], childFDs={})
    pid = transport.pid
    deadline = time.monotonic() + 5
    while pid not in zombie_children() and time.monotonic() < deadline:
        time.sleep(0.01)  # until it has exited (a zombie: nobody reaped it yet)
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert proto.events[-2:] == [("exited",), ("ended",)]
    assert proto.ended.result.exitCode == 2
    assert is_reaped(pid)

