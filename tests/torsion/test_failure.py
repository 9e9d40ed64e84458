"""Tests for torsion.failure.Failure (mirrors twisted.python.failure)."""

from __future__ import annotations

import io
import linecache
import pickle
import sys
import threading
import traceback
from collections.abc import Generator

import pytest

import torsion.failure as failure_module
from torsion.failure import Failure, NoCurrentExceptionError


class Boom(Exception):
    """A recognisable application error."""


class SubBoom(Boom):
    """A subclass, for matching by base class."""


QUALNAME = f"{__name__}.Boom"


def _raise_boom(message: str = "boom") -> None:
    local_marker = "marker value"  # noqa: F841 - read back through captureVars
    raise Boom(message)


def _caught(message: str = "boom", captureVars: bool = False) -> Failure:
    """A Failure built inside ``except`` for Boom(message) raised in _raise_boom."""
    try:
        _raise_boom(message)
    except Boom:
        return Failure(captureVars=captureVars)
    raise AssertionError("not reached")


class TestConstruction:
    def test_inside_except_captures_current_exception(self) -> None:
        """Failure() in an ``except`` block takes type, value and traceback from
        sys.exc_info()."""
        try:
            _raise_boom("current")
        except Boom:
            exc_type, exc_value, exc_tb = sys.exc_info()
            f = Failure()
        assert f.type is exc_type is Boom
        assert f.value is exc_value
        assert f.tb is exc_tb
        assert [frame[0] for frame in f.frames] == [
            "test_inside_except_captures_current_exception",
            "_raise_boom",
        ]

    def test_frames_are_five_tuples(self) -> None:
        """Each frame is (function, filename, line, locals, globals), oldest first; without
        captureVars the variable parts are empty."""
        f = _caught()
        name, filename, line, local_vars, global_vars = f.frames[-1]
        assert name == "_raise_boom"
        assert filename == __file__
        assert isinstance(line, int)
        assert linecache.getline(filename, line).strip() == "raise Boom(message)"
        assert list(local_vars) == []
        assert list(global_vars) == []

    def test_from_raised_exception_keeps_its_traceback(self) -> None:
        """Failure(exc) for an exception that was raised uses exc.__traceback__."""
        try:
            _raise_boom("raised before")
        except Boom as e:
            error = e
        f = Failure(error)
        assert f.value is error
        assert f.type is Boom
        assert f.tb is error.__traceback__
        assert f.frames[-1][0] == "_raise_boom"

    def test_from_never_raised_exception_has_no_frames(self) -> None:
        """Failure(exc) for an exception never raised has no traceback and no frames."""
        f = Failure(Boom("fresh"))
        assert f.tb is None
        assert f.frames == []
        assert f.getErrorMessage() == "fresh"

    def test_explicit_type_and_traceback(self) -> None:
        """Failure(value, type, tb) uses the given type and traceback."""
        try:
            _raise_boom()
        except Boom as e:
            error, tb = e, e.__traceback__
        f = Failure(error, Boom, tb)
        assert f.type is Boom
        assert f.tb is tb

    def test_from_string(self) -> None:
        """Failure("text") wraps a non-exception value: type ``str``, value the string."""
        f = Failure("a string")
        assert f.type is str
        assert f.value == "a string"
        assert f.getErrorMessage() == "a string"
        assert f.getTraceback() == (
            "Traceback (most recent call last):\nFailure: builtins.str: a string\n"
        )

    def test_copy_of_failure(self) -> None:
        """Failure(otherFailure) copies it: same type, value, traceback, frames and count."""
        original = _caught("copied")
        copy = Failure(original)
        assert copy is not original
        assert copy.type is original.type
        assert copy.value is original.value
        assert copy.tb is original.tb
        assert copy.frames == original.frames
        assert copy.count == original.count
        assert copy.getTraceback() == original.getTraceback()

    def test_no_current_exception(self) -> None:
        """Failure() outside an ``except`` block raises NoCurrentExceptionError."""
        with pytest.raises(NoCurrentExceptionError):
            Failure()

    def test_failure_is_a_base_exception(self) -> None:
        """Failure subclasses BaseException, as in Twisted."""
        assert issubclass(Failure, BaseException)

    def test_count_increases(self) -> None:
        """Each new Failure gets the next serial number; the module's ``count`` tracks the
        latest."""
        first = Failure(Boom())
        second = Failure(Boom())
        assert second.count == first.count + 1
        assert failure_module.count == second.count


