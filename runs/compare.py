"""Comparing two runs of one workflow node by node: rows aligned by node id, then by the replay's node mapping.

The rows carry what each step recorded (status, model, prompt hash, latency, tokens, cost) and whether the
outputs differ; the diff of one row's outputs is computed only when it is asked for (word_diff, json_diff).
"""

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.conf import settings
from rapidfuzz.distance import Indel

from .access import get_run_for_member
from .http.errors import BadRequest, Rejected
from .models import Membership, Run, Step, ToolCall

DIFFERENT_WORKFLOWS = "These runs belong to different workflows and cannot be compared."
NOT_A_REPLAY = "This run is not a replay: pick a run to compare it with (?with=<run_id>)."
STEP_FIELDS = (
    "id",
    "run_id",
    "node_id",
    "type",
    "position",
    "status",
    "output",
    "model_ref",
    "prompt_hash",
    "simulated",
    "mapped_from",
    "started_at",
    "finished_at",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
)
SORTS = {"latency": "latency_ms", "cost": "cost_usd"}


@dataclass
class StepFacts:
    """What a comparison reads of a step: plain values, not model instances (2,000 of them per page)."""

    id: int
    run_id: str
    node_id: str
    type: str
    position: int
    status: str
    output: str
    model_ref: str
    prompt_hash: str
    simulated: bool
    mapped_from: str
    started_at: Any
    finished_at: Any
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal | None
    latency_ms: int | None

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at and self.started_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class CannotCompare(Rejected):
    code = "cannot_compare"


def check_comparable(base: Run, other: Run) -> None:
    if base.workflow_id != other.workflow_id:
        raise CannotCompare(409, DIFFERENT_WORKFLOWS, code="different_workflows")
    if base.pk == other.pk:
        raise BadRequest("A run compared with itself shows nothing: pick another run.", field="with")


def pair_of(run: Run) -> Run:
    """The run a run is compared with by default: the run it replays."""
    if run.replay_of is None:
        raise BadRequest(NOT_A_REPLAY, field="with")
    return run.replay_of


def compared_runs(membership: Membership, run_id: str, with_id: str | None) -> tuple[Run, Run]:
    """(base, other): the run it replays and the run, or the run and the `with` run. 404/403 as the trace."""
    run = get_run_for_member(membership, run_id)
    if with_id:
        return run, get_run_for_member(membership, with_id)
    return get_run_for_member(membership, pair_of(run).pk), run


def _delta(a, b):
    return b - a if a is not None and b is not None else None


def _percent(a, b) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return float((b - a) / a * 100)


@dataclass(frozen=True)
class Pair:
    """A figure of both runs, with its change."""

    a: Any
    b: Any

    @property
    def delta(self):
        return _delta(self.a, self.b)

    @property
    def percent(self) -> float | None:
        return _percent(self.a, self.b)

    @property
    def changed(self) -> bool:
        return self.a != self.b

    def as_list(self) -> list:
        return [_plain(self.a), _plain(self.b)]


def _plain(value):
    if isinstance(value, Decimal):
        text = f"{value:f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return value


@dataclass
class Row:
    base: StepFacts | None
    other: StepFacts | None
    match: str  # "same" | "mapped" | "base_only" | "other_only"

    @cached_property
    def dom_id(self) -> str:
        """A stable element id for the row, whatever characters its node ids hold."""
        return "row-" + hashlib.sha1(self.key.encode()).hexdigest()[:12]

    @cached_property
    def key(self) -> str:
        """Names the row in a URL: base node id, then other node id."""
        return f"{self.base.node_id if self.base else ''}~{self.other.node_id if self.other else ''}"

    def pair(self, name: str) -> Pair:
        return Pair(
            getattr(self.base, name, None) if self.base else None,
            getattr(self.other, name, None) if self.other else None,
        )

    @cached_property
    def output_changed(self) -> bool:
        if self.base is None or self.other is None:
            return True
        return canonical_output(self.base) != canonical_output(self.other)

    @cached_property
    def status(self) -> Pair:
        return self.pair("status")

    @cached_property
    def model_ref(self) -> Pair:
        return self.pair("model_ref")

    @cached_property
    def prompt_hash(self) -> Pair:
        return self.pair("prompt_hash")

    @cached_property
    def latency_ms(self) -> Pair:
        return Pair(_latency(self.base), _latency(self.other))

    @cached_property
    def input_tokens(self) -> Pair:
        return self.pair("input_tokens")

    @cached_property
    def output_tokens(self) -> Pair:
        return self.pair("output_tokens")

    @cached_property
    def cost_usd(self) -> Pair:
        return self.pair("cost_usd")

    def as_api(self) -> dict:
        return {
            "base_node_id": self.base.node_id if self.base else None,
            "other_node_id": self.other.node_id if self.other else None,
            "match": self.match,
            "status": self.status.as_list(),
            "model_ref": [v or None for v in self.model_ref.as_list()],
            "prompt_hash": [v or None for v in self.prompt_hash.as_list()],
            "output_changed": self.output_changed,
            "latency_ms": self.latency_ms.as_list(),
            "input_tokens": self.input_tokens.as_list(),
            "output_tokens": self.output_tokens.as_list(),
            "cost_usd": self.cost_usd.as_list(),
        }


def _latency(step: StepFacts | None) -> int | None:
    if step is None:
        return None
    if step.latency_ms is not None:
        return step.latency_ms
    return step.duration_ms


def canonical_output(step: StepFacts) -> str:
    """A tool step's output as canonical JSON (key order and spacing do not count as changes); text as it is."""
    if step.type == "tool":
        try:
            return json.dumps(json.loads(step.output), sort_keys=True, indent=2, ensure_ascii=False)
        except ValueError:
            return step.output
    return step.output


