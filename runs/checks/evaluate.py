"""Each kind of check as a pure function of recorded steps: offline, no model call, no database.

An outcome is pass, fail or n/a with its detail. n/a is what cannot be evaluated (the node did not run, the
cost is unknown, the regex ran out of time): it is never a pass.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import regex
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from rapidfuzz.distance import Indel
from referencing.exceptions import Unresolvable

from runs.compare import Row, StepFacts, align, canonical_output, latency_of
from runs.models import Step

from . import declarations as d
from .records import RecordedCall, RecordedRun

REGEX_BUDGET_S = 0.1  # a search that takes longer (catastrophic backtracking) is n/a, and the request goes on
SHOWN = 60  # characters of a value shown in a detail

PASS, FAIL, NA = "pass", "fail", "n/a"
ORIGINAL_ITSELF = "This is the original: the other run is checked against it."


def _outcome(outcome: str, detail: str) -> d.CheckOutcome:
    return d.CheckOutcome(outcome=outcome, detail=detail)  # type: ignore[arg-type]


def passed(detail: str) -> d.CheckOutcome:
    return _outcome(PASS, detail)


def failed(detail: str) -> d.CheckOutcome:
    return _outcome(FAIL, detail)


def not_applicable(detail: str) -> d.CheckOutcome:
    return _outcome(NA, detail)


def shown(value: Any) -> str:
    """A value as JSON, cut to SHOWN characters: a detail names a value, it does not repeat a 10 kB output."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


@dataclass(frozen=True)
class Subject:
    """What one check looks at: a run, the step of the check's node in it (None: the whole run, or it did not
    run), and for the checks against the original, the original run and its step."""

    run: RecordedRun
    step: StepFacts | None
    node: str | None
    original: RecordedRun | None = None
    original_step: StepFacts | None = None


class NotEvaluable(Exception):
    """Raised inside a check: the outcome it carries (n/a, or fail for a failed node) is the answer."""

    def __init__(self, outcome: d.CheckOutcome):
        self.outcome = outcome


def _ready_step(step: StepFacts | None, node: str | None, whose: str = "") -> StepFacts:
    if step is None:
        raise NotEvaluable(not_applicable(f"Node {node} did not run in {whose or 'this run'}."))
    if step.status == Step.Status.RUNNING:
        raise NotEvaluable(not_applicable(f"Node {node} has not finished in {whose or 'this run'}."))
    if step.status == Step.Status.FAILED:
        if whose:
            raise NotEvaluable(not_applicable(f"Node {node} failed in {whose}: there is nothing to compare with."))
        raise NotEvaluable(failed(f"Node {node} failed: it recorded no output."))
    return step


def _text(subject: Subject) -> str:
    return canonical_output(_ready_step(subject.step, subject.node))


class NotJson(ValueError):
    pass


def parsed(step: StepFacts) -> Any:
    """The output as JSON: a tool step's recorded result, or an LLM step's text parsed."""
    try:
        return json.loads(step.output)
    except ValueError as exc:
        raise NotJson(f"The output is not JSON: {exc}.") from None
    except RecursionError:
        raise NotJson("The output is JSON nested too deeply to read.") from None


def _json(subject: Subject) -> Any:
    try:
        return parsed(_ready_step(subject.step, subject.node))
    except NotJson as exc:
        raise NotEvaluable(failed(str(exc))) from None


MISSING = object()


