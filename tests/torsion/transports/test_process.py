"""``reactor.spawnProcess`` and the process transport, on every backend.

Most tests run twice per backend: children started with ``posix_spawn`` (the
usual path) and with fork and exec (the path taken for ``path``, ``uid`` and
``gid``).  The fixture fails a test that leaks a descriptor or a zombie.
"""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Iterator
from typing import Any

import pytest
from process_support import (
    CAT,
    PYTHON,
    SH,
    Recorder,
    checked_reactor,
    is_reaped,
    run_for,
    run_until,
    use_spawn_method,
)

from torsion import error
from torsion._transports.process import IProcessTransport, Process
from torsion.defer import Deferred

MiB = 1024 * 1024


@pytest.fixture
def reactor(backend: str) -> Iterator[Any]:
    """A new reactor of each backend, checked for leaked descriptors, threads and zombies."""
    with checked_reactor(backend, children=True) as r:
        yield r


@pytest.fixture(params=["posix_spawn", "fork"])
def method(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way of starting a child."""
    name: str = request.param
    use_spawn_method(monkeypatch, name)
    return name


def spawn(reactor: Any, args: list[str], **kw: Any) -> tuple[Recorder, Process]:
    proto = Recorder()
    transport = reactor.spawnProcess(proto, args[0], args, **kw)
    return proto, transport


def ended(reactor: Any, proto: Recorder, timeout: float = 10.0) -> Any:
    """Run until the child ended; return the reason's exception."""
    return run_until(reactor, proto.ended, timeout)


# -- data in and out ------------------------------------------------------------------------
def test_cat_echoes_stdin(reactor: Any, method: str) -> None:
    """What is written to stdin comes back from cat on fd 1; closeStdin ends it cleanly."""
    proto, transport = spawn(reactor, [CAT])
    transport.write(b"hello ")
    transport.writeSequence([b"wor", b"ld"])
    transport.closeStdin()
    reason = ended(reactor, proto)
    assert proto.output(1) == b"hello world"
    assert isinstance(reason, error.ProcessDone)
    assert reason.exitCode == 0 and reason.signal is None
    assert proto.lost() == {0, 1, 2}
    assert proto.events[0] == ("made",)
    assert proto.events[-1] == ("ended",)
    assert ("exited",) in proto.events


def test_transport_given_before_spawn_returns(reactor: Any, method: str) -> None:
    """makeConnection runs inside spawnProcess; the transport has the child's pid."""
    proto, transport = spawn(reactor, [SH, "-c", "exit 0"])
    assert proto.made_with is transport
    assert isinstance(transport, IProcessTransport)
    assert isinstance(transport.pid, int) and transport.pid > 0
    ended(reactor, proto)
    assert transport.pid is None  # reaped


def test_close_stdin_is_eof_for_child(reactor: Any, method: str) -> None:
    """The child sees end of file on stdin only once closeStdin is called."""
    proto, transport = spawn(reactor, [SH, "-c", "cat >/dev/null; echo got-eof"])
    run_for(reactor, 0.1)
    assert proto.output(1) == b""  # still waiting for EOF
    transport.closeStdin()
    ended(reactor, proto)
    assert proto.output(1) == b"got-eof\n"


def test_stderr_arrives_on_fd_2(reactor: Any, method: str) -> None:
    """stdout and stderr are kept apart: outReceived and errReceived, fds 1 and 2."""
    proto, _ = spawn(reactor, [SH, "-c", "echo out; echo err >&2"])
    ended(reactor, proto)
    assert proto.output(1) == b"out\n"
    assert proto.output(2) == b"err\n"


def test_large_output_arrives_whole(reactor: Any) -> None:
    """10 MiB written by the child arrive complete and in order."""
    code = ("import sys; block = bytes(range(256)) * 4096\n"
            "for i in range(10): sys.stdout.buffer.write(bytes([i]) + block[1:])")
    proto, _ = spawn(reactor, [PYTHON, "-c", code])
    ended(reactor, proto, timeout=60)
    block = bytes(range(256)) * 4096
    assert proto.output(1) == b"".join(bytes([i]) + block[1:] for i in range(10))


def test_large_input_through_cat(reactor: Any) -> None:
    """4 MiB written at once are buffered and sent in order while cat echoes them."""
    data = os.urandom(4 * MiB)
    proto, transport = spawn(reactor, [CAT])
    transport.write(data)
    transport.closeStdin()
    ended(reactor, proto, timeout=60)
    assert proto.output(1) == data


class Producer:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause")

    def resumeProducing(self) -> None:
        self.calls.append("resume")

    def stopProducing(self) -> None:
        self.calls.append("stop")


def test_streaming_producer_paused_and_resumed(reactor: Any) -> None:
    """A push producer on stdin is paused while the child does not read, resumed as it does."""
    proto, transport = spawn(reactor, [SH, "-c", "sleep 0.2; exec cat"])
    producer = Producer()
    transport.registerProducer(producer, True)
    data = b"x" * MiB
    transport.write(data)
    assert producer.calls == ["pause"]
    run_for(reactor, 1.0)
    assert producer.calls[:2] == ["pause", "resume"]
    transport.unregisterProducer()
    transport.closeStdin()
    ended(reactor, proto, timeout=30)
    assert proto.output(1) == data


def test_producer_without_stdin_is_stopped(reactor: Any) -> None:
    """registerProducer on a child without a stdin pipe stops the producer at once."""
    proto, transport = spawn(reactor, [SH, "-c", "exit 0"], childFDs={1: "r"})
    producer = Producer()
    transport.registerProducer(producer, True)
    assert producer.calls == ["stop"]
    transport.write(b"dropped")  # no stdin: silently dropped, as in Twisted
    ended(reactor, proto)


def test_pause_producing_stops_reading_output(reactor: Any) -> None:
    """pauseProducing stops delivering output; resumeProducing delivers the rest."""
    proto, transport = spawn(reactor, [SH, "-c", "echo one; exec cat"])
    run_until(reactor, _when(reactor, lambda: proto.output(1) == b"one\n"))
    transport.pauseProducing()
    transport.write(b"two\n")
    run_for(reactor, 0.2)
    assert proto.output(1) == b"one\n"
    transport.resumeProducing()
    transport.closeStdin()
    ended(reactor, proto)
    assert proto.output(1) == b"one\ntwo\n"


def _when(reactor: Any, condition: Any, interval: float = 0.01) -> Deferred[None]:
    """A Deferred firing once ``condition()`` is true (checked every ``interval``)."""
    d: Deferred[None] = Deferred()

    def check() -> None:
        if condition():
            d.callback(None)
        else:
            reactor.callLater(interval, check)

    reactor.callLater(0, check)
    return d


def test_child_closing_stdin_is_child_connection_lost(reactor: Any, method: str) -> None:
    """A child closing its stdin is reported as childConnectionLost(0), even with no write."""
    proto, transport = spawn(reactor, [SH, "-c", "exec 0<&-; exec sleep 30"])
    run_until(reactor, _when(reactor, lambda: 0 in proto.lost()), timeout=5)
    assert ("exited",) not in proto.events  # noticed while the child still runs
    transport.write(b"after close")  # ignored, no exception
    transport.signalProcess("KILL")
    ended(reactor, proto)


def test_epipe_is_child_connection_lost(reactor: Any) -> None:
    """Writing to a child that closed stdin reports childConnectionLost(0), never raises."""
    proto, transport = spawn(reactor, [SH, "-c", "exec 0<&-; sleep 0.5"])
    run_for(reactor, 0.1)
    for _ in range(20):
        transport.write(b"y" * 65536)
    ended(reactor, proto)
    assert 0 in proto.lost()


def test_lose_connection_closes_every_pipe(reactor: Any) -> None:
    """loseConnection closes all pipes (the child is not signalled), extra ones too."""
    proto, transport = spawn(reactor, [SH, "-c", "sleep 5"],
                             childFDs={0: "w", 1: "r", 2: "r", 3: "r"})
    transport.loseConnection()
    run_until(reactor, _when(reactor, lambda: proto.lost() == {0, 1, 2, 3}))
    assert transport.pid is not None
    transport.signalProcess("KILL")
    reason = ended(reactor, proto)
    assert reason.signal == signal.SIGKILL


# -- exit status and signals -------------------------------------------------------------------
@pytest.mark.parametrize("code", [1, 3, 255])
def test_exit_code(reactor: Any, method: str, code: int) -> None:
    """A non-zero exit is ProcessTerminated with exitCode, for processExited and processEnded."""
    proto, transport = spawn(reactor, [SH, "-c", f"exit {code}"])
    reason = ended(reactor, proto)
    assert isinstance(reason, error.ProcessTerminated)
    assert (reason.exitCode, reason.signal) == (code, None)
    assert proto.exit_reason is not None and proto.exit_reason.value.exitCode == code
    assert proto.events.index(("exited",)) < proto.events.index(("ended",))
    assert transport.status is not None and os.waitstatus_to_exitcode(transport.status) == code
    assert f"exit code {code}" in str(reason)


@pytest.mark.parametrize("sig", ["TERM", "KILL", "INT", "HUP", "SIGUSR1", signal.SIGTERM])
def test_signal_process(reactor: Any, method: str, sig: str | int) -> None:
    """signalProcess takes names and numbers; the reason is ProcessTerminated(signal=...)."""
    proto, transport = spawn(reactor, [SH, "-c", "exec sleep 30"])
    run_for(reactor, 0.05)
    transport.signalProcess(sig)
    reason = ended(reactor, proto)
    expected = sig if isinstance(sig, int) else getattr(
        signal, sig if sig.startswith("SIG") else f"SIG{sig}")
    assert isinstance(reason, error.ProcessTerminated)
    assert (reason.signal, reason.exitCode) == (expected, None)


def test_child_killing_itself(reactor: Any) -> None:
    """A child killed by a signal it sent itself reports that signal."""
    proto, _ = spawn(reactor, [SH, "-c", "kill -9 $$"])
    assert ended(reactor, proto).signal == 9


def test_signal_after_exit_raises(reactor: Any) -> None:
    """Once reaped, signalProcess raises ProcessExitedAlready; unknown names are ValueError."""
    proto, transport = spawn(reactor, [SH, "-c", "exit 0"])
    with pytest.raises(ValueError, match="unknown signal name 'NOPE'"):
        transport.signalProcess("NOPE")
    ended(reactor, proto)
    with pytest.raises(error.ProcessExitedAlready):
        transport.signalProcess("TERM")
    with pytest.raises(error.ProcessExitedAlready):
        transport.signalProcess(signal.SIGKILL)


def test_ignored_signals_are_reset_in_child(reactor: Any, method: str) -> None:
    """SIGPIPE (ignored by Python) is at its default in the child: `yes | head` ends."""
    proto, _ = spawn(reactor, [SH, "-c", "yes | head -n 2; exit 0"])
    ended(reactor, proto)
    assert proto.output(1) == b"y\ny\n"


# -- environment, directory, descriptors ------------------------------------------------------
def test_env_replaces_environment(reactor: Any, method: str) -> None:
    """env is the child's whole environment."""
    proto, _ = spawn(reactor, ["/usr/bin/env"], env={"FOO": "bar", b"RAW": b"bytes"})
    ended(reactor, proto)
    assert sorted(proto.output(1).splitlines()) == [b"FOO=bar", b"RAW=bytes"]


def test_env_default_is_empty(reactor: Any) -> None:
    """The default env is empty, as in Twisted."""
    proto, _ = spawn(reactor, ["/usr/bin/env"])
    ended(reactor, proto)
    assert proto.output(1) == b""


def test_env_none_inherits(reactor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """env=None passes our environment on."""
    monkeypatch.setenv("TORSION_TEST_MARKER", "present")
    proto, _ = spawn(reactor, ["/usr/bin/env"], env=None)
    ended(reactor, proto)
    assert b"TORSION_TEST_MARKER=present\n" in proto.output(1)


def test_bare_name_found_on_path(reactor: Any, tmp_path: Any) -> None:
    """A bare name is looked up on the child's PATH, else on ours."""
    script = tmp_path / "hello-torsion"
    script.write_text("#!/bin/sh\necho from-script\n")
    script.chmod(0o755)
    proto = Recorder()
    reactor.spawnProcess(proto, "hello-torsion", ["hello-torsion"], env={"PATH": str(tmp_path)})
    ended(reactor, proto)
    assert proto.output(1) == b"from-script\n"
    proto = Recorder()
    reactor.spawnProcess(proto, "sh", ["sh", "-c", "echo ours"])  # env {}: our PATH
    ended(reactor, proto)
    assert proto.output(1) == b"ours\n"


def test_path_is_working_directory(reactor: Any, tmp_path: Any) -> None:
    """path sets the child's working directory."""
    proto, _ = spawn(reactor, [SH, "-c", "pwd"], path=str(tmp_path))
    ended(reactor, proto)
    assert proto.output(1).strip() == os.path.realpath(tmp_path).encode()


def test_extra_pipes_both_directions(reactor: Any, method: str) -> None:
    """childFDs adds pipes beyond 0-2: the parent writes fd 4 and reads fd 3."""
    proto, transport = spawn(reactor, [SH, "-c", "cat <&4 >&3"],
                             childFDs={0: "w", 1: "r", 2: "r", 3: "r", 4: "w"})
    transport.writeToChild(4, b"through fd 4")
    transport.closeChildFD(4)
    ended(reactor, proto)
    assert proto.output(3) == b"through fd 4"
    assert proto.lost() == {0, 1, 2, 3, 4}


def test_child_gets_only_named_fds(reactor: Any, method: str) -> None:
    """Descriptors not in childFDs are closed in the child, inheritable ones included."""
    keep_r, keep_w = os.pipe()
    os.set_inheritable(keep_r, True)  # would leak into the child unless closed
    try:
        proto, _ = spawn(reactor, [SH, "-c", "ls /proc/$$/fd"], childFDs={1: "r", 5: "r"})
        ended(reactor, proto)
    finally:
        os.close(keep_r)
        os.close(keep_w)
    assert sorted(proto.output(1).split()) == [b"1", b"5"]


def test_child_fd_inherits_parent_fd(reactor: Any, method: str) -> None:
    """An int in childFDs hands that parent descriptor to the child; fds may be swapped."""
    read_fd, write_fd = os.pipe()
    try:
        proto, _ = spawn(reactor, [SH, "-c", "echo to-parent-pipe; echo err >&2"],
                         childFDs={1: write_fd, 2: "r"})
        ended(reactor, proto)
        os.close(write_fd)
        assert os.read(read_fd, 100) == b"to-parent-pipe\n"
    finally:
        os.close(read_fd)
    proto, _ = spawn(reactor, [SH, "-c", "echo a >&3; echo b >&4"],
                     childFDs={3: "r", 4: "r"})
    ended(reactor, proto)
    assert (proto.output(3), proto.output(4)) == (b"a\n", b"b\n")


def test_write_to_child_requires_write_pipe(reactor: Any) -> None:
    """writeToChild to a descriptor that is not a parent-written pipe is a KeyError."""
    proto, transport = spawn(reactor, [SH, "-c", "exit 0"])
    with pytest.raises(KeyError, match="child fd 1 is not an open pipe written by the parent"):
        transport.writeToChild(1, b"x")
    with pytest.raises(KeyError):
        transport.writeToChild(7, b"x")
    ended(reactor, proto)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_uid_and_gid(reactor: Any) -> None:
    """uid and gid run the child as that user and group, with that user's groups only."""
    proto, _ = spawn(reactor, [SH, "-c", "id -u; id -g; id -G"], uid=65534, gid=65534, env=None)
    ended(reactor, proto)
    assert proto.output(1).split() == [b"65534", b"65534", b"65534"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may switch to any user")
def test_uid_not_permitted(reactor: Any) -> None:
    """Switching to another user without privileges raises PermissionError naming the uid."""
    with pytest.raises(PermissionError, match="cannot switch the child to"):
        reactor.spawnProcess(Recorder(), SH, [SH], uid=0, gid=0)


# -- pseudo-terminals ---------------------------------------------------------------------------
def test_pty_child_sees_a_terminal(reactor: Any, method: str) -> None:
    """With usePTY, fds 0-2 are a tty, the controlling one; output arrives as fd 1."""
    code = ("import os, sys; os.close(os.open('/dev/tty', os.O_RDWR));"
            "print(os.isatty(0), os.isatty(1), os.isatty(2), os.getsid(0) == os.getpid());"
            "sys.stderr.write('err\\n')")
    proto, transport = spawn(reactor, [PYTHON, "-c", code], usePTY=True, env=None)
    reason = ended(reactor, proto)
    assert isinstance(reason, error.ProcessDone)
    assert proto.output(1) == b"True True True True\r\nerr\r\n"
    assert transport.usePTY
    assert proto.lost() == set()  # as in Twisted, a pty is not reported as child fds


def test_pty_input(reactor: Any) -> None:
    """Writes go to the pty; the child reads them as terminal input."""
    proto, transport = spawn(reactor, [SH, "-c", "read line; echo got:$line"], usePTY=True)
    transport.write(b"typed\n")
    ended(reactor, proto)
    assert b"got:typed" in proto.output(1)


def test_pty_rejects_child_fds(reactor: Any) -> None:
    """usePTY with childFDs is a ValueError (the pty is 0, 1 and 2)."""
    with pytest.raises(ValueError, match="childFDs can't be used with usePTY"):
        reactor.spawnProcess(Recorder(), SH, [SH], usePTY=True, childFDs={0: "w"})


# -- failures to start --------------------------------------------------------------------------
def test_missing_executable(reactor: Any, method: str) -> None:
    """A missing executable raises FileNotFoundError naming it; nothing is left open."""
    with pytest.raises(FileNotFoundError, match="cannot run '/nonexistent/prog'"):
        reactor.spawnProcess(Recorder(), "/nonexistent/prog", ["prog"])
    with pytest.raises(FileNotFoundError, match="no such executable on PATH"):
        reactor.spawnProcess(Recorder(), "torsion-no-such-command", ["x"])


def test_permission_denied(reactor: Any, method: str, tmp_path: Any) -> None:
    """A file without execute permission raises PermissionError naming it."""
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    script.chmod(stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(PermissionError, match=r"cannot run .*not-executable"):
        reactor.spawnProcess(Recorder(), str(script), ["x"])


def test_missing_working_directory(reactor: Any) -> None:
    """A missing working directory raises FileNotFoundError naming the directory."""
    with pytest.raises(FileNotFoundError, match="directory to '/nonexistent/dir'"):
        reactor.spawnProcess(Recorder(), SH, [SH], path="/nonexistent/dir")


def test_bad_arguments(reactor: Any) -> None:
    """args as one string, bad childFDs values and closed parent fds are refused clearly."""
    with pytest.raises(TypeError, match="args must be a sequence"):
        reactor.spawnProcess(Recorder(), SH, "sh -c true")
    with pytest.raises(ValueError, match=r"childFDs\[1\] must be 'r', 'w'"):
        reactor.spawnProcess(Recorder(), SH, [SH], childFDs={1: "x"})
    with pytest.raises(ValueError, match="descriptor numbers >= 0"):
        reactor.spawnProcess(Recorder(), SH, [SH], childFDs={-1: "r"})
    closed = os.open("/dev/null", os.O_RDONLY)
    os.close(closed)
    with pytest.raises(OSError, match=f"parent descriptor {closed}, which is not open"):
        reactor.spawnProcess(Recorder(), SH, [SH], childFDs={0: closed, 1: "r"})


def test_empty_args_uses_executable(reactor: Any) -> None:
    """args=() runs the program with argv [executable]."""
    proto = Recorder()
    reactor.spawnProcess(proto, "/bin/echo")
    ended(reactor, proto)
    assert proto.output(1) == b"\n"


# -- protocol errors --------------------------------------------------------------------------
class Exploding(Recorder):
    def childDataReceived(self, childFD: int, data: bytes) -> None:
        raise RuntimeError("boom in childDataReceived")


def test_protocol_error_is_logged_and_child_still_ends(reactor: Any, logged_failures: Any) -> None:
    """An exception from the protocol is logged, that pipe closed; processEnded still comes."""
    proto = Exploding()
    reactor.spawnProcess(proto, SH, [SH, "-c", "echo x; exit 0"])
    ended(reactor, proto)
    assert [f.value.args[0] for f in logged_failures.flush(RuntimeError)] == [
        "boom in childDataReceived"]
    assert 1 in proto.lost()


def test_process_repr_and_no_address(reactor: Any) -> None:
    """The transport says which process it is; it has no address (as in Twisted)."""
    proto, transport = spawn(reactor, [SH, "-c", "exit 0"])
    assert f"pid={transport.pid} running" in repr(transport)
    with pytest.raises(NotImplementedError):
        transport.getPeer()
    ended(reactor, proto)
    assert "exited, status 0" in repr(transport)
    assert is_reaped(int(repr(transport).split("pid=")[1].split()[0]))
