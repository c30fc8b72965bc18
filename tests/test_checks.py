"""Checks as pure functions of recorded steps: every kind, its n/a cases, unicode, a 10 kB output, the regex budget."""

import json
from decimal import Decimal

import pytest

from runs.checks import RecordedCall, RecordedRun, evaluate_pair, parse_checks
from runs.compare import RunTotals, StepFacts
from runs.http.errors import BadRequest

_ids = iter(range(1, 1_000_000))


def step(node_id="draft", output="", *, type="llm", status="completed", mapped_from="", **figures) -> StepFacts:
    values = {"input_tokens": None, "output_tokens": None, "cost_usd": None, "latency_ms": None, **figures}
    return StepFacts(
        id=next(_ids),
        run_id="run",
        node_id=node_id,
        type=type,
        position=0,
        status=status,
        output=output,
        model_ref="",
        prompt_hash="",
        mapped_from=mapped_from,
        duration=None,
        **values,
    )


def recorded(*steps, calls=None, finished=True, duration_ms=None, cost_usd=None, output_tokens=None) -> RecordedRun:
    totals = RunTotals(duration_ms, None, output_tokens, cost_usd, len(steps), 0)
    by_step = {s.id: [RecordedCall(tool, args) for tool, args in (calls or {}).get(s.node_id, [])] for s in steps}
    return RecordedRun("run", finished, duration_ms, totals, list(steps), by_step)


def outcomes(check: dict, base: RecordedRun, other: RecordedRun | None = None):
    """The check on (base, other): (base outcome, other outcome, regression); other defaults to base."""
    [result] = evaluate_pair(list(parse_checks({"checks": [check]}).checks), base, other or base)
    return result.base, result.other, result.regression


def on(check: dict, output: str, **kw):
    """The check on one run whose node draft recorded `output`."""
    return outcomes({"node": "draft", **check}, recorded(step("draft", output, **kw)))[0]


def refused(check: dict, at: int = 0) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse_checks({"checks": [{"node": "draft", "kind": "json_valid"}] * at + [check]})
    return info.value


REFUND = json.dumps({"decision": "refund", "amount": 20, "currency": "EUR", "lines": [{"sku": "A-1", "qty": 2}]})


# On the output text.


def test_equals_passes_on_the_exact_text():
    assert on({"kind": "equals", "value": "Hello"}, "Hello").outcome == "pass"


def test_equals_fails_and_names_the_first_differing_character():
    result = on({"kind": "equals", "value": "Hello Dana"}, "Hello Dan!")
    assert result.outcome == "fail" and "at character 9" in result.detail


def test_equals_compares_unicode_text_exactly():
    assert on({"kind": "equals", "value": "Grüße 👋"}, "Grüße 👋").outcome == "pass"
    assert on({"kind": "equals", "value": "Grüße 👋"}, "Grusse 👋").outcome == "fail"


def test_contains_finds_the_value_and_says_where():
    result = on({"kind": "contains", "value": "refund"}, "We will refund you.")
    assert result.outcome == "pass" and "at character 8" in result.detail


def test_contains_is_case_sensitive_unless_told_otherwise():
    assert on({"kind": "contains", "value": "REFUND"}, "a refund").outcome == "fail"
    assert on({"kind": "contains", "value": "REFUND", "case_sensitive": False}, "a refund").outcome == "pass"


def test_contains_without_case_folds_unicode():
    assert on({"kind": "contains", "value": "STRASSE", "case_sensitive": False}, "Hauptstraße 1").outcome == "pass"


def test_not_contains_fails_where_the_value_appears():
    result = on({"kind": "not_contains", "value": "sorry"}, "We are sorry.")
    assert result.outcome == "fail" and '"sorry" at character 7' in result.detail


def test_not_contains_passes_when_the_value_is_absent():
    assert on({"kind": "not_contains", "value": "sorry"}, "Refunded.").outcome == "pass"


def test_contains_any_passes_on_one_value_and_names_it():
    result = on({"kind": "contains_any", "values": ["refund", "credit"]}, "a store credit")
    assert result.outcome == "pass" and '"credit"' in result.detail


