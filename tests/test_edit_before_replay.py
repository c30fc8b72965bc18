"""Editing the trigger payload before replaying: what the new run records, and every refusal naming the field."""

import pytest

from runs.http.errors import Rejected
from runs.models import Run

from .builders import chain_workflow, executed_replay, finished_run, submit_replay, support_workflow


@pytest.fixture
def source(acme):
    return finished_run(support_workflow(acme)[0])


def test_an_edited_payload_is_recorded_and_marked(source, operator):
    replay = executed_replay(
        user=operator, run=source, request={"mode": "as_is", "trigger_payload": {"name": "Ana", "email": "a@x.io"}}
    )
    assert replay.trigger_payload == {"name": "Ana", "email": "a@x.io"} and replay.payload_edited
    assert "Ana" in replay.steps.get(node_id="draft").input["prompt"]


def test_the_same_payload_is_not_an_edit(source, operator):
    replay = submit_replay(
        user=operator, run=source, request={"mode": "as_is", "trigger_payload": source.trigger_payload}
    ).run
    assert not replay.payload_edited


@pytest.mark.parametrize("payload", [["a"], "7", "{not json", 3])
def test_a_payload_that_is_not_a_json_object_is_400_naming_the_field(source, operator, payload):
    runs = Run.objects.count()
    with pytest.raises(Rejected) as info:
        submit_replay(user=operator, run=source, request={"mode": "as_is", "trigger_payload": payload})
    assert info.value.status == 400 and info.value.field == "trigger_payload" and Run.objects.count() == runs


def test_a_payload_text_with_a_syntax_error_names_line_and_column(source, operator):
    with pytest.raises(Rejected) as info:
        submit_replay(user=operator, run=source, request={"mode": "as_is", "trigger_payload": '{\n  "a": }'})
    assert "line 2, column 8" in info.value.message


def test_a_payload_over_the_size_setting_is_413(source, operator, settings):
    settings.REPLAY_PAYLOAD_MAX_BYTES = 10
    with pytest.raises(Rejected) as info:
        submit_replay(user=operator, run=source, request={"mode": "as_is", "trigger_payload": {"name": "x" * 20}})
    assert info.value.status == 413 and info.value.field == "trigger_payload"


def test_the_same_idempotency_key_with_another_payload_is_409(source, operator):
    submit_replay(user=operator, run=source, request={"mode": "as_is"}, idempotency_key="k-p")
    with pytest.raises(Rejected) as info:
        submit_replay(
            user=operator,
            run=source,
            request={"mode": "as_is", "trigger_payload": {"name": "B"}},
            idempotency_key="k-p",
        )
    assert info.value.status == 409


def test_a_rerun_with_an_edited_payload_runs_the_nodes_whose_input_changed(acme, operator):
    source = finished_run(chain_workflow(acme, length=3)[0])
    replay = submit_replay(
        user=operator,
        run=source,
        request={"mode": "as_is", "from_nodes": ["n2"], "trigger_payload": {"name": "Someone else"}},
    ).run
    nodes = replay.replay_plan["nodes"]
    assert nodes["n0"]["action"] == "run" and nodes["n2"]["action"] == "run"


def test_the_api_shows_the_edit_and_the_lineage_says_so(api, operator_client, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is", "trigger_payload": {"name": "Z"}})
    assert api.get(f"/api/v1/acme/runs/{replay.run_id}").json()["payload_edited"] is True
    html = operator_client.get(f"/acme/ai/runs/{replay.run_id}").content.decode()
    assert f"{source.run_id}</a> (payload edited)" in html


def test_the_compare_view_shows_the_payload_diff(operator_client, source, operator):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is", "trigger_payload": {"name": "Z"}})
    html = operator_client.get(f"/acme/ai/runs/{replay.run_id}/compare").content.decode()
    assert "The trigger payloads differ" in html and "<ins>" in html


def test_the_dialog_prefills_the_editor_and_diffs_an_edit_in_the_plan(operator_client, source):
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}/replay", HTTP_HX_REQUEST="true").content.decode()
    assert "Edit trigger payload" in html and "&quot;name&quot;: &quot;Dana&quot;" in html
    panel = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay/plan",
        {"mode": "as_is", "trigger_payload": '{"name": "Ana"}'},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "Trigger payload, against the original" in panel and "<ins>" in panel


def test_the_dialogs_plan_leaves_a_payload_syntax_error_to_the_editor_that_shows_it(operator_client, source):
    panel = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay/plan",
        {"mode": "as_is", "trigger_payload": '{\n  "a": }'},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "is not valid JSON" not in panel and 'id="plan-refusal"' not in panel
