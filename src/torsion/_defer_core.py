"""The Deferred itself, its errors, and the coroutine/generator driver.

Public names are re-exported by :mod:`torsion.defer`, which mirrors
``twisted.internet.defer``; camelCase names are part of that contract.

Hard-won facts kept here:

* Running callbacks is iterative.  A callback that returns an unfired Deferred
  pauses the outer Deferred and appends a *continuation* item to the inner
  one; when the inner fires, the continuation hands its result back by pushing
  the outer Deferred on an explicit stack instead of recursing, so a chain of
  10,000 Deferreds each waiting on the next needs no Python stack.
* A chain that stops on a Failure keeps it in a small ``DebugInfo`` object
  whose ``__del__`` logs the error.  The Deferred itself has no ``__del__``,
  so reference cycles through Deferreds stay collectable.
* The generator driver consumes each yielded Deferred's result (its callback
  returns None), which also marks a failure as handled.
"""

from __future__ import annotations

import inspect
import traceback
import warnings
from asyncio import AbstractEventLoop, Future
from collections.abc import Awaitable, Callable, Coroutine, Generator
from contextvars import Context, copy_context
from types import CoroutineType, GeneratorType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    NoReturn,
    ParamSpec,
    TypeVar,
    cast,
    overload,
)

from torsion._logging import log_failure
from torsion.failure import Failure

if TYPE_CHECKING:
    from torsion.interfaces import IReactorTime

_T = TypeVar("_T")
_NextT = TypeVar("_NextT")
_P = ParamSpec("_P")

_NO_RESULT: Any = object()
_new_object = object.__new__
_EMPTY_KW: dict[str, Any] = {}


class AlreadyCalledError(Exception):
    """A Deferred was fired (``callback``/``errback``) a second time."""


class CancelledError(Exception):
    """A Deferred was cancelled before it had a result."""


class TimeoutError(Exception):
    """A Deferred timed out (see :meth:`Deferred.addTimeout`)."""


class NotACoroutineError(TypeError):
    """Something that is neither a coroutine nor a Deferred was given."""


class _DefGen_Return(BaseException):
    """Carries a value out of a generator for the deprecated :func:`returnValue`."""

    def __init__(self, value: object) -> None:
        super().__init__(value)
        self.value = value


def passthru(arg: _T) -> _T:
    """Return ``arg`` unchanged; the default callback and errback."""
    return arg


_PASSTHRU: tuple[Callable[..., Any], tuple[()], dict[str, Any]] = (passthru, (), _EMPTY_KW)


def _continue_marker(_: object) -> None:  # pragma: no cover - never called
    """Marks a continuation item: hand this result to the outer Deferred."""
    raise AssertionError("continuation items are handled by _runCallbacks")


class DebugInfo:
    """Where a Deferred was created and fired, and its unhandled failure if any.

    When the object is collected while ``failResult`` is still set, the failure
    was never handled, and it is logged as "Unhandled error in Deferred".
    """

    __slots__ = ("creator", "failResult", "invoker")

    def __init__(self) -> None:
        self.failResult: Failure | None = None
        self.creator: list[str] | None = None
        self.invoker: list[str] | None = None

    def _getDebugTracebacks(self) -> str:
        info = ""
        if self.creator is not None:
            info += " C: Deferred was created:\n C:"
            info += "".join(self.creator).rstrip().replace("\n", "\n C:") + "\n"
        if self.invoker is not None:
            info += " I: First Invoker was:\n I:"
            info += "".join(self.invoker).rstrip().replace("\n", "\n I:") + "\n"
        return info

    def __del__(self) -> None:
        failure = self.failResult
        if failure is not None:
            message = "Unhandled error in Deferred:"
            debug = self._getDebugTracebacks()
            if debug:
                message += "\n(debug: " + debug + ")"
            log_failure(failure, message, "torsion.defer")


