"""Child processes: ``reactor.spawnProcess`` and the process transport.

Method and attribute names mirror Twisted's ``IReactorProcess`` and
``IProcessTransport`` (``spawnProcess``, ``childDataReceived``,
``closeStdin``...), which is why they are camelCase.

How a child is started, and why that way, is in :mod:`torsion._transports._spawn`:
``os.posix_spawn`` when it can, fork and exec when a working directory, uid or
gid is asked for; ``spawnProcess`` raises an ``OSError`` naming the cause when
the child cannot be started.

How a child is reaped:

* With ``os.pidfd_open`` (Linux >= 5.3) each child gets a pidfd registered as
  a reader: it becomes readable when the child exits, and then
  ``waitpid(pid, WNOHANG)`` collects the status.  Nothing process-wide is
  touched, and another library's children are never reaped by us.
* Otherwise a SIGCHLD handler is installed while children are outstanding
  (main thread only); it wakes each reactor with children through
  ``callFromThread``, which reaps its own pids with ``WNOHANG``.  Where the
  handler cannot be installed (not the main thread), pids are polled.

At reactor shutdown the pipes are closed (as every connection is) and any
child that has already exited is reaped; children still running are left
running, as Twisted leaves them, and are no longer watched.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, Protocol, cast

from torsion import error
from torsion._logging import log_failure
from torsion._transports._spawn import spawn
from torsion._transports._write_buffer import WriteBuffer, as_bytes
from torsion.failure import Failure
from torsion.interfaces import IProcessProtocol, IProcessTransport

__all__ = ["IProcessProtocol", "IProcessTransport", "Process", "ProcessMixin"]

_log = logging.getLogger("torsion.process")

# Switch for tests and old kernels: False reaps on SIGCHLD instead of pidfds.
_USE_PIDFD = hasattr(os, "pidfd_open")

_CONNECTION_DONE = error.ConnectionDone()


class _Reactor(Protocol):
    """The reactor methods this module uses."""

    def addReader(self, reader: Any) -> None: ...

    def removeReader(self, reader: Any) -> None: ...

    def addWriter(self, writer: Any) -> None: ...

    def removeWriter(self, writer: Any) -> None: ...

    def callLater(self, delay: float, callable: Callable[..., object], *args: object,
                  **kw: object) -> Any: ...

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None: ...

    def addSystemEventTrigger(self, phase: str, eventType: str, callable: Callable[..., Any],
                              *args: Any, **kw: Any) -> Any: ...


def _report(message: str) -> None:
    log_failure(Failure(), message, "torsion.process")


def _exit_reason(status: int | None) -> Failure:
    """The Failure a protocol gets for a raw wait status (None: unknown)."""
    exc: BaseException
    if status is None:
        exc = error.ProcessTerminated()
    elif os.WIFSIGNALED(status):
        exc = error.ProcessTerminated(signal=os.WTERMSIG(status), status=status)
    else:
        code = os.waitstatus_to_exitcode(status)
        exc = error.ProcessDone(status) if code == 0 else error.ProcessTerminated(
            exitCode=code, status=status)
    return Failure(exc)


# -- the pipes ---------------------------------------------------------------------------
class _ProcessPipe(WriteBuffer):
    """The parent's end of one pipe to the child (or the pty master), as a selectable.

    A pipe the parent reads hands data to ``childDataReceived``.  A pipe the
    parent writes buffers what the child has not taken yet (the write buffer
    and flow control of StreamTransport) and is also watched for reading: a
    write end becomes "readable" only when the child has closed the other end.
    """

    def __init__(self, process: Process, fd: int, childFD: int, reads: bool,
                 writes: bool) -> None:
        super().__init__()
        os.set_blocking(fd, False)
        self.process = process
        self.reactor = process.reactor
        self.childFD = childFD
        self._fd = fd
        self._reads = reads
        self._writes = writes
        self.disconnecting = False
        self.disconnected = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} child fd {self.childFD} of {self.process!r}>"

    def fileno(self) -> int:
        return self._fd

    def logPrefix(self) -> str:
        return f"process {self.process.pid} fd {self.childFD}"

    # -- reactor side ---------------------------------------------------------------
    def doRead(self) -> BaseException | None:
        if not self._reads:
            return error.ConnectionLost("the child closed its end of the pipe")
        try:
            data = os.read(self._fd, self.bufferSize)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if exc.errno == errno.EIO:  # a pty master once the child side is gone
                return _CONNECTION_DONE
            return error.ConnectionLost(exc.strerror or str(exc))
        if not data:
            return _CONNECTION_DONE
        self.process.proto.childDataReceived(self.childFD, data)
        return None

    def doWrite(self) -> BaseException | None:
        if self._write_failure is not None:
            return self._write_failure
        buffer = self._buffer
        while buffer:
            try:
                written = os.writev(self._fd, [buffer[i] for i in range(min(len(buffer), 512))])
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                return error.ConnectionLost(exc.strerror or str(exc))
            if not self._consume(written):
                return None
        if self.producer is not None and not self.disconnecting and (
            not self.streamingProducer or self.producerPaused
        ):
            self.producerPaused = False
            self.producer.resumeProducing()
            if self._buffered:
                return None
        self.stopWriting()
        return _CONNECTION_DONE if self.disconnecting else None

    def connectionLost(self, reason: Failure) -> None:
        """Close our end and tell the process, exactly once."""
        if self.disconnected:
            return
        self.disconnected = True
        self._reading = self._writing = False
        producer, self.producer = self.producer, None
        if producer is not None:
            try:
                producer.stopProducing()
            except BaseException:
                _report(f"Unhandled error stopping the producer of {self!r}:")
        fd, self._fd = self._fd, -1
        os.close(fd)
        self.process._pipeClosed(self, reason)

    # -- writing --------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        data = as_bytes(data)
        if not data or self.disconnected or self.disconnecting:
            return
        if not self._buffered and self._write_failure is None:
            try:
                written = os.write(self._fd, data)
            except (BlockingIOError, InterruptedError):
                written = 0
            except OSError as exc:  # EPIPE: reported from the reactor, not from here
                self._write_failure = error.ConnectionLost(exc.strerror or str(exc))
                self.startWriting()
                return
            if written == len(data):
                return
            data = data[written:]
            self.startWriting()
        self._buffer.append(data)
        self._buffered += len(data)
        self._maybe_pause_producer()

    def loseConnection(self) -> None:
        """Close: a write pipe once its buffer is sent, a read pipe at once."""
        if self.disconnected or self.disconnecting:
            return
        self.disconnecting = True
        self.stopReading()
        if self._writes:
            self.startWriting()
        else:
            self.reactor.callLater(0, self._loseNow)

    def _loseNow(self) -> None:
        self.reactor.removeReader(self)
        self.reactor.removeWriter(self)
        self.connectionLost(Failure(_CONNECTION_DONE))

    def unregisterProducer(self) -> None:
        self.producer = None
        self.producerPaused = False

    # -- interest -------------------------------------------------------------------
    def startReading(self) -> None:
        if not self._reading and not self.disconnected:
            self._reading = True
            self.reactor.addReader(self)

    def startWriting(self) -> None:
        if not self._writing and not self.disconnected:
            self._writing = True
            self.reactor.addWriter(self)


# -- the transport -----------------------------------------------------------------------
class Process:
    """A running child process: the transport given to its ``ProcessProtocol``.

    Writing goes to the child's standard input (``writeToChild`` for other
    descriptors).  The protocol hears ``childDataReceived(fd, data)``,
    ``childConnectionLost(fd)`` as each pipe closes, ``processExited(reason)``
    when the child is reaped, and ``processEnded(reason)`` once it is reaped
    *and* every pipe is closed.  ``reason`` wraps ``ProcessDone`` (exit code 0)
    or ``ProcessTerminated`` (``exitCode`` or ``signal``).

    Attributes:
        pid: the child's process id; None once it has been reaped.
        status: the raw wait status once reaped (None before, or if unknown).
        proto: the protocol.
        pipes: the open pipes by child descriptor number.
        usePTY: whether the child runs on a pseudo-terminal.

    Example:
        >>> proc = reactor.spawnProcess(MyProtocol(), "/bin/cat", ["cat"])  # doctest: +SKIP
        >>> proc.write(b"hello")                                            # doctest: +SKIP
        >>> proc.closeStdin()                                               # doctest: +SKIP
    """

    def __init__(self, reactor: _Reactor, proto: IProcessProtocol, pid: int,
                 usePTY: bool) -> None:
        self.reactor = reactor
        self.proto = proto
        self.pid: int | None = pid
        self.status: int | None = None
        self.usePTY = usePTY
        self.pipes: dict[int, _ProcessPipe] = {}
        # The child's standard input: the pty (kept as child fd 1) with usePTY.
        self._stdin = 1 if usePTY else 0
        self._exit_reason: Failure | None = None
        self._ended = False
        self._pid_for_logs = pid

    def __repr__(self) -> str:
        state = "running" if self.pid is not None else f"exited, status {self.status}"
        return f"<Process pid={self._pid_for_logs} {state}>"

    # -- writing ------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Write ``data`` to the child's standard input (dropped when it has none)."""
        pipe = self.pipes.get(self._stdin)
        if pipe is not None and pipe._writes:
            pipe.write(data)

    def writeSequence(self, seq: Iterable[bytes]) -> None:
        """Write each of ``seq`` to the child's standard input, in order."""
        for data in seq:
            self.write(data)

    def writeToChild(self, childFD: int, data: bytes) -> None:
        """Write ``data`` to the child's descriptor ``childFD``.

        Raises:
            KeyError: when ``childFD`` is not an open pipe the parent writes.
        """
        pipe = self.pipes.get(self._stdin if childFD == 0 else childFD)
        if pipe is None or not pipe._writes:
            raise KeyError(f"child fd {childFD} is not an open pipe written by the parent")
        pipe.write(data)

    # -- closing ------------------------------------------------------------------------
    def closeChildFD(self, childFD: int) -> None:
        """Close our end of the pipe to ``childFD`` (a write pipe after it drains)."""
        if self.usePTY:
            return  # one pty carries every direction: closed only as a whole
        pipe = self.pipes.get(childFD)
        if pipe is not None:
            pipe.loseConnection()

    def closeStdin(self) -> None:
        """Close the child's standard input once buffered data is written (EOF for it)."""
        self.closeChildFD(0)

    def closeStdout(self) -> None:
        self.closeChildFD(1)

    def closeStderr(self) -> None:
        self.closeChildFD(2)

    def loseConnection(self) -> None:
        """Close every pipe to the child (the pty, with ``usePTY``); it is not signalled."""
        for pipe in list(self.pipes.values()):
            pipe.loseConnection()

    def signalProcess(self, signalID: str | int) -> None:
        """Send a signal: a name ("TERM", "KILL", "INT", "HUP", "SIGUSR1"...) or a number.

        Raises:
            ProcessExitedAlready: once the child has exited and been reaped.
            ValueError: for an unknown signal name.
        """
        if isinstance(signalID, str):
            name = signalID if signalID.startswith("SIG") else f"SIG{signalID}"
            number = getattr(signal, name, None)
            if not isinstance(number, int):
                raise ValueError(f"unknown signal name {signalID!r}")
            signalID = number
        if self.pid is None:
            raise error.ProcessExitedAlready()
        try:
            os.kill(self.pid, signalID)
        except ProcessLookupError:
            raise error.ProcessExitedAlready() from None

    # -- producer and consumer ---------------------------------------------------------
    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Feed the child's standard input from ``producer`` (stopped at once without one)."""
        pipe = self.pipes.get(self._stdin)
        if pipe is None or not pipe._writes:
            producer.stopProducing()
        else:
            pipe.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        pipe = self.pipes.get(self._stdin)
        if pipe is not None:
            pipe.unregisterProducer()

    def pauseProducing(self) -> None:
        """Stop reading the child's output until ``resumeProducing``."""
        for pipe in self.pipes.values():
            if pipe._reads:
                pipe.stopReading()

    def resumeProducing(self) -> None:
        for pipe in self.pipes.values():
            if pipe._reads and not pipe.disconnecting:
                pipe.startReading()

    def stopProducing(self) -> None:
        self.loseConnection()

    def getHost(self) -> NoReturn:
        raise NotImplementedError("a process transport has no address")

    def getPeer(self) -> NoReturn:
        raise NotImplementedError("a process transport has no address")

    # -- events ---------------------------------------------------------------------------
    def _pipeClosed(self, pipe: _ProcessPipe, reason: Failure) -> None:
        if self.pipes.get(pipe.childFD) is pipe:
            del self.pipes[pipe.childFD]
        if not self.usePTY:  # as in Twisted, a pty is not reported as a child fd
            try:
                self.proto.childConnectionLost(pipe.childFD)
            except BaseException:
                _report(f"Unhandled error in childConnectionLost of {self!r}:")
        self._maybeEnded()

    def _exited(self, status: int | None) -> None:
        """The child was reaped with wait status ``status`` (None: reaped elsewhere)."""
        self.pid = None
        self.status = status
        self._exit_reason = reason = _exit_reason(status)
        try:
            self.proto.processExited(reason)
        except BaseException:
            _report(f"Unhandled error in processExited of {self!r}:")
        self._maybeEnded()

    def _maybeEnded(self) -> None:
        if self._exit_reason is None or self.pipes or self._ended:
            return
        self._ended = True
        try:
            self.proto.processEnded(self._exit_reason)
        except BaseException:
            _report(f"Unhandled error in processEnded of {self!r}:")

    def _tryReap(self) -> bool:
        """Collect the child's status if it has exited; return whether it is reaped."""
        pid = self.pid
        if pid is None:
            return True
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            _log.warning("child %d was reaped by someone else (is SIGCHLD ignored?): "
                         "its exit status is unknown", pid)
            self._exited(None)
            return True
        if reaped == 0:
            return False
        self._exited(status)
        return True