def pointer(document: Any, path: str) -> Any:
    """The value at a JSON pointer (RFC 6901), or MISSING."""
    if path == "":
        return document
    value = document
    for token in path[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and (token == "0" or not token.startswith("0")):
            index = int(token)
            if index >= len(value):
                return MISSING
            value = value[index]
        else:
            return MISSING
    return value


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: 1 equals 1.0, but true is not 1 (as Python's == would have it)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _folded(text: str, case_sensitive: bool) -> str:
    return text if case_sensitive else text.casefold()


# On a node's output text.


def equals(check: d.EqualsCheck, subject: Subject) -> d.CheckOutcome:
    text = _text(subject)
    if text == check.value:
        return passed(f"The output is exactly {shown(check.value)}.")
    at = next((i for i, (a, b) in enumerate(zip(text, check.value, strict=False)) if a != b), None)
    at = min(len(text), len(check.value)) if at is None else at
    return failed(f"The output differs from {shown(check.value)} at character {at}: {shown(text[at : at + 20])}.")


def contains(check: d.ContainsCheck, subject: Subject) -> d.CheckOutcome:
    at = _folded(_text(subject), check.case_sensitive).find(_folded(check.value, check.case_sensitive))
    if at < 0:
        return failed(f"The output does not contain {shown(check.value)}.")
    return passed(f"The output contains {shown(check.value)} at character {at}.")


def not_contains(check: d.NotContainsCheck, subject: Subject) -> d.CheckOutcome:
    at = _folded(_text(subject), check.case_sensitive).find(_folded(check.value, check.case_sensitive))
    if at >= 0:
        return failed(f"The output contains {shown(check.value)} at character {at}.")
    return passed(f"The output does not contain {shown(check.value)}.")


def contains_any(check: d.ContainsAnyCheck, subject: Subject) -> d.CheckOutcome:
    text = _folded(_text(subject), check.case_sensitive)
    found = next((v for v in check.values if _folded(v, check.case_sensitive) in text), None)
    if found is None:
        return failed(f"The output contains none of {', '.join(shown(v) for v in check.values)}.")
    return passed(f"The output contains {shown(found)}.")


def contains_all(check: d.ContainsAllCheck, subject: Subject) -> d.CheckOutcome:
    text = _folded(_text(subject), check.case_sensitive)
    missing = [v for v in check.values if _folded(v, check.case_sensitive) not in text]
    if missing:
        return failed(f"The output does not contain {', '.join(shown(v) for v in missing)}.")
    return passed(f"The output contains all {len(check.values)} values.")


@lru_cache(maxsize=256)
def compiled(pattern: str) -> Any:
    return regex.compile(pattern)


def regex_search(check: d.RegexCheck, subject: Subject) -> d.CheckOutcome:
    """`regex` runs the search because it can stop one: `re` cannot be interrupted, not even from a thread."""
    text = _text(subject)
    try:
        match = compiled(check.pattern).search(text, timeout=REGEX_BUDGET_S)
    except TimeoutError:
        budget = int(REGEX_BUDGET_S * 1000)
        return not_applicable(f"The search for /{check.pattern}/ took longer than its {budget} ms budget.")
    if match is None:
        return failed(f"No match for /{check.pattern}/ in the output.")
    return passed(f"/{check.pattern}/ matches {shown(match.group(0))} at character {match.start()}.")


# On a node's output as JSON.


JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}


def json_valid(check: d.JsonValidCheck, subject: Subject) -> d.CheckOutcome:
    value = _json(subject)
    return passed(f"The output is JSON ({JSON_TYPES.get(type(value), 'null')}).")


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def json_schema(check: d.JsonSchemaCheck, subject: Subject) -> d.CheckOutcome:
    value = _json(subject)
    validator = _validator(json.dumps(check.schema_, sort_keys=True))
    try:
        error = best_match(validator.iter_errors(value))
    except Unresolvable as exc:
        return not_applicable(f"The schema's $ref cannot be resolved: {exc}.")
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. a `pattern` the metaschema let through
        return not_applicable(f"The schema could not be applied: {exc}.")
    if error is None:
        return passed("The output is valid under the schema.")
    return failed(f"At {error.json_path}: {error.message[:200]}.")


def json_field_equals(check: d.JsonFieldEqualsCheck, subject: Subject) -> d.CheckOutcome:
    value = pointer(_json(subject), check.path)
    if value is MISSING:
        return failed(f"The output has no field {check.path}.")
    if same_json(value, check.value):
        return passed(f"{check.path or 'The output'} is {shown(value)}.")
    return failed(f"{check.path or 'The output'} is {shown(value)}, not {shown(check.value)}.")


def max_length(check: d.MaxLengthCheck, subject: Subject) -> d.CheckOutcome:
    length = len(_text(subject))
    verdict = passed if length <= check.value else failed
    return verdict(f"The output is {length:,} characters long (at most {check.value:,}).")


# Against the original.


def _original_step(subject: Subject) -> StepFacts:
    return _ready_step(subject.original_step, subject.node, whose="the original")


def similar_to_original(check: d.SimilarToOriginalCheck, subject: Subject) -> d.CheckOutcome:
    original = canonical_output(_original_step(subject))
    ratio = Indel.normalized_similarity(original.split(), _text(subject).split())
    verdict = passed if ratio >= check.min_ratio else failed
    return verdict(f"Word similarity to the original: {ratio:.2f} (at least {check.min_ratio:.2f}).")


def json_fields_unchanged(check: d.JsonFieldsUnchangedCheck, subject: Subject) -> d.CheckOutcome:
    try:
        original = parsed(_original_step(subject))
    except NotJson:
        return not_applicable("The original's output is not JSON.")
    value = _json(subject)
    changed = []
    for path in check.paths:
        before, after = pointer(original, path), pointer(value, path)
        if before is MISSING and after is MISSING:
            continue
        if before is MISSING or after is MISSING or not same_json(before, after):
            show = lambda v: "absent" if v is MISSING else shown(v)  # noqa: E731
            changed.append(f"{path or '(the whole output)'} ({show(before)} → {show(after)})")
    if changed:
        return failed(f"Changed: {'; '.join(changed)}.")
    return passed(f"{len(check.paths)} field{'s' if len(check.paths) != 1 else ''} as in the original.")


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    """The JSON pointer of the first place two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys()):
            here = f"{path}/{key.replace('~', '~0').replace('/', '~1')}"
            if key not in a or key not in b or not same_json(a[key], b[key]):
                return _first_difference(a.get(key), b.get(key), here) if key in a and key in b else here
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if not same_json(x, y):
                return _first_difference(x, y, f"{path}/{i}")
    return path or "/"


def _calls(run: RecordedRun, step: StepFacts | None, node: str | None, whose: str = "") -> list[RecordedCall]:
    if node is None:
        if not run.finished:
            raise NotEvaluable(not_applicable(f"{(whose or 'this run').capitalize()} has not finished."))
        return run.calls_of(None)
    if step is None:
        raise NotEvaluable(not_applicable(f"Node {node} did not run in {whose or 'this run'}."))
    if step.status == Step.Status.RUNNING:
        raise NotEvaluable(not_applicable(f"Node {node} has not finished in {whose or 'this run'}."))
    return run.calls_of(step)


def tool_calls_unchanged(check: d.ToolCallsUnchangedCheck, subject: Subject) -> d.CheckOutcome:
    assert subject.original is not None
    before = _calls(subject.original, subject.original_step, subject.node, whose="the original")
    after = _calls(subject.run, subject.step, subject.node)
    for i, (a, b) in enumerate(zip(before, after, strict=False), start=1):
        if a.tool != b.tool:
            return failed(f"Call {i} is {b.tool}, the original's was {a.tool}.")
        if not same_json(a.arguments, b.arguments):
            return failed(
                f"Call {i} ({b.tool}): its arguments differ at {_first_difference(a.arguments, b.arguments)}."
            )
    if len(before) != len(after):
        return failed(f"{len(after)} tool call{'s' if len(after) != 1 else ''}; the original made {len(before)}.")
    if not after:
        return passed("No tool call, as in the original.")
    return passed(f"{len(after)} tool call{'s' if len(after) != 1 else ''}, as in the original.")


# On figures.


def _figure(subject: Subject, name: str, what: str, run_value: Any) -> Any:
    """The node's figure, or the run's; n/a when unknown (never a pass)."""
    if subject.node is None:
        if not subject.run.finished:
            raise NotEvaluable(not_applicable(f"The run has not finished: its {what} is not final."))
        if run_value is None:
            raise NotEvaluable(not_applicable(f"The run's {what} is unknown."))
        return run_value
    step = subject.step
    if step is None:
        raise NotEvaluable(not_applicable(f"Node {subject.node} did not run in this run."))
    if step.status == Step.Status.RUNNING:
        raise NotEvaluable(not_applicable(f"Node {subject.node} has not finished."))
    value = latency_of(step) if name == "latency_ms" else getattr(step, name)
    if value is None:
        why = "a tool step records none" if step.type == "tool" and name != "latency_ms" else "it was not recorded"
        raise NotEvaluable(not_applicable(f"The {what} of node {subject.node} is unknown: {why}."))
    return value


def _whose(subject: Subject) -> str:
    return "The run's" if subject.node is None else f"Node {subject.node}'s"


def max_cost_usd(check: d.MaxCostUsdCheck, subject: Subject) -> d.CheckOutcome:
    cost = _figure(subject, "cost_usd", "cost", subject.run.totals.cost_usd)
    limit = Decimal(str(check.value))
    verdict = passed if cost <= limit else failed
    return verdict(f"{_whose(subject)} cost is ${cost.normalize():f} (at most ${limit:f}).")


def max_latency_ms(check: d.MaxLatencyMsCheck, subject: Subject) -> d.CheckOutcome:
    latency = _figure(subject, "latency_ms", "latency", subject.run.duration_ms)
    verdict = passed if latency <= check.value else failed
    return verdict(
        f"{_whose(subject)} {'duration' if subject.node is None else 'latency'} is {latency:,} ms (at most {check.value:,})."
    )


def max_output_tokens(check: d.MaxOutputTokensCheck, subject: Subject) -> d.CheckOutcome:
    tokens = _figure(subject, "output_tokens", "output tokens", subject.run.totals.output_tokens)
    verdict = passed if tokens <= check.value else failed
    return verdict(f"{_whose(subject)} output tokens: {tokens:,} (at most {check.value:,}).")


JUDGES: dict[str, Callable[[Any, Subject], d.CheckOutcome]] = {
    "equals": equals,
    "contains": contains,
    "not_contains": not_contains,
    "contains_any": contains_any,
    "contains_all": contains_all,
    "regex": regex_search,
    "json_valid": json_valid,
    "json_schema": json_schema,
    "json_field_equals": json_field_equals,
    "max_length": max_length,
    "similar_to_original": similar_to_original,
    "json_fields_unchanged": json_fields_unchanged,
    "tool_calls_unchanged": tool_calls_unchanged,
    "max_cost_usd": max_cost_usd,
    "max_latency_ms": max_latency_ms,
    "max_output_tokens": max_output_tokens,
}


def judge(check: d.CheckBase, subject: Subject) -> d.CheckOutcome:
    """One check on one run."""
    try:
        return JUDGES[check.kind](check, subject)  # type: ignore[attr-defined]
    except NotEvaluable as exc:
        return exc.outcome


def node_steps(rows: list[Row], node: str | None) -> tuple[StepFacts | None, StepFacts | None]:
    """The node's step in each run, paired as the compare page pairs them (renamed nodes included)."""
    if node is None:
        return None, None
    for row in rows:
        if (row.base and row.base.node_id == node) or (row.other and row.other.node_id == node):
            return row.base, row.other
    return None, None


def evaluate(check: d.CheckBase, base: RecordedRun, other: RecordedRun, rows: list[Row]) -> d.CheckResult:
    base_step, other_step = node_steps(rows, check.node)
    against_original = check.kind in d.AGAINST_ORIGINAL  # type: ignore[attr-defined]
    if against_original:
        on_base = not_applicable(ORIGINAL_ITSELF)
    else:
        on_base = judge(check, Subject(base, base_step, check.node))
    on_other = judge(check, Subject(other, other_step, check.node, original=base, original_step=base_step))
    regression = on_other.outcome == FAIL and (on_base.outcome == PASS or against_original)
    return d.CheckResult(check=check, base=on_base, other=on_other, regression=regression)  # type: ignore[arg-type]


def evaluate_pair(checks: list, base: RecordedRun, other: RecordedRun) -> list[d.CheckResult]:
    """Every check on both runs of a pair: the function the compare page, the API and cohorts call."""
    rows = align(base.steps, other.steps)
    return [evaluate(check, base, other, rows) for check in checks]


def nodes_of(*runs: RecordedRun) -> set[str]:
    return {step.node_id for run in runs for step in run.steps}
