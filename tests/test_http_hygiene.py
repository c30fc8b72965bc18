"""HTTP as clients expect it: WWW-Authenticate, JSON everywhere under /api/v1/, HEAD, Location, codes per operation."""

import json

from config.openapi import document

from .builders import finished_run, support_workflow


def test_401_names_the_bearer_scheme(client, acme):
    response = client.get("/api/v1/acme/runs")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_post_on_the_document_is_the_apis_json_405(client):
    for path in ("/api/v1/openapi.json", "/api/v1/docs"):
        response = client.post(path, data="{}", content_type="application/json")
        assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"
        assert response["Allow"] == "GET, HEAD"


def test_head_answers_as_get_without_a_body(api, acme):
    run = finished_run(support_workflow(acme)[0])
    got = api.get(f"/api/v1/acme/runs/{run.run_id}")
    head = api.head(f"/api/v1/acme/runs/{run.run_id}")
    assert head.status_code == 200 and head.content == b"" and head["ETag"] == got["ETag"]
    assert int(head["Content-Length"]) == len(got.content)


def test_head_on_the_document_answers_200(client):
    assert client.head("/api/v1/openapi.json").status_code == 200


def test_created_prompt_answers_its_location(api, acme):
    response = api.post(
        "/api/v1/acme/prompts", data=json.dumps({"name": "N", "content": "C"}), content_type="application/json"
    )
    assert response.status_code == 201
    assert api.get(response["Location"]).json()["artifact_id"] == response.json()["artifact_id"]


def test_triggered_run_answers_its_location(api, acme):
    version, _ = support_workflow(acme)
    url = f"/api/v1/acme/workflows/{version.workflow.workflow_id}/runs"
    response = api.post(url, data=json.dumps({"payload": {}}), content_type="application/json")
    assert response["Location"] == f"/api/v1/acme/runs/{response.json()['run_id']}"


def test_replay_answers_its_location(api, acme):
    run = finished_run(support_workflow(acme)[0])
    url = f"/api/v1/acme/runs/{run.run_id}/replays"
    response = api.post(url, data=json.dumps({"mode": "as_is"}), content_type="application/json")
    assert response.status_code == 201 and response["Location"].endswith(response.json()["run_id"])


def test_created_cohort_answers_its_location(api, acme):
    version, _ = support_workflow(acme)
    run = finished_run(version)
    data = {"name": "N", "workflow_id": version.workflow.workflow_id, "replay": {"mode": "as_is"}, "run_ids": [run.pk]}
    response = api.post("/api/v1/acme/cohorts", data=json.dumps(data), content_type="application/json")
    assert response.status_code == 201
    assert api.get(response["Location"]).json()["cohort_id"] == response.json()["cohort_id"]


def test_each_operation_enumerates_its_error_codes():
    submit = document()["paths"]["/api/v1/{slug}/runs/{run_id}/replays"]["post"]["responses"]
    assert submit["429"]["x-error-codes"] == ["depth_exceeded", "quota_exceeded"]
    assert "`in_flight`" in submit["409"]["description"]
    assert submit["401"]["x-error-codes"] == ["unauthorized"]


def test_a_cohorts_and_a_mappings_refusals_list_the_codes_they_answer():
    paths = document()["paths"]
    create = paths["/api/v1/{slug}/cohorts"]["post"]["responses"]
    preview = paths["/api/v1/{slug}/cohorts/preview"]["post"]["responses"]
    save = paths["/api/v1/{slug}/mappings"]["put"]["responses"]
    assert create["429"]["x-error-codes"] == ["cohorts_running", "depth_exceeded"]
    assert preview["429"]["x-error-codes"] == ["depth_exceeded"]
    for responses in (create, preview):
        assert "unmapped_nodes" in responses["422"]["x-error-codes"]
        assert {"in_flight", "confirm_invoke"} <= set(responses["409"]["x-error-codes"])
        assert "model_not_available" in responses["403"]["x-error-codes"]
    assert save["422"]["x-error-codes"] == ["not_renamed", "unknown_target", "duplicate_target"]
    assert "conflict" in create["409"]["x-error-codes"] and "conflict" not in preview["409"]["x-error-codes"]
    every = [r for item in paths.values() for op in item.values() for s, r in op["responses"].items() if s[0] in "45"]
    assert all(r.get("x-error-codes") for r in every)
