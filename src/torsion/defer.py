"""Deferreds: results that are not there yet, and tools to combine them.

This module mirrors ``twisted.internet.defer``: the same public names with the
same behaviour, so code written for Twisted runs after changing its imports
(``from torsion.defer import Deferred, inlineCallbacks, ...``).  On top of it,
torsion adds typing (``Deferred[int]``) and native ``async``/``await``::

    from torsion.defer import Deferred, ensureDeferred

    async def double(d: Deferred[int]) -> int:
        return 2 * await d

    d: Deferred[int] = Deferred()
    result = ensureDeferred(double(d))
    d.callback(21)            # result has fired with 42
"""

from torsion._defer_core import (
    AlreadyCalledError,
    CancelledError,
    DebugInfo,
    Deferred,
    NotACoroutineError,
    TimeoutError,
    ensureDeferred,
    execute,
    fail,
    getDebugging,
    inlineCallbacks,
    logError,
    maybeDeferred,
    passthru,
    returnValue,
    setDebugging,
    succeed,
    timeout,
)
from torsion._defer_list import (
    FAILURE,
    SUCCESS,
    DeferredList,
    FailureGroup,
    FirstError,
    gatherResults,
    race,
)
from torsion._defer_sync import (
    AlreadyTryingToLockError,
    DeferredFilesystemLock,
    DeferredLock,
    DeferredQueue,
    DeferredSemaphore,
    QueueOverflow,
    QueueUnderflow,
)

__all__ = [
    "FAILURE",
    "SUCCESS",
    "AlreadyCalledError",
    "AlreadyTryingToLockError",
    "CancelledError",
    "DebugInfo",
    "Deferred",
    "DeferredFilesystemLock",
    "DeferredList",
    "DeferredLock",
    "DeferredQueue",
    "DeferredSemaphore",
    "FailureGroup",
    "FirstError",
    "NotACoroutineError",
    "QueueOverflow",
    "QueueUnderflow",
    "TimeoutError",
    "ensureDeferred",
    "execute",
    "fail",
    "gatherResults",
    "getDebugging",
    "inlineCallbacks",
    "logError",
    "maybeDeferred",
    "passthru",
    "race",
    "returnValue",
    "setDebugging",
    "succeed",
    "timeout",
]