# -- reaping ------------------------------------------------------------------------------
class _PidfdWatcher:
    """A pidfd as a reader: readable once its child has exited."""

    def __init__(self, reaper: _Reaper, process: Process, pidfd: int) -> None:
        self.reaper = reaper
        self.process = process
        self._fd = pidfd

    def fileno(self) -> int:
        return self._fd

    def logPrefix(self) -> str:
        return f"pidfd of {self.process!r}"

    def doRead(self) -> BaseException | None:
        if self.process._tryReap():
            return _CONNECTION_DONE  # the reactor then calls connectionLost, which closes it
        # Readable but not reapable yet: look again shortly instead of spinning.
        self.reaper.reactor.removeReader(self)
        self.reaper.reactor.callLater(0.01, self._rearm)
        return None

    def _rearm(self) -> None:
        if self._fd != -1:
            self.reaper.reactor.addReader(self)

    def connectionLost(self, reason: Failure) -> None:
        if self._fd == -1:
            return
        os.close(self._fd)
        self._fd = -1
        if not self.process._tryReap():  # the reactor is shutting down: let it run on
            _log.info("leaving %r running: the reactor is shutting down", self.process)
        self.reaper.forget(self.process)


class _Reaper:
    """One reactor's children: watches them and reports their exit."""

    def __init__(self, reactor: _Reactor) -> None:
        self.reactor = reactor
        self.processes: dict[int, Process] = {}
        self._watchers: dict[int, _PidfdWatcher] = {}
        self._polling = False
        reactor.addSystemEventTrigger("during", "shutdown", self.shutdown)

    def watch(self, process: Process) -> None:
        pid = process.pid
        assert pid is not None
        self.processes[pid] = process
        if _USE_PIDFD:
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:  # ENOSYS, EPERM in some sandboxes: fall back to SIGCHLD
                pass
            else:
                watcher = _PidfdWatcher(self, process, pidfd)
                self._watchers[pid] = watcher
                self.reactor.addReader(watcher)
                return
        if _sigchld_add(self):
            # A child that exited before the handler existed sent its SIGCHLD to nobody.
            self.reactor.callLater(0, self.reapAll)
        else:
            self._startPolling()

    def forget(self, process: Process) -> None:
        for pid, known in list(self.processes.items()):
            if known is process:
                del self.processes[pid]
                self._watchers.pop(pid, None)
        if not self._unwatched():
            _sigchld_discard(self)

    def _unwatched(self) -> list[Process]:
        """The children watched by SIGCHLD or polling rather than by a pidfd."""
        return [p for pid, p in self.processes.items() if pid not in self._watchers]

    def reapAll(self) -> None:
        """Reap every child of ours that has exited (SIGCHLD and polling modes)."""
        for process in self._unwatched():
            if process._tryReap():
                self.forget(process)

    def _startPolling(self) -> None:
        if not self._polling:
            self._polling = True
            self.reactor.callLater(0.05, self._poll)

    def _poll(self) -> None:
        self._polling = False
        self.reapAll()
        if self._unwatched():
            self._startPolling()

    def shutdown(self) -> None:
        """Reap what has exited; stop watching what still runs (it is left running)."""
        self.reapAll()
        for watcher in list(self._watchers.values()):
            self.reactor.removeReader(watcher)
            watcher.connectionLost(Failure(_CONNECTION_DONE))
        for process in self._unwatched():
            _log.info("leaving %r running: the reactor is shutting down", process)
        self.processes.clear()
        _sigchld_discard(self)


