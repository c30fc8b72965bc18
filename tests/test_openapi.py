"""The OpenAPI description: valid 3.1, readable without a token, and true to the URL patterns it describes."""

import json
import re

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from config.openapi import OPERATIONS, api_routes, document
from runs.http.openapi import Error

from .builders import finished_run, support_workflow

METHODS = {"GET", "POST", "PUT", "DELETE", "PATCH"}


def test_the_document_validates_as_openapi_3_1():
    validate(document(), cls=OpenAPIV31SpecValidator)


def test_openapi_json_is_served_without_a_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == document()


def test_every_api_url_pattern_has_an_operation_and_every_operation_a_url_pattern():
    routed = api_routes()
    assert {op.view for op in OPERATIONS} == set(routed)
    assert set(document()["paths"]) == {route.path for route in routed.values()}


def _concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "7" if m[1] == "number" else "x", path)


@pytest.mark.parametrize("path", sorted(document()["paths"]))
def test_each_path_documents_exactly_the_methods_its_view_allows(client, path):
    response = client.generic("PATCH", _concrete(path))  # no API view accepts PATCH: its 405 lists what it does
    assert response.status_code == 405
    allowed = {m.strip() for m in response["Allow"].split(",")}
    documented = {m.upper() for m in document()["paths"][path]} & METHODS
    # HEAD is answered wherever GET is, as HTTP says, without an operation of its own.
    assert allowed == documented | ({"HEAD"} if "GET" in documented else set())


def test_every_operation_answers_the_error_shape_for_bearer_failures():
    error = {"$ref": "#/components/schemas/Error"}
    for item in document()["paths"].values():
        for op in item.values():
            for status in ("401", "403"):
                assert op["responses"][status]["content"]["application/json"]["schema"] == error
    assert document()["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`python manage.py create_api_token <username>` prints a token.",
    }


def test_the_error_schema_is_what_a_refusal_answers(api, acme):
    body = api.get("/api/v1/acme/runs/run_00000000").json()
    assert Error.model_validate(body).error.code == "not_found"


def test_the_replay_operation_names_each_status_of_the_rules_table():
    responses = document()["paths"]["/api/v1/{slug}/runs/{run_id}/replays"]["post"]["responses"]
    assert set(responses) == {"200", "201", "400", "401", "403", "404", "409", "413", "422", "429"}
    assert "Replay quota exceeded" in responses["429"]["description"]
    assert "Cannot replay an in-flight run" in responses["409"]["description"]


