"""Issue 27, items 5 and 6: every JSON the product accepts passes one parser and one set of guards."""

import json

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from runs.models import Run, Step, ToolCall

from ..builders import executed_replay, finished_run, renaming_version, support_workflow
from ..conftest import rolled_back
from ..hostile import LONE_SURROGATES, NULS, deep_json_text

pytestmark = pytest.mark.django_db

# JSON text a database or parser would choke on, each with the words its 400 says.
HOSTILE_JSON = {
    "NaN": ('{"x": NaN}', "must be finite"),
    "Infinity": ('{"x": Infinity}', "must be finite"),
    "1e999": ('{"x": 1e999}', "must be finite"),
    "NUL": ('{"x": "a\\u0000b"}', "NUL"),
    "lone surrogate": ('{"x": "\\ud800"}', "lone UTF-16 surrogate"),
    "surrogate key": ('{"\\udfff": 1}', "lone UTF-16 surrogate"),
    "deep": ('{"x": ' + deep_json_text(150) + "}", "nested deeper than 100 levels"),
    "very deep": ('{"x": ' + deep_json_text(100_000) + "}", "nested deeper than 100 levels"),
}


@pytest.fixture
def source(acme):
    version, _ = support_workflow(acme)
    renaming_version(version)
    return finished_run(version)


@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_the_dialogs_payload_text_has_the_json_bodys_guards(operator_client, source, case):
    text, words = HOSTILE_JSON[case]
    response = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is", "trigger_payload": text}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400 and words in response.content.decode()
    assert not Run.objects.filter(replay_of=source).exists()


@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_a_payload_sent_as_json_text_to_the_api_has_the_json_bodys_guards(api, source, case):
    text, words = HOSTILE_JSON[case]
    body = json.dumps({"mode": "as_is", "trigger_payload": text})
    response = api.post(f"/api/v1/acme/runs/{source.run_id}/replays", data=body, content_type="application/json")
    error = response.json()["error"]
    assert response.status_code == 400 and words in error["message"]
    assert error["field"].startswith("trigger_payload")
    assert not Run.objects.filter(replay_of=source).exists()


@pytest.mark.parametrize("case", HOSTILE_JSON)
def test_the_dialogs_plan_panel_answers_a_hostile_payload_text_without_a_500(operator_client, source, case):
    text, _ = HOSTILE_JSON[case]
    url = f"/acme/ai/runs/{source.run_id}/replay/plan"
    response = operator_client.post(url, {"mode": "as_is", "trigger_payload": text}, HTTP_HX_REQUEST="true")
    assert response.status_code < 500


@pytest.mark.parametrize(
    "url, body, field",
    [
        ("/api/v1/acme/prompts", {"name": "a\ud800", "content": "x"}, "name"),
        ("/api/v1/acme/prompts", {"name": "n", "content": "\udc00x"}, "content"),
        ("/api/v1/acme/workflows/{workflow}/pause", {"reason": "\ud800"}, "reason"),
        ("/api/v1/acme/workflows/{workflow}/runs", {"payload": {"name": ["ok", "\ud800"]}}, "payload.name[1]"),
        ("/api/v1/acme/runs/{run}/replays", {"mode": "as_is", "trigger_payload": {"a": "\ud800"}}, "trigger_payload.a"),
    ],
)
def test_a_lone_surrogate_is_a_400_naming_the_field(admin_api, source, url, body, field):
    raw = json.dumps(body)  # ensure_ascii: the surrogate travels as its \ud800 escape, as an attacker sends it
    before = Run.objects.count()
    response = admin_api.post(
        url.format(workflow=source.workflow.workflow_id, run=source.run_id), data=raw, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field and "surrogate" in response.json()["error"]["message"]
    assert Run.objects.count() == before


@pytest.fixture
def stored_surrogates(source, operator):
    """A run and its replay as SQLite stored them before the input refused lone surrogates."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's jsonb never stored a lone surrogate")
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    for run in (source, replay):
        Run.objects.filter(pk=run.pk).update(trigger_payload={"name": "Dana\ud800", "email": "d@x.io"})
        ToolCall.objects.filter(step__run=run).update(result={"sent": "\udfff"}, arguments={"to": "\ud800"})
        Step.objects.filter(run=run).update(input={"prompt": "\ud800"})
    return source, replay


@pytest.mark.parametrize(
    "path",
    ["", "/replay", "/compare", "/steps?after=-1"],
)
def test_a_run_with_stored_lone_surrogates_renders_its_pages(operator_client, stored_surrogates, path):
    source, replay = stored_surrogates
    run = replay if path == "/compare" else source
    response = operator_client.get(f"/acme/ai/runs/{run.run_id}{path}")
    assert response.status_code == 200


def test_the_plan_panel_of_a_run_with_a_stored_lone_surrogate_renders(operator_client, stored_surrogates):
    source, _ = stored_surrogates
    edited = '{"name": "Ana"}'
    response = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay/plan",
        {"mode": "as_is", "trigger_payload": edited},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200


def test_a_run_with_a_stored_lone_surrogate_replays_with_it_encoded(stored_surrogates, operator):
    source, _ = stored_surrogates
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    assert replay.status == Run.Status.COMPLETED
    assert "Dana\ufffd" in replay.steps.get(node_id="draft").input["prompt"]


@hsettings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bad=LONE_SURROGATES | NULS, where=st.sampled_from(["name", "content"]))
def test_any_lone_surrogate_or_nul_in_a_prompt_is_a_400_naming_its_field(bad, where, admin_api):
    body = {"name": "n", "content": "c", where: f"x{bad}y"}
    with rolled_back():
        response = admin_api.post("/api/v1/acme/prompts", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 400 and response.json()["error"]["field"] == where