_sigchld_reapers: weakref.WeakSet[_Reaper] = weakref.WeakSet()
_sigchld_previous: Any = None
_sigchld_installed = False


def _on_sigchld(signum: int, frame: object) -> None:
    for reaper in list(_sigchld_reapers):
        reaper.reactor.callFromThread(reaper.reapAll)
    if callable(_sigchld_previous):
        _sigchld_previous(signum, frame)


def _sigchld_add(reaper: _Reaper) -> bool:
    """Install the SIGCHLD handler if needed; False when it cannot be (not the main thread)."""
    global _sigchld_previous, _sigchld_installed
    if not _sigchld_installed:
        try:
            _sigchld_previous = signal.signal(signal.SIGCHLD, _on_sigchld)
        except ValueError:
            return False
        signal.siginterrupt(signal.SIGCHLD, False)
        _sigchld_installed = True
    _sigchld_reapers.add(reaper)
    return True


def _sigchld_discard(reaper: _Reaper) -> None:
    global _sigchld_installed
    _sigchld_reapers.discard(reaper)
    if _sigchld_installed and not _sigchld_reapers:
        try:
            signal.signal(signal.SIGCHLD, _sigchld_previous or signal.SIG_DFL)
        except ValueError:  # not the main thread: leave it; it does nothing without reapers
            return
        _sigchld_installed = False


