"""The read endpoints an integrator finds what to replay against with: models, workflows, versions, prompts."""

import json

from runs import services
from runs.models import Run, Step

from .builders import PAYLOAD, finished_run, llm, run_in_status, support_workflow
from .factories import PromptRevisionFactory


def test_models_say_which_the_workspace_may_use_and_why_not(viewer_api, acme):
    acme.allowed_providers = ["anthropic"]
    acme.save()
    models = {m["model_ref"]: m for m in viewer_api.get("/api/v1/acme/models").json()["models"]}
    assert models["anthropic:claude-opus-4-7"] == {
        "model_id": "claude-opus-4-7",
        "model_ref": "anthropic:claude-opus-4-7",
        "provider": "anthropic",
        "retired": False,
        "allowed": True,
        "reason": None,
    }
    assert (models["openai:gpt-5"]["allowed"], models["openai:gpt-5"]["reason"]) == (False, "provider_blocked")
    assert models["anthropic:claude-2-1"]["reason"] == "retired"


def test_models_outside_the_allowlist_are_not_allowed(viewer_api, acme):
    acme.allowed_models = ["anthropic:claude-opus-4-7"]
    acme.save()
    models = {m["model_ref"]: m for m in viewer_api.get("/api/v1/acme/models").json()["models"]}
    assert models["anthropic:claude-haiku-4-5"]["reason"] == "not_in_allowlist"


def test_workflows_are_listed_newest_first_in_keyset_pages(viewer_api, acme, django_assert_max_num_queries):
    for _ in range(3):
        support_workflow(acme)
    with django_assert_max_num_queries(6):  # token, membership, workflows, their versions
        first = viewer_api.get("/api/v1/acme/workflows?limit=2").json()
    second = viewer_api.get(f"/api/v1/acme/workflows?limit=2&cursor={first['next']}").json()
    ids = [w["workflow_id"] for w in first["workflows"] + second["workflows"]]
    assert len(ids) == len(set(ids)) == 3 and second["next"] is None
    assert first["workflows"][0]["versions"][0]["number"] == 1


def test_workflow_detail_names_its_pause_reason_and_versions(viewer_api, acme):
    version, revision = support_workflow(acme)
    workflow = version.workflow
    services.add_version(workflow=workflow, nodes=[llm("draft", revision)])
    services.set_workflow_paused(workflow=workflow, paused=True, reason="Sends to customers")
    data = viewer_api.get(f"/api/v1/acme/workflows/{workflow.workflow_id}").json()
    assert (data["paused"], data["paused_reason"]) == (True, "Sends to customers")
    assert [v["number"] for v in data["versions"]] == [1, 2]


def test_workflow_version_answers_its_nodes_as_declared(viewer_api, acme):
    revision = PromptRevisionFactory(artifact__workspace=acme)
    node = {**llm("draft", revision), "temperature": 0.2, "system": "Be brief."}
    version = services.create_workflow(workspace=acme, name="W", nodes=[node])
    data = viewer_api.get(f"/api/v1/acme/workflows/{version.workflow.workflow_id}/versions/1").json()
    (answered,) = data["nodes"]
    assert {k: answered[k] for k in node} == node and answered["max_tokens"] == 1024


def test_prompt_detail_lists_revisions_with_the_nodes_that_run_them(viewer_api, acme):
    version, revision = support_workflow(acme)
    newer = services.add_prompt_revision(artifact=revision.artifact, content="Be brief with {{ trigger.name }}")
    data = viewer_api.get(f"/api/v1/acme/prompts/{revision.artifact.artifact_id}").json()
    assert [r["content_hash"] for r in data["revisions"]] == [revision.content_hash, newer.content_hash]
    assert data["revisions"][0]["used_by"] == [
        {"workflow_id": version.workflow.workflow_id, "version": 1, "node_id": "draft"}
    ]
    assert data["revisions"][1]["used_by"] == []


def test_prompts_are_listed_with_their_newest_revision(viewer_api, acme):
    _, revision = support_workflow(acme)
    newer = services.add_prompt_revision(artifact=revision.artifact, content="Another")
    data = viewer_api.get("/api/v1/acme/prompts").json()
    assert data["prompts"][0]["artifact_id"] == revision.artifact.artifact_id
    assert data["prompts"][0]["latest_content_hash"] == newer.content_hash and data["next"] is None


