"""Every page, partial, form and API endpoint, tried with another workspace's objects: 403, nothing changed."""

import json

import pytest
from django.apps import apps

from mappings.services import save_mapping
from runs.models import Run

from ..builders import finished_run, renaming_version, support_workflow

pytestmark = pytest.mark.django_db


def snapshot() -> dict[str, tuple]:
    """Every row of every Reprise table, to prove a refused request changed nothing."""
    state = {}
    for label in ("runs", "replay", "mappings"):
        for model in apps.get_app_config(label).get_models():
            # A token's last-use time is bookkeeping of the request itself, not a change it made.
            fields = [f.attname for f in model._meta.concrete_fields if f.name != "last_used_at"]
            state[model._meta.label] = tuple(model.objects.order_by("pk").values_list(*fields))
    return state


def assert_unchanged(before: dict) -> None:
    after = snapshot()
    changed = [label for label in before if before[label] != after[label]]
    assert changed == [], f"refused requests changed {changed}"


@pytest.fixture
def foreign(globex, outsider):
    """Globex's run, workflow, prompt and a saved mapping: what an Acme operator must never reach."""
    version, revision = support_workflow(globex)
    run = finished_run(version)
    target = renaming_version(version)
    save_mapping(
        user=outsider,
        workspace=globex,
        source_version=version,
        target_version=target,
        visibility="workspace",
        pairs={"draft": "compose", "notify": "send"},
    )
    return {
        "run": run.run_id,
        "workflow": version.workflow.workflow_id,
        "artifact": revision.artifact.artifact_id,
        "hash": revision.content_hash,
        "source_version": version.pk,
        "target_version": target.pk,
    }


def page_requests(slug, f):
    run = f["run"]
    return [
        ("get", f"/{slug}/ai/runs/{run}", None),
        ("get", f"/{slug}/ai/runs/{run}/steps?after=0", None),
        ("get", f"/{slug}/ai/runs/{run}?fragment=live", None),
        ("get", f"/{slug}/ai/runs/{run}/replay", None),
        ("post", f"/{slug}/ai/runs/{run}/replay", {"mode": "as_is", "target_version": "1"}),
        ("get", f"/{slug}/ai/runs/{run}/replay/mapping?target_version=2", None),
        ("get", f"/{slug}/ai/runs/{run}/node-mapping?target_version=2", None),
        (
            "post",
            f"/{slug}/ai/runs/{run}/node-mapping",
            {"target_version": "2", "visibility": "operator", "map:draft": "compose", "map:notify": "send"},
        ),
        ("get", f"/{slug}/monitoring/workflow-runs/{run}", None),
        ("post", f"/{slug}/monitoring/workflow-runs/{run}/cancel", {}),
        ("post", f"/{slug}/monitoring/workflow-runs/{run}/pause", {}),
    ]


def api_requests(slug, f):
    run, wf = f["run"], f["workflow"]
    return [
        ("get", f"/api/v1/{slug}/runs/{run}", None),
        ("post", f"/api/v1/{slug}/runs/{run}/pause", {}),
        ("post", f"/api/v1/{slug}/runs/{run}/resume", {}),
        ("post", f"/api/v1/{slug}/runs/{run}/cancel", {}),
        ("post", f"/api/v1/{slug}/runs/{run}/replays", {"mode": "as_is"}),
        ("get", f"/api/v1/{slug}/runs/{run}/replay-plan?target_version=2", None),
        (
            "post",
            f"/api/v1/{slug}/workflows/{wf}/versions",
            {"nodes": [{"id": "a", "type": "tool", "tool": "records.lookup"}]},
        ),
        ("delete", f"/api/v1/{slug}/workflows/{wf}/versions/1", None),
        ("post", f"/api/v1/{slug}/workflows/{wf}/pause", {"reason": "x"}),
        ("post", f"/api/v1/{slug}/workflows/{wf}/unpause", {}),
        ("post", f"/api/v1/{slug}/workflows/{wf}/runs", {"payload": {}}),
        ("post", f"/api/v1/{slug}/prompts/{f['artifact']}/revisions", {"content": "hijacked"}),
    ]


