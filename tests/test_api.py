"""The JSON API through the Django test client with bearer tokens."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from runs.http.input import NOT_FINITE
from runs.models import PromptArtifact, Run, Workflow, WorkflowVersion

from .builders import finished_run, llm, run_in_status, support_workflow
from .conftest import rolled_back
from .factories import PromptRevisionFactory
from .worker import dispatched_run_ids, purge_broker


def post(client, url, body=None, **headers):
    return client.post(
        url, data=json.dumps(body if body is not None else {}), content_type="application/json", **headers
    )


def put(client, url, body):
    return client.put(url, data=json.dumps(body), content_type="application/json")


def test_create_prompt_and_revision(api, acme):
    response = post(api, "/api/v1/acme/prompts", {"name": "Greeting", "content": "Hi {{ trigger.name }}"})
    assert response.status_code == 201
    data = response.json()
    assert data["artifact_id"].startswith("prompt_") and data["content_hash"].startswith("sha256:")
    revision = post(api, f"/api/v1/acme/prompts/{data['artifact_id']}/revisions", {"content": "Hello"})
    assert revision.status_code == 201 and revision.json()["content_hash"] != data["content_hash"]


def test_create_workflow_version_and_trigger(api, acme, django_capture_on_commit_callbacks):
    revision = PromptRevisionFactory(artifact__workspace=acme)
    response = post(api, "/api/v1/acme/workflows", {"name": "W", "nodes": [llm("a", revision)]})
    assert response.status_code == 201 and response.json()["version"] == 1
    workflow_id = response.json()["workflow_id"]
    v2 = post(api, f"/api/v1/acme/workflows/{workflow_id}/versions", {"nodes": [llm("b", revision)]})
    assert v2.status_code == 201 and v2.json()["version"] == 2
    purge_broker()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run = post(api, f"/api/v1/acme/workflows/{workflow_id}/runs", {"payload": {"question": "?"}})
    assert run.status_code == 201 and Run.objects.get(pk=run.json()["run_id"]).version_number == 2
    assert len(callbacks) == 1 and dispatched_run_ids() == [run.json()["run_id"]]


def test_bad_workflow_is_rejected_naming_the_field_and_saves_nothing(api, acme):
    response = post(
        api, "/api/v1/acme/workflows", {"name": "W", "nodes": [{"id": "a", "type": "tool", "tool": "nope"}]}
    )
    assert response.status_code == 404 and response.json()["error"]["field"] == "nodes[0].tool"
    assert not Workflow.objects.exists()


def test_delete_version_keeps_runs(api, acme):
    version, _ = support_workflow(acme)
    run = finished_run(version)
    response = api.delete(f"/api/v1/acme/workflows/{version.workflow.workflow_id}/versions/1")
    assert response.status_code == 204 and not WorkflowVersion.objects.exists()
    data = api.get(f"/api/v1/acme/runs/{run.run_id}").json()
    assert data["version"] is None and data["status"] == "completed"


def test_pause_and_unpause_workflow(api, acme):
    version, _ = support_workflow(acme)
    url = f"/api/v1/acme/workflows/{version.workflow.workflow_id}"
    assert post(api, url + "/pause", {"reason": "incident"}).json() == {
        "workflow_id": version.workflow.workflow_id,
        "paused": True,
        "reason": "incident",
    }
    assert post(api, url + "/unpause").json()["paused"] is False


def test_run_detail_has_steps_and_tool_calls(api, acme):
    version, _ = support_workflow(acme)
    run = finished_run(version)
    data = api.get(f"/api/v1/acme/runs/{run.run_id}").json()
    assert data["status"] == "completed" and data["workflow_id"] == version.workflow.workflow_id
    assert [s["node_id"] for s in data["steps"]] == ["draft", "notify"]
    assert data["steps"][1]["tool_calls"][0] | {"result": None} == {
        "tool": "messages.send",
        "mutating": True,
        "dry_run": False,
        "reused": False,
        "source": "live",
        "recorded_in": None,
        "label": "invoked",
        "arguments": {"to": "dana@example.com", "body": data["steps"][0]["output"]},
        "result": None,
    }


def test_run_detail_query_count_is_bounded(api, acme, django_assert_max_num_queries):
    version, _ = support_workflow(acme)
    run = finished_run(version)
    # Token and membership, the token's first-use stamp, the run with its usage sums (which is the access check),
    # its steps with their tool calls.
    with django_assert_max_num_queries(4):
        assert api.get(f"/api/v1/acme/runs/{run.run_id}").status_code == 200


def test_lifecycle_endpoints(api, acme):
    version, _ = support_workflow(acme)
    run = run_in_status(version, "running")
    assert post(api, f"/api/v1/acme/runs/{run.run_id}/pause").json()["status"] == "paused"
    assert post(api, f"/api/v1/acme/runs/{run.run_id}/resume").json()["status"] == "pending"
    assert post(api, f"/api/v1/acme/runs/{run.run_id}/cancel").json()["status"] == "cancelled"
    conflict = post(api, f"/api/v1/acme/runs/{run.run_id}/pause")
    assert conflict.status_code == 409 and "Cannot pause a cancelled run" in conflict.json()["error"]["message"]


def test_unknown_run_is_404_and_foreign_run_is_403(api, acme, globex):
    assert api.get("/api/v1/acme/runs/run_deadbeef").status_code == 404
    foreign = finished_run(support_workflow(globex)[0])
    assert api.get(f"/api/v1/acme/runs/{foreign.run_id}").status_code == 403


def test_malformed_json_is_400(api, acme):
    response = api.post("/api/v1/acme/prompts", data="{nope", content_type="application/json")
    assert response.status_code == 400 and response.json() == {
        "error": {"code": "bad_request", "message": "Malformed JSON body."}
    }


def test_wrong_verb_is_405(api, acme):
    response = api.delete("/api/v1/acme/prompts")
    assert response.status_code == 405 and response["Allow"] == "GET, POST, HEAD"


def test_viewer_cannot_write(viewer_api, acme):
    assert post(viewer_api, "/api/v1/acme/prompts", {"name": "x", "content": "y"}).status_code == 403
    assert not PromptArtifact.objects.exists()


def test_pause_query_count_is_bounded(api, acme, django_assert_max_num_queries):
    run = run_in_status(support_workflow(acme)[0], "running")
    # Token and membership, first-use stamp, the access check, the transition, its refresh, the run with steps (2).
    with django_assert_max_num_queries(7):
        assert post(api, f"/api/v1/acme/runs/{run.run_id}/pause").json()["status"] == "paused"


def test_replay_api_201_then_200_with_idempotency_key(api, acme):
    source = finished_run(support_workflow(acme)[0])
    url = f"/api/v1/acme/runs/{source.run_id}/replays"
    first = post(api, url, {"mode": "as_is"}, HTTP_IDEMPOTENCY_KEY="abc")
    second = post(api, url, {"mode": "as_is"}, HTTP_IDEMPOTENCY_KEY="abc")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["run_id"] == second.json()["run_id"]


def test_replay_api_errors_carry_status_and_exact_message(api, acme):
    version, _ = support_workflow(acme)
    running = run_in_status(version, "running")
    response = post(api, f"/api/v1/acme/runs/{running.run_id}/replays", {"mode": "as_is"})
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "Cannot replay an in-flight run"


def test_replay_of_another_workspaces_run_is_403(outsider_api, acme, globex):
    source = finished_run(support_workflow(acme)[0])
    response = post(outsider_api, f"/api/v1/globex/runs/{source.run_id}/replays", {"mode": "as_is"})
    assert response.status_code == 403
    assert (
        response.json()["error"]["message"] == "You can only replay runs that belong to your own workspace and account."
    )


def test_replay_of_an_unknown_run_is_404_and_creates_nothing(api, acme):
    response = post(api, "/api/v1/acme/runs/run_deadbeef/replays", {"mode": "as_is"})
    assert response.status_code == 404 and response.json()["error"]["message"] == "Run run_deadbeef was not found."
    assert not Run.objects.exists()


@pytest.mark.parametrize("body", ["{nope", "[]"])
def test_an_unknown_or_foreign_run_answers_before_a_bad_body(api, acme, globex, body):
    foreign = finished_run(support_workflow(globex)[0])
    unknown = api.post("/api/v1/acme/runs/run_deadbeef/replays", data=body, content_type="application/json")
    other = api.post(f"/api/v1/acme/runs/{foreign.run_id}/replays", data=body, content_type="application/json")
    assert (unknown.status_code, other.status_code) == (404, 403)
    assert Run.objects.count() == 1


def test_replay_submit_query_count_is_bounded(api, acme, django_assert_max_num_queries):
    source = finished_run(support_workflow(acme)[0])
    # Token and membership in one query, the token's first-use stamp, then under the transaction
    # (a savepoint inside the test's): the run found and locked in one read, and the insert.
    with django_assert_max_num_queries(6):
        assert post(api, f"/api/v1/acme/runs/{source.run_id}/replays", {"mode": "as_is"}).status_code == 201


def test_a_second_replay_submit_needs_no_token_stamp(api, acme, django_assert_max_num_queries):
    source = finished_run(support_workflow(acme)[0])
    post(api, f"/api/v1/acme/runs/{source.run_id}/replays", {"mode": "as_is"})
    with django_assert_max_num_queries(5):
        assert post(api, f"/api/v1/acme/runs/{source.run_id}/replays", {"mode": "as_is"}).status_code == 201


def test_a_replay_submit_with_an_idempotency_key_looks_it_up_once_and_needs_no_savepoint(
    api, acme, django_assert_max_num_queries
):
    source = finished_run(support_workflow(acme)[0])
    post(api, f"/api/v1/acme/runs/{source.run_id}/replays", {"mode": "as_is"})
    url = f"/api/v1/acme/runs/{source.run_id}/replays"
    # Token and membership, then under the transaction (the test's savepoint): the lock, the key's lookup, the insert.
    with django_assert_max_num_queries(6):
        assert post(api, url, {"mode": "as_is"}, HTTP_IDEMPOTENCY_KEY="k-q").status_code == 201


def test_replay_plan(api, acme):
    version, _ = support_workflow(acme, allow_send=True)
    source = finished_run(version)
    data = api.get(f"/api/v1/acme/runs/{source.run_id}/replay-plan").json()
    assert data == {
        "source_version": 1,
        "target_version": 1,
        "renamed_nodes": [],
        "suggestions": {},
        "target_nodes": ["draft", "notify"],
        "saved_mapping": None,
        "mutations": "invoke",
        "invoking_nodes": ["notify"],
        "invoking_reasons": [{"node_id": "notify", "tool": "messages.send", "reason": "node policy"}],
    }


def test_policy_get_and_put_by_an_admin(admin_api, api, acme):
    assert admin_api.get("/api/v1/acme/policy").json() == {
        "allowed_models": None,
        "allowed_providers": None,
        "replay_allow_mutations": False,
    }
    response = put(
        admin_api, "/api/v1/acme/policy", {"allowed_providers": ["anthropic"], "replay_allow_mutations": True}
    )
    assert response.status_code == 200 and response.json()["allowed_providers"] == ["anthropic"]
    assert put(api, "/api/v1/acme/policy", {"replay_allow_mutations": False}).status_code == 403
    acme.refresh_from_db()
    assert acme.replay_allow_mutations is True


def test_policy_rejects_unknown_models(admin_api, acme):
    response = put(admin_api, "/api/v1/acme/policy", {"allowed_models": ["openai:gpt-99"]})
    assert response.status_code == 400 and "openai:gpt-99" in response.json()["error"]["message"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
replay_bodies = st.fixed_dictionaries(
    {},
    optional={
        "mode": st.sampled_from(["as_is", "prompt", "model", "", "other"]) | json_values,
        "prompt_artifact_id": st.sampled_from(["prompt_a1b2c3d4", "prompt_"]) | json_values,
        "content_hash": st.just("sha256:" + "a" * 64) | json_values,
        "model_id": st.sampled_from(["gpt-5", "claude-2-1"]) | json_values,
        "model_ref": st.sampled_from(["openai:gpt-5", "anthropic:claude-2-1", "openai:"]) | json_values,
        "target_version": st.integers(-2, 4) | json_values,
        "node_mapping": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3) | json_values,
        "save_mapping": st.sampled_from(["operator", "workspace", "x"]) | json_values,
    },
)


@pytest.fixture
def fuzz_world(db):
    from .conftest import api_client_for
    from .factories import MembershipFactory, UserFactory, WorkspaceFactory

    workspace = WorkspaceFactory()
    user = MembershipFactory(user=UserFactory(), workspace=workspace).user
    source = finished_run(support_workflow(workspace)[0])
    return api_client_for(user), f"/api/v1/{workspace.slug}/runs/{source.run_id}/replays"


# The fixture is built once per test; each example runs in a savepoint rolled back after it (rolled_back).
@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=replay_bodies | json_values)
def test_fuzzed_replay_requests_never_500_and_create_nothing_on_4xx(fuzz_world, body):
    from django.core.cache import cache

    client, url = fuzz_world
    with rolled_back():
        cache.clear()
        before = Run.objects.count()
        response = post(client, url, body)
        assert response.status_code < 500
        if response.status_code >= 400:
            assert Run.objects.count() == before and "error" in response.json()
        else:
            assert response.status_code == 201


# Found by schemathesis (tests/contract): a version number past the database's integer range was a 500.
TOO_BIG = WorkflowVersion.MAX_NUMBER + 1


def test_a_version_number_past_the_integer_range_is_a_400_naming_the_field(api, acme):
    version, _ = support_workflow(acme)
    workflow_id = version.workflow.workflow_id
    response = api.get(f"/api/v1/acme/mappings?workflow_id={workflow_id}&source_version={TOO_BIG}&target_version=1")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "bad_request",
        "message": "source_version must be a workflow version number (a positive integer).",
        "field": "source_version",
    }


def test_a_replay_plan_or_replay_on_a_version_past_the_integer_range_is_a_400(api, acme):
    run = finished_run(support_workflow(acme)[0])
    plan = api.get(f"/api/v1/acme/runs/{run.run_id}/replay-plan?target_version={TOO_BIG}")
    replay = post(api, f"/api/v1/acme/runs/{run.run_id}/replays", {"mode": "as_is", "target_version": TOO_BIG})
    assert (plan.status_code, plan.json()["error"]["field"]) == (400, "target_version")
    assert (replay.status_code, replay.json()["error"]["field"]) == (400, "target_version")
    assert not Run.objects.filter(replay_of=run).exists()


def test_deleting_a_version_past_the_integer_range_is_a_404(api, acme):
    version, _ = support_workflow(acme)
    response = api.delete(f"/api/v1/acme/workflows/{version.workflow.workflow_id}/versions/{TOO_BIG}")
    assert response.status_code == 404
    assert WorkflowVersion.objects.filter(pk=version.pk).exists()


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_body_with_a_number_json_cannot_hold_is_a_400_and_creates_no_run(api, acme, number):
    """Python's json reads NaN, Infinity and 1e400 (as inf), which neither database's JSON column accepts: a 500."""
    version, _ = support_workflow(acme)
    url = f"/api/v1/acme/workflows/{version.workflow.workflow_id}/runs"
    response = api.post(url, data='{"payload": {"x": ' + number + "}}", content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "payload.x: " + NOT_FINITE and error["field"] == "payload.x"
    assert not Run.objects.filter(workflow=version.workflow).exists()