def test_prompt_revision_answers_its_content(viewer_api, acme):
    revision = PromptRevisionFactory(artifact__workspace=acme, content="Hello {{ trigger.name }}")
    url = f"/api/v1/acme/prompts/{revision.artifact.artifact_id}/revisions/{revision.content_hash}"
    assert viewer_api.get(url).json()["content"] == "Hello {{ trigger.name }}"


def test_unknown_prompt_revision_is_a_404(viewer_api, acme):
    revision = PromptRevisionFactory(artifact__workspace=acme)
    url = f"/api/v1/acme/prompts/{revision.artifact.artifact_id}/revisions/sha256:{'0' * 64}"
    assert viewer_api.get(url).status_code == 404


def test_another_workspaces_workflow_is_a_403(outsider_api, acme):
    version, _ = support_workflow(acme)
    assert outsider_api.get(f"/api/v1/globex/workflows/{version.workflow.workflow_id}").status_code == 403


def test_llm_step_names_its_prompt_artifact_beside_its_hash(viewer_api, acme):
    version, revision = support_workflow(acme)
    run = finished_run(version)
    assert Step.objects.get(run=run, node_id="draft").prompt_artifact_id == revision.artifact.artifact_id
    steps = {s["node_id"]: s for s in viewer_api.get(f"/api/v1/acme/runs/{run.run_id}").json()["steps"]}
    assert steps["draft"]["prompt_artifact_id"] == revision.artifact.artifact_id
    assert steps["draft"]["prompt_hash"] == revision.content_hash
    assert steps["notify"]["prompt_artifact_id"] is None


def trigger(client, workflow_id, payload, key):
    return client.post(
        f"/api/v1/acme/workflows/{workflow_id}/runs",
        data=json.dumps({"payload": payload}),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_trigger_repeated_with_its_key_answers_200_and_the_same_run(api, acme):
    version, _ = support_workflow(acme)
    first = trigger(api, version.workflow.workflow_id, PAYLOAD, "trigger-1")
    again = trigger(api, version.workflow.workflow_id, PAYLOAD, "trigger-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["run_id"] == first.json()["run_id"] and Run.objects.count() == 1


def test_trigger_key_with_another_payload_is_a_409_and_creates_nothing(api, acme):
    version, _ = support_workflow(acme)
    trigger(api, version.workflow.workflow_id, PAYLOAD, "trigger-1")
    other = trigger(api, version.workflow.workflow_id, {**PAYLOAD, "name": "Eve"}, "trigger-1")
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"
    assert Run.objects.count() == 1


def test_trigger_key_is_scoped_to_the_member(api, acme, admin_api):
    version, _ = support_workflow(acme)
    mine = trigger(api, version.workflow.workflow_id, PAYLOAD, "shared-key")
    theirs = trigger(admin_api, version.workflow.workflow_id, PAYLOAD, "shared-key")
    assert theirs.status_code == 201 and theirs.json()["run_id"] != mine.json()["run_id"]


def test_run_answer_carries_an_etag_and_if_none_match_answers_304(viewer_api, acme):
    run = finished_run(support_workflow(acme)[0])
    first = viewer_api.get(f"/api/v1/acme/runs/{run.run_id}")
    again = viewer_api.get(f"/api/v1/acme/runs/{run.run_id}", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == first["ETag"]


def test_run_etag_changes_when_the_run_does(viewer_api, acme):
    run = run_in_status(support_workflow(acme)[0], Run.Status.PENDING)
    first = viewer_api.get(f"/api/v1/acme/runs/{run.run_id}")
    services.cancel_run(run=run)
    again = viewer_api.get(f"/api/v1/acme/runs/{run.run_id}", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_wait_beyond_30_seconds_is_a_400_naming_wait(viewer_api, acme):
    run = run_in_status(support_workflow(acme)[0], Run.Status.PENDING)
    refused = viewer_api.get(f"/api/v1/acme/runs/{run.run_id}?wait=31")
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "wait"
