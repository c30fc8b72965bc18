"""The rows of a comparison: both runs' steps as plain values, aligned node by node."""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from django.db.models import DurationField, F, Func

from runs.jsonvalues import storable_text
from runs.models import Step, ToolCall
from runs.provenance import Label, call_label, step_label

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
    "mapped_from",
    "duration",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "reused_from_run_id",
)
CALL_FIELDS = ("step_id", "tool", "mutating", "source", "recorded_in_run_id", "arguments", "result", "dry_run")
# The outcome of a row: pending (a run has not reached it yet), reused (a copy: its figures are not this run's),
# changed (its output or its tool calls differ), or the same.
PENDING, REUSED, CHANGED, SAME = "pending", "reused", "changed", "same"


@dataclass
class CallFacts:
    """What a comparison reads of a tool call."""

    tool: str
    mutating: bool
    source: str
    recorded_in_run_id: str
    arguments: Any
    result: Any
    dry_run: bool = False  # kept by a reused copy: whether the call was sent where it was made

    @property
    def sent(self) -> bool:
        """Whether this run produced the result: a dry-run, recorded or reused result is another run's."""
        return self.source == ToolCall.Source.LIVE


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
    mapped_from: str
    duration: timedelta | None  # finished_at - started_at, subtracted by the database (see steps_of); None unfinished
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal | None
    latency_ms: int | None
    reused_from_run_id: str = ""
    calls: list[CallFacts] = field(default_factory=list)

    @property
    def step_label(self) -> Label | None:
        return step_label(reused_from_run_id=self.reused_from_run_id)

    def call_label(self, call: CallFacts) -> Label:
        return call_label(
            source=call.source,
            recorded_in_run_id=call.recorded_in_run_id,
            result=call.result,
            reused_from_run_id=self.reused_from_run_id,
            dry_run=call.dry_run,
        )

    @property
    def finished(self) -> bool:
        return self.duration is not None  # a step's started_at is never null: only its finished_at may be

    @property
    def duration_ms(self) -> int | None:
        if self.duration is not None:
            return int(self.duration.total_seconds() * 1000)
        return None


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


@dataclass(frozen=True)
class CallPair:
    """The n-th tool call of a row's two steps. A dry-run call is compared by the arguments it would have sent:
    its result is the original's, as a recorded or reused one is another run's, so results compare only when
    both runs sent their call."""

    base: CallFacts | None
    other: CallFacts | None

    @property
    def tool(self) -> str:
        return (self.base or self.other).tool  # type: ignore[union-attr]

    @property
    def arguments_changed(self) -> bool:
        return self.base is None or self.other is None or self.base.arguments != self.other.arguments

    @property
    def results_compared(self) -> bool:
        return self.base is not None and self.other is not None and self.base.sent and self.other.sent

    @property
    def result_changed(self) -> bool | None:
        if not self.results_compared:
            return None
        return self.base.result != self.other.result  # type: ignore[union-attr]

    @property
    def changed(self) -> bool:
        return self.arguments_changed or bool(self.result_changed)


