"""Deferred micro-benchmarks: callback chains, DeferredList, inlineCallbacks, await, deep chains.

torsion.defer mirrors twisted.internet.defer name for name, so each case is written once
against that public API and run with each peer's module: the code timed is the same
for every peer.  A peer's module is imported in the child process, when its
measurement starts; if it cannot be imported (or lacks a name), that peer's runs of
the case are reported as errors and the others go on.  Each case checks the result
of its first operation, so a fast but wrong Deferred fails instead of winning.
"""

from __future__ import annotations

import functools
import importlib
import itertools
from collections.abc import Callable, Generator
from types import ModuleType
from typing import Any

from bench.micro import Op, micro
from bench.model import BenchError, Case, Measure

PEER_MODULES = {
    "torsion": "torsion.defer",
    "twisted": "twisted.internet.defer",
}
"""Peer name to the module that provides its Deferred API."""

N = 10_000
"""Steps in the 10k cases."""

_InlineCallbacks = Callable[[Callable[[], Generator[Any, Any, int]]], Op]
"""``inlineCallbacks`` as these cases use it (peer modules are untyped here)."""


def chain10(defer: ModuleType) -> Op:
    """Make a Deferred, add 10 callbacks, fire it with 0 (it ends with 10)."""
    Deferred = defer.Deferred

    def increment(result: int) -> int:
        return result + 1

    def op() -> object:
        d = Deferred()
        for _ in range(10):
            d.addCallback(increment)
        d.callback(0)
        return d

    return op


def deferredlist1000(defer: ModuleType) -> Op:
    """Make 1,000 Deferreds and a DeferredList of them, then fire each until the list fires."""
    Deferred, DeferredList = defer.Deferred, defer.DeferredList

    def op() -> object:
        ds = [Deferred() for _ in range(1000)]
        dl = DeferredList(ds)
        for i, d in enumerate(ds):
            d.callback(i)
        return dl

    return op


def inlinecallbacks10k(defer: ModuleType) -> Op:
    """Run an inlineCallbacks generator that yields 10,000 already-fired ``succeed(i)``."""
    succeed = defer.succeed
    inlineCallbacks: _InlineCallbacks = defer.inlineCallbacks

    @inlineCallbacks
    def run() -> Generator[Any, Any, int]:
        total = 0
        for i in range(N):
            total += yield succeed(i)
        return total

    return run


def inlinecallbacks10k_pending(defer: ModuleType) -> Op:
    """Run an inlineCallbacks generator that yields 10,000 Deferreds, each fired from outside."""
    Deferred = defer.Deferred
    waiting: list[Any] = []
    inlineCallbacks: _InlineCallbacks = defer.inlineCallbacks

    @inlineCallbacks
    def run() -> Generator[Any, Any, int]:
        total = 0
        for _ in range(N):
            d = Deferred()
            waiting.append(d)
            total += yield d
        return total

    def op() -> object:
        result = run()
        i = 0
        while waiting:
            # firing resumes the generator at once, which appends the next Deferred
            waiting.pop().callback(i)
            i += 1
        return result

    return op


def async10k(defer: ModuleType) -> Op:
    """Drive, with ensureDeferred, a coroutine that awaits 10,000 already-fired ``succeed(i)``."""
    succeed, ensureDeferred = defer.succeed, defer.ensureDeferred

    async def run() -> int:
        total = 0
        for i in range(N):
            total += await succeed(i)
        return total

    def op() -> object:
        return ensureDeferred(run())

    return op


def deepchain10k(defer: ModuleType) -> Op:
    """Chain 10,000 Deferreds, each one's callback returning the next, then fire the last.

    Every Deferred but the last is fired first, so each waits on the next; firing the
    last then hands its result back through all 10,000.  An implementation that does
    this recursively overflows the stack (Twisted's does it in a loop).
    """
    Deferred = defer.Deferred

    def then(_result: object, following: object) -> object:
        return following

    def op() -> object:
        ds = [Deferred() for _ in range(N)]
        for current, following in itertools.pairwise(ds):
            current.addCallback(then, following)
        for d in ds[:-1]:
            d.callback(None)
        ds[-1].callback(N)
        return ds[0]

    return op


def _fires_with(expected: object) -> Callable[[object], None]:
    """A check that the operation returned a Deferred that has fired with ``expected``."""

    def check(d: Any) -> None:
        outcome: list[tuple[bool, object]] = []
        d.addCallbacks(lambda r: outcome.append((True, r)), lambda f: outcome.append((False, f)))
        if not outcome:
            raise BenchError("the Deferred has not fired")
        succeeded, value = outcome[0]
        if not succeeded:
            raise BenchError(f"the Deferred failed: {value}")
        if value != expected:
            raise BenchError(
                f"the Deferred fired with {_short(value)}, expected {_short(expected)}"
            )

    return check


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _build(build: Callable[[ModuleType], Op], module_name: str) -> Op:
    return build(importlib.import_module(module_name))


def _case(build: Callable[[ModuleType], Op], expected: object) -> Case:
    """A case named after ``build``, measured with each peer's Deferred module."""
    peers: dict[str, Measure] = {
        peer: micro(functools.partial(_build, build, module_name), check=_fires_with(expected))
        for peer, module_name in PEER_MODULES.items()
    }
    about = (build.__doc__ or "").splitlines()[0] + " Time per run."
    return Case(name=build.__name__, about=about, peers=peers)


CASES = [
    _case(chain10, 10),
    _case(deferredlist1000, [(True, i) for i in range(1000)]),
    _case(inlinecallbacks10k, sum(range(N))),
    _case(inlinecallbacks10k_pending, sum(range(N))),
    _case(async10k, sum(range(N))),
    _case(deepchain10k, N),
]
