"""Schedule the measurements and take each one in a fresh child process.

Rounds are interleaved: round 1 measures every (case, peer), then round 2 does it all
again, and so on, so slow drifts in machine load touch every peer alike.  Within a
round the cases keep their order and the peers of each case run back to back in a
shuffled order, so the pair behind a ratio is measured under the same load and no
peer always goes first.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.child import RESULT_PREFIX
from bench.model import REPO_ROOT, Context
from bench.registry import Section

STDERR_KEPT = 4000
"""Characters of a failed child's stderr kept in the results."""


@dataclass(frozen=True, slots=True)
class Job:
    """One measurement to take: a peer's measure of a case, in a given round."""

    section: str
    case: str
    peer: str
    round: int


@dataclass(frozen=True, slots=True)
class Run:
    """The outcome of one job: a value with its unit, or an error."""

    section: str
    case: str
    peer: str
    round: int
    value: float | None
    unit: str | None
    direction: str | None
    error: str | None
    wall_s: float
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``section/case``, how reports name the case."""
        return f"{self.section}/{self.case}"


def plan(sections: Sequence[Section], rounds: int, rng: random.Random) -> list[Job]:
    """List the jobs of all rounds in the order they will run."""
    jobs: list[Job] = []
    for round_no in range(1, rounds + 1):
        for section in sections:
            for case in section.cases:
                peers = list(case.peers)
                rng.shuffle(peers)
                jobs.extend(Job(section.name, case.name, peer, round_no) for peer in peers)
    return jobs


def run_jobs(
    jobs: Sequence[Job],
    context: Context,
    *,
    timeout: float,
    progress: Callable[[Job, Run], None] | None = None,
) -> list[Run]:
    """Take every measurement, one child process at a time, in the given order."""
    runs: list[Run] = []
    for job in jobs:
        run = run_job(job, context, timeout=timeout)
        runs.append(run)
        if progress is not None:
            progress(job, run)
    return runs


def run_job(job: Job, context: Context, *, timeout: float) -> Run:
    """Start ``python -m bench.child`` for ``job`` and read its result line.

    The child gets its own process group, so a timeout also ends any server or
    load tool it started.
    """
    argv = [sys.executable, "-m", "bench.child", job.section, job.case, job.peer]
    argv += ["--budget", repr(context.budget)] + (["--quick"] if context.quick else [])
    start = time.perf_counter()
    with subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            out, err = child.communicate()
            return _failed(job, f"timed out after {timeout:g} s", err, start)
        except BaseException:  # e.g. Ctrl-C: the child's own session does not get the SIGINT
            os.killpg(child.pid, signal.SIGKILL)
            raise
    payload = _result_line(out)
    if payload is None:
        return _failed(job, f"child exited {child.returncode} without a result", err, start)
    if "error" in payload:
        return _failed(job, str(payload["error"]), err, start)
    extra = payload.get("extra")
    return Run(
        section=job.section,
        case=job.case,
        peer=job.peer,
        round=job.round,
        value=float(str(payload["value"])),
        unit=str(payload["unit"]),
        direction=str(payload["direction"]),
        error=None,
        wall_s=time.perf_counter() - start,
        extra=extra if isinstance(extra, dict) else {},
    )


def _result_line(stdout: str) -> dict[str, object] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            payload = json.loads(line.removeprefix(RESULT_PREFIX))
            return payload if isinstance(payload, dict) else None
    return None


def _failed(job: Job, error: str, stderr: str, start: float) -> Run:
    return Run(
        section=job.section,
        case=job.case,
        peer=job.peer,
        round=job.round,
        value=None,
        unit=None,
        direction=None,
        error=error,
        wall_s=time.perf_counter() - start,
        extra={"stderr": stderr[-STDERR_KEPT:]},
    )
