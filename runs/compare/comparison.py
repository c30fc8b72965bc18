"""Two runs of one workflow compared: which two, their totals, and the rows between them."""

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from runs.access import get_run_for_member
from runs.http.errors import BadRequest, Rejected
from runs.models import Membership, Run, Step, ToolCall

from .diff import json_diff
from .rows import CHANGED, PENDING, REUSED, Pair, Row, StepFacts, align, steps_of

DIFFERENT_WORKFLOWS = "These runs belong to different workflows and cannot be compared."
NOT_A_REPLAY = "This run is not a replay: pick a run to compare it with (?with=<run_id>)."
NO_ORIGINAL = f"{Run.SOURCE_GONE}: pick a run to compare it with (?with=<run_id>)."
SORTS = {"latency": "latency_ms", "cost": "cost_usd"}


class CannotCompare(Rejected):
    code = "cannot_compare"


def check_comparable(base: Run, other: Run) -> None:
    if base.workflow_id != other.workflow_id:
        raise CannotCompare(409, DIFFERENT_WORKFLOWS, code="different_workflows")
    if base.pk == other.pk:
        raise BadRequest("A run compared with itself shows nothing: pick another run.", field="with")


def pair_of(run: Run) -> Run:
    """The run a run is compared with by default: the run it replays."""
    if run.source_is_gone:
        raise CannotCompare(410, NO_ORIGINAL, code="source_gone")
    if run.replay_of is None:
        raise BadRequest(NOT_A_REPLAY, field="with")
    return run.replay_of


def root_of(run: Run) -> Run | None:
    """The original a chain of replays started from, for a replay of a replay; None when it no longer exists.

    One query per level (a chain is at most REPLAY_MAX_DEPTH deep), each reading three columns.
    """
    if run.replay_depth < 2:
        return None
    current: Run | None = run
    while current is not None and current.replay_of_id is not None:
        current = Run.objects.only("run_id", "replay_of_id", "replay_depth").filter(pk=current.replay_of_id).first()
    return current if current is not None and current.replay_depth == 0 else None


def compared_runs(membership: Membership, run_id: str, with_id: str | None) -> tuple[Run, Run]:
    """(base, other): the run it replays and the run, or the run and the `with` run. 404/403 as the trace."""
    return compared_with(membership, get_run_for_member(membership, run_id), with_id)


def compared_with(membership: Membership, run: Run, with_id: str | None) -> tuple[Run, Run]:
    """compared_runs for a run already looked up through the member's workspace."""
    if with_id:
        return run, get_run_for_member(membership, with_id)
    return get_run_for_member(membership, pair_of(run).pk), run


def _sum(values) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


@dataclass
class RunTotals:
    duration_ms: int | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal | None
    completed: int
    failed: int


def left_out_of(rows: list[Row]) -> frozenset[int]:
    """The steps whose figures a comparison leaves out on both sides: those of reused and pending rows."""
    return frozenset(s.id for r in rows if not r.in_deltas for s in (r.base, r.other) if s is not None)


def totals_of(run: Run, steps: list[StepFacts], left_out: frozenset[int] = frozenset()) -> RunTotals:
    """The run's figures; tokens and cost without the steps `left_out` (ids of reused and pending rows' steps)."""
    llm = [s for s in steps if s.type == "llm" and s.finished and s.id not in left_out]
    unknown_cost = any(s.cost_usd is None and s.status == Step.Status.COMPLETED for s in llm)
    return RunTotals(
        duration_ms=run.duration_ms,
        input_tokens=_sum(s.input_tokens for s in llm),
        output_tokens=_sum(s.output_tokens for s in llm),
        cost_usd=None if unknown_cost else (_sum(s.cost_usd for s in llm) if llm else Decimal(0)),
        completed=sum(s.status == Step.Status.COMPLETED for s in steps),
        failed=sum(s.status == Step.Status.FAILED for s in steps),
    )


