"""In-process micro-benchmarks: time one operation many times, report seconds per operation.

The measure runs inside the child process.  It builds the operation (importing the
peer's library), runs it once and checks the answer, so a fast but wrong
implementation fails loudly, then sizes a loop so that one batch takes a fair share
of the budget and times a few batches.  ``gc.collect()`` runs before each batch so
that garbage from the previous one is not billed to it; the collector stays on,
since collecting is part of the real cost of making objects.  The value is the
median of the batches; all of them go to the JSON results.
"""

from __future__ import annotations

import gc
import itertools
import statistics
from collections.abc import Callable
from time import perf_counter

from bench.model import Context, Direction, Measure, Measurement

Op = Callable[[], object]
"""One operation: what a single iteration of the timing loop calls."""

MAX_LOOPS = 1 << 24


def micro(build: Callable[[], Op], *, check: Callable[[object], None] | None = None) -> Measure:
    """Make a measure that times the operation returned by ``build``.

    Args:
        build: called once in the child; imports what it needs and returns the
            operation.  Setup done here is not timed.
        check: called with the first operation's return value; raises
            ``BenchError`` when the answer is wrong.

    Returns:
        A measure giving seconds per operation (lower is better).
    """

    def measure(context: Context) -> Measurement:
        op = build()
        first = op()
        if check is not None:
            check(first)
        return time_op(op, budget=context.budget, repeats=3 if context.quick else 7)

    return measure


def time_op(op: Op, *, budget: float, repeats: int) -> Measurement:
    """Time ``op`` in ``repeats`` batches that together take about ``budget`` seconds."""
    target = budget / (repeats + 1)  # one share goes to calibration and warm-up
    loops = _calibrate(op, target)
    samples: list[float] = []
    for _ in range(repeats):
        gc.collect()
        samples.append(_batch(op, loops) / loops)
    return Measurement(
        value=statistics.median(samples),
        unit="s",
        direction=Direction.LOWER_IS_BETTER,
        extra={"loops": loops, "samples": samples},
    )


def _calibrate(op: Op, target: float) -> int:
    """Find how many loops make a batch last about ``target`` seconds."""
    loops = 1
    while True:
        elapsed = _batch(op, loops)
        if elapsed >= target / 8 or loops >= MAX_LOOPS:
            break
        loops *= 2
    scaled = round(loops * target / elapsed) if elapsed > 0 else MAX_LOOPS
    return max(1, min(MAX_LOOPS, scaled))


def _batch(op: Op, loops: int) -> float:
    start = perf_counter()
    for _ in itertools.repeat(None, loops):
        op()
    return perf_counter() - start