def test_contains_any_fails_when_none_appears():
    assert on({"kind": "contains_any", "values": ["refund", "credit"]}, "no").outcome == "fail"


def test_contains_all_fails_naming_the_missing_values():
    result = on({"kind": "contains_all", "values": ["refund", "20", "EUR"]}, "refund of 20")
    assert result.outcome == "fail" and result.detail == 'The output does not contain "EUR".'


def test_contains_all_passes_when_every_value_appears():
    assert on({"kind": "contains_all", "values": ["refund", "20"]}, "refund of 20").outcome == "pass"


def test_regex_is_a_search_and_shows_the_match():
    result = on({"kind": "regex", "pattern": r"order #\d+"}, "About order #4521, thanks.")
    assert result.outcome == "pass" and '"order #4521" at character 6' in result.detail


def test_regex_without_a_match_fails_naming_the_pattern():
    result = on({"kind": "regex", "pattern": r"^\d+$"}, "twelve")
    assert result.outcome == "fail" and result.detail == r"No match for /^\d+$/ in the output."


def test_regex_matches_unicode_words():
    assert on({"kind": "regex", "pattern": r"^\w+ \w+$"}, "Grüße Zoë").outcome == "pass"


def test_a_catastrophic_regex_runs_out_of_its_budget_and_is_na_not_a_pass():
    result = on({"kind": "regex", "pattern": r"(a|aa)+$"}, "a" * 40 + "b")
    assert result.outcome == "n/a" and "100 ms budget" in result.detail


def test_max_length_counts_characters_not_bytes():
    assert on({"kind": "max_length", "value": 5}, "ééééé").outcome == "pass"
    result = on({"kind": "max_length", "value": 4}, "ééééé")
    assert result.outcome == "fail" and result.detail == "The output is 5 characters long (at most 4)."


def test_a_tool_nodes_output_is_read_as_its_canonical_json_text():
    result = on({"kind": "contains", "value": '"qty": 2'}, REFUND, type="tool")
    assert result.outcome == "pass"


# On the output as JSON.


def test_json_valid_passes_on_a_json_output():
    assert on({"kind": "json_valid"}, REFUND).outcome == "pass"


def test_json_valid_fails_on_text_with_the_parse_error():
    result = on({"kind": "json_valid"}, "Sure! Here it is")
    assert result.outcome == "fail" and result.detail.startswith("The output is not JSON: Expecting value")


SCHEMA = {
    "$defs": {
        "line": {"type": "object", "properties": {"qty": {"type": "integer", "minimum": 1}}, "required": ["qty"]}
    },
    "type": "object",
    "properties": {
        "decision": {"enum": ["refund", "deny"]},
        "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}},
    },
    "required": ["decision"],
}


def test_json_schema_follows_a_ref_and_passes_a_valid_output():
    assert on({"kind": "json_schema", "schema": SCHEMA}, REFUND).outcome == "pass"


def test_json_schema_fails_with_the_path_of_the_error_under_a_ref():
    output = json.dumps({"decision": "refund", "lines": [{"qty": 1}, {"qty": 0}]})
    result = on({"kind": "json_schema", "schema": SCHEMA}, output)
    assert result.outcome == "fail" and result.detail.startswith("At $.lines[1].qty: 0 is less than the minimum of 1")


def test_json_schema_on_text_fails_as_not_json():
    assert on({"kind": "json_schema", "schema": SCHEMA}, "refund").outcome == "fail"


def test_json_schema_with_an_unresolvable_ref_is_na():
    schema = {"$ref": "https://example.com/elsewhere.json"}
    result = on({"kind": "json_schema", "schema": schema}, REFUND)
    assert result.outcome == "n/a" and "$ref cannot be resolved" in result.detail


def test_json_field_equals_names_the_field_and_both_values():
    result = on({"kind": "json_field_equals", "path": "/decision", "value": "deny"}, REFUND)
    assert result.outcome == "fail" and result.detail == '/decision is "refund", not "deny".'