class TestMatching:
    def test_check_with_classes(self) -> None:
        """check returns the first given class the failure is an instance of (bases
        included), or None."""
        f = Failure(SubBoom("sub"))
        assert f.check(SubBoom) is SubBoom
        assert f.check(Boom) is Boom
        assert f.check(Exception) is Exception
        assert f.check(KeyError, Boom, SubBoom) is Boom
        assert f.check(KeyError) is None
        assert f.check() is None

    def test_check_with_qualified_names(self) -> None:
        """check accepts fully qualified class names as strings and returns the string;
        a bare class name does not match."""
        f = Failure(SubBoom("sub"))
        assert f.check(QUALNAME) == QUALNAME
        assert f.check("builtins.Exception") == "builtins.Exception"
        assert f.check("Boom") is None
        assert f.check("builtins.KeyError") is None

    def test_parents_lists_qualified_names(self) -> None:
        """``parents`` lists the qualified names of the type and its bases."""
        f = Failure(SubBoom())
        assert f.parents[:3] == [f"{__name__}.SubBoom", QUALNAME, "builtins.Exception"]

    def test_trap_returns_matching_type(self) -> None:
        """trap returns the matched type like check."""
        f = Failure(SubBoom())
        assert f.trap(KeyError, Boom) is Boom

    def test_trap_reraises_original_exception(self) -> None:
        """trap with no match re-raises the wrapped exception itself (not the Failure)."""
        f = _caught("not trapped")
        with pytest.raises(Boom) as info:
            f.trap(KeyError, ValueError)
        assert info.value is f.value

    def test_get_error_message(self) -> None:
        """getErrorMessage is str(value)."""
        assert Failure(Boom("the message")).getErrorMessage() == "the message"
        assert Failure(KeyError("k")).getErrorMessage() == "'k'"
        assert Failure(Boom()).getErrorMessage() == ""

    def test_get_error_message_with_broken_str(self) -> None:
        """getErrorMessage and repr never raise, even when the exception's __str__ does."""

        class Broken(Exception):
            def __str__(self) -> str:
                raise RuntimeError("no str")

        f = Failure(Broken())
        assert "Broken" in f.getErrorMessage()
        assert "Broken" in repr(f)


class TestFormatting:
    def test_default_traceback(self) -> None:
        """getTraceback() looks like the standard library's: a header, one
        ``File "...", line N, in function`` line plus source line per frame, and the
        qualified exception line."""
        f = _caught("formatted")
        text = f.getTraceback()
        lines = text.splitlines()
        assert lines[0] == "Traceback (most recent call last):"
        line = f.frames[-1][2]
        assert f'  File "{__file__}", line {line}, in _raise_boom' in lines
        assert "    raise Boom(message)" in lines
        assert lines[-1] == f"{QUALNAME}: formatted"
        assert text.endswith("\n")

    def test_brief_traceback(self) -> None:
        """getBriefTraceback: ``Traceback: <type>: message`` then ``file:line:function``
        lines."""
        f = _caught("brief")
        lines = f.getBriefTraceback().splitlines()
        assert lines[0] == f"Traceback: {Boom!s}: brief"
        assert lines[-1] == f"{__file__}:{f.frames[-1][2]}:_raise_boom"
        assert f.getTraceback(detail="brief") == f.getBriefTraceback()

    def test_brief_traceback_without_frames(self) -> None:
        """A Failure with no frames says so in its brief form."""
        f = Failure(Boom("no frames"))
        assert f.getBriefTraceback() == (
            f"Traceback (failure with no frames): {Boom!s}: no frames\n"
        )

    def test_verbose_traceback_without_captured_vars(self) -> None:
        """getTraceback(detail="verbose") frames the report with the Failure's number,
        lists ``file:line: function(...)``, notes (right after the frames, before the
        exception line) that variables were not captured."""
        f = _caught("verbose")
        lines = f.getTraceback(detail="verbose").splitlines()
        assert lines[0] == f"*--- Failure #{f.count} ---"
        assert f"{__file__}:{f.frames[-1][2]}: _raise_boom(...)" in lines
        assert lines[-3:] == [
            " [Capture of Locals and Globals disabled (use captureVars=True)]",
            f"{QUALNAME}: verbose",
            f"*--- End of Failure #{f.count} ---",
        ]

    def test_verbose_traceback_with_captured_vars(self) -> None:
        """With captureVars, the verbose form shows each frame's locals (and a globals
        section)."""
        f = _caught("vars", captureVars=True)
        text = f.printDetailedTraceback
        out = io.StringIO()
        text(file=out)
        value = out.getvalue()
        assert " [ Locals ]" in value
        assert "  local_marker : 'marker value'" in value
        assert " ( Globals )" in value
        assert "Capture of Locals and Globals disabled" not in value

    def test_print_traceback_writes_to_file(self) -> None:
        """printTraceback(file) writes exactly getTraceback(); printBriefTraceback writes
        the brief form."""
        f = _caught("printed")
        out = io.StringIO()
        f.printTraceback(file=out)
        assert out.getvalue() == f.getTraceback()
        brief = io.StringIO()
        f.printBriefTraceback(file=brief)
        assert brief.getvalue() == f.getBriefTraceback()

    def test_print_traceback_defaults_to_stderr(self, capsys: pytest.CaptureFixture[str]) -> None:
        """torsion-specific: printTraceback() with no file writes to standard error
        (Twisted writes to its log's error stream, which torsion does not have)."""
        f = _caught("to stderr")
        f.printTraceback()
        assert capsys.readouterr().err == f.getTraceback()

    def test_unknown_detail_is_value_error(self) -> None:
        """An unknown detail level raises ValueError."""
        with pytest.raises(ValueError):
            _caught().getTraceback(detail="chatty")

    def test_repr(self) -> None:
        """repr is ``<torsion.failure.Failure qualified.Type: message>``."""
        f = Failure(Boom("shown"))
        assert repr(f) == f"<torsion.failure.Failure {QUALNAME}: shown>"

    def test_str(self) -> None:
        """str is ``[Failure instance: <brief traceback>]``."""
        f = _caught("as str")
        assert str(f) == f"[Failure instance: {f.getBriefTraceback()}]"


