"""Failures: an exception, its type and its traceback, kept as a value.

This module mirrors ``twisted.python.failure``: the public names (``Failure``,
``DefaultException``, ``NoCurrentExceptionError``, ``startDebugMode``, ...) and
their camelCase methods are part of the porting contract, so code written for
Twisted works after changing its imports.

A :class:`Failure` keeps the live traceback only until :meth:`Failure.cleanFailure`
is called (Deferreds do that when a chain stops on a failure); from then on it
holds plain ``(function, file, line, locals, globals)`` tuples, so it can be
pickled, logged or kept around without pinning frames and their locals in memory.
Frames are extracted lazily: building a Failure is cheap, formatting pays.

With ``captureVars=True`` the frames are extracted at once instead: a frame's
variables may change after the Failure is made (the handler goes on running),
and the report must show them as they were at the raise.  The captured values
are the objects themselves until ``cleanFailure()`` or pickling replaces them,
once, with their reprs.

Example::

    try:
        1 / 0
    except ZeroDivisionError:
        f = Failure()
    f.trap(ArithmeticError)          # returns ArithmeticError
    print(f.getErrorMessage())       # "division by zero"
"""

from __future__ import annotations

import linecache
import sys
from collections.abc import Callable, Iterator, Sequence
from io import StringIO
from types import FrameType, TracebackType
from typing import IO, Any, NoReturn, TypeVar

__all__ = [
    "DO_POST_MORTEM",
    "EXCEPTION_CAUGHT_HERE",
    "DefaultException",
    "Failure",
    "NoCurrentExceptionError",
    "count",
    "format_frames",
    "startDebugMode",
    "traceupLength",
]

_T = TypeVar("_T")

#: Number of Failures created so far; each Failure records its serial number.
count = 0
#: How many frames above the catching frame a debug-mode Failure records.
traceupLength = 4
#: Marker line separating the catching frame from the raising frames in reports.
EXCEPTION_CAUGHT_HERE = "--- <exception caught here> ---"
#: Whether :func:`startDebugMode` drops into the post-mortem debugger.
DO_POST_MORTEM = True

#: One frame as a Failure stores it: ``(function, file, line, locals, globals)``.
#: Captured variables are ``(name, value)`` pairs; the values are the objects
#: until the Failure is cleaned or pickled, then their reprs.
FrameTuple = tuple[str, str, int, Sequence[tuple[str, object]], Sequence[tuple[str, object]]]

_VERBOSE_NOT_CAPTURED = " [Capture of Locals and Globals disabled (use captureVars=True)]\n"
_DETAILS = ("default", "brief", "verbose", "verbose-vars-not-captured")


class DefaultException(Exception):
    """Stands in for a non-exception value a Failure was created from."""


class NoCurrentExceptionError(Exception):
    """Raised by ``Failure()`` when no exception is being handled."""


