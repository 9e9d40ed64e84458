"""The command line: pick sections, run the interleaved rounds, print the table, save JSON."""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import library_versions, load_average, machine_info
from bench.model import BASELINE, BENCH_DIR, Context
from bench.registry import Section, load_section, section_names
from bench.report import format_details, format_table, summaries_to_json, summarize
from bench.runner import Job, Run, plan, run_jobs

QUICK_ROUNDS, DEFAULT_ROUNDS = 3, 7
QUICK_BUDGET, DEFAULT_BUDGET = 0.15, 1.0
BUSY_LOAD = 0.5
"""A 1-minute load average above this at the start means others are using the CPU."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m bench``."""
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description=(
            "Measure torsion against its peers, interleaved round by round, each measurement "
            "in a fresh process. Ratios are 'how many times better torsion is': above 1.0 "
            "torsion wins. See bench/README.md."
        ),
    )
    parser.add_argument(
        "--only",
        metavar="SECTION[,SECTION]",
        help="run only these sections; SECTION/CASE picks one case (default: all sections)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive_int,
        help=f"interleaved rounds (default {DEFAULT_ROUNDS}, or {QUICK_ROUNDS} with --quick)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: few rounds and short measurements; the figures are noisy",
    )
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="where to write every run and the machine info (default bench/results/<time>.json)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        metavar="SECONDS",
        help=f"measuring time per measurement (default {DEFAULT_BUDGET}, or {QUICK_BUDGET} "
        "with --quick)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="kill a measurement's process after this long (default 120)",
    )
    parser.add_argument("--seed", type=int, help="seed for the peer order (default: random)")
    parser.add_argument("--list", action="store_true", help="list sections and cases, then exit")
    parser.add_argument(
        "--strict", action="store_true", help="exit with status 1 if any measurement failed"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``python -m bench``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        sections = select_sections(args.only)
    except (KeyError, TypeError) as exc:
        parser.error(str(exc.args[0]) if exc.args else str(exc))
    if args.list:
        print(describe(sections))
        return 0
    rounds: int = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    context = Context(
        quick=args.quick, budget=args.budget or (QUICK_BUDGET if args.quick else DEFAULT_BUDGET)
    )
    seed: int = args.seed if args.seed is not None else random.randrange(2**32)
    jobs = plan(sections, rounds, random.Random(seed))
    json_path: Path = args.json or BENCH_DIR / "results" / f"{_stamp()}.json"

    load_start = load_average()
    started_at = datetime.now(UTC)
    _print_intro(jobs, rounds, context, load_start)
    try:
        runs = run_jobs(jobs, context, timeout=args.timeout, progress=_Progress(len(jobs), rounds))
    except KeyboardInterrupt:
        print("\ninterrupted: no results written", file=sys.stderr)
        return 130
    load_end = load_average()
    summaries = summarize(runs)

    print()
    print(format_table(summaries))
    details = format_details(runs)
    if details:
        print()
        print(details)
    print()
    print(
        f"ratio 'vs PEER' = how many times better {BASELINE} is (time: peer/{BASELINE}; rate: "
        f"{BASELINE}/peer); [a-b] = range over rounds."
    )
    print(
        f"load average start {_fmt_load(load_start)}, end {_fmt_load(load_end)}; {_fmt_versions()}"
    )

    results = _results_document(
        argv=list(sys.argv[1:] if argv is None else argv),
        sections=sections,
        settings={"rounds": rounds, "timeout_s": args.timeout, "seed": seed},
        context=context,
        started_at=started_at,
        loads=(load_start, load_end),
        runs=runs,
    )
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"results: {json_path}")
    failed = sum(run.error is not None for run in runs)
    return 1 if failed and args.strict else 0


def _results_document(
    *,
    argv: list[str],
    sections: Sequence[Section],
    settings: dict[str, object],
    context: Context,
    started_at: datetime,
    loads: tuple[list[float] | None, list[float] | None],
    runs: Sequence[Run],
) -> dict[str, object]:
    """Everything the JSON results file holds (see bench/README.md)."""
    return {
        "schema": 1,
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "argv": argv,
        "settings": {
            "sections": [section.name for section in sections],
            "cases": [f"{s.name}/{c.name}" for s in sections for c in s.cases],
            "quick": context.quick,
            "budget_s": context.budget,
            **settings,
        },
        "machine": {
            **machine_info(),
            "load_average_start": loads[0],
            "load_average_end": loads[1],
        },
        "runs": [dataclasses.asdict(run) for run in runs],
        "summary": summaries_to_json(summarize(runs)),
    }


def select_sections(only: str | None) -> list[Section]:
    """The sections (and cases) named by ``--only``, or all of them.

    Raises:
        KeyError: an unknown section or case.
    """
    if not only:
        return [load_section(name) for name in section_names()]
    picked: dict[str, list[str]] = {}  # section name to the cases named for it
    whole: set[str] = set()  # sections named without a case
    for item in only.split(","):
        name, _, case = item.strip().partition("/")
        if name:
            picked.setdefault(name, [])
            if case:
                picked[name].append(case)
            else:
                whole.add(name)
    selected = []
    for name, cases in picked.items():
        section = load_section(name)
        if name not in whole:
            section = dataclasses.replace(section, cases=tuple(section.case(c) for c in cases))
        selected.append(section)
    return selected


def describe(sections: Sequence[Section]) -> str:
    """The ``--list`` text: each section, its cases and their peers."""
    lines = []
    for section in sections:
        lines.append(f"{section.name}: {section.about}")
        for case in section.cases:
            lines.append(f"  {case.name} [{', '.join(case.peers)}]: {case.about}")
    return "\n".join(lines)


class _Progress:
    """Prints one character per measurement (``.`` done, ``E`` failed), a line per round."""

    def __init__(self, total: int, rounds: int) -> None:
        self.per_round = total // rounds  # every round runs the same jobs
        self.rounds = rounds
        self.done = 0
        self.start = time.monotonic()

    def __call__(self, job: Job, run: Run) -> None:
        if self.done % self.per_round == 0:
            print(f"round {job.round}/{self.rounds} ", end="", file=sys.stderr)
        print("." if run.error is None else "E", end="", file=sys.stderr, flush=True)
        self.done += 1
        if self.done % self.per_round == 0:
            print(f"  {time.monotonic() - self.start:.0f} s", file=sys.stderr)


def _print_intro(
    jobs: Sequence[Job], rounds: int, context: Context, load: list[float] | None
) -> None:
    cases = len({(job.section, job.case) for job in jobs})
    mode = "quick" if context.quick else "full"
    print(
        f"{cases} cases, {len(jobs)} measurements in {rounds} rounds ({mode}, "
        f"{context.budget:g} s each); python {sys.version.split()[0]}",
        flush=True,
    )
    if load is not None and load[0] > BUSY_LOAD:
        print(
            f"warning: load average {load[0]:.2f} at start: something else is using the CPU, "
            "so the figures will be noisy; prefer an idle machine",
            file=sys.stderr,
        )


def _fmt_load(load: list[float] | None) -> str:
    return "n/a" if load is None else " ".join(f"{x:.2f}" for x in load)


def _fmt_versions() -> str:
    return ", ".join(
        f"{name} {version or 'not installed'}" for name, version in library_versions().items()
    )


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value