def align(base_steps: list[StepFacts], other_steps: list[StepFacts]) -> list[Row]:
    """Rows by node id first, then by the node mapping either run recorded (mapped_from); leftovers last."""
    base_by_id = {s.node_id: s for s in base_steps}
    other_by_id = {s.node_id: s for s in other_steps}
    paired_base: set[str] = set()
    paired_other: set[str] = set()
    rows: list[Row] = []
    for other in other_steps:
        base = base_by_id.get(other.node_id)
        match = "same"
        if base is None and other.mapped_from:
            base, match = base_by_id.get(other.mapped_from), "mapped"
        if base is None:
            continue
        if base.node_id in paired_base:
            continue
        paired_base.add(base.node_id)
        paired_other.add(other.node_id)
        rows.append(Row(base, other, match))
    for replayed in base_steps:  # the base is the replay when compared the other way round
        if replayed.node_id in paired_base or not replayed.mapped_from:
            continue
        original = other_by_id.get(replayed.mapped_from)
        if original is not None and original.node_id not in paired_other:
            paired_base.add(replayed.node_id)
            paired_other.add(original.node_id)
            rows.append(Row(replayed, original, "mapped"))
    rows.sort(key=lambda r: (r.other or r.base).position)  # type: ignore[union-attr]
    rows += [Row(s, None, "base_only") for s in base_steps if s.node_id not in paired_base]
    rows += [Row(None, s, "other_only") for s in other_steps if s.node_id not in paired_other]
    return rows


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


def totals_of(run: Run, steps: list[StepFacts]) -> RunTotals:
    llm = [s for s in steps if s.type == "llm" and s.finished_at is not None]
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
    notes: list[str] = field(default_factory=list)

    def total(self, name: str) -> Pair:
        return Pair(getattr(self.base_totals, name), getattr(self.other_totals, name))

    @property
    def changed_outputs(self) -> int:
        return sum(r.output_changed for r in self.rows)

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
        rows = [r for r in self.rows if r.output_changed] if changed_only else list(self.rows)
        if sort in SORTS:

            def size(row: Row) -> float:
                delta = getattr(row, SORTS[sort]).delta
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
            },
        }


def steps_of(run_ids: list[str]) -> dict[str, list[StepFacts]]:
    """Both runs' steps in one query, without the step inputs (large, and not compared here)."""
    found: dict[str, list[StepFacts]] = {run_id: [] for run_id in run_ids}
    rows = Step.objects.filter(run_id__in=run_ids).order_by("run_id", "position").values_list(*STEP_FIELDS)
    for values in rows:
        step = StepFacts(*values)
        found[step.run_id].append(step)
    return found


def compare(base: Run, other: Run) -> Comparison:
    """Both runs, aligned: three queries whatever the number of steps."""
    check_comparable(base, other)
    steps = steps_of([base.pk, other.pk])
    dry_runs = ToolCall.objects.filter(step__run_id=other.pk, dry_run=True).count()
    return Comparison(
        base=base,
        other=other,
        rows=align(steps[base.pk], steps[other.pk]),
        base_totals=totals_of(base, steps[base.pk]),
        other_totals=totals_of(other, steps[other.pk]),
        dry_run_calls=dry_runs,
    )


# Diffs of one row's outputs

_WORDS = re.compile(r"\s*\S+\s*|\s+")  # a word with its surrounding spaces: lone spaces would match everywhere


@dataclass(frozen=True)
class DiffPiece:
    op: str  # "equal" | "insert" | "delete"
    text: str


@dataclass
class Diff:
    pieces: list[DiffPiece]
    stopped_at: int | None = None  # characters of each side diffed, when the limit cut it short


def _limited(a: str, b: str) -> tuple[str, str, int | None]:
    limit = settings.COMPARE_DIFF_MAX_CHARS
    if len(a) <= limit and len(b) <= limit:
        return a, b, None
    return a[:limit], b[:limit], limit


def _diff(tokens_a: list[str], tokens_b: list[str], stopped: int | None) -> Diff:
    """The longest common subsequence of the tokens (rapidfuzz's Indel, in C++); in each change, deletions first."""
    pieces: list[DiffPiece] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush() -> None:
        if deleted:
            pieces.append(DiffPiece("delete", "".join(deleted)))
        if inserted:
            pieces.append(DiffPiece("insert", "".join(inserted)))
        deleted.clear()
        inserted.clear()

    for op in Indel.opcodes(tokens_a, tokens_b):
        if op.tag == "equal":
            flush()
            pieces.append(DiffPiece("equal", "".join(tokens_a[op.src_start : op.src_end])))
            continue
        deleted.extend(tokens_a[op.src_start : op.src_end])
        inserted.extend(tokens_b[op.dest_start : op.dest_end])
    flush()
    return Diff(pieces, stopped)


def word_diff(a: str, b: str) -> Diff:
    """Word by word, each word with its spaces, so that text put back together from the pieces is exact."""
    a, b, stopped = _limited(a, b)
    return _diff(_WORDS.findall(a), _WORDS.findall(b), stopped)


def line_diff(a: str, b: str) -> Diff:
    """Line by line, for canonical JSON (tool arguments and results)."""
    a, b, stopped = _limited(a, b)
    return _diff(a.splitlines(keepends=True), b.splitlines(keepends=True), stopped)


def output_diff(row: Row) -> Diff:
    a = canonical_output(row.base) if row.base else ""
    b = canonical_output(row.other) if row.other else ""
    kind = (row.base or row.other).type  # type: ignore[union-attr]
    return line_diff(a, b) if kind == "tool" else word_diff(a, b)