def test_json_field_equals_reads_array_items_and_escaped_keys():
    output = json.dumps({"a/b": [{"c~d": "ü"}]})
    assert on({"kind": "json_field_equals", "path": "/a~1b/0/c~0d", "value": "ü"}, output).outcome == "pass"


def test_json_field_equals_compares_numbers_as_json_but_not_booleans_as_numbers():
    assert on({"kind": "json_field_equals", "path": "/amount", "value": 20.0}, REFUND).outcome == "pass"
    assert on({"kind": "json_field_equals", "path": "/ok", "value": 1}, '{"ok": true}').outcome == "fail"


def test_json_field_equals_on_a_missing_field_fails_naming_it():
    result = on({"kind": "json_field_equals", "path": "/reason", "value": None}, REFUND)
    assert result.outcome == "fail" and result.detail == "The output has no field /reason."


# Against the original.


def test_similar_to_original_is_na_on_the_original_itself():
    base = recorded(step("draft", "one two three"))
    result = outcomes({"node": "draft", "kind": "similar_to_original", "min_ratio": 0.5}, base)[0]
    assert result.outcome == "n/a"


def test_similar_to_original_compares_words_and_marks_a_drop_as_a_regression():
    base = recorded(step("draft", "please find your refund of twenty euros attached"))
    close = recorded(step("draft", "please find your refund of 20 euros attached"))
    far = recorded(step("draft", "no"))
    check = {"node": "draft", "kind": "similar_to_original", "min_ratio": 0.8}
    assert outcomes(check, base, close)[1].detail == "Word similarity to the original: 0.88 (at least 0.80)."
    _, other, regression = outcomes(check, base, far)
    assert other.outcome == "fail" and regression


def test_json_fields_unchanged_names_each_changed_field():
    changed = json.dumps({"decision": "deny", "amount": 20, "currency": "EUR"})
    check = {"node": "draft", "kind": "json_fields_unchanged", "paths": ["/decision", "/amount", "/reason"]}
    _, other, _ = outcomes(check, recorded(step("draft", REFUND)), recorded(step("draft", changed)))
    assert other.outcome == "fail" and other.detail == 'Changed: /decision ("refund" → "deny").'


def test_json_fields_unchanged_is_na_when_the_original_is_not_json():
    check = {"node": "draft", "kind": "json_fields_unchanged", "paths": ["/a"]}
    _, other, regression = outcomes(check, recorded(step("draft", "text")), recorded(step("draft", "{}")))
    assert other.outcome == "n/a" and not regression


def _calls(*calls):
    return recorded(step("notify", "{}", type="tool"), calls={"notify": list(calls)})


def test_tool_calls_unchanged_passes_on_the_same_calls_in_order():
    calls = [("orders.get", {"id": 1}), ("messages.send", {"to": "a@b.c"})]
    _, other, _ = outcomes({"kind": "tool_calls_unchanged"}, _calls(*calls), _calls(*calls))
    assert other.outcome == "pass" and other.detail == "2 tool calls, as in the original."


def test_tool_calls_unchanged_names_the_argument_that_changed():
    before = _calls(("messages.send", {"to": "a@b.c", "body": {"text": "hi"}}))
    after = _calls(("messages.send", {"to": "a@b.c", "body": {"text": "hello"}}))
    _, other, regression = outcomes({"node": "notify", "kind": "tool_calls_unchanged"}, before, after)
    assert other.detail == "Call 1 (messages.send): its arguments differ at /body/text." and regression


def test_tool_calls_unchanged_fails_on_another_tool_or_another_count():
    before = _calls(("orders.get", {}), ("messages.send", {}))
    assert outcomes({"kind": "tool_calls_unchanged"}, before, _calls(("orders.get", {}), ("orders.cancel", {})))[
        1
    ].detail == ("Call 2 is orders.cancel, the original's was messages.send.")
    assert outcomes({"kind": "tool_calls_unchanged"}, before, _calls(("orders.get", {})))[1].detail == (
        "1 tool call; the original made 2."
    )


def test_tool_calls_of_a_run_in_flight_are_na():
    before = _calls(("orders.get", {}))
    after = recorded(step("notify", "{}", type="tool"), finished=False)
    assert outcomes({"kind": "tool_calls_unchanged"}, before, after)[1].outcome == "n/a"


