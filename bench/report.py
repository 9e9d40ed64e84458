"""Summaries of the runs: medians, spreads, ratios against torsion, the table and the JSON.

Ratio convention: a ratio says how much better torsion is than the peer, so above
1.0 torsion wins whatever is measured.  For times (lower is better) it is
``peer_median / torsion_median``; for rates (higher is better)
``torsion_median / peer_median``.  Beside it, the range of the per-round ratios:
each round measures both peers back to back, so that range shows how steady the
comparison was under the machine's changing load.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.model import BASELINE, Direction
from bench.runner import Run


@dataclass(frozen=True, slots=True)
class PeerSummary:
    """What the rounds of one (case, peer) came to."""

    peer: str
    values: tuple[float, ...]
    errors: tuple[str, ...]
    unit: str | None
    direction: Direction | None

    @property
    def median(self) -> float | None:
        """The median value, or ``None`` when every round failed."""
        return statistics.median(self.values) if self.values else None


@dataclass(frozen=True, slots=True)
class Ratio:
    """torsion against one peer in one case; above 1.0 torsion is better."""

    peer: str
    of_medians: float | None
    per_round: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One row of the table."""

    key: str
    peers: tuple[PeerSummary, ...]
    ratios: tuple[Ratio, ...]


def summarize(runs: Sequence[Run]) -> list[CaseSummary]:
    """Group the runs by case and peer, keeping the order in which cases first ran."""
    keys = list(dict.fromkeys(run.key for run in runs))
    summaries = []
    for key in keys:
        case_runs = [run for run in runs if run.key == key]
        peers = list(dict.fromkeys(run.peer for run in case_runs))
        peers.sort(key=lambda peer: (peer != BASELINE, peer))
        by_peer = {peer: _peer_summary(peer, case_runs) for peer in peers}
        ratios = tuple(
            _ratio(by_peer[BASELINE], by_peer[peer], case_runs)
            for peer in peers
            if peer != BASELINE and BASELINE in by_peer
        )
        summaries.append(CaseSummary(key, tuple(by_peer.values()), ratios))
    return summaries


def _peer_summary(peer: str, runs: Sequence[Run]) -> PeerSummary:
    mine = [run for run in runs if run.peer == peer]
    good = [run for run in mine if run.value is not None]
    return PeerSummary(
        peer=peer,
        values=tuple(run.value for run in good if run.value is not None),
        errors=tuple(run.error for run in mine if run.error is not None),
        unit=good[0].unit if good else None,
        direction=Direction(good[0].direction) if good else None,
    )


def better_ratio(torsion: float, peer: float, direction: Direction) -> float:
    """How many times better torsion's value is than the peer's."""
    if direction is Direction.LOWER_IS_BETTER:
        return peer / torsion
    return torsion / peer


def _ratio(base: PeerSummary, other: PeerSummary, runs: Sequence[Run]) -> Ratio:
    direction = base.direction or other.direction
    if base.median is None or other.median is None or direction is None:
        return Ratio(other.peer, None, ())
    if base.unit != other.unit:
        raise ValueError(
            f"{runs[0].key}: {base.peer} is in {base.unit}, {other.peer} in {other.unit}"
        )
    rounds: dict[int, dict[str, float]] = {}
    for run in runs:
        if run.value is not None:
            rounds.setdefault(run.round, {})[run.peer] = run.value
    per_round = tuple(
        better_ratio(values[base.peer], values[other.peer], direction)
        for values in rounds.values()
        if base.peer in values and other.peer in values
    )
    return Ratio(other.peer, better_ratio(base.median, other.median, direction), per_round)


