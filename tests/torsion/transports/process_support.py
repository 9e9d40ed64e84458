"""Helpers for the child process tests: checked reactors, a recording protocol, zombies.

Each test module defines its own backend-parametrised ``reactor`` fixture around
:func:`checked_reactor`, which shuts the reactor down, closes it, and fails the
test when a descriptor, a thread or an unreaped child (a zombie) it started is
still there.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from torsion._transports import _spawn
from torsion._transports import process as process_module
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ProcessProtocol
from torsion.reactor import new_reactor

BACKENDS = ["epoll", "poll", "select"]
PYTHON = sys.executable
SH = shutil.which("sh") or "/bin/sh"
CAT = shutil.which("cat") or "/bin/cat"


def open_fds() -> dict[int, str]:
    """This process's open descriptors and what they point to."""
    fds: dict[int, str] = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the listing's own descriptor
            pass
    return fds


def zombie_children() -> set[int]:
    """Our children that have exited but were not reaped (state Z in /proc)."""
    me = os.getpid()
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] == "Z" and int(fields[1]) == me:
            found.add(int(name))
    return found


def is_reaped(pid: int) -> bool:
    """Whether ``pid`` is no child of ours any more (waitpid says ECHILD)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@contextmanager
def checked_reactor(backend: str) -> Iterator[Any]:
    """A new reactor; shut down, closed, and checked for leaked fds, threads and zombies."""
    fds_before = open_fds()
    threads_before = set(threading.enumerate())
    zombies_before = zombie_children()
    reactor = new_reactor(backend)
    try:
        yield reactor
    finally:
        if not getattr(reactor, "_startedBefore", False):
            guard = reactor.callLater(10, reactor.crash)
            reactor.callWhenRunning(reactor.stop)
            reactor.run(installSignalHandlers=False)
            if guard.active():
                guard.cancel()
        reactor.close()
    deadline = time.monotonic() + 5
    while True:
        extra = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    leaked = {fd: target for fd, target in open_fds().items() if fds_before.get(fd) != target}
    assert not leaked, f"descriptors left open by the test: {leaked}"
    assert not extra, f"threads left running by the test: {extra}"
    zombies = zombie_children() - zombies_before
    assert not zombies, f"children left unreaped (zombies): {sorted(zombies)}"


class ReactorTimeout(AssertionError):
    """The awaited Deferred did not fire in time."""


def run_until(reactor: Any, d: Deferred[Any], timeout: float = 10.0) -> Any:
    """Run ``reactor`` until ``d`` fires (crashing it then); return the result or raise.

    The reactor may be run again afterwards.  After ``timeout`` seconds the
    test fails with :class:`ReactorTimeout`.
    """
    outcome: list[object] = []

    def finish(result: object) -> None:
        outcome.append(result)
        if reactor.running or getattr(reactor, "_started", False):
            reactor.crash()

    d.addBoth(finish)
    if not outcome:
        expired: list[bool] = []

        def expire() -> None:
            expired.append(True)
            reactor.crash()

        guard = reactor.callLater(timeout, expire)
        reactor.run(installSignalHandlers=False)
        if guard.active():
            guard.cancel()
        if not outcome:
            raise ReactorTimeout(f"nothing happened within {timeout} seconds")
    result = outcome[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def run_for(reactor: Any, seconds: float) -> None:
    """Run ``reactor`` for ``seconds``."""
    d: Deferred[None] = Deferred()
    reactor.callLater(seconds, d.callback, None)
    run_until(reactor, d, timeout=seconds + 10)


class Recorder(ProcessProtocol):
    """Records a child's events; ``ended`` fires with the processEnded reason's exception.

    Attributes:
        events: ("made",), ("lost", fd), ("exited",), ("ended",) in order.
        received: the bytes from each child descriptor.
        made_with: the transport given to ``makeConnection``.
    """

    def __init__(self) -> None:
        self.events: list[tuple[object, ...]] = []
        self.received: dict[int, bytearray] = {}
        self.ended: Deferred[BaseException] = Deferred()
        self.exit_reason: Failure | None = None
        self.made_with: Any = None

    def connectionMade(self) -> None:
        self.made_with = self.transport
        self.events.append(("made",))

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        self.received.setdefault(childFD, bytearray()).extend(data)
        super().childDataReceived(childFD, data)

    def childConnectionLost(self, childFD: int) -> None:
        self.events.append(("lost", childFD))
        super().childConnectionLost(childFD)

    def processExited(self, reason: Failure) -> None:
        self.events.append(("exited",))
        self.exit_reason = reason

    def processEnded(self, reason: Failure) -> None:
        self.events.append(("ended",))
        self.ended.callback(reason.value)  # not the Failure: that would errback

    def output(self, childFD: int = 1) -> bytes:
        return bytes(self.received.get(childFD, b""))

    def lost(self) -> set[int]:
        return {e[1] for e in self.events if e[0] == "lost"}  # type: ignore[misc]


def use_spawn_method(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """Start children with ``posix_spawn`` or with ``fork`` (the path/uid/gid path)."""
    monkeypatch.setattr(_spawn, "_USE_POSIX_SPAWN", method == "posix_spawn")


def use_reaping(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Reap children through pidfds or through the SIGCHLD handler."""
    monkeypatch.setattr(process_module, "_USE_PIDFD", mode == "pidfd")