def _qual(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except BaseException as exc:  # a broken __str__ must not break error reporting
        return f"<{_qual(type(value))} instance with broken __str__: {exc!r}>"


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except BaseException as exc:
        return f"<{_qual(type(value))} instance with broken __repr__: {exc!r}>"


def format_frames(
    frames: Sequence[FrameTuple], write: Callable[[str], object], detail: str = "default"
) -> None:
    """Write ``frames`` through ``write`` in one of the layouts below.

    Args:
        frames: ``(function, file, line, locals, globals)`` tuples, oldest first.
        write: called with each piece of text.
        detail: ``"default"`` (like the standard library), ``"brief"``
            (``file:line:function``), ``"verbose"`` (with the repr of each
            captured local and global), or ``"verbose-vars-not-captured"``
            (verbose frame lines, then a note that variables were not captured).

    Raises:
        ValueError: for another ``detail``.
    """
    _write_frames(frames, write, detail, vars_are_reprs=False)
    if detail == "verbose-vars-not-captured":
        write(_VERBOSE_NOT_CAPTURED)


def _write_frames(
    frames: Sequence[FrameTuple], write: Callable[[str], object], detail: str, vars_are_reprs: bool
) -> None:
    if detail not in _DETAILS:
        raise ValueError(f"detail must be one of {', '.join(_DETAILS)}, not {detail!r}")
    for func, filename, lineno, local_vars, global_vars in frames:
        if detail == "brief":
            write(f"{filename}:{lineno}:{func}\n")
        elif detail == "default":
            write(f'  File "{filename}", line {lineno}, in {func}\n')
            write(f"    {linecache.getline(filename, lineno).strip()}\n")
        elif detail == "verbose-vars-not-captured":
            write(f"{filename}:{lineno}: {func}(...)\n")
        else:
            write(f"{filename}:{lineno}: {func}(...)\n")
            write(" [ Locals ]\n")
            _write_vars(local_vars, write, vars_are_reprs)
            write(" ( Globals )\n")
            _write_vars(global_vars, write, vars_are_reprs)


def _write_vars(
    pairs: Sequence[tuple[str, object]], write: Callable[[str], object], are_reprs: bool
) -> None:
    for name, value in pairs:
        text = value if are_reprs else _safe_repr(value)
        write(f"  {name} : {text}\n")


class _Code:
    """Just enough of a code object for the standard ``traceback`` module."""

    def __init__(self, name: str, filename: str) -> None:
        self.co_name = name
        self.co_qualname = name
        self.co_filename = filename

    def co_positions(self) -> Iterator[tuple[None, None, None, None]]:
        return iter(())


class _Frame:
    """A frame rebuilt from a stored frame tuple."""

    def __init__(self, frame: FrameTuple, back: _Frame | None) -> None:
        name, filename, lineno, local_vars, global_vars = frame
        self.f_code = _Code(name, filename)
        self.f_lineno = lineno
        self.f_locals = dict(local_vars)
        self.f_globals = dict(global_vars)
        self.f_back = back


class _Traceback:
    """A traceback rebuilt from stored frames, for code that wants ``tb_next``."""

    def __init__(self, frames: Sequence[FrameTuple]) -> None:
        first, *rest = frames
        self.tb_frame = _Frame(first, None)
        self.tb_lineno = first[2]
        self.tb_lasti = -1
        self.tb_next: _Traceback | None = _Traceback(rest) if rest else None


def _captured_vars(
    frame: FrameType,
) -> tuple[list[tuple[str, object]], list[tuple[str, object]]]:
    """Copy a frame's locals and globals as ``(name, value)`` pairs, in their order."""
    f_locals = frame.f_locals
    f_globals = frame.f_globals
    local_vars = [(k, v) for k, v in f_locals.items() if k != "__builtins__"]
    if f_locals is f_globals:
        return local_vars, []  # module level: its globals are already its locals
    return local_vars, [(k, v) for k, v in f_globals.items() if k != "__builtins__"]


def _extract_frames(tb: TracebackType | None, capture_vars: bool) -> list[FrameTuple]:
    frames: list[FrameTuple] = []
    while tb is not None:
        frame = tb.tb_frame
        local_vars: Sequence[tuple[str, object]] = ()
        global_vars: Sequence[tuple[str, object]] = ()
        if capture_vars:
            local_vars, global_vars = _captured_vars(frame)
        frames.append(
            (frame.f_code.co_name, frame.f_code.co_filename, tb.tb_lineno, local_vars, global_vars)
        )
        tb = tb.tb_next
    return frames


def _frames_with_reprs(frames: Sequence[FrameTuple]) -> list[FrameTuple]:
    """Return ``frames`` with every captured value replaced by its repr."""
    return [
        (
            func,
            filename,
            lineno,
            [(k, _safe_repr(v)) for k, v in local_vars],
            [(k, _safe_repr(v)) for k, v in global_vars],
        )
        for func, filename, lineno, local_vars, global_vars in frames
    ]


class Failure(BaseException):
    """An exception with its traceback, as a value that can be passed around.

    ``Failure()`` captures the exception being handled; ``Failure(exc)`` wraps
    an exception instance (keeping ``exc.__traceback__`` when it was raised);
    ``Failure(other_failure)`` makes a copy.

    Attributes:
        value: the exception instance.
        type: its class.
        tb: the live traceback, until :meth:`cleanFailure`.
        frames: ``(function, file, line, locals, globals)`` tuples, oldest first.
        parents: qualified names of ``type`` and its bases, used by :meth:`check`.
        count: this Failure's serial number.
        captureVars: whether locals and globals are kept with the frames.
    """

    # A BaseException subclass, as Twisted's is, so a Failure can itself be
    # raised; all state lives in __dict__ so copies and pickles stay plain.
    pickled = 0
    # Whether captured values in the frames are already reprs (after cleaning
    # or unpickling); a class default keeps it off the common creation path.
    _vars_are_reprs = False
    stack: list[FrameTuple]

    def __init__(
        self,
        exc_value: object = None,
        exc_type: type[BaseException] | type[object] | None = None,
        exc_tb: TracebackType | None = None,
        captureVars: bool = False,
    ) -> None:
        global count
        BaseException.__init__(self)  # keep no reference to our arguments in .args
        count += 1
        self.count = count
        self.captureVars = captureVars
        self.stack = []
        self._frames: list[FrameTuple] | None = None
        if exc_value is None:
            exc_type_now, exc_value_now, exc_tb_now = sys.exc_info()
            if exc_value_now is None:
                raise NoCurrentExceptionError()
            exc_value, exc_type, exc_tb = exc_value_now, exc_type_now, exc_tb_now
            if exc_tb is not None and _debug_hook is not None:
                _debug_hook(exc_tb)
        elif isinstance(exc_value, Failure):
            self.__dict__.update(exc_value.__dict__)
            return
        if exc_type is None:
            exc_type = type(exc_value)
        if exc_tb is None and isinstance(exc_value, BaseException):
            exc_tb = exc_value.__traceback__
        self.type: Any = exc_type
        self.value: Any = exc_value
        self.tb: TracebackType | None = exc_tb
        self._parents: list[str] | None = None
        if captureVars:
            # Now, while the frames still hold the values they had at the raise.
            self._frames = _extract_frames(exc_tb, True)

    @classmethod
    def _withoutTraceback(cls, value: BaseException) -> Failure:
        """Build a Failure for ``value`` cheaply, with no traceback at all."""
        global count
        self = cls.__new__(cls)
        count += 1
        self.count = count
        self.captureVars = False
        self.stack = []
        self._frames = []
        self.type = type(value)
        self.value = value
        self.tb = None
        self._parents = None
        return self

    # -- derived attributes ------------------------------------------------
    @property
    def frames(self) -> list[FrameTuple]:
        """The traceback's frames, oldest first (computed on first use)."""
        if self._frames is None:
            self._frames = _extract_frames(self.tb, self.captureVars)
        return self._frames

    @frames.setter
    def frames(self, frames: list[FrameTuple]) -> None:
        self._frames = frames

    @property
    def parents(self) -> list[str]:
        """Qualified names of the exception type and all of its bases."""
        if self._parents is None:
            if isinstance(self.type, type):
                self._parents = [_qual(c) for c in self.type.__mro__]
            else:
                self._parents = [_safe_str(self.type)]
        return self._parents

    @parents.setter
    def parents(self, parents: list[str]) -> None:
        self._parents = parents

    # -- matching ------------------------------------------------------------
    def check(self, *errorTypes: type[BaseException] | str) -> type[BaseException] | str | None:
        """Return the first of ``errorTypes`` this failure is an instance of, or None.

        Args:
            errorTypes: exception classes, or their qualified names as strings.
        """
        parents = self.parents
        for error in errorTypes:
            name = _qual(error) if isinstance(error, type) else error
            if name in parents:
                return error
        return None

    def trap(self, *errorTypes: type[BaseException] | str) -> type[BaseException] | str:
        """Return the matching type like :meth:`check`, or re-raise the exception.

        Typical use, in an errback, to let only some errors through::

            def eb(failure):
                failure.trap(ConnectionLost)
                ...  # handle ConnectionLost only

        Raises:
            BaseException: the wrapped exception itself when nothing matches.
        """
        error = self.check(*errorTypes)
        if error is None:
            self.raiseException()
        return error

    # -- raising -------------------------------------------------------------
    def raiseException(self) -> NoReturn:
        """Raise the wrapped exception with its original traceback."""
        value = self.value
        if not isinstance(value, BaseException):
            value = DefaultException(value)
        raise value.with_traceback(self.tb)

    def throwExceptionIntoGenerator(self, g: Any) -> Any:
        """Throw the wrapped exception into generator ``g`` and return what it yields."""
        value = self.value
        if not isinstance(value, BaseException):
            value = DefaultException(value)
        return g.throw(value.with_traceback(self.tb))

    # -- life cycle ----------------------------------------------------------
    def cleanFailure(self) -> None:
        """Drop the live traceback, keeping its frames as plain tuples.

        Captured variables are replaced by their reprs (once, however often
        this is called).  After this the Failure pins no frames and none of
        their locals.
        """
        if self.tb is not None:
            self.frames  # noqa: B018 - extract before dropping the traceback
            self.tb = None
            if isinstance(self.value, BaseException):
                self.value.__traceback__ = None
        if self.captureVars and not self._vars_are_reprs:
            self._frames = _frames_with_reprs(self.frames)
            self._vars_are_reprs = True

    def getTracebackObject(self) -> TracebackType | _Traceback | None:
        """Return the live traceback, or one rebuilt from the stored frames."""
        if self.tb is not None:
            return self.tb
        if self.frames:
            return _Traceback(self.frames)
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # Captured values travel as reprs; already-converted ones are not
        # converted again (Twisted would repr the reprs).
        state["_frames"] = self.frames if self._vars_are_reprs else _frames_with_reprs(self.frames)
        state["_vars_are_reprs"] = True
        state["tb"] = None
        state["parents"] = None
        state["_parents"] = self.parents
        state["pickled"] = 1
        state.pop("args", None)
        return state

    def __setstate__(self, state: dict[str, Any] | None) -> None:
        if state is None:
            return
        state.pop("parents", None)
        self.__dict__.update(state)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_failure, (), self.__getstate__())

    # -- reporting -----------------------------------------------------------
    def getErrorMessage(self) -> str:
        """The exception's message (``str(value)``), safely."""
        if isinstance(self.value, Failure):
            return self.value.getErrorMessage()
        return _safe_str(self.value)

    def getBriefTraceback(self) -> str:
        """The traceback as ``file:line:function`` lines."""
        io = StringIO()
        self.printBriefTraceback(file=io)
        return io.getvalue()

    def getTraceback(self, elideFrameworkCode: int = 0, detail: str = "default") -> str:
        """The traceback as text, formatted like :meth:`printTraceback`."""
        io = StringIO()
        self.printTraceback(file=io, elideFrameworkCode=elideFrameworkCode, detail=detail)
        return io.getvalue()

    def printTraceback(
        self,
        file: IO[str] | None = None,
        elideFrameworkCode: int | bool = False,
        detail: str = "default",
    ) -> None:
        """Write the traceback to ``file`` (standard error by default).

        Args:
            file: where to write.
            elideFrameworkCode: accepted for compatibility; frames are never elided.
            detail: ``"default"``, ``"brief"`` or ``"verbose"``.
        """
        if file is None:
            file = sys.stderr
        write = file.write
        if detail == "verbose" and not self.captureVars:
            format_detail = "verbose-vars-not-captured"
        else:
            format_detail = detail
        if detail == "verbose":
            write(f"*--- Failure #{self.count}{' (pickled)' if self.pickled else ''} ---\n")
        elif detail == "brief":
            write("Traceback: " if self.frames else "Traceback (failure with no frames): ")
            write(f"{self.type}: {self.getErrorMessage()}\n")
        else:
            write("Traceback (most recent call last):\n")
        if self.frames:
            are_reprs = self._vars_are_reprs
            _write_frames(self.stack[-traceupLength:], write, format_detail, are_reprs)
            if self.stack:
                write(f"{EXCEPTION_CAUGHT_HERE}\n")
            _write_frames(self.frames, write, format_detail, are_reprs)
            if format_detail == "verbose-vars-not-captured":
                write(_VERBOSE_NOT_CAPTURED)
        elif detail != "brief":
            write("Failure: ")
        if detail != "brief":
            type_name = _qual(self.type) if isinstance(self.type, type) else str(self.type)
            write(f"{type_name}: {self.getErrorMessage()}\n")
        if isinstance(self.value, Failure):
            write(f" (chained Failure)\n{self.value.getTraceback(detail=detail)}")
        if detail == "verbose":
            write(f"*--- End of Failure #{self.count} ---\n")

    def printBriefTraceback(
        self, file: IO[str] | None = None, elideFrameworkCode: int | bool = False
    ) -> None:
        """Write a brief traceback (``file:line:function`` lines) to ``file``."""
        self.printTraceback(file, elideFrameworkCode, detail="brief")

    def printDetailedTraceback(
        self, file: IO[str] | None = None, elideFrameworkCode: int | bool = False
    ) -> None:
        """Write a verbose traceback (with captured variables) to ``file``."""
        self.printTraceback(file, elideFrameworkCode, detail="verbose")

    def __repr__(self) -> str:
        type_name = _qual(self.type) if isinstance(self.type, type) else str(self.type)
        return f"<{_qual(type(self))} {type_name}: {self.getErrorMessage()}>"

    def __str__(self) -> str:
        return f"[Failure instance: {self.getBriefTraceback()}]"


def _rebuild_failure() -> Failure:
    return Failure.__new__(Failure)


# Set by startDebugMode(): called with the traceback of each Failure built
# from the exception being handled.
_debug_hook: Callable[[TracebackType], None] | None = None


def startDebugMode() -> None:
    """Open the post-mortem debugger whenever a Failure captures a live exception.

    Meant for interactive debugging only; it blocks the process in ``pdb``.
    """
    global _debug_hook

    def hook(tb: TracebackType) -> None:
        if DO_POST_MORTEM:
            import pdb  # noqa: PLC0415 - only loaded when debugging

            print("Jumping into debugger for post-mortem of exception:", file=sys.stderr)
            pdb.post_mortem(tb)

    _debug_hook = hook