def format_table(summaries: Sequence[CaseSummary]) -> str:
    """The results as an aligned text table, with the errors listed below it."""
    peers = list(dict.fromkeys(p.peer for s in summaries for p in s.peers))
    others = [peer for peer in peers if peer != BASELINE]
    header = ["case", *peers, *(f"vs {peer}" for peer in others)]
    rows = [header]
    for summary in summaries:
        cells = {p.peer: _value_cell(p) for p in summary.peers}
        ratios = {r.peer: _ratio_cell(r) for r in summary.ratios}
        rows.append(
            [
                summary.key,
                *(cells.get(p, "-") for p in peers),
                *(ratios.get(p, "-") for p in others),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    errors = [
        f"  {summary.key} [{p.peer}] {len(p.errors)}x: {message}"
        for summary in summaries
        for p in summary.peers
        for message in dict.fromkeys(p.errors)
    ]
    if errors:
        lines += ["", "errors:", *errors]
    return "\n".join(lines)


#: Numeric details a measure may report in ``extra``, shown below the table as
#: medians per peer (the ratio column is always about the main value).
DETAILS = {"p99_us": "p99 latency (µs, lower is better)"}


def format_details(runs: Sequence[Run]) -> str:
    """Medians of the known ``extra`` details (such as p99 latency), per case and peer."""
    lines = []
    for name, title in DETAILS.items():
        rows = []
        for key in dict.fromkeys(run.key for run in runs):
            medians = {}
            for run in runs:
                value = run.extra.get(name)
                if run.key == key and isinstance(value, int | float):
                    medians.setdefault(run.peer, []).append(float(value))
            if medians:
                ordered = sorted(medians, key=lambda peer: (peer != BASELINE, peer))
                cells = ", ".join(
                    f"{peer} {_num(statistics.median(medians[peer]))}" for peer in ordered
                )
                rows.append(f"  {key}: {cells}")
        if rows:
            lines += [f"{title}, median over rounds:", *rows]
    return "\n".join(lines)


def _value_cell(summary: PeerSummary) -> str:
    median = summary.median
    if median is None:
        return "error"
    factor, prefix, unit = _scale(median, summary.unit or "")
    low, high = min(summary.values) / factor, max(summary.values) / factor
    cell = f"{_num(median / factor)}{prefix} {unit} [{_num(low)}{prefix}-{_num(high)}{prefix}]"
    if summary.errors:
        cell += f" ({len(summary.errors)} err)"
    return cell


def _num(value: float) -> str:
    """Three significant digits, keeping trailing zeros so columns read alike (12.0, 4.06)."""
    return f"{value:#.3g}".rstrip(".")


def _ratio_cell(ratio: Ratio) -> str:
    if ratio.of_medians is None:
        return "n/a"
    cell = f"{ratio.of_medians:.2f}x"
    if len(ratio.per_round) > 1:
        cell += f" [{min(ratio.per_round):.2f}-{max(ratio.per_round):.2f}]"
    return cell


_TIME_SCALES = ((1e-9, "ns"), (1e-6, "µs"), (1e-3, "ms"), (1.0, "s"))
_COUNT_SCALES = ((1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"))


def _scale(value: float, unit: str) -> tuple[float, str, str]:
    """Pick a readable multiple: (divide by, number suffix, unit to print).

    Seconds become ns, µs, ms or s; other units keep their name and the number gets
    a k, M or G suffix.
    """
    if unit == "s":
        factor, name = _TIME_SCALES[0]
        for candidate, candidate_name in _TIME_SCALES:
            if abs(value) >= candidate:
                factor, name = candidate, candidate_name
        return factor, "", name
    factor, prefix = _COUNT_SCALES[0]
    for candidate, candidate_prefix in _COUNT_SCALES:
        if abs(value) >= candidate:
            factor, prefix = candidate, candidate_prefix
    return factor, prefix, unit


def summaries_to_json(summaries: Sequence[CaseSummary]) -> list[dict[str, object]]:
    """The table's content in plain data, for the results file."""
    return [
        {
            "case": summary.key,
            "peers": {
                p.peer: {
                    "median": p.median,
                    "min": min(p.values, default=None),
                    "max": max(p.values, default=None),
                    "unit": p.unit,
                    "direction": p.direction.value if p.direction else None,
                    "runs": len(p.values),
                    "errors": len(p.errors),
                }
                for p in summary.peers
            },
            "ratios": {
                r.peer: {
                    "of_medians": r.of_medians,
                    "per_round_min": min(r.per_round, default=None),
                    "per_round_max": max(r.per_round, default=None),
                }
                for r in summary.ratios
            },
        }
        for summary in summaries
    ]
