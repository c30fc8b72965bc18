"""The rows of a comparison: both runs' steps as plain values, aligned node by node."""

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from runs.jsonvalues import storable_text
from runs.models import Step

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


def steps_of(run_ids: list[str]) -> dict[str, list[StepFacts]]:
    """Both runs' steps in one query, without the step inputs (large, and not compared here)."""
    found: dict[str, list[StepFacts]] = {run_id: [] for run_id in run_ids}
    rows = Step.objects.filter(run_id__in=run_ids).order_by("run_id", "position").values_list(*STEP_FIELDS)
    for values in rows:
        step = StepFacts(*values)
        found[step.run_id].append(step)
    return found