class TestRaising:
    def test_raise_exception_reraises_with_traceback(self) -> None:
        """raiseException raises the wrapped exception itself, with the original frames at
        the end of its traceback."""
        f = _caught("reraised")
        with pytest.raises(Boom) as info:
            f.raiseException()
        assert info.value is f.value
        names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
        assert names[-1] == "_raise_boom"

    def test_throw_into_generator_is_caught(self) -> None:
        """throwExceptionIntoGenerator raises the exception at the generator's yield and
        returns what the generator yields next."""

        def gen() -> Generator[object, None, None]:
            try:
                yield "first"
            except Boom as e:
                yield ("caught", str(e))

        g = gen()
        next(g)
        assert Failure(Boom("thrown")).throwExceptionIntoGenerator(g) == ("caught", "thrown")

    def test_throw_into_generator_uncaught_propagates(self) -> None:
        """An exception the generator does not catch propagates out of the call."""

        def gen() -> Generator[int, None, None]:
            yield 1

        g = gen()
        next(g)
        error = Boom("escapes")
        with pytest.raises(Boom) as info:
            Failure(error).throwExceptionIntoGenerator(g)
        assert info.value is error

    def test_throw_into_generator_keeps_traceback(self) -> None:
        """The thrown exception carries the Failure's traceback (the original frames)."""
        f = _caught("with tb")
        seen: list[list[str]] = []

        def gen() -> Generator[None, None, None]:
            try:
                yield None
            except Boom as e:
                seen.append([fr.name for fr in traceback.extract_tb(e.__traceback__)])
            yield None

        g = gen()
        next(g)
        f.throwExceptionIntoGenerator(g)
        assert "_raise_boom" in seen[0]


class TestCleaning:
    def test_clean_failure_drops_traceback_keeps_frames(self) -> None:
        """cleanFailure drops the live traceback (also the exception's __traceback__) but
        keeps the frames, so the report is unchanged."""
        f = _caught("clean")
        before = f.getTraceback()
        frames = [frame[:3] for frame in f.frames]
        f.cleanFailure()
        assert f.tb is None
        assert f.value.__traceback__ is None
        assert [frame[:3] for frame in f.frames] == frames
        assert f.getTraceback() == before

    def test_traceback_object_before_cleaning_is_the_live_one(self) -> None:
        """getTracebackObject returns the live traceback while there is one."""
        f = _caught()
        assert f.getTracebackObject() is f.tb

    def test_traceback_object_after_cleaning_formats_like_the_original(self) -> None:
        """After cleanFailure, getTracebackObject returns a stand-in that
        traceback.format_tb formats exactly as it did the live traceback."""
        f = _caught("fake tb")
        expected = traceback.format_tb(f.tb)
        f.cleanFailure()
        assert traceback.format_tb(f.getTracebackObject()) == expected  # type: ignore[arg-type]

    def test_traceback_object_without_frames_is_none(self) -> None:
        """A Failure with no frames has no traceback object."""
        assert Failure(Boom()).getTracebackObject() is None

    def test_clean_failure_twice_is_harmless(self) -> None:
        """Cleaning an already-cleaned Failure changes nothing."""
        f = _caught()
        f.cleanFailure()
        text = f.getTraceback()
        f.cleanFailure()
        assert f.getTraceback() == text


