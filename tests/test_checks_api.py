"""POST /api/v1/<slug>/runs/<run_id>/checks: checks evaluated on real runs, paired as the compare endpoint pairs them."""

import json

import pytest

from runs.compare import DIFFERENT_WORKFLOWS
from runs.models import Run, Step

from .builders import executed_replay, finished_run, support_workflow
from .provider_wire import CHAT_COMPLETIONS, MESSAGES, chat_completion, message

REFUND = {"decision": "refund", "amount": 20, "currency": "EUR"}
DENY = {"decision": "deny", "amount": 20, "currency": "EUR"}
MODEL_REPLAY = {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}


@pytest.fixture
def source(acme):
    return finished_run(support_workflow(acme)[0])


def post(client, run_id, body):
    return client.post(f"/api/v1/acme/runs/{run_id}/checks", json.dumps(body), content_type="application/json")


def test_a_model_replay_that_changes_a_json_output_breaks_json_field_equals_on_the_replay_only(
    api, acme, operator, anthropic_server, openai_server
):
    anthropic_server.script(MESSAGES, [(200, message(json.dumps(REFUND)))])
    openai_server.script(CHAT_COMPLETIONS, [(200, chat_completion(json.dumps(DENY)))])
    original = finished_run(support_workflow(acme)[0])
    replay = executed_replay(user=operator, run=original, request=MODEL_REPLAY)
    checks = [
        {"node": "draft", "kind": "json_valid"},
        {"node": "draft", "kind": "json_field_equals", "path": "/decision", "value": "refund"},
    ]
    response = post(api, replay.run_id, {"checks": checks})
    assert response.status_code == 200
    body = response.json()
    assert (body["base"], body["other"]) == (original.run_id, replay.run_id)
    valid, decision = body["results"]
    assert valid["base"]["outcome"] == valid["other"]["outcome"] == "pass" and not valid["regression"]
    assert decision["check"] == checks[1]
    assert decision["base"] == {"outcome": "pass", "detail": '/decision is "refund".'}
    assert decision["other"] == {"outcome": "fail", "detail": '/decision is "deny", not "refund".'}
    assert decision["regression"] is True


def test_checks_with_another_run_pair_it_as_compare_does(api, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    body = post(api, source.run_id, {"checks": [{"kind": "tool_calls_unchanged"}], "with": replay.run_id}).json()
    assert (body["base"], body["other"]) == (source.run_id, replay.run_id)
    [result] = body["results"]
    assert result["base"]["outcome"] == "n/a" and result["other"]["outcome"] == "pass"


def test_an_unknown_cost_of_a_simulated_run_is_na_on_both(api, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    Step.objects.filter(run__in=[source, replay]).update(cost_usd=None)
    body = post(api, replay.run_id, {"checks": [{"node": "draft", "kind": "max_cost_usd", "value": 1}]}).json()
    assert [body["results"][0][side]["outcome"] for side in ("base", "other")] == ["n/a", "n/a"]


def test_a_viewer_may_evaluate_checks_as_nothing_is_stored(viewer_api, source, operator, django_assert_max_num_queries):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    runs, steps = Run.objects.count(), Step.objects.count()
    with django_assert_max_num_queries(8):
        response = post(viewer_api, replay.run_id, {"checks": [{"node": "draft", "kind": "contains", "value": "Dana"}]})
    assert response.status_code == 200 and (Run.objects.count(), Step.objects.count()) == (runs, steps)


def test_an_invalid_regex_is_400_naming_its_field(api, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    checks = [{"node": "draft", "kind": "json_valid"}] * 2 + [{"node": "draft", "kind": "regex", "pattern": "(a"}]
    response = post(api, replay.run_id, {"checks": checks})
    error = response.json()["error"]
    assert response.status_code == 400 and error["field"] == "checks[2].pattern" and error["code"] == "bad_request"


def test_a_node_absent_from_both_runs_is_400_naming_the_node(api, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    response = post(api, replay.run_id, {"checks": [{"node": "summary", "kind": "json_valid"}]})
    assert response.status_code == 400 and response.json()["error"]["field"] == "checks[0].node"


def test_a_json_pointer_without_its_leading_slash_is_refused_saying_how_one_is_written(api, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    check = {"node": "notify", "kind": "json_field_equals", "path": "decision", "value": "refund"}
    error = post(api, replay.run_id, {"checks": [check]}).json()["error"]
    assert error["field"] == "checks[0].path"
    assert error["message"].startswith('checks[0].path: a JSON pointer starts with "/" (e.g. /decision')


def test_an_output_check_on_the_whole_run_is_refused_saying_it_needs_a_node(api, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    check = {"node": None, "kind": "json_field_equals", "path": "/decision", "value": "refund"}
    error = post(api, replay.run_id, {"checks": [check]}).json()["error"]
    assert error["field"] == "checks[0].node" and "checks one node's output: name the node" in error["message"]


def test_an_unknown_body_field_is_400(api, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    response = post(api, replay.run_id, {"checks": [{"kind": "tool_calls_unchanged"}], "wiht": source.run_id})
    assert response.status_code == 400 and response.json()["error"]["field"] == "wiht"


def test_checks_on_an_original_without_with_are_400(api, source):
    response = post(api, source.run_id, {"checks": [{"kind": "tool_calls_unchanged"}]})
    assert response.status_code == 400 and response.json()["error"]["field"] == "with"


def test_checks_on_runs_of_different_workflows_are_409(api, source, acme):
    other = finished_run(support_workflow(acme)[0])
    response = post(api, source.run_id, {"checks": [{"kind": "tool_calls_unchanged"}], "with": other.run_id})
    assert response.status_code == 409 and response.json()["error"]["message"] == DIFFERENT_WORKFLOWS


def test_checks_on_a_foreign_run_answer_as_the_run_detail_does(outsider_api, source):
    response = post(outsider_api, source.run_id, {"checks": [{"kind": "tool_calls_unchanged"}]})
    assert response.status_code == 403


def test_checks_answer_405_to_a_get(api, source):
    response = api.get(f"/api/v1/acme/runs/{source.run_id}/checks")
    assert response.status_code == 405 and response["Allow"] == "POST"


def test_the_answer_echoes_each_check_as_declared(api, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    check = {"node": "notify", "kind": "json_schema", "schema": {"type": "object", "$defs": {}}}
    [result] = post(api, replay.run_id, {"checks": [check]}).json()["results"]
    assert result["check"] == check and result["other"]["outcome"] == "pass"


def test_the_openapi_document_describes_each_kind_in_a_discriminated_union():
    from config.openapi import document
    from runs.checks.declarations import KIND_NAMES

    schemas = document()["components"]["schemas"]
    union = schemas["ChecksBody"]["properties"]["checks"]["items"]
    assert union["discriminator"]["propertyName"] == "kind"
    assert set(union["discriminator"]["mapping"]) == set(KIND_NAMES) and len(union["oneOf"]) == len(KIND_NAMES)
    regex = schemas["RegexCheck"]
    assert regex["additionalProperties"] is False and regex["required"] == ["node", "kind", "pattern"]
    assert schemas["JsonFieldEqualsCheck"]["properties"]["path"]["pattern"] == r"^(/([^~]|~[01])*)*$"
