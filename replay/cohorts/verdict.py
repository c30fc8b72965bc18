"""The verdict of a cohort: its members' original and replay compared with the compare and checks functions
(runs.compare.align, runs.checks.evaluate_pair), in a fixed number of queries whatever the number of members.

Members whose replay is missing or unfinished are left out of every n: never counted as same, nor as passed.
"""

import math
from dataclasses import dataclass, field
from decimal import Decimal

from runs.checks import RecordedRun, evaluate_pair, recorded_runs
from runs.checks.declarations import KIND_NAMES, Check
from runs.compare import Pair, RunTotals, StepFacts, align, left_out_of, totals_of
from runs.compare.rows import CHANGED
from runs.http.input import parse
from runs.models import Run, Step

from .models import Cohort, Lane

INSPECT_MAX = 20
# The replays a verdict judges: a cancelled one said nothing about the change, an unfinished one not yet.
JUDGED = (Run.Status.COMPLETED, Run.Status.FAILED)
Z_95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of k successes in n trials (95 % by default); (0, 1) when n is 0."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def percentile(values: list[int], q: float) -> int | None:
    """The nearest-rank percentile (q in 0..100) of the values, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def _total(values) -> Decimal | int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass
class MemberPair:
    source_run_id: str
    run_id: str
    lane: str
    original: RecordedRun
    replay: RecordedRun
    original_status: str
    replay_status: str
    changed: bool
    regression: bool
    fix: bool
    # Both runs' figures over the nodes both ran, as the compare page counts them: a replay started from a later
    # node reused the steps before it, and counting them on one side only would show savings that are not there.
    original_totals: RunTotals
    replay_totals: RunTotals
    original_ms: int | None
    replay_ms: int | None
    checks_regressed: int = 0  # the cohort's checks its replay fails where its original passed (set by verdict_of)

    @property
    def regressed(self) -> bool:
        """Worse than its original, as the compare page says it: the run failed where the original completed, or a
        check that the original passed fails. The verdict's regressions and the members' Regressed filter count it."""
        return self.regression or self.checks_regressed > 0


def compared_ms(duration_ms: int | None, steps: list[StepFacts], left_out: frozenset[int]) -> int | None:
    """A run's latency as the verdict sets it beside the other's: the run's own, unless some of its nodes were left
    out of the comparison (reused), then the time of the steps it compares (the other run never ran the rest)."""
    if not any(s.id in left_out for s in steps):
        return duration_ms
    compared = [s.duration_ms for s in steps if s.id not in left_out]
    known = [ms for ms in compared if ms is not None]
    return sum(known) if len(known) == len(compared) else None


@dataclass
class Tally:
    changed: int = 0
    of: int = 0
    new_errors: int = 0


@dataclass
class CheckTally:
    check: Check
    passed: list[int] = field(default_factory=lambda: [0, 0])
    # Where the check could be judged (pass or fail): "n/a" (a check against the original, on the original; a node
    # the run did not run) is neither, so it is left out of a pass rate rather than counted as a failure.
    judged: list[int] = field(default_factory=lambda: [0, 0])
    regressed: list[str] = field(default_factory=list)


def stored_checks(cohort: Cohort) -> list:
    """The cohort's checks as declared (stored as their JSON): parsed by the checks' own model."""
    from .inputs import CohortChecks

    if not cohort.checks:
        return []
    return list(parse(CohortChecks, {"checks": cohort.checks}, union_tags=KIND_NAMES).checks)


def finished_pairs(cohort: Cohort) -> list[MemberPair]:
    """Every member whose replay completed or failed, with both runs as the checks read them: four queries."""
    rows = list(cohort.members.exclude(child_run=None).values_list("source_run_id", "child_run_id", "lane"))
    ids = {rid for source, child, _ in rows for rid in (source, child)}
    runs = {
        r.pk: r
        for r in Run.objects.filter(pk__in=ids).only(
            "run_id", "status", "started_at", "finished_at", "workflow_id", "workspace_id"
        )
    }
    recorded = {r.run_id: r for r in recorded_runs(*runs.values())}
    pairs = []
    for source, child, lane in rows:
        if source not in runs or child not in runs or runs[child].status not in JUDGED:
            continue
        original, replay = recorded[source], recorded[child]
        rows_ = align(original.steps, replay.steps)
        left_out = left_out_of(rows_)
        before, after = runs[source].status, runs[child].status
        pairs.append(
            MemberPair(
                source_run_id=source,
                run_id=child,
                lane=lane,
                original=original,
                replay=replay,
                original_status=before,
                replay_status=after,
                changed=before != after or any(r.outcome == CHANGED for r in rows_),
                regression=before == Run.Status.COMPLETED and after == Run.Status.FAILED,
                fix=before == Run.Status.FAILED and after == Run.Status.COMPLETED,
                original_totals=totals_of(runs[source], original.steps, left_out),
                replay_totals=totals_of(runs[child], replay.steps, left_out),
                original_ms=compared_ms(original.duration_ms, original.steps, left_out),
                replay_ms=compared_ms(replay.duration_ms, replay.steps, left_out),
            )
        )
    return pairs


def _why(pair: MemberPair, cost: Pair, latency: Pair, failed_checks: int) -> str:
    parts = []
    if pair.regression:
        parts.append("regression: completed → failed")
    elif pair.fix:
        parts.append("fix: failed → completed")
    if failed_checks:
        parts.append(f"{failed_checks} check{'s' if failed_checks > 1 else ''} regressed")
    for name, figure in (("cost", cost), ("latency", latency)):
        if figure.percent is not None and figure.percent != 0:
            parts.append(f"{name} {figure.percent:+.0f} %")
    return "; ".join(parts) or "no change in status, cost or latency"


def verdict_of(cohort: Cohort, pairs: list[MemberPair] | None = None) -> dict:
    """The verdict's values, shaped as replay.cohorts.shapes.Verdict (from `pairs` when the caller read them)."""
    pairs = finished_pairs(cohort) if pairs is None else pairs
    checks = stored_checks(cohort)
    candidate = [p for p in pairs if p.lane == Lane.CANDIDATE]
    baseline = [p for p in pairs if p.lane == Lane.BASELINE]
    nodes: dict[str, Tally] = {}
    tallies = [CheckTally(check) for check in checks]
    ranked = []
    for pair in candidate:
        for row in align(pair.original.steps, pair.replay.steps):
            node_id = (row.other or row.base).node_id  # type: ignore[union-attr]
            tally = nodes.setdefault(node_id, Tally())
            tally.of += 1
            tally.changed += row.outcome == CHANGED  # as compare says it: a dry-run's arguments count
            tally.new_errors += (
                row.other is not None
                and row.other.status == Step.Status.FAILED
                and (row.base is None or row.base.status != Step.Status.FAILED)
            )
        regressed_checks = 0
        for counted, result in zip(tallies, evaluate_pair(checks, pair.original, pair.replay), strict=True):
            for side, outcome in enumerate((result.base.outcome, result.other.outcome)):
                counted.passed[side] += outcome == "pass"
                counted.judged[side] += outcome != "n/a"
            if result.regression:
                counted.regressed.append(pair.source_run_id)
                regressed_checks += 1
        pair.checks_regressed = regressed_checks
        cost = Pair(pair.original_totals.cost_usd, pair.replay_totals.cost_usd)
        latency = Pair(pair.original_ms, pair.replay_ms)
        size = max(abs(cost.percent or 0), abs(latency.percent or 0))
        ranked.append(
            ((not pair.regression, not regressed_checks, -size), pair, _why(pair, cost, latency, regressed_checks))
        )
    ranked.sort(key=lambda item: item[0])
    n = len(candidate)

    def both(name: str) -> list:
        return Pair(
            _total(getattr(p.original_totals, name) for p in candidate),
            _total(getattr(p.replay_totals, name) for p in candidate),
        ).as_list()

    def latencies(q: float) -> list:
        return [
            percentile([p.original_ms for p in candidate if p.original_ms is not None], q),
            percentile([p.replay_ms for p in candidate if p.replay_ms is not None], q),
        ]

    return {
        "compared_nodes": True,
        "changed_outputs": {
            "candidate": [sum(p.changed for p in candidate), n],
            "baseline": [sum(p.changed for p in baseline), len(baseline)],
        },
        "regressions": sum(p.regressed for p in candidate),
        "fixes": sum(p.fix for p in candidate),
        "cost_usd": both("cost_usd"),
        "latency_ms_p50": latencies(50),
        "latency_ms_p95": latencies(95),
        "input_tokens": both("input_tokens"),
        "output_tokens": both("output_tokens"),
        "nodes": [
            {"node_id": node_id, "changed": t.changed, "of": t.of, "new_errors": t.new_errors}
            for node_id, t in nodes.items()
        ],
        "checks": [
            {
                "check": t.check,
                "passed": t.passed,
                "of": n,
                "judged": t.judged,
                "interval": [list(wilson(t.passed[side], t.judged[side])) for side in (0, 1)],
                "regressed": t.regressed,
            }
            for t in tallies
        ],
        "inspect": [
            {"source_run_id": pair.source_run_id, "run_id": pair.run_id, "why": why}
            for _, pair, why in ranked[:INSPECT_MAX]
        ],
    }


def keep_verdict(cohort: Cohort) -> dict:
    """Compute the verdict of a finished cohort once and keep it, with each member's changed and regression flags:
    its members' replays have all ended, so it no longer changes. Three updates whatever the number of members."""
    from .shapes import Verdict

    pairs = finished_pairs(cohort)
    kept = Verdict.model_validate(verdict_of(cohort, pairs)).model_dump(mode="json")
    Cohort.objects.filter(pk=cohort.pk).update(verdict=kept)
    cohort.verdict = kept
    for lane in (Lane.CANDIDATE, Lane.BASELINE):
        judged = [p for p in pairs if p.lane == lane]
        members = cohort.members.filter(lane=lane)
        members.filter(source_run_id__in=[p.source_run_id for p in judged if p.changed]).update(changed=True)
        members.filter(source_run_id__in=[p.source_run_id for p in judged if not p.changed]).update(changed=False)
        members.filter(source_run_id__in=[p.source_run_id for p in judged if p.regressed]).update(regression=True)
    return kept


def current_verdict(cohort: Cohort) -> dict:
    """The kept verdict of a finished cohort, else the verdict of its replays so far."""
    return cohort.verdict if cohort.verdict is not None else verdict_of(cohort)