class ProcessMixin:
    """Adds ``spawnProcess`` (``IReactorProcess``) to the reactor."""

    _processReaper: _Reaper | None = None

    def spawnProcess(
        self,
        processProtocol: IProcessProtocol,
        executable: str | bytes,
        args: Sequence[str | bytes] = (),
        env: Mapping[Any, Any] | None = {},  # Twisted's default (an empty env); never mutated
        path: str | bytes | None = None,
        uid: int | None = None,
        gid: int | None = None,
        usePTY: bool | tuple[int, int, str] = False,
        childFDs: Mapping[int, str | int] | None = None,
    ) -> Process:
        """Start a child process and connect ``processProtocol`` to it.

        Args:
            processProtocol: gets the transport (``makeConnection``, before
                this returns) and the child's events.
            executable: the program; a bare name is looked up on the PATH of
                ``env``, else on ours.
            args: the whole argument vector, ``argv[0]`` included (empty means
                ``[executable]``).
            env: the child's environment, replacing ours; ``{}`` (the default,
                as in Twisted) is an empty environment, None inherits ours.
            path: the child's working directory (None: ours).
            uid: the user id to run the child as (needs privileges).
            gid: the group id to run the child as (needs privileges).
            usePTY: run the child on a new pseudo-terminal (its controlling
                terminal, in a new session); the child's output then arrives as
                child fd 1.  A ``(master, slave, ttyname)`` tuple uses that pty.
            childFDs: child descriptor -> "r" (a pipe the parent reads), "w"
                (a pipe the parent writes) or a parent descriptor the child
                inherits; default ``{0: "w", 1: "r", 2: "r"}``.  Descriptors not
                named are closed in the child.

        Returns:
            The process transport (also ``processProtocol.transport``).

        Raises:
            FileNotFoundError: no such executable, or no such directory ``path``.
            PermissionError: the executable (or ``path``) may not be used.
            OSError: the child could not be started for another reason.
            ValueError: a malformed ``childFDs``, or ``childFDs`` with ``usePTY``.
            TypeError: ``args`` is a single string.

        Example:
            >>> class Echo(ProcessProtocol):                       # doctest: +SKIP
            ...     def outReceived(self, data): print(data)
            ...     def processEnded(self, reason): reactor.stop()
            >>> proc = reactor.spawnProcess(Echo(), "cat", ["cat"])  # doctest: +SKIP
            >>> proc.write(b"hi"); proc.closeStdin()                 # doctest: +SKIP
        """
        reactor = cast(_Reactor, self)
        spawned = spawn(executable, args, env, path, uid, gid, usePTY, childFDs)
        process = Process(reactor, processProtocol, spawned.pid, bool(usePTY))
        for child_fd, (fd, reads, writes) in spawned.ends.items():
            pipe = _ProcessPipe(process, fd, child_fd, reads, writes)
            process.pipes[child_fd] = pipe
            pipe.startReading()
        if self._processReaper is None:
            self._processReaper = _Reaper(reactor)
        self._processReaper.watch(process)
        processProtocol.makeConnection(process)
        return process