def workspace_api_requests(slug, f):
    """Endpoints that name only the workspace: a non-member gets nothing of it."""
    return [
        ("get", f"/api/v1/{slug}/policy", None),
        ("put", f"/api/v1/{slug}/policy", {"allowed_models": ["openai:gpt-5"]}),
        (
            "get",
            f"/api/v1/{slug}/mappings?source_version={f['source_version']}&target_version={f['target_version']}",
            None,
        ),
        (
            "put",
            f"/api/v1/{slug}/mappings",
            {
                "source_version": f["source_version"],
                "target_version": f["target_version"],
                "visibility": "operator",
                "pairs": {"draft": "compose", "notify": "send"},
            },
        ),
        ("post", f"/api/v1/{slug}/prompts", {"name": "x", "content": "y"}),
        ("post", f"/api/v1/{slug}/workflows", {"name": "x", "nodes": []}),
    ]


def send(client, method, url, body, *, as_json):
    if body is None:
        return getattr(client, method)(url)
    if as_json:
        return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")
    return getattr(client, method)(url, body)


@pytest.mark.parametrize("slug", ["acme", "globex"], ids=["own-workspace-foreign-run", "foreign-workspace"])
def test_pages_partials_and_forms_with_another_workspaces_run_are_403(operator_client, foreign, slug):
    before = snapshot()
    for method, url, body in page_requests(slug, foreign):
        response = send(operator_client, method, url, body, as_json=False)
        assert response.status_code == 403, (method, url, response.status_code)
    assert_unchanged(before)


@pytest.mark.parametrize("slug", ["acme", "globex"], ids=["own-workspace-foreign-objects", "foreign-workspace"])
def test_api_endpoints_with_another_workspaces_objects_are_403(api, foreign, slug):
    before = snapshot()
    for method, url, body in api_requests(slug, foreign) + (
        workspace_api_requests(slug, foreign) if slug == "globex" else []
    ):
        response = send(api, method, url, body, as_json=True)
        assert response.status_code == 403, (method, url, response.status_code, response.content[:200])
        assert "error" in response.json()
    assert_unchanged(before)


def test_replay_cannot_borrow_another_workspaces_prompt_or_mapping(api, acme, foreign):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    renaming_version(version)
    before = snapshot()
    url = f"/api/v1/acme/runs/{source.run_id}/replays"
    prompt = {"mode": "prompt", "prompt_artifact_id": foreign["artifact"], "content_hash": foreign["hash"]}
    response = api.post(url, data=json.dumps(prompt), content_type="application/json")
    assert response.status_code in (403, 404, 422) and foreign["artifact"] in response.json()["error"]["message"]
    # Globex's shared mapping is for Globex's versions: it never covers an Acme cross-version replay.
    response = api.post(url, data=json.dumps({"mode": "as_is", "target_version": 2}), content_type="application/json")
    assert response.status_code == 422
    assert (
        response.json()["error"]["message"]
        == "2 renamed node(s) need mapping before this cross-version replay can run."
    )
    assert_unchanged(before)


def test_viewer_cannot_replay_or_save_mappings_and_operator_cannot_change_policy(client, viewer, api, acme):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    target = renaming_version(version)
    client.force_login(viewer)
    before = snapshot()
    assert client.post(f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is"}).status_code == 403
    assert (
        client.post(
            f"/acme/ai/runs/{source.run_id}/node-mapping",
            {
                "target_version": "2",
                "visibility": "operator",
                "map:draft": "compose",
                "map:notify": "send",
            },
        ).status_code
        == 403
    )
    policy = api.put(
        "/api/v1/acme/policy", data=json.dumps({"replay_allow_mutations": True}), content_type="application/json"
    )
    assert policy.status_code == 403
    assert_unchanged(before)
    assert Run.objects.filter(replay_of=source).count() == 0 and target.pk
