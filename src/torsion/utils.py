"""Run a program and collect what it prints or returns, as a Deferred.

Mirrors ``twisted.internet.utils`` (hence the camelCase names)::

    from torsion.utils import getProcessOutput

    d = getProcessOutput("git", ["rev-parse", "HEAD"], env=None, reactor=reactor)
    d.addCallback(lambda out: print(out.decode().strip()))

``args`` never includes the program: ``argv[0]`` is ``executable``.  ``env``
replaces the environment, and like Twisted the default ``{}`` is an *empty*
one (pass ``env=None`` to inherit ours).  Without ``reactor`` the default
reactor (``torsion.reactor.reactor``) is used.

Differences from Twisted, on purpose:

* When the program cannot be started (no such executable, permission denied,
  no such directory ``path``) the Deferred fails with that ``OSError``;
  Twisted raises it from the call, or, when it forks, reports exit code 1.
* ``getProcessOutputAndValue`` fails with :class:`ProcessSignalledError` when
  the child is killed by a signal.  It unpacks like Twisted's
  ``(out, err, signalNum)`` tuple, but is an exception, so ``await`` and
  ``inlineCallbacks`` can raise it (a tuple cannot be raised).
* :class:`UnexpectedErrorOutput` (an ``IOError``, as in Twisted) creates its
  ``processEnded`` Deferred only when asked for, so an ignored one is never
  reported as an unhandled error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, cast

from torsion._globalreactor import defaultReactor
from torsion.defer import Deferred, fail
from torsion.failure import Failure
from torsion.protocol import ProcessProtocol

__all__ = [
    "ProcessSignalledError",
    "UnexpectedErrorOutput",
    "getProcessOutput",
    "getProcessOutputAndValue",
    "getProcessValue",
]


class _SpawningReactor(Protocol):
    def spawnProcess(self, processProtocol: Any, executable: str | bytes,
                     args: Sequence[str | bytes] = (), env: Mapping[Any, Any] | None = {},
                     path: str | bytes | None = None) -> Any: ...


class UnexpectedErrorOutput(IOError):
    """``getProcessOutput`` saw data on the child's stderr (without ``errortoo``).

    The child's pipes are closed when this is reported; it may still be running.

    Attributes:
        text: the first bytes that arrived on stderr.
    """

    def __init__(self, text: bytes, whenEnded: Callable[[], Deferred[None]]) -> None:
        super().__init__(f"got stderr: {text!r}")
        self.text = text
        self._whenEnded = whenEnded

    @property
    def processEnded(self) -> Deferred[None]:
        """A Deferred failing with the child's end reason (``ProcessDone`` too) once it ends."""
        return self._whenEnded()


class ProcessSignalledError(Exception):
    """The child was killed by a signal; unpacks as ``(out, err, signal)`` like Twisted's tuple.

    Attributes:
        out: what the child wrote to stdout until then.
        err: what it wrote to stderr.
        signal: the number of the signal that killed it.
    """

    def __init__(self, out: bytes, err: bytes, signal: int) -> None:
        super().__init__(out, err, signal)
        self.out = out
        self.err = err
        self.signal = signal

    def __str__(self) -> str:
        return f"process killed by signal {self.signal} (stdout {len(self.out)} bytes, " \
               f"stderr {len(self.err)} bytes)"

    def __iter__(self) -> Iterator[bytes | int]:
        return iter((self.out, self.err, self.signal))

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> bytes | int:
        return (self.out, self.err, self.signal)[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ProcessSignalledError | tuple):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.out, self.err, self.signal))


def _run(protocol: ProcessProtocol, result: Deferred[Any], executable: str | bytes,
         args: Sequence[str | bytes], env: Mapping[Any, Any] | None,
         path: str | bytes | None, reactor: object | None) -> None:
    if isinstance(args, str | bytes):
        raise TypeError(f"args must be a sequence of str or bytes, not {type(args).__name__}")
    if reactor is None:
        reactor = defaultReactor("pass reactor= to choose one")
    try:
        cast(_SpawningReactor, reactor).spawnProcess(
            protocol, executable, (executable, *args), env, path)
    except OSError:
        result.errback(Failure())


class _OutputCollector(ProcessProtocol):
    """Collects stdout (and stderr with ``errortoo``) for ``getProcessOutput``."""

    def __init__(self, result: Deferred[bytes], errortoo: bool) -> None:
        self.result: Deferred[bytes] | None = result
        self.errortoo = errortoo
        self.chunks: list[bytes] = []
        self.reason: Failure | None = None
        self.waiting: list[Deferred[None]] = []

    def outReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def errReceived(self, data: bytes) -> None:
        if self.errortoo:
            self.chunks.append(data)
            return
        if self.result is not None:
            result, self.result = self.result, None
            result.errback(UnexpectedErrorOutput(data, self.whenEnded))
            self.transport.loseConnection()

    def whenEnded(self) -> Deferred[None]:
        if self.reason is not None:
            return fail(self.reason)
        d: Deferred[None] = Deferred()
        self.waiting.append(d)
        return d

    def processEnded(self, reason: Failure) -> None:
        self.reason = reason
        if self.result is not None:
            result, self.result = self.result, None
            result.callback(b"".join(self.chunks))
        waiting, self.waiting = self.waiting, []
        for d in waiting:
            d.errback(reason)


