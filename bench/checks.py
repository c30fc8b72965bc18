"""The checks figure: each kind of check on a 10 kB output, through the same pure functions the API calls."""

import json
from decimal import Decimal

from runs.checks import RecordedCall, RecordedRun, evaluate_pair, parse_checks
from runs.compare import RunTotals, StepFacts

SCHEMA = {
    "$defs": {"line": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}}},
    "type": "object",
    "properties": {
        "decision": {"enum": ["refund", "deny"]},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}},
        "note": {"type": "string"},
    },
    "required": ["decision", "note"],
}
# One check of each kind; their parameters are what an operator would write, none a trick to be fast.
CHECKS = [
    {"kind": "equals", "value": "refund"},
    {"kind": "contains", "value": "store credit", "case_sensitive": False},
    {"kind": "not_contains", "value": "I cannot help"},
    {"kind": "contains_any", "values": ["store credit", "replacement", "refund"]},
    {"kind": "contains_all", "values": ["refund", "order", "apolog"]},
    {"kind": "regex", "pattern": r"(?i)\b(store credit|replacement)\b"},  # no match: it reads all 10 kB
    {"kind": "json_valid"},
    {"kind": "json_schema", "schema": SCHEMA},
    {"kind": "json_field_equals", "path": "/decision", "value": "refund"},
    {"kind": "max_length", "value": 12_000},
    {"kind": "similar_to_original", "min_ratio": 0.8},
    {"kind": "json_fields_unchanged", "paths": ["/decision", "/lines/0/qty"]},
    {"kind": "tool_calls_unchanged"},
    {"kind": "max_cost_usd", "value": 0.01},
    {"kind": "max_latency_ms", "value": 5000},
    {"kind": "max_output_tokens", "value": 4000},
]


def json_output_10kb(text: str) -> str:
    """A 10 kB JSON answer whose note is a 10 kB-ish model text."""
    head = {"decision": "refund", "lines": [{"sku": "A-1", "qty": 2}], "note": ""}
    room = 10_000 - len(json.dumps(head))
    return json.dumps({**head, "note": text[:room]})


def recorded(output: str, step_id: int) -> RecordedRun:
    step = StepFacts(
        id=step_id,
        run_id="run",
        node_id="draft",
        type="llm",
        position=0,
        status="completed",
        output=output,
        model_ref="",
        prompt_hash="",
        mapped_from="",
        duration=None,
        input_tokens=1200,
        output_tokens=2400,
        cost_usd=Decimal("0.0042"),
        latency_ms=900,
    )
    calls = {step_id: [RecordedCall("orders.get", {"id": i, "note": output[:200]}) for i in range(10)]}
    return RecordedRun("run", True, 1500, RunTotals(1500, 1200, 2400, Decimal("0.0042"), 1, 0), [step], calls)


def kinds_on_10kb(a: str, b: str):
    """(kind, a function evaluating that one check on the pair) for each kind."""
    base, other = recorded(json_output_10kb(a), 1), recorded(json_output_10kb(b), 2)
    assert len(other.steps[0].output) == 10_000
    for declared in CHECKS:
        [check] = parse_checks({"checks": [{"node": "draft", **declared}]}).checks
        [result] = evaluate_pair([check], base, other)
        assert result.other.outcome != "n/a", (declared["kind"], result.other.detail)
        yield declared["kind"], (lambda check=check: evaluate_pair([check], base, other))