# On figures.


def test_max_cost_usd_of_a_node_passes_under_the_limit():
    result = on({"kind": "max_cost_usd", "value": 0.01}, "x", cost_usd=Decimal("0.004200000000"))
    assert result.outcome == "pass" and result.detail == "Node draft's cost is $0.0042 (at most $0.01)."


def test_max_cost_usd_fails_over_the_limit():
    assert on({"kind": "max_cost_usd", "value": 0.001}, "x", cost_usd=Decimal("0.0042")).outcome == "fail"


def test_an_unknown_cost_is_na_never_a_pass():
    result = on({"kind": "max_cost_usd", "value": 100}, "x", cost_usd=None)
    assert result.outcome == "n/a" and "unknown" in result.detail


def test_the_run_cost_is_its_total_and_na_when_unknown():
    check = {"kind": "max_cost_usd", "value": 0.01}
    assert outcomes(check, recorded(step(), cost_usd=Decimal("0.02")))[0].outcome == "fail"
    assert outcomes(check, recorded(step(), cost_usd=None))[0].outcome == "n/a"


def test_figures_of_a_run_in_flight_are_na():
    run = recorded(step(), finished=False, cost_usd=Decimal(0), duration_ms=5)
    assert outcomes({"kind": "max_cost_usd", "value": 1}, run)[0].outcome == "n/a"
    assert outcomes({"kind": "max_latency_ms", "value": 1000}, run)[0].outcome == "n/a"


def test_max_latency_ms_of_a_node_and_of_the_run():
    assert on({"kind": "max_latency_ms", "value": 500}, "x", latency_ms=1200).outcome == "fail"
    result = outcomes({"kind": "max_latency_ms", "value": 500}, recorded(step(), duration_ms=300))[0]
    assert result.outcome == "pass" and result.detail == "The run's duration is 300 ms (at most 500)."


def test_an_unknown_latency_is_na():
    assert on({"kind": "max_latency_ms", "value": 500}, "x").outcome == "n/a"


def test_max_output_tokens_of_a_node_and_of_the_run():
    assert on({"kind": "max_output_tokens", "value": 100}, "x", output_tokens=120).outcome == "fail"
    assert outcomes({"kind": "max_output_tokens", "value": 100}, recorded(step(), output_tokens=80))[0].outcome == (
        "pass"
    )
    assert on({"kind": "max_output_tokens", "value": 100}, "x").outcome == "n/a"


# Nodes that did not run, failed or are still running.


def test_a_check_on_a_node_that_did_not_run_is_na():
    base = recorded(step("draft", "x"))
    [result] = evaluate_pair(
        list(parse_checks({"checks": [{"node": "draft", "kind": "contains", "value": "x"}]}).checks),
        base,
        recorded(step("other", "x")),
    )
    assert result.other.outcome == "n/a" and result.other.detail == "Node draft did not run in this run."
    assert not result.regression


def test_a_check_on_a_failed_node_fails():
    result = on({"kind": "not_contains", "value": "x"}, "", status="failed")
    assert result.outcome == "fail" and result.detail == "Node draft failed: it recorded no output."


def test_a_check_on_a_running_node_is_na():
    assert on({"kind": "json_valid"}, "", status="running").outcome == "n/a"


def test_a_check_names_a_renamed_node_by_either_id():
    base = recorded(step("draft", "refund"))
    other = recorded(step("compose", "deny", mapped_from="draft"))
    for node in ("draft", "compose"):
        result = outcomes({"node": node, "kind": "contains", "value": "refund"}, base, other)
        assert [r.outcome for r in result[:2]] == ["pass", "fail"] and result[2]


# A 10 kB output: every kind evaluates it in full (their times are a figure in bench/).

TEN_KB = json.dumps({"decision": "refund", "note": "Grüße " * 1700}, ensure_ascii=False)[: 10_000 - 2] + '"}'


