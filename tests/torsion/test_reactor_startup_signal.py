"""A signal that arrives while the reactor starts (from a ``callWhenRunning`` that told
another process "ready") stops it cleanly: the handlers are installed first."""

from __future__ import annotations

import subprocess
import sys

import pytest

from torsion._reactors import BACKENDS

SCRIPT = """
import os, signal, sys
import torsion.reactor
reactor = torsion.reactor.install(sys.argv[1])
reactor.callWhenRunning(os.kill, os.getpid(), signal.SIGTERM)
reactor.addSystemEventTrigger("after", "shutdown", print, "stopped cleanly")
reactor.run()
"""


@pytest.mark.parametrize("backend", ["epoll", "poll", "select"])
def test_sigterm_during_startup(backend: str) -> None:
    assert backend in BACKENDS
    done = subprocess.run([sys.executable, "-c", SCRIPT, backend], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.strip() == "stopped cleanly"