class TestPickling:
    def test_round_trip(self) -> None:
        """A pickled Failure unpickles with ``pickled`` == 1, no live traceback, the same
        frames (function, file, line), and working check/trap/getTraceback."""
        f = _caught("pickled")
        copy = pickle.loads(pickle.dumps(f))
        assert copy.pickled == 1
        assert copy.tb is None
        assert copy.type is Boom
        assert copy.getErrorMessage() == "pickled"
        assert [fr[:3] for fr in copy.frames] == [fr[:3] for fr in f.frames]
        assert copy.check(Boom) is Boom
        assert copy.check(QUALNAME) == QUALNAME
        assert copy.trap(Exception) is Exception
        with pytest.raises(Boom):
            copy.trap(KeyError)
        assert copy.getTraceback() == f.getTraceback()

    def test_pickled_verbose_header(self) -> None:
        """The verbose report of an unpickled Failure says "(pickled)"."""
        copy = pickle.loads(pickle.dumps(_caught()))
        assert copy.getTraceback(detail="verbose").startswith(
            f"*--- Failure #{copy.count} (pickled) ---\n"
        )

    def test_pickled_captured_vars_are_reprs(self) -> None:
        """Captured variables travel as their reprs (strings), not the objects."""
        f = _caught(captureVars=True)
        copy = pickle.loads(pickle.dumps(f))
        local_vars = dict(copy.frames[-1][3])
        assert local_vars["local_marker"] == "'marker value'"
        assert local_vars["message"] == "'boom'"

    def test_pickle_unpicklable_locals(self) -> None:
        """A Failure whose frames captured unpicklable locals still pickles."""

        def raise_with_lock() -> None:
            lock = threading.Lock()  # noqa: F841 - unpicklable local
            raise Boom("lock")

        try:
            raise_with_lock()
        except Boom:
            f = Failure(captureVars=True)
        copy = pickle.loads(pickle.dumps(f))
        assert "lock" in dict(copy.frames[-1][3])


class TestCaptureVars:
    def test_locals_are_captured(self) -> None:
        """captureVars=True records each frame's local variable names."""
        f = _caught("vars", captureVars=True)
        assert f.captureVars is True
        names = [name for name, _ in f.frames[-1][3]]
        assert "local_marker" in names
        assert "message" in names

    def test_captured_locals_are_reprs_after_cleaning(self) -> None:
        """After cleanFailure (as at the end of a Deferred chain) captured locals are
        held as repr strings, keeping no objects alive."""
        f = _caught("vars", captureVars=True)
        f.cleanFailure()
        local_vars = dict(f.frames[-1][3])
        assert local_vars["local_marker"] == "'marker value'"
        assert local_vars["message"] == "'vars'"

    def test_captured_locals_are_values_before_cleaning(self) -> None:
        """As in Twisted, before cleanFailure the captured locals are the objects
        themselves (copied from the frame); only cleaning/pickling turns them into reprs."""
        f = _caught("vars", captureVars=True)
        local_vars = dict(f.frames[-1][3])
        assert local_vars["local_marker"] == "marker value"
        assert local_vars["message"] == "vars"

    def test_captured_globals(self) -> None:
        """Captured globals are the frame's module globals, including ``__name__`` but
        not ``__builtins__``."""
        f = _caught(captureVars=True)
        global_names = [name for name, _ in f.frames[-1][4]]
        assert "__name__" in global_names
        assert "_raise_boom" in global_names
        assert "__builtins__" not in global_names

    def test_no_capture_by_default(self) -> None:
        """Without captureVars nothing is captured."""
        f = _caught()
        assert f.captureVars is False
        assert all(list(fr[3]) == [] and list(fr[4]) == [] for fr in f.frames)
