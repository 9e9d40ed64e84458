"""One measurement in a fresh process: ``python -m bench.child SECTION CASE PEER``.

The parent (``bench.runner``) starts one of these per (round, case, peer), so no peer
sees another's imports, caches or garbage.  The result is the last stdout line that
starts with ``RESULT_PREFIX``, followed by JSON: either ``value``, ``unit``,
``direction`` and ``extra``, or ``error``.  Anything else the measure prints is
ignored by the parent; the traceback of a failure goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback

from bench.model import Context, Measurement
from bench.registry import load_section

RESULT_PREFIX = "BENCH-RESULT "


def main(argv: list[str] | None = None) -> int:
    """Run one measure and print its result line; exit status 1 when it failed."""
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("section")
    parser.add_argument("case")
    parser.add_argument("peer")
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    context = Context(quick=args.quick, budget=args.budget)
    try:
        measure = load_section(args.section).case(args.case).peers[args.peer]
        result = measure(context)
        if not isinstance(result, Measurement):
            raise TypeError(f"the measure returned {result!r}, not a Measurement")
    except Exception as exc:  # reported to the parent, which goes on with other cases
        traceback.print_exc()
        _emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    _emit(
        {
            "value": result.value,
            "unit": result.unit,
            "direction": result.direction.value,
            "extra": dict(result.extra),
        }
    )
    return 0


def _emit(payload: dict[str, object]) -> None:
    sys.stdout.flush()
    print(RESULT_PREFIX + json.dumps(payload), flush=True)


if __name__ == "__main__":
    sys.exit(main())
