"""The ``torsion`` command line (in the spirit of ``twistd``).

Each subcommand has ``--help``.  ``torsion demo`` shows Deferreds at work:
several simulated downloads with different latencies run concurrently in one
thread, combined with DeferredList, inlineCallbacks and ``async``/``await``,
driven by a deterministic clock so the output is the same on every run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Generator, Sequence

from torsion import __version__, _cli_web
from torsion.defer import Deferred, DeferredList, ensureDeferred, gatherResults, inlineCallbacks
from torsion.failure import Failure
from torsion.task import Clock, deferLater

__all__ = ["main"]


def _fake_download(clock: Clock, name: str, latency: float, size: int) -> Deferred[bytes]:
    """A stand-in for a network fetch: ``size`` bytes after ``latency`` seconds."""
    if size < 0:
        return deferLater(clock, latency, _raise, OSError(f"{name}: connection reset"))
    return deferLater(clock, latency, lambda: bytes(size))


def _raise(exc: BaseException) -> bytes:
    raise exc


def run_demo(out: Callable[[str], object] = print, step: float = 0.05) -> int:
    """Run the Deferred demo, writing lines through ``out``; returns an exit code."""
    clock = Clock()
    catalog = {"intro.ogg": (0.30, 4096), "theme.ogg": (0.10, 8192), "outro.ogg": (0.20, 2048)}

    def report(label: str) -> Callable[[object], object]:
        def show(result: object) -> object:
            out(f"[t={clock.seconds():.2f}s] {label}: {result}")
            return result

        return show

    out("1. Three downloads at once, one thread, combined with DeferredList:")
    downloads = [
        _fake_download(clock, name, latency, size).addCallback(len).addCallback(report(name))
        for name, (latency, size) in catalog.items()
    ]
    total = DeferredList(downloads).addCallback(lambda pairs: sum(r for _, r in pairs))
    total.addCallback(report("total bytes"))
    _advance(clock, step)

    out("2. One after another with inlineCallbacks; an error is caught by try/except:")

    @inlineCallbacks
    def sequential() -> Generator[Deferred[bytes], bytes, list[int]]:
        sizes = []
        for name in ("theme.ogg", "missing.ogg"):
            try:
                body = yield _fake_download(clock, name, 0.1, -1 if name == "missing.ogg" else 10)
                sizes.append(len(body))
            except OSError as exc:
                out(f"[t={clock.seconds():.2f}s] caught: {exc}")
        return sizes

    sequential().addCallback(report("inlineCallbacks result"))
    _advance(clock, step)

    out("3. async/await on Deferreds, with a timeout that cancels the slow one:")

    async def fastest() -> list[int]:
        slow = _fake_download(clock, "slow.ogg", 5.0, 1).addTimeout(0.5, clock)
        fast = _fake_download(clock, "fast.ogg", 0.2, 3)
        sizes = await gatherResults([fast.addCallback(len)])
        try:
            await slow
        except Exception as exc:
            out(f"[t={clock.seconds():.2f}s] slow download gave up: {type(exc).__name__}")
        return sizes

    failures: list[Failure] = []
    ensureDeferred(fastest()).addCallbacks(report("async result"), failures.append)
    _advance(clock, step)
    if failures:
        out(failures[0].getTraceback())
        return 1
    out("done: every result above arrived through callbacks, in one thread.")
    return 0


def _advance(clock: Clock, step: float) -> None:
    while clock.getDelayedCalls():
        clock.advance(step)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torsion", description="torsion, an event-driven networking framework."
    )
    parser.add_argument("--version", action="version", version=f"torsion {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    _cli_web.add_parser(commands)
    commands.add_parser(
        "demo",
        help="show Deferreds at work on simulated downloads",
        description="Run simulated concurrent downloads with Deferreds, "
        "inlineCallbacks and async/await on a deterministic clock.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``torsion`` command."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return run_demo()
    if args.command == "web":
        return _cli_web.run(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
