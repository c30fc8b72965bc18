"""An edited trigger payload keeps every JSON value exactly: through the editor, storage, execution and the API."""

import html
import json
import re

import pytest

from runs.engine.executor import execute
from runs.models import Run

from .builders import PAYLOAD, finished_run, support_workflow

VALUES = {
    "plain string": "just a string",
    "empty string": "",
    "integer above 2^53": 2**53 + 1,
    "negative 64-bit integer": -(2**63),
    "float": 0.1,
    "tiny float": 1e-7,
    "true": True,
    "false": False,
    "zero": 0,
    "unicode": "Zoë — 日本語 🚀 \u202e",
    "nested arrays": [[1, [2, [3, []]]], []],
    "null": None,
    "nested object": {"a": {"b": [None, {"c": "d"}, 1.5]}},
}


def exact(value) -> str:
    """JSON text, so True and 1, or 1 and 1.0, do not compare equal as they do in Python."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@pytest.fixture
def source(acme):
    return finished_run(support_workflow(acme)[0])


@pytest.mark.parametrize("value", VALUES.values(), ids=VALUES.keys())
def test_a_value_in_the_edited_payload_survives_storage_execution_and_the_api(api, source, value):
    payload = {**PAYLOAD, "extra": value}
    response = api.post(
        f"/api/v1/acme/runs/{source.run_id}/replays",
        {"mode": "as_is", "trigger_payload": payload},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    run_id = response.json()["run_id"]
    execute(run_id)
    assert Run.objects.get(pk=run_id).status == Run.Status.COMPLETED
    assert exact(Run.objects.get(pk=run_id).trigger_payload) == exact(payload)
    assert exact(api.get(f"/api/v1/acme/runs/{run_id}").json()["trigger_payload"]) == exact(payload)


@pytest.mark.parametrize(
    "name", ["just a string", 2**53 + 1, "Zoë — 日本語 🚀"], ids=["string", "big integer", "unicode"]
)
def test_a_scalar_of_the_edited_payload_renders_into_the_step_input_unchanged(api, source, name):
    response = api.post(
        f"/api/v1/acme/runs/{source.run_id}/replays",
        {"mode": "as_is", "trigger_payload": {**PAYLOAD, "name": name}},
        content_type="application/json",
    )
    run_id = response.json()["run_id"]
    execute(run_id)
    assert Run.objects.get(pk=run_id).steps.get(node_id="draft").input["prompt"] == f"Reply to {name}"


def test_the_editors_prefilled_text_posts_back_as_the_same_payload(acme, operator_client):
    original = {**PAYLOAD, **{key.replace(" ", "_"): value for key, value in VALUES.items()}}
    source = finished_run(support_workflow(acme)[0], payload=original)
    dialog = operator_client.get(f"/acme/ai/runs/{source.run_id}/replay", HTTP_HX_REQUEST="true").content.decode()
    text = html.unescape(re.search(r'<textarea id="trigger_payload"[^>]*>(.*?)</textarea>', dialog, re.S).group(1))
    response = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is", "trigger_payload": text}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 201
    replay = Run.objects.get(replay_of=source)
    assert exact(replay.trigger_payload) == exact(original) and not replay.payload_edited


def test_an_edit_made_in_the_editor_keeps_a_big_integer_exact(source, operator_client):
    text = '{"name": "Dana", "email": "dana@example.com", "id": 9007199254740993}'
    operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is", "trigger_payload": text}, HTTP_HX_REQUEST="true"
    )
    assert Run.objects.get(replay_of=source).trigger_payload["id"] == 9007199254740993