@dataclass
class Comparison:
    base: Run
    other: Run
    rows: list[Row]
    base_totals: RunTotals
    other_totals: RunTotals
    dry_run_calls: int = 0
    # Mutating calls a replay really sent (a policy opted in): their side effects happened again.
    invoked_mutating_calls: int = 0
    notes: list[str] = field(default_factory=list)
    # Both runs' steps by run id, as steps_of read them: the page's checks read these, not the database again.
    steps: dict[str, list[StepFacts]] = field(default_factory=dict)

    def total(self, name: str) -> Pair:
        return Pair(getattr(self.base_totals, name), getattr(self.other_totals, name))

    @property
    def payload_diff(self):
        """The trigger payloads' line diff when they differ (an edited replay), else None."""
        return json_diff(self.base.trigger_payload, self.other.trigger_payload)

    def count(self, outcome: str) -> int:
        return self.outcomes[outcome]

    @cached_property
    def outcomes(self) -> Counter[str]:
        """How many rows have each outcome, counted once (the page's header asks several times)."""
        return Counter(r.outcome for r in self.rows)

    @property
    def changed_outputs(self) -> int:
        """Nodes whose output or tool calls changed (pending and reused rows are counted apart)."""
        return self.count(CHANGED)

    @property
    def pending(self) -> int:
        return self.count(PENDING)

    @property
    def reused(self) -> int:
        return self.count(REUSED)

    @property
    def different_versions(self) -> bool:
        return self.base.version_number != self.other.version_number

    @property
    def simulated(self) -> bool:
        return self.base.simulated or self.other.simulated

    @property
    def in_flight(self) -> bool:
        return not (self.base.is_finished and self.other.is_finished)

    def shown_rows(self, *, changed_only: bool = False, sort: str = "") -> list[Row]:
        rows = [r for r in self.rows if r.outcome == CHANGED] if changed_only else list(self.rows)
        if sort in SORTS:

            def size(row: Row) -> float:
                delta = getattr(row, SORTS[sort]).delta if row.in_deltas else None
                return abs(float(delta)) if delta is not None else -1.0

            rows.sort(key=size, reverse=True)
        return rows

    def as_api(self) -> dict:
        return {
            "rows": [r.as_api() for r in self.rows],
            "totals": {
                "duration_ms": self.total("duration_ms").as_list(),
                "input_tokens": self.total("input_tokens").as_list(),
                "output_tokens": self.total("output_tokens").as_list(),
                "cost_usd": self.total("cost_usd").as_list(),
                "steps_completed": self.total("completed").as_list(),
                "steps_failed": self.total("failed").as_list(),
                "changed_outputs": self.changed_outputs,
                "pending": self.pending,
                "reused": self.reused,
            },
            "payload_changed": self.base.trigger_payload != self.other.trigger_payload,
        }


def _is_pending(row: Row, base: Run, other: Run) -> bool:
    """A node a run in flight has not finished: missing from it, or still running there."""
    for step, run in ((row.base, base), (row.other, other)):
        if run.is_finished:
            continue
        if step is None or step.status == Step.Status.RUNNING:
            return True
    return False


def compare(base: Run, other: Run) -> Comparison:
    """Both runs, aligned: two queries whatever the number of steps (steps, then their tool calls)."""
    check_comparable(base, other)
    steps = steps_of([base.pk, other.pk])
    rows = align(steps[base.pk], steps[other.pk])
    for row in rows:
        row.pending = _is_pending(row, base, other)
    left_out = left_out_of(rows)
    dry_runs = sum(c.source == ToolCall.Source.DRY_RUN for s in steps[other.pk] for c in s.calls)
    invoked = sum(c.mutating and c.sent for s in steps[other.pk] for c in s.calls) if other.is_replay else 0
    return Comparison(
        base=base,
        other=other,
        rows=rows,
        base_totals=totals_of(base, steps[base.pk], left_out),
        other_totals=totals_of(other, steps[other.pk], left_out),
        dry_run_calls=dry_runs,
        invoked_mutating_calls=invoked,
        steps=steps,
    )
