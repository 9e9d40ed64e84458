"""Fixtures of the reactor conformance suite: every test runs on every backend.

``reactor`` gives a fresh reactor of each backend in ``torsion.reactor.BACKENDS``.
At teardown the reactor is stopped (if the test did not stop it: the shutdown
event closes connections and stops the thread pool) and closed, and the test
fails if a file descriptor or a thread it started is still there.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from reactor_support import open_fds

from torsion.reactor import BACKENDS, new_reactor


def _shut_down(reactor: Any) -> None:
    if getattr(reactor, "_startedBefore", False):
        return  # stopped by the test: the shutdown event has run
    guard = reactor.callLater(10, reactor.crash)
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    if guard.active():
        guard.cancel()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    """The name of each reactor backend in turn (skipped where it cannot exist here)."""
    name: str = request.param
    if name == "tk":
        request.getfixturevalue("x_display")  # Tk needs an X server: a private Xvfb
    elif name == "uvloop" and importlib.util.find_spec("uvloop") is None:
        pytest.skip("uvloop is not installed (pip install 'torsion[uvloop]')")
    if name not in _warmed:
        # Some backends open process-wide descriptors once, on first use
        # (libuv's signal pipe): let that happen before anything is counted.
        new_reactor(name).close()
        _warmed.add(name)
    return name


_warmed: set[str] = set()


@pytest.fixture
def reactor(backend: str) -> Iterator[Any]:
    """A new reactor of ``backend``; stopped, closed and checked for leaks afterwards."""
    fds_before = open_fds()
    threads_before = set(threading.enumerate())
    r = new_reactor(backend)
    yield r
    _shut_down(r)
    r.close()
    deadline = time.monotonic() + 5
    while True:
        extra_threads = [
            t for t in threading.enumerate() if t not in threads_before and t.is_alive()
        ]
        if not extra_threads or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    leaked = {fd: target for fd, target in open_fds().items() if fds_before.get(fd) != target}
    assert not leaked, f"descriptors left open by the test: {leaked}"
    assert not extra_threads, f"threads left running by the test: {extra_threads}"