def test_the_reference_page_lists_every_operation_and_loads_nothing_from_elsewhere(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    for item in document()["paths"].values():
        for op in item.values():
            assert f'id="op-{op["operationId"]}"' in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/%C2%B7/workflows",
        "/api/v1/acme/workflows/wf_1/versions/-1",
        "/api/v1/nowhere",
        "/api/v1/%C2%B7/workflows/wf%0A1/pause",
    ],
)
def test_a_path_no_api_pattern_matches_answers_the_json_404_of_the_error_shape(client, path):
    """Found by schemathesis: a malformed slug or version number, or an id with an encoded newline, fell through
    to Django's HTML 404 page."""
    response = client.post(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert Error.model_validate(response.json()).error.code == "not_found"


def test_query_models_are_described_as_query_parameters():
    def query(path, method):
        return {
            p["name"]: (p["required"], p["schema"]["type"])
            for p in document()["paths"][path][method]["parameters"]
            if p["in"] == "query"
        }

    assert query("/api/v1/{slug}/mappings", "get") == {
        "workflow_id": (True, "string"),
        "source_version": (True, "integer"),
        "target_version": (True, "integer"),
    }
    assert query("/api/v1/{slug}/runs/{run_id}/replay-plan", "get") == {"target_version": (False, "integer")}
    # A PUT's body holds the pair (required there): a client need not send it twice.
    assert {name: required for name, (required, _) in query("/api/v1/{slug}/mappings", "put").items()} == {
        "workflow_id": False,
        "source_version": False,
        "target_version": False,
    }


def _response_schemas(document) -> list[str]:
    refs = set()
    for path in document["paths"].values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
                if ref:
                    refs.add(ref.rsplit("/", 1)[1])
    return sorted(refs)


def _objects_reachable(document, names):
    """Every object schema an answer can contain, following $refs."""
    schemas, seen, todo = document["components"]["schemas"], set(), list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        text = json.dumps(schemas[name])
        todo.extend(ref.rsplit("/", 1)[1] for ref in re.findall(r'"\$ref": "([^"]+)"', text))
    return seen


def test_every_response_schema_is_closed():
    described = document()
    names = _objects_reachable(described, _response_schemas(described))
    schemas = described["components"]["schemas"]
    open_ = [
        n for n in names if schemas[n].get("type") == "object" and schemas[n].get("additionalProperties") is not False
    ]
    assert names and not open_, open_


def test_every_request_body_schema_is_closed():
    """Request bodies refuse unknown fields (a 400 naming them): the description says so of every object in them."""
    described = document()
    bodies = {
        operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for path in described["paths"].values()
        for operation in path.values()
        if "requestBody" in operation
    }
    names = _objects_reachable(described, bodies)
    schemas = described["components"]["schemas"]
    open_ = [
        n for n in names if schemas[n].get("type") == "object" and schemas[n].get("additionalProperties") is not False
    ]
    assert {"LlmNode", "VersionBody"} <= names and not open_, open_


def test_an_undeclared_key_in_an_answer_fails_rather_than_reaches_a_client():
    from pydantic import ValidationError

    from runs.api.shapes import RunTriggered
    from runs.http.api import answer

    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        answer(RunTriggered, {"run_id": "run_00000000", "status": "pending", "version": 1, "secret": "x"})


def test_a_run_answer_declares_every_key_it_sends(api, acme):
    from runs.api.shapes import Run

    run = finished_run(support_workflow(acme)[0])
    body = api.get(f"/api/v1/acme/runs/{run.run_id}").json()
    assert set(body) == set(Run.model_fields)
    assert set(body["steps"][0]) == set(Run.model_fields["steps"].annotation.__args__[0].model_fields)


@pytest.mark.parametrize(
    "path,body",
    [
        ("/api/v1/acme/runs/{run}/replays", {"mode": "as_is", "target_versoin": 2}),
        ("/api/v1/acme/workflows/{workflow}/runs", {"payload": {}, "question": "?"}),
        ("/api/v1/acme/prompts", {"name": "p", "content": "c", "contnet": "c"}),
    ],
)
def test_an_unknown_field_is_a_400_naming_it(api, acme, path, body):
    run = finished_run(support_workflow(acme)[0])
    url = path.format(run=run.run_id, workflow=run.workflow.workflow_id)
    response = api.post(url, body, content_type="application/json")
    field = next(k for k in body if k not in ("mode", "name", "content", "payload"))
    assert response.status_code == 400 and response.json()["error"]["field"] == field


def test_a_trigger_without_its_payload_wrapper_is_refused(api, acme):
    version, _ = support_workflow(acme)
    url = f"/api/v1/acme/workflows/{version.workflow.workflow_id}/runs"
    response = api.post(url, {}, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["field"] == "payload"


def test_a_partial_policy_put_keeps_the_fields_it_omits(admin_api, acme):
    acme.replay_allow_mutations = True
    acme.save()
    response = admin_api.put(
        "/api/v1/acme/policy", {"allowed_providers": ["anthropic"]}, content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["replay_allow_mutations"] is True
    schema = document()["components"]["schemas"]["PolicyInput"]["properties"]
    assert all("default" not in field for field in schema.values())


def test_a_preview_with_an_unknown_field_answers_the_400_submit_would(api, acme):
    run = finished_run(support_workflow(acme)[0])
    body = {"mode": "as_is", "target_versoin": 2}
    answer = api.post(f"/api/v1/acme/runs/{run.run_id}/replay-plan", body, content_type="application/json").json()
    assert answer["replayable"] is False
    assert (answer["refusal"]["status"], answer["refusal"]["field"]) == (400, "target_versoin")