@dataclass
class Row:
    base: StepFacts | None
    other: StepFacts | None
    match: str  # "same" | "mapped" | "base_only" | "other_only"
    pending: bool = False  # a run in flight has not finished this node yet (set by compare)

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
        if self.base.type == self.other.type and self.base.output == self.other.output:
            return False  # the same text of the same type has the same canonical form: nothing to parse
        return canonical_output(self.base) != canonical_output(self.other)

    @cached_property
    def calls(self) -> list[CallPair]:
        base = self.base.calls if self.base else []
        other = self.other.calls if self.other else []
        return [
            CallPair(base[i] if i < len(base) else None, other[i] if i < len(other) else None)
            for i in range(max(len(base), len(other)))
        ]

    @cached_property
    def calls_changed(self) -> bool:
        return self.base is not None and self.other is not None and any(c.changed for c in self.calls)

    @property
    def reused(self) -> bool:
        """Either step is a copy made by a rerun from a step: what it shows was measured in another run."""
        base, other = self.base, self.other  # asked of every row, several times: no generator
        return bool((base is not None and base.reused_from_run_id) or (other is not None and other.reused_from_run_id))

    @cached_property
    def outcome(self) -> str:
        if self.pending:
            return PENDING
        if self.reused:
            return REUSED
        return CHANGED if self.output_changed or self.calls_changed else SAME

    @property
    def in_deltas(self) -> bool:
        """Whether the row's figures count in the comparison's totals: not a copy, nor half of a pair."""
        return self.outcome not in (PENDING, REUSED)

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
        return Pair(latency_of(self.base), latency_of(self.other))

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
            "outcome": self.outcome,
            "tool_calls": [
                {
                    "tool": c.tool,
                    "label": [
                        str(step.call_label(call)) if step and call else None
                        for step, call in ((self.base, c.base), (self.other, c.other))
                    ],
                    "arguments_changed": c.arguments_changed,
                    "result_changed": c.result_changed,
                }
                for c in self.calls
            ],
            "latency_ms": self.latency_ms.as_list(),
            "input_tokens": self.input_tokens.as_list(),
            "output_tokens": self.output_tokens.as_list(),
            "cost_usd": self.cost_usd.as_list(),
        }


def latency_of(step: StepFacts | None) -> int | None:
    """The provider call's latency, or the step's duration (a tool step)."""
    if step is None:
        return None
    if step.latency_ms is not None:
        return step.latency_ms
    return step.duration_ms


def canonical_output(step: StepFacts) -> str:
    """A tool step's output as canonical JSON (key order and spacing do not count as changes); text as it is."""
    if step.type == "tool":
        try:
            return storable_text(json.dumps(json.loads(step.output), sort_keys=True, indent=2, ensure_ascii=False))
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


class Elapsed(Func):
    """`end - start` of two datetime columns (Elapsed(end, start)), as a duration the database computes: on
    PostgreSQL timestamptz - timestamptz, an interval.

    Two thousand steps a comparison read as datetimes cost more than the rest of their columns together (each
    parsed, and on SQLite made aware, in Python); what the comparison reads of them is only their difference.
    """

    arity = 2
    template = "(%(expressions)s)"
    arg_joiner = " - "
    output_field = DurationField()

    def as_sqlite(self, compiler, connection, **extra_context):
        """Microseconds, exactly. Django stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' (str of a naive UTC datetime): whole
        seconds apart are julianday's difference rounded (its doubles are exact to far less than a second), the
        fractions are read as digits (julianday and strftime keep milliseconds only)."""
        (end, end_params), (start, start_params) = (compiler.compile(e) for e in self.get_source_expressions())
        seconds = (
            f"CAST(ROUND((julianday(substr({end}, 1, 19)) - julianday(substr({start}, 1, 19))) * 86400) AS INTEGER)"
        )
        fraction = (
            f"CAST(substr({end} || '.000000', 21, 6) AS INTEGER) - CAST(substr({start} || '.000000', 21, 6) AS INTEGER)"
        )
        return f"({seconds} * 1000000 + {fraction})", [*end_params, *start_params, *end_params, *start_params]


def steps_of(run_ids: list[str]) -> dict[str, list[StepFacts]]:
    """Both runs' steps with their tool calls in two queries, without the step inputs (large, and not compared)."""
    found: dict[str, list[StepFacts]] = {run_id: [] for run_id in run_ids}
    by_id: dict[int, StepFacts] = {}
    rows = (
        Step.objects.filter(run_id__in=run_ids)
        .annotate(duration=Elapsed(F("finished_at"), F("started_at")))
        .order_by("run_id", "position")
        .values_list(*STEP_FIELDS)
    )
    for values in rows:
        step = StepFacts(*values)
        found[step.run_id].append(step)
        by_id[step.id] = step
    calls = ToolCall.objects.filter(step__run_id__in=run_ids).order_by("id").values_list(*CALL_FIELDS)
    for step_id, *values in calls:
        if step_id in by_id:  # else a step a running run recorded after the first read: the next read has both
            by_id[step_id].calls.append(CallFacts(*values))
    return found
