"""What a benchmark is: cases, measurements, and the context a measurement runs in.

A *section* is a module under ``bench/sections/`` with a module-level ``CASES`` list.
A *case* maps each peer name (``"torsion"``, ``"twisted"``, ...) to a *measure*: a
callable that takes one measurement and returns a number with a unit and a
direction.  The harness runs every measure in a fresh child process, so a measure may
import its library, start servers, or spawn load tools as it likes.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

BASELINE = "torsion"
"""The peer every other peer is compared with."""

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


class Direction(enum.Enum):
    """Which way is better for a measured value."""

    LOWER_IS_BETTER = "lower"
    """A time or a cost: seconds per operation, bytes of memory."""

    HIGHER_IS_BETTER = "higher"
    """A rate: requests per second, bytes per second."""


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measured value.

    Attributes:
        value: the number, in ``unit``; for times always seconds, so reports can
            scale it (``"s"`` prints as ns, µs or ms).
        unit: the unit, e.g. ``"s"`` or ``"req/s"``.
        direction: whether lower or higher values are better.
        extra: free-form details kept in the JSON results (loop counts, the
            per-batch samples, a tool's raw output); never used for the ratio.
    """

    value: float
    unit: str
    direction: Direction
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Context:
    """How hard a measure should work, as chosen on the command line.

    Attributes:
        quick: a smoke test: measures should take a fraction of their normal time
            (shorter timing loops, shorter load runs); the result is noisier.
        budget: seconds of measuring that one measurement should aim at; a timing
            loop or a load run sizes itself from this.
    """

    quick: bool
    budget: float


Measure = Callable[[Context], Measurement]


@dataclass(frozen=True, slots=True)
class Case:
    """A thing to measure, once per peer.

    Attributes:
        name: short and unique in its section, e.g. ``"chain10"``.
        about: one line saying what one operation is and what the value means.
        peers: peer name to the measure that performs one measurement for it.
            Must include ``BASELINE``.
    """

    name: str
    about: str
    peers: Mapping[str, Measure]

    def __post_init__(self) -> None:
        if BASELINE not in self.peers:
            raise ValueError(f"case {self.name!r} must have a {BASELINE!r} peer")


class BenchError(Exception):
    """A measurement could not be taken or gave a wrong answer."""