@pytest.mark.parametrize(
    "check",
    [
        {"kind": "equals", "value": "x"},
        {"kind": "contains", "value": "Grüße Grüße"},
        {"kind": "not_contains", "value": "refused"},
        {"kind": "contains_any", "values": ["refused", "refund"]},
        {"kind": "contains_all", "values": ["refund", "Grüße"]},
        {"kind": "regex", "pattern": r"(Grüße ){1000}"},
        {"kind": "json_valid"},
        {"kind": "json_schema", "schema": SCHEMA},
        {"kind": "json_field_equals", "path": "/decision", "value": "refund"},
        {"kind": "max_length", "value": 10_000},
        {"kind": "similar_to_original", "min_ratio": 0.9},
        {"kind": "json_fields_unchanged", "paths": ["/decision", "/note"]},
        {"kind": "tool_calls_unchanged"},
        {"kind": "max_cost_usd", "value": 0.01},
        {"kind": "max_latency_ms", "value": 1000},
        {"kind": "max_output_tokens", "value": 4000},
    ],
    ids=lambda c: c["kind"],
)
def test_every_kind_evaluates_a_10_kb_output(check):
    assert len(TEN_KB) == 10_000 and json.loads(TEN_KB)
    figures = {"cost_usd": Decimal("0.003"), "latency_ms": 800, "output_tokens": 2500}
    run = recorded(step("draft", TEN_KB, **figures))
    _, other, _ = outcomes({"node": "draft", **check}, run, recorded(step("draft", TEN_KB, **figures)))
    assert other.outcome == ("fail" if check["kind"] == "equals" else "pass"), other.detail


# Declarations refused with a 400 naming the field.


def test_an_unknown_kind_is_refused_naming_the_kind_field():
    error = refused({"node": "draft", "kind": "llm_judge"}, at=1)
    assert error.field == "checks[1].kind" and "'llm_judge' is not one of" in error.message


def test_a_check_without_a_kind_is_refused():
    assert refused({"node": "draft"}).field == "checks[0].kind"


def test_an_invalid_regex_is_refused_naming_the_pattern():
    error = refused({"node": "draft", "kind": "regex", "pattern": "(unclosed"}, at=2)
    assert error.field == "checks[2].pattern" and error.message.startswith(
        "checks[2].pattern is not a valid regular expression: missing ), unterminated subpattern"
    )


def test_an_invalid_json_schema_is_refused_naming_the_schema():
    error = refused({"node": "draft", "kind": "json_schema", "schema": {"type": "text"}})
    assert error.field == "checks[0].schema" and "is not a valid JSON Schema at /type" in error.message


def test_a_missing_parameter_is_refused():
    assert refused({"node": "draft", "kind": "contains"}).field == "checks[0].value"


def test_an_ill_typed_parameter_is_refused_not_converted():
    assert refused({"kind": "max_latency_ms", "value": "500"}).field == "checks[0].value"
    assert refused({"node": "draft", "kind": "contains", "value": "x", "case_sensitive": "no"}).field == (
        "checks[0].case_sensitive"
    )


def test_an_unknown_parameter_is_refused():
    assert refused({"node": "draft", "kind": "json_valid", "strict": True}).field == "checks[0].strict"


def test_an_output_check_needs_a_node():
    assert refused({"node": None, "kind": "json_valid"}).field == "checks[0].node"


def test_a_json_pointer_must_start_with_a_slash():
    assert refused({"node": "draft", "kind": "json_field_equals", "path": "decision", "value": 1}).field == (
        "checks[0].path"
    )


def test_a_ratio_above_one_is_refused():
    assert refused({"node": "draft", "kind": "similar_to_original", "min_ratio": 1.5}).field == "checks[0].min_ratio"


def test_the_readme_shows_one_valid_example_of_each_kind():
    import re
    from pathlib import Path

    from runs.checks.declarations import KIND_NAMES

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("## Checks", 1)[1].split("```jsonc\n", 1)[1].split("```", 1)[0]
    example = json.loads(re.sub(r"\s+//.*$", "", block, flags=re.MULTILINE))
    checks = parse_checks(example).checks
    assert sorted(c.kind for c in checks) == sorted(KIND_NAMES)
