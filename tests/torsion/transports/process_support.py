"""Helpers for the child process tests: a recording protocol, spawn and reaping modes.

Each process test module overrides ``conftest.py``'s ``reactor`` fixture with
``checked_reactor(backend, children=True)`` (``torsion.testing``), which also
fails the test when a child it started is left unreaped (a zombie).
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

import pytest

from torsion._transports import _spawn
from torsion._transports import process as process_module
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ProcessProtocol
from torsion.testing import ReactorTimeout, checked_reactor, run_for, run_until
from torsion.testing import unreaped_children as zombie_children

__all__ = [
    "CAT",
    "PYTHON",
    "SH",
    "ReactorTimeout",
    "Recorder",
    "checked_reactor",
    "is_reaped",
    "run_for",
    "run_until",
    "use_reaping",
    "use_spawn_method",
    "zombie_children",
]

PYTHON = sys.executable
SH = shutil.which("sh") or "/bin/sh"
CAT = shutil.which("cat") or "/bin/cat"


def is_reaped(pid: int) -> bool:
    """Whether ``pid`` is no child of ours any more (waitpid says ECHILD)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


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
