"""``torsion.utils``: getProcessOutput, getProcessValue, getProcessOutputAndValue.

Each test runs real children on every reactor backend; the fixture fails a
test that leaves a descriptor open.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from typing import Any

import pytest

import torsion.reactor
from torsion import error, utils
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.reactor import new_reactor

SH = shutil.which("sh") or "/bin/sh"
CAT = shutil.which("cat") or "/bin/cat"


def _fds() -> set[int]:
    return {int(name) for name in os.listdir("/proc/self/fd")}


@pytest.fixture(params=["epoll", "poll", "select"])
def reactor(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A new reactor of each backend; stopped, closed and checked for leaked fds."""
    before = _fds()
    r = new_reactor(request.param)
    yield r
    r.callWhenRunning(r.stop)
    r.callLater(10, r.crash)
    r.run(installSignalHandlers=False)
    r.close()
    assert _fds() <= before, f"descriptors left open: {sorted(_fds() - before)}"


def run(reactor: Any, d: Deferred[Any], timeout: float = 10.0) -> Any:
    """Run ``reactor`` until ``d`` fires; return its result, or its Failure."""
    outcome: list[object] = []

    def done(result: object) -> None:
        outcome.append(result)
        reactor.crash()

    d.addBoth(done)
    if not outcome:
        guard = reactor.callLater(timeout, reactor.crash)
        reactor.run(installSignalHandlers=False)
        if guard.active():
            guard.cancel()
    assert outcome, f"the Deferred did not fire within {timeout} seconds"
    return outcome[0]


def test_get_process_output(reactor: Any) -> None:
    """getProcessOutput fires with stdout; args exclude the program; exit code is ignored."""
    out = run(reactor, utils.getProcessOutput(CAT, ["/proc/self/cmdline"], reactor=reactor))
    assert out == f"{CAT}\0/proc/self/cmdline\0".encode()
    out = run(reactor, utils.getProcessOutput(SH, ["-c", "echo $0; exit 3", "arg"],
                                              reactor=reactor))
    assert out == b"arg\n"


def test_get_process_output_errortoo(reactor: Any) -> None:
    """With errortoo, stderr is collected into the output."""
    out = run(reactor, utils.getProcessOutput(SH, ["-c", "echo out; echo err >&2"],
                                              reactor=reactor, errortoo=True))
    assert sorted(out.splitlines()) == [b"err", b"out"]


def test_get_process_output_fails_on_stderr(reactor: Any) -> None:
    """Anything on stderr fails it with UnexpectedErrorOutput, an IOError with processEnded."""
    result = run(reactor, utils.getProcessOutput(SH, ["-c", "echo oops >&2; sleep 0.1"],
                                                 reactor=reactor))
    assert isinstance(result, Failure)
    assert result.check(IOError)
    exc = result.value
    assert isinstance(exc, utils.UnexpectedErrorOutput)
    assert str(exc) == "got stderr: b'oops\\n'"
    ended = run(reactor, exc.processEnded)
    assert isinstance(ended, Failure) and ended.check(error.ProcessDone, error.ProcessTerminated)
    again = run(reactor, exc.processEnded)  # asked after the end: fails at once, the same way
    assert isinstance(again, Failure) and again.value is ended.value


def test_env_and_path(reactor: Any, tmp_path: Any) -> None:
    """env replaces the environment (default: empty); path is the working directory."""
    out = run(reactor, utils.getProcessOutput("/usr/bin/env", reactor=reactor))
    assert out == b""
    out = run(reactor, utils.getProcessOutput("/usr/bin/env", env={"A": "1"}, reactor=reactor))
    assert out == b"A=1\n"
    out = run(reactor, utils.getProcessOutput(SH, ["-c", "pwd"], path=str(tmp_path),
                                              reactor=reactor))
    assert out.strip() == os.path.realpath(tmp_path).encode()


@pytest.mark.parametrize(("script", "code"), [("exit 0", 0), ("exit 7", 7), ("kill -9 $$", None)])
def test_get_process_value(reactor: Any, script: str, code: int | None) -> None:
    """getProcessValue fires with the exit code; None when a signal killed the child."""
    assert run(reactor, utils.getProcessValue(SH, ["-c", script], reactor=reactor)) == code


def test_get_process_output_and_value(reactor: Any) -> None:
    """getProcessOutputAndValue fires with (out, err, code); stdinBytes feeds stdin."""
    d = utils.getProcessOutputAndValue(SH, ["-c", "cat; echo e >&2; exit 2"], reactor=reactor,
                                       stdinBytes=b"in")
    assert run(reactor, d) == (b"in", b"e\n", 2)


def test_get_process_output_and_value_signal(reactor: Any) -> None:
    """A killed child fails it with ProcessSignalledError, which unpacks as (out, err, sig)."""
    d = utils.getProcessOutputAndValue(SH, ["-c", "echo o; echo e >&2; kill -TERM $$"],
                                       reactor=reactor)
    result = run(reactor, d)
    assert isinstance(result, Failure)
    exc = result.value
    assert isinstance(exc, utils.ProcessSignalledError)
    out, err, sig = exc
    assert (out, err, sig) == (b"o\n", b"e\n", signal.SIGTERM)
    assert exc == (b"o\n", b"e\n", signal.SIGTERM) and exc[2] == signal.SIGTERM
    assert "signal 15" in str(exc)


@pytest.mark.parametrize("function", [utils.getProcessOutput, utils.getProcessValue,
                                      utils.getProcessOutputAndValue])
def test_missing_executable_fails_the_deferred(reactor: Any, function: Any) -> None:
    """A program that cannot start fails the Deferred with the OSError (no exception raised)."""
    result = run(reactor, function("/nonexistent/program", reactor=reactor))
    assert isinstance(result, Failure)
    assert result.check(FileNotFoundError)
    assert "cannot run '/nonexistent/program'" in str(result.value)


def test_default_reactor(reactor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without reactor=, the default reactor (torsion.reactor.reactor) runs the child."""
    monkeypatch.setattr(torsion.reactor, "_installed", reactor)
    assert run(reactor, utils.getProcessValue(SH, ["-c", "exit 6"])) == 6