class _ValueCollector(ProcessProtocol):
    def __init__(self, result: Deferred[int | None]) -> None:
        self.result = result

    def processEnded(self, reason: Failure) -> None:
        self.result.callback(reason.value.exitCode)


class _EverythingCollector(ProcessProtocol):
    def __init__(self, result: Deferred[tuple[bytes, bytes, int]],
                 stdinBytes: bytes | None) -> None:
        self.result = result
        self.stdinBytes = stdinBytes
        self.out: list[bytes] = []
        self.err: list[bytes] = []

    def connectionMade(self) -> None:
        if self.stdinBytes is not None:
            self.transport.write(self.stdinBytes)
            self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.out.append(data)

    def errReceived(self, data: bytes) -> None:
        self.err.append(data)

    def processEnded(self, reason: Failure) -> None:
        out, err = b"".join(self.out), b"".join(self.err)
        value = reason.value
        if value.signal:
            self.result.errback(ProcessSignalledError(out, err, value.signal))
        elif value.exitCode is None:  # the status is unknown: someone else reaped the child
            self.result.errback(reason)
        else:
            self.result.callback((out, err, value.exitCode))


def getProcessOutput(
    executable: str | bytes,
    args: Sequence[str | bytes] = (),
    env: Mapping[Any, Any] | None = {},  # Twisted's default (an empty env); never mutated
    path: str | bytes | None = None,
    reactor: object | None = None,
    errortoo: bool = False,
) -> Deferred[bytes]:
    """Run a program; fire with everything it wrote to stdout once it has ended.

    The exit code does not matter (see :func:`getProcessOutputAndValue`).

    Args:
        executable: the program (a bare name is looked up on PATH).
        args: its arguments, without the program itself.
        env: its environment; ``{}`` is empty, None inherits ours.
        path: its working directory (None: ours).
        reactor: the reactor to run it on (None: the default reactor).
        errortoo: collect stderr into the output as well.

    Returns:
        A Deferred firing with the output.  It fails with
        :class:`UnexpectedErrorOutput` as soon as anything arrives on stderr
        (unless ``errortoo``), or with an ``OSError`` when the program cannot
        be started.

    Example:
        >>> getProcessOutput("echo", ["hi"], reactor=reactor)  # doctest: +SKIP
        <Deferred ... result=b'hi\\n'>
    """
    result: Deferred[bytes] = Deferred()
    _run(_OutputCollector(result, errortoo), result, executable, args, env, path, reactor)
    return result


def getProcessValue(
    executable: str | bytes,
    args: Sequence[str | bytes] = (),
    env: Mapping[Any, Any] | None = {},  # Twisted's default (an empty env); never mutated
    path: str | bytes | None = None,
    reactor: object | None = None,
) -> Deferred[int | None]:
    """Run a program; fire with its exit code once it has ended (None if a signal killed it).

    Fails with an ``OSError`` when the program cannot be started.

    Example:
        >>> getProcessValue("false", reactor=reactor)  # doctest: +SKIP
        <Deferred ... result=1>
    """
    result: Deferred[int | None] = Deferred()
    _run(_ValueCollector(result), result, executable, args, env, path, reactor)
    return result


def getProcessOutputAndValue(
    executable: str | bytes,
    args: Sequence[str | bytes] = (),
    env: Mapping[Any, Any] | None = {},  # Twisted's default (an empty env); never mutated
    path: str | bytes | None = None,
    reactor: object | None = None,
    stdinBytes: bytes | None = None,
) -> Deferred[tuple[bytes, bytes, int]]:
    """Run a program; fire with ``(stdout, stderr, exit code)`` once it has ended.

    Args:
        executable: the program (a bare name is looked up on PATH).
        args: its arguments, without the program itself.
        env: its environment; ``{}`` is empty, None inherits ours.
        path: its working directory (None: ours).
        reactor: the reactor to run it on (None: the default reactor).
        stdinBytes: written to the child's stdin, which is then closed.

    Returns:
        A Deferred firing with the tuple.  It fails with
        :class:`ProcessSignalledError` (``(out, err, signal)``) when a signal
        killed the child, or with an ``OSError`` when it cannot be started.

    Example:
        >>> getProcessOutputAndValue("sh", ["-c", "echo o; exit 3"],
        ...                          reactor=reactor)  # doctest: +SKIP
        <Deferred ... result=(b'o\\n', b'', 3)>
    """
    result: Deferred[tuple[bytes, bytes, int]] = Deferred()
    _run(_EverythingCollector(result, stdinBytes), result, executable, args, env, path, reactor)
    return result
