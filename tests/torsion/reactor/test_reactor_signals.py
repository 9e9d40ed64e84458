"""SIGINT and SIGTERM stop a running reactor cleanly, on every backend (in a child process).

The child restores Python's default SIGINT handler first: a process started
in the background by a non-interactive shell inherits SIGINT ignored, and a
reactor (like Twisted's) leaves an ignored SIGINT alone.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import textwrap
import time
from typing import Any

import pytest
from reactor_support import REPO, read_ready_line, run_until, sleep, spawn_python

SCRIPT = textwrap.dedent(
    """
    import signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from torsion.reactor import install
    from torsion.protocol import Factory, Protocol

    reactor = install(sys.argv[1])

    class Echo(Protocol):
        def dataReceived(self, data):
            self.transport.write(data)

        def connectionLost(self, reason):
            print("connectionLost", reason.type.__name__, flush=True)

    def trigger(name):
        print(name, "running" if reactor.running else "not running", flush=True)

    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    reactor.addSystemEventTrigger("before", "shutdown", trigger, "before-shutdown")
    reactor.addSystemEventTrigger("after", "shutdown", trigger, "after-shutdown")
    reactor.callWhenRunning(print, "ready", port.getHost().port, flush=True)
    reactor.run()
    print("run returned", flush=True)
    """
)


def _connect_and_echo(port: int) -> socket.socket:
    peer = socket.create_connection(("127.0.0.1", port), timeout=10)
    peer.sendall(b"ping")
    assert peer.recv(4) == b"ping"
    return peer


def _finish(child: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        out, err = child.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        pytest.fail(f"the reactor did not stop on the signal; stderr:\n{err}")
    return out, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_reactor_cleanly(backend: str, signum: int) -> None:
    """The signal runs the shutdown triggers, closes connections, and run() returns (exit 0)."""
    child = spawn_python(["-c", SCRIPT, backend])
    try:
        words = read_ready_line(child).split()
        assert words[0] == "ready", words
        with _connect_and_echo(int(words[1])) as peer:
            child.send_signal(signum)
            out, err = _finish(child)
            peer.settimeout(5)
            try:
                tail = peer.recv(10)
            except ConnectionResetError:
                tail = b""
        assert tail == b"", "the connection was not closed by the shutdown"
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == "before-shutdown running", lines
    assert lines[-2:] == ["after-shutdown not running", "run returned"], lines
    lost = [line for line in lines if line.startswith("connectionLost")]
    assert len(lost) == 1, lines
    assert lines.index(lost[0]) < lines.index("after-shutdown not running")
    assert "Traceback" not in err, err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_echo_example_stops_on_signal(backend: str, signum: int) -> None:
    """``examples/echoserv.py`` echoes, then exits 0 on the signal, closing its connections."""
    wrapper = (
        "import runpy, signal, sys; "
        "signal.signal(signal.SIGINT, signal.default_int_handler); "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    example = str(REPO / "examples" / "echoserv.py")
    child = spawn_python(["-c", wrapper, example, "--port", "0", "--reactor", backend])
    try:
        words = read_ready_line(child).split()
        assert words[0] == "ready", words
        with _connect_and_echo(int(words[1])) as peer:
            child.send_signal(signum)
            _, err = _finish(child)
            peer.settimeout(5)
            try:
                assert peer.recv(10) == b""
            except ConnectionResetError:
                pass
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert "Traceback" not in err, err


def test_ignored_sigint_is_left_alone(backend: str) -> None:
    """A process that ignores SIGINT keeps ignoring it while the reactor runs (as Twisted does)."""
    script = SCRIPT.replace(
        "signal.signal(signal.SIGINT, signal.default_int_handler)",
        "signal.signal(signal.SIGINT, signal.SIG_IGN)",
    )
    child = spawn_python(["-c", script, backend])
    try:
        words = read_ready_line(child).split()
        assert words[0] == "ready", words
        child.send_signal(signal.SIGINT)
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.3)
        child.send_signal(signal.SIGTERM)
        out, err = _finish(child)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert out.splitlines()[-1] == "run returned"


def test_handlers_are_restored_after_run(reactor: Any) -> None:
    """``run()`` puts the previous SIGINT/SIGTERM handlers back when it returns."""
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    reactor.callWhenRunning(reactor.stop)
    reactor.run()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


class _Alarm(BaseException):
    """Raised by the test's SIGALRM handler, as a test runner's timeout (pytest-timeout) is."""


def test_a_signal_handler_interrupts_an_idle_reactor(reactor: Any) -> None:
    """A Python signal handler runs at once on an idle reactor, even one run without
    signal handlers, and its exception ends ``run()``: a hung test can be timed out.
    (Tk's loop runs Python code only when an event comes: it is woken for signals.)"""

    def alarm(signum: int, frame: object) -> None:
        raise _Alarm()

    previous = signal.signal(signal.SIGALRM, alarm)
    guard = reactor.callLater(20, reactor.crash)
    started = time.monotonic()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(_Alarm):
            reactor.run(installSignalHandlers=False)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 5
    assert not reactor.running
    guard.cancel()
    # The reactor can still be run (and is stopped and checked by the fixture).
    assert run_until(reactor, sleep(reactor, 0.01)) is None