class Deferred(Generic[_T]):
    """The promise of a result that is not there yet.

    Add callbacks and errbacks; the owner fires the Deferred once with
    :meth:`callback` or :meth:`errback`, and each callback receives the result
    of the one before.  An exception raised by a callback becomes a
    :class:`~torsion.failure.Failure` for the next errback.  A callback that
    returns another Deferred pauses this chain until that one fires.

    Example::

        d = Deferred()
        d.addCallback(lambda n: n * 2).addCallback(print)
        d.callback(21)   # prints 42

    Deferreds can be awaited inside ``async def`` functions driven by
    :func:`ensureDeferred` or :meth:`fromCoroutine`.
    """

    # The fields every Deferred touches are slots; the rarely set ones live in
    # the instance __dict__ only once set, with their defaults on the class,
    # which keeps creating a Deferred cheap.
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_chainedTo",
        "_debugInfo",
        "_runningCallbacks",
        "callbacks",
        "called",
        "paused",
        "result",
    )

    _canceller: Callable[[Deferred[Any]], None] | None = None
    _suppressAlreadyCalled = False
    #: The current result; absent until the Deferred has fired.
    result: Any

    #: When true, Deferreds record where they were created and fired.
    debug = False

    def __init__(self, canceller: Callable[[Deferred[_T]], None] | None = None) -> None:
        """Create an unfired Deferred.

        Args:
            canceller: called with this Deferred by :meth:`cancel`; it may fire
                the Deferred itself, otherwise ``cancel`` errbacks it with
                :class:`CancelledError`.
        """
        self.callbacks: list[
            tuple[
                tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]],
                tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]],
            ]
        ] = []
        self.called = False
        self.paused = 0
        self._runningCallbacks = False
        self._chainedTo: Deferred[Any] | None = None
        self._debugInfo: DebugInfo | None = None
        if canceller is not None:
            self._canceller = canceller
        if Deferred.debug:
            self._debugInfo = DebugInfo()
            self._debugInfo.creator = traceback.format_stack()[:-1]

    # -- adding callbacks ----------------------------------------------------
    def addCallbacks(
        self,
        callback: Callable[..., Any],
        errback: Callable[..., Any] | None = None,
        callbackArgs: tuple[Any, ...] = (),
        callbackKeywords: dict[str, Any] = _EMPTY_KW,
        errbackArgs: tuple[Any, ...] = (),
        errbackKeywords: dict[str, Any] = _EMPTY_KW,
    ) -> Deferred[Any]:
        """Add a callback and an errback at the same point of the chain.

        Exactly one of them runs, depending on whether the result reaching
        this point is a success or a Failure.  Returns ``self``.
        """
        if errback is None:
            errback = passthru
        self.callbacks.append(
            (
                (callback, callbackArgs or (), callbackKeywords or _EMPTY_KW),
                (errback, errbackArgs or (), errbackKeywords or _EMPTY_KW),
            )
        )
        if self.called:
            self._runCallbacks()
        return self

    @overload
    def addCallback(
        self,
        callback: Callable[Concatenate[_T, _P], Deferred[_NextT]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_NextT]: ...

    @overload
    def addCallback(
        self,
        callback: Callable[Concatenate[_T, _P], Coroutine[Any, Any, _NextT]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[Coroutine[Any, Any, _NextT]]: ...

    @overload
    def addCallback(
        self,
        callback: Callable[Concatenate[_T, _P], _NextT],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_NextT]: ...

    def addCallback(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Add ``callback(result, *args, **kwargs)``; failures pass it by. Returns ``self``."""
        self.callbacks.append(((callback, args, kwargs), _PASSTHRU))
        if self.called:
            self._runCallbacks()
        return self

    def addErrback(
        self,
        errback: Callable[Concatenate[Failure, _P], object],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[Any]:
        """Add ``errback(failure, *args, **kwargs)``; successes pass it by. Returns ``self``."""
        self.callbacks.append((_PASSTHRU, (errback, args, kwargs)))
        if self.called:
            self._runCallbacks()
        return self

    def addBoth(
        self,
        callback: Callable[Concatenate[Any, _P], object],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[Any]:
        """Add ``callback`` as both callback and errback. Returns ``self``."""
        item = (callback, args, kwargs)
        self.callbacks.append((item, item))
        if self.called:
            self._runCallbacks()
        return self

    def addTimeout(
        self,
        timeout: float,
        clock: IReactorTime,
        onTimeoutCancel: Callable[[Any, float], Any] | None = None,
    ) -> Deferred[_T]:
        """Cancel this Deferred if it has not fired within ``timeout`` seconds.

        On timeout the Deferred is cancelled and the resulting
        :class:`CancelledError` becomes a :class:`TimeoutError`, unless
        ``onTimeoutCancel(result, timeout)`` is given, whose return value (or
        exception) takes its place.  Returns ``self``.
        """
        timed_out = False

        def time_it_out() -> None:
            nonlocal timed_out
            timed_out = True
            self.cancel()

        delayed_call = clock.callLater(timeout, time_it_out)

        def convert_cancelled(result: object) -> object:
            if timed_out:
                convert = onTimeoutCancel or _cancelledToTimedOutError
                return convert(result, timeout)
            return result

        def cancel_timeout(result: object) -> object:
            if delayed_call.active():
                delayed_call.cancel()
            return result

        self.addBoth(convert_cancelled)
        self.addBoth(cancel_timeout)
        return self

    def chainDeferred(self, d: Deferred[_T]) -> Deferred[None]:
        """Fire ``d`` with this Deferred's result at this point of the chain.

        Afterwards this chain goes on with ``None``.  Returns ``self``.
        """
        d._chainedTo = self
        return self.addCallbacks(d.callback, d.errback)

    # -- firing --------------------------------------------------------------
    def callback(self, result: _T | Failure) -> None:
        """Fire the chain with a successful ``result``.

        Raises:
            AlreadyCalledError: when this Deferred has already been fired.
            AssertionError: when ``result`` is itself a Deferred.
        """
        if isinstance(result, Deferred):
            raise AssertionError("a Deferred cannot be fired with another Deferred")
        if self.called or Deferred.debug:
            self._startRunCallbacks(result)  # errors and debugging: the slow path
            return
        # The common case, inlined: this is the hottest entry point.
        self.called = True
        self.result = result
        if self._canceller is not None:
            self._canceller = None
        if self.callbacks or isinstance(result, Failure):
            self._runCallbacks()
        else:
            self._chainedTo = None

    def errback(self, fail: Failure | BaseException | None = None) -> None:
        """Fire the chain with a failure.

        Args:
            fail: a Failure, an exception (wrapped in a Failure), or None for
                the exception being handled right now.

        Raises:
            AlreadyCalledError: when this Deferred has already been fired.
            NoCurrentExceptionError: when ``fail`` is None outside ``except``.
        """
        if fail is None:
            fail = Failure(captureVars=Deferred.debug)
        elif not isinstance(fail, Failure):
            fail = Failure(fail)
        self._startRunCallbacks(fail)

    def pause(self) -> None:
        """Stop running callbacks until a matching :meth:`unpause`."""
        self.paused += 1

    def unpause(self) -> None:
        """Undo one :meth:`pause`; run pending callbacks when none remain."""
        self.paused -= 1
        if self.paused:
            return
        if self.called:
            self._runCallbacks()

    def cancel(self) -> None:
        """Cancel this Deferred.

        An unfired Deferred calls its canceller and, if that did not fire it,
        errbacks with :class:`CancelledError` (a later ``callback`` by its
        owner is then ignored once, when there was no canceller).  A Deferred
        waiting on another one cancels that one instead.
        """
        if not self.called:
            canceller = self._canceller
            if canceller is not None:
                canceller(self)
            else:
                self._suppressAlreadyCalled = True
            if not self.called:
                self.errback(Failure(CancelledError()))
        elif isinstance(self.result, Deferred):
            self.result.cancel()

    def _startRunCallbacks(self, result: object) -> None:
        if self.called:
            if self._suppressAlreadyCalled:
                self._suppressAlreadyCalled = False
                return
            if Deferred.debug and self._debugInfo is not None:
                raise AlreadyCalledError("\n" + self._debugInfo._getDebugTracebacks())
            raise AlreadyCalledError()
        if Deferred.debug:
            if self._debugInfo is None:
                self._debugInfo = DebugInfo()
            self._debugInfo.invoker = traceback.format_stack()[:-2]
        self.called = True
        self.result = result
        if self._canceller is not None:
            # Of no more use; dropping it breaks the common cycle of a
            # canceller that refers back to its Deferred.
            self._canceller = None
        self._runCallbacks()

    def _runCallbacks(self) -> None:
        if self._runningCallbacks:
            # A callback of ours re-entered (added a callback, unpaused us);
            # the loop already running will pick the new work up.
            return
        current: Deferred[Any] = self
        # Deferreds that handed their result to a waiting one (``current``)
        # and still have callbacks of their own to run afterwards.
        waiting: list[Deferred[Any]] | None = None
        while True:
            if current.paused:
                return
            finished = True
            current._chainedTo = None
            callbacks = current.callbacks
            if callbacks:
                current._runningCallbacks = True
                result = current.result
                done = 0
                # Iterating (rather than popping) also visits callbacks that
                # are appended while we run; the consumed ones are deleted
                # once, below.
                for item in callbacks:
                    done += 1
                    callback, args, kwargs = item[1] if isinstance(result, Failure) else item[0]
                    if callback is passthru:
                        continue
                    if callback is _continue_marker:
                        # Hand our result to the Deferred that was waiting on us.
                        chainee = args[0]
                        chainee.result = result
                        current.result = result = None
                        if current._debugInfo is not None:
                            current._debugInfo.failResult = None
                        chainee.paused -= 1
                        finished = False
                        break
                    try:
                        if kwargs:
                            result = callback(result, *args, **kwargs)
                        elif args:
                            result = callback(result, *args)
                        else:
                            result = callback(result)
                        if result is current:
                            _warn_about_function(
                                callback,
                                "Callback returned the Deferred it was attached to; "
                                "this breaks the callback chain",
                            )
                    except BaseException:
                        result = Failure(captureVars=Deferred.debug)
                    current.result = result
                    if isinstance(result, Deferred):
                        if result is current:
                            continue
                        if (
                            not result.called
                            or result.paused
                            or isinstance(result.result, Deferred)
                        ):
                            # Not there yet: wait for it, through a
                            # continuation item on the inner Deferred.
                            current.paused += 1
                            current._chainedTo = result
                            cont = (_continue_marker, (current,), _EMPTY_KW)
                            result.callbacks.append((cont, cont))
                            break
                        # Already fired: take its result over.
                        inner = result
                        current.result = result = inner.result
                        inner.result = None
                        if inner._debugInfo is not None:
                            inner._debugInfo.failResult = None
                else:
                    done = -1
                if done < 0 or done == len(callbacks):
                    callbacks.clear()
                    more = False
                else:
                    del callbacks[:done]
                    more = True
                current._runningCallbacks = False
                if not finished:
                    # Run the waiting Deferred now; come back to ours after,
                    # if it has callbacks left.
                    if more:
                        if waiting is None:
                            waiting = [current]
                        else:
                            waiting.append(current)
                    current = chainee
                    continue
            if finished:
                result = current.result
                if isinstance(result, Failure):
                    # The chain stops on a failure for now: keep no frames
                    # alive, and remember it so it is logged if never handled.
                    result.cleanFailure()
                    if current._debugInfo is None:
                        current._debugInfo = DebugInfo()
                    current._debugInfo.failResult = result
                elif current._debugInfo is not None:
                    current._debugInfo.failResult = None
                if not waiting:
                    return
                current = waiting.pop()

    # -- awaiting and adapting -------------------------------------------------
    def __await__(self) -> Generator[Any, Any, _T]:
        if not self.called or self.paused:
            if not _driving:
                # Awaited from an asyncio task, not from torsion's driver:
                # wait through an asyncio Future (cancelling it cancels us).
                from asyncio import get_running_loop  # noqa: PLC0415

                return (yield from self.asFuture(get_running_loop()).__await__())
            # Our driver sends the result back in, or throws the failure.
            return (yield self)  # type: ignore[no-any-return]
        result = self.result
        if isinstance(result, Failure):
            if self._debugInfo is not None:
                self._debugInfo.failResult = None
            result.raiseException()
        return result  # type: ignore[no-any-return]

    __iter__ = __await__

    def asFuture(self, loop: AbstractEventLoop) -> Future[_T]:
        """Return an asyncio Future on ``loop`` with this Deferred's result.

        Cancelling the Future cancels this Deferred.  Consumes the result:
        this chain goes on with ``None``.
        """
        future: Future[_T] = loop.create_future()

        def check_cancel(done: Future[_T]) -> None:
            if done.cancelled():
                self.cancel()

        def succeeded(result: _T) -> None:
            if not future.done():
                future.set_result(result)

        def failed(failure: Failure) -> None:
            if not future.done():
                future.set_exception(failure.value)

        self.addCallbacks(succeeded, failed)
        future.add_done_callback(check_cancel)
        return future

    @classmethod
    def fromFuture(cls, future: Future[_T]) -> Deferred[_T]:
        """Return a Deferred that fires with an asyncio Future's result.

        Cancelling the Deferred cancels the Future; either way a cancelled
        Future makes the Deferred fail with :class:`asyncio.CancelledError`
        once the Future's loop has run its done callbacks.
        """
        target: Deferred[Any]

        def cancel(d: Deferred[_T]) -> None:
            nonlocal target
            target = _wait_instead(d)
            future.cancel()

        d = cls(cancel)
        target = d

        def adapt(done: Future[_T]) -> None:
            try:
                result: object = done.result()
            except BaseException:
                result = Failure()
            target.callback(cast(Any, result))

        future.add_done_callback(adapt)
        return d

    @classmethod
    def fromCoroutine(
        cls,
        coro: Coroutine[Any, Any, _T] | Generator[Any, Any, _T],
    ) -> Deferred[_T]:
        """Run ``coro`` and return a Deferred for its return value.

        Inside the coroutine, ``await`` works on Deferreds.  Cancelling the
        returned Deferred cancels the Deferred being awaited, raising
        :class:`CancelledError` inside the coroutine.

        Raises:
            NotACoroutineError: when ``coro`` is not a coroutine or generator.
        """
        if type(coro) is CoroutineType or type(coro) is GeneratorType:
            return _cancellableInlineCallbacks(coro)
        if inspect.iscoroutine(coro) or inspect.isgenerator(coro):
            return _cancellableInlineCallbacks(coro)
        raise NotACoroutineError(f"{coro!r} is not a coroutine")

    # -- presentation ----------------------------------------------------------
    def __str__(self) -> str:
        name = type(self).__name__
        result = getattr(self, "result", _NO_RESULT)
        if self._chainedTo is not None:
            state = f" waiting on Deferred at 0x{id(self._chainedTo):x}"
        elif result is _NO_RESULT:
            state = ""
        else:
            state = f" current result: {result!r}"
        return f"<{name} at 0x{id(self):x}{state}>"

    __repr__ = __str__


def _wait_instead(
    outer: Deferred[Any], canceller: Callable[[Deferred[Any]], None] | None = None
) -> Deferred[Any]:
    """Fire ``outer`` so that it waits on a fresh Deferred, and return that one.

    A canceller uses this when cancellation must not fail the Deferred at
    once (the work may still finish or react): ``outer`` counts as fired, so
    ``cancel`` adds no CancelledError, and its chain resumes with whatever the
    returned Deferred gets.
    """
    replacement: Deferred[Any] = Deferred(canceller)
    outer.callbacks.insert(0, ((_return_replacement, (replacement,), _EMPTY_KW), _PASSTHRU))
    outer._startRunCallbacks(None)
    return replacement


def _return_replacement(_: object, replacement: Deferred[Any]) -> Deferred[Any]:
    return replacement


def _warn_about_function(function: Callable[..., Any], message: str) -> None:
    """Emit a DeprecationWarning pointing at ``function``'s definition."""
    code = getattr(function, "__code__", None)
    if code is None:
        warnings.warn(message, DeprecationWarning, stacklevel=3)
        return
    module = getattr(function, "__module__", None) or "<unknown>"
    warnings.warn_explicit(
        message,
        DeprecationWarning,
        code.co_filename,
        code.co_firstlineno,
        module=module,
    )


def _cancelledToTimedOutError(value: _T, timeout: float) -> _T:
    """Turn a :class:`CancelledError` failure into :class:`TimeoutError`."""
    if isinstance(value, Failure):
        value.trap(CancelledError)
        raise TimeoutError(timeout, "Deferred")
    return value


# -- module-level helpers ------------------------------------------------------
def succeed(result: _T) -> Deferred[_T]:
    """Return a Deferred that has already fired with ``result``."""
    # Built field by field: the hottest constructor in coroutine code, where
    # skipping __init__ is measurable.  Keep in step with Deferred.__init__.
    d: Deferred[_T] = _new_object(Deferred)
    d.callbacks = []
    d.called = True
    d.result = result
    d.paused = 0
    d._runningCallbacks = False
    d._chainedTo = None
    d._debugInfo = None
    return d


def fail(result: Failure | BaseException | None = None) -> Deferred[Any]:
    """Return a Deferred that has already failed with ``result``.

    ``None`` means the exception being handled right now.
    """
    d: Deferred[Any] = Deferred()
    d.errback(result)
    return d


def execute(callable: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> Deferred[_T]:
    """Call ``callable`` now; return a fired Deferred with its result or failure."""
    try:
        result = callable(*args, **kwargs)
    except BaseException:
        return fail()
    return succeed(result)


@overload
def maybeDeferred(
    f: Callable[_P, Deferred[_T]], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_T]: ...


@overload
def maybeDeferred(
    f: Callable[_P, Coroutine[Any, Any, _T]], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_T]: ...


@overload
def maybeDeferred(f: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> Deferred[_T]: ...


def maybeDeferred(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
    """Call ``f`` and return its outcome as a Deferred, whatever it was.

    A returned Deferred is passed through, a coroutine is run with
    :meth:`Deferred.fromCoroutine`, a Failure or raised exception gives a
    failed Deferred, and any other value a fired one.
    """
    try:
        result = f(*args, **kwargs)
    except BaseException:
        return fail(Failure(captureVars=Deferred.debug))
    if isinstance(result, Deferred):
        return result
    if isinstance(result, Failure):
        return fail(result)
    if type(result) is CoroutineType:
        return Deferred.fromCoroutine(result)
    return succeed(result)


def timeout(deferred: Deferred[Any]) -> None:
    """Errback ``deferred`` with :class:`TimeoutError` (deprecated: use addTimeout)."""
    warnings.warn(
        "torsion.defer.timeout is deprecated: use Deferred.addTimeout",
        DeprecationWarning,
        stacklevel=2,
    )
    deferred.errback(Failure(TimeoutError("Callback timed out")))


def logError(err: Failure) -> Failure:
    """Log ``err`` and return it unchanged: usable as a pass-through errback."""
    log_failure(err, "Unhandled error in Deferred:", "torsion.defer")
    return err


def setDebugging(on: bool) -> None:
    """Turn Deferred debugging on or off.

    With debugging on, each Deferred records the stacks where it was created
    and first fired, and error reports (AlreadyCalledError, unhandled errors)
    include them.  It costs time: use it while hunting a bug.
    """
    Deferred.debug = bool(on)


def getDebugging() -> bool:
    """Return whether Deferred debugging is on."""
    return Deferred.debug


# -- generators and coroutines ----------------------------------------------------
class _InlineState:
    """Where one running generator or coroutine stands."""

    __slots__ = (
        "context",
        "deferred",
        "gen",
        "resume",
        "sync_result",
        "waitingOn",
        "waiting_sync",
    )

    def __init__(self, gen: Any, context: Context) -> None:
        self.gen = gen
        self.context = context
        self.deferred: Deferred[Any] = Deferred(self._cancel)
        self.waitingOn: Deferred[Any] | None = None
        self.waiting_sync = False
        self.sync_result: object = None
        # The callback item added to each awaited Deferred, built once.
        item = (_inline_callbacks, (self,), _EMPTY_KW)
        self.resume: Any = (item, item)

    def _cancel(self, outer: Deferred[Any]) -> None:
        awaited = self.waitingOn
        if awaited is None:
            # Cancelled from inside the generator's own step: fail now, and
            # ignore the generator's later attempt to fire.
            outer._suppressAlreadyCalled = True
            return
        # The generator may catch CancelledError and go on, so the outer
        # Deferred must not fail outright: it waits on a fresh Deferred the
        # generator will fire, and what the generator awaits is cancelled.
        self.deferred = _wait_instead(outer, self._cancel)
        awaited.cancel()


def _inline_callbacks(result: object, state: _InlineState) -> None:
    """Step the generator until it waits; also the callback on awaited Deferreds."""
    if state.waiting_sync:
        # Fired synchronously while the loop below queued us: hand it back.
        state.waiting_sync = False
        state.sync_result = result
        return
    state.waitingOn = None
    global _driving
    _driving += 1
    try:
        _step(result, state)
    finally:
        _driving -= 1


#: How many of torsion's generator drivers are stepping right now; a Deferred
#: awaited outside of them is being awaited by an asyncio task.
_driving = 0


def _resume_with_none(_: object) -> None:
    return None


def _step(result: object, state: _InlineState) -> None:
    gen = state.gen
    run = state.context.run
    send = gen.send
    while True:
        try:
            if isinstance(result, Failure):
                result = run(result.throwExceptionIntoGenerator, gen)
            else:
                result = run(send, result)
        except StopIteration as stop:
            state.resume = None  # break the state's self-reference: freed at once
            state.deferred.callback(stop.value)
            return
        except _DefGen_Return as ret:
            state.resume = None
            state.deferred.callback(ret.value)
            return
        except BaseException:
            state.resume = None
            state.deferred.errback()
            return
        if not isinstance(result, Deferred):
            if type(result) is CoroutineType or type(result) is GeneratorType:
                result = _cancellableInlineCallbacks(result)
            elif getattr(result, "_asyncio_future_blocking", None) is not None:
                # An asyncio Future awaited (asyncio backend): wait for it, then
                # resume the coroutine with None; the Future's own __await__
                # then reads its result (or raises its exception).
                future: Any = result
                future._asyncio_future_blocking = False
                result = Deferred.fromFuture(future).addBoth(_resume_with_none)
            else:
                continue  # a plain value is sent straight back
        if not result.called:
            state.waitingOn = result
            result.callbacks.append(state.resume)
            return
        if not result.paused and not result.callbacks and not result._runningCallbacks:
            # Already fired: consume its result without adding a callback.
            value = result.result
            result.result = None
            if result._debugInfo is not None:
                result._debugInfo.failResult = None
            result = value
            continue
        # Fired but busy (paused, or running its callbacks): queue behind them,
        # noticing if that completes synchronously.
        state.waiting_sync = True
        result.callbacks.append(state.resume)
        result._runCallbacks()
        if state.waiting_sync:
            state.waiting_sync = False
            state.waitingOn = result
            return
        result = state.sync_result
        state.sync_result = None


def _cancellableInlineCallbacks(gen: Any) -> Deferred[Any]:
    state = _InlineState(gen, copy_context())
    outer = state.deferred
    _inline_callbacks(None, state)
    return outer


def inlineCallbacks(
    f: Callable[_P, Generator[Any, Any, _T]],
) -> Callable[_P, Deferred[_T]]:
    """Decorate a generator function so it can ``yield`` Deferreds.

    Each ``yield d`` suspends the generator until ``d`` fires, then resumes it
    with the result (or raises the failure's exception at the ``yield``).
    The decorated function returns a Deferred for the generator's ``return``
    value.  Cancelling that Deferred cancels the one being waited on.

    Example::

        @inlineCallbacks
        def total(client):
            a = yield client.get("a")
            b = yield client.get("b")
            return a + b

    Raises:
        TypeError: when the decorated function does not return a generator.
    """

    def unwind_generator(*args: _P.args, **kwargs: _P.kwargs) -> Deferred[_T]:
        try:
            gen = f(*args, **kwargs)
        except _DefGen_Return:
            raise TypeError(
                f"inlineCallbacks requires {f!r} to produce a generator; instead "
                "caught returnValue being used in a non-generator"
            ) from None
        if not isinstance(gen, GeneratorType):
            raise TypeError(
                f"inlineCallbacks requires {f!r} to produce a generator; instead got {gen!r}"
            )
        return _cancellableInlineCallbacks(gen)

    unwind_generator.__wrapped__ = f  # type: ignore[attr-defined]
    for attr in ("__module__", "__name__", "__qualname__", "__doc__"):
        if hasattr(f, attr):
            setattr(unwind_generator, attr, getattr(f, attr))
    return unwind_generator


def returnValue(val: object) -> NoReturn:
    """End an :func:`inlineCallbacks` generator with ``val`` (deprecated).

    A plain ``return val`` does the same and is what new code should use.
    """
    warnings.warn(
        "returnValue() is deprecated: use a plain 'return' in the generator",
        DeprecationWarning,
        stacklevel=2,
    )
    raise _DefGen_Return(val)


def ensureDeferred(coro: Awaitable[_T] | Coroutine[Any, Any, _T]) -> Deferred[_T]:
    """Return ``coro`` as a Deferred: run a coroutine, or pass a Deferred through.

    Raises:
        NotACoroutineError: for anything else.
    """
    if isinstance(coro, Deferred):
        return coro
    try:
        return Deferred.fromCoroutine(cast(Coroutine[Any, Any, _T], coro))
    except NotACoroutineError:
        raise NotACoroutineError(f"{coro!r} is not a coroutine or a Deferred") from None
