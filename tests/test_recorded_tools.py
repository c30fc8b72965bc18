"""Recorded tool calls: a replay answered from the original run's recording, so nothing is sent anywhere."""

import json
import re

import pytest

from replay.services import preview_replay
from runs import services
from runs.engine.replay_plan import Disposition
from runs.http.errors import Rejected
from runs.models import OutboxMessage, Run, ToolCall

from .builders import executed_replay, finished_run, renaming_version, submit_replay, support_workflow, tool
from .factories import PromptRevisionFactory

pytestmark = pytest.mark.usefixtures("run_max_parallel")

RECORDED = {"mode": "as_is", "tools": "recorded"}


def weather_workflow(workspace, url):
    return services.create_workflow(
        workspace=workspace,
        name="Weather",
        nodes=[tool("fetch", "http.get", {"url": url + "/weather?city={{ trigger.name }}"})],
    )


@pytest.fixture
def moved_world(acme, local_server, tools_reach_local_server):
    """An original run that got one answer from the server, which now answers something else."""
    local_server.script("/weather", [(200, {"temp": 11, "sky": "rain"})])
    source = finished_run(weather_workflow(acme, local_server.url))
    local_server.script("/weather", [(200, {"temp": 25, "sky": "sun"})])
    return source


def test_a_recorded_replay_answers_with_the_original_result_and_sends_no_request(moved_world, local_server, operator):
    sent = len(local_server.requests)
    replay = executed_replay(user=operator, run=moved_world, request=RECORDED)
    assert replay.status == "completed" and len(local_server.requests) == sent
    call, original = ToolCall.objects.get(step__run=replay), ToolCall.objects.get(step__run=moved_world)
    assert json.dumps(call.result) == json.dumps(original.result)
    assert replay.steps.get().output == moved_world.steps.get().output
    assert (call.source, call.recorded_in_run_id, call.dry_run) == ("recorded", moved_world.pk, False)


def test_a_live_replay_sends_the_request_again(moved_world, local_server, operator):
    sent = len(local_server.requests)
    replay = executed_replay(user=operator, run=moved_world, request={"mode": "as_is"})
    assert len(local_server.requests) == sent + 1
    call = ToolCall.objects.get(step__run=replay)
    assert call.result["body"] == {"temp": 25, "sky": "sun"} and call.source == "live"


def test_a_recorded_replay_of_a_recorded_replay_names_the_run_where_the_call_was_made(moved_world, operator):
    first = executed_replay(user=operator, run=moved_world, request=RECORDED)
    second = executed_replay(user=operator, run=first, request=RECORDED)
    assert ToolCall.objects.get(step__run=second).recorded_in_run_id == moved_world.pk


def test_changed_arguments_fail_the_step_with_a_diff_naming_the_argument(acme, operator):
    revision = PromptRevisionFactory(artifact__workspace=acme, content="Ticket for {{ trigger.name }}")
    version = services.create_workflow(
        workspace=acme,
        name="Lookup",
        nodes=[
            {
                "id": "draft",
                "type": "llm",
                "model": "anthropic:claude-opus-4-7",
                "after": [],
                "prompt": {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash},
            },
            tool("lookup", "records.lookup", {"kind": "ticket", "key": "{{ nodes.draft.output }}"}, after=["draft"]),
        ],
    )
    newer = services.add_prompt_revision(artifact=revision.artifact, content="Another ticket for {{ trigger.name }}")
    source = finished_run(version)
    request = {
        **RECORDED,
        "mode": "prompt",
        "prompt_artifact_id": revision.artifact.artifact_id,
        "content_hash": newer.content_hash,
    }
    replay = executed_replay(user=operator, run=source, request=request)
    step = replay.steps.get(node_id="lookup")
    assert replay.status == "failed" and step.status == "failed"
    assert step.error.startswith("No recorded call matches this tool call.")
    changed = json.loads(step.error.split(": ", 1)[1])
    assert list(changed) == ["key"] and changed["key"]["recorded"] == source.steps.get(node_id="draft").output
    assert not ToolCall.objects.filter(step__run=replay).exists()
    assert step.input == {"arguments": {"kind": "ticket", "key": replay.steps.get(node_id="draft").output}}


def test_recorded_mode_invokes_no_mutation_even_when_node_and_workspace_allow_it(acme, operator):
    version, _ = support_workflow(acme, allow_send=True)
    acme.replay_allow_mutations = True
    acme.save()
    source = finished_run(version)
    membership = operator.memberships.get(workspace=acme)
    preview = preview_replay(membership=membership, run_id=source.pk, fields=RECORDED)
    assert preview.invoking == [] and not preview.needs_confirmation
    assert preview.plan.by_node()["notify"].disposition == Disposition.RECORDED
    replay = executed_replay(user=operator, run=source, request=RECORDED)  # no confirm_invoke needed
    assert replay.status == "completed" and OutboxMessage.objects.count() == 1
    assert ToolCall.objects.get(step__run=replay).source == "recorded"
    assert replay.replay_plan["tools"] == "recorded"
    assert replay.replay_plan["nodes"]["notify"]["disposition"] == "recorded"


def test_a_cross_version_recorded_replay_answers_a_renamed_node_from_its_mapped_source(acme, operator):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    renaming_version(version)
    request = {**RECORDED, "target_version": 2, "node_mapping": {"draft": "compose", "notify": "send"}}
    replay = executed_replay(user=operator, run=source, request=request)
    assert replay.status == "completed"
    call = ToolCall.objects.get(step__run=replay)
    assert call.step.node_id == "send" and call.source == "recorded"
    assert call.result == ToolCall.objects.get(step__run=source).result and OutboxMessage.objects.count() == 1


def test_reused_nodes_stay_reused_in_recorded_mode(acme, operator):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    membership = operator.memberships.get(workspace=acme)
    plan = preview_replay(membership=membership, run_id=source.pk, fields={**RECORDED, "from_nodes": ["draft"]}).plan
    assert plan.by_node()["notify"].disposition == Disposition.RECORDED
    plan = preview_replay(membership=membership, run_id=source.pk, fields={**RECORDED, "from_nodes": ["notify"]}).plan
    assert plan.by_node()["draft"].action == "reuse" and plan.by_node()["notify"].disposition == Disposition.RECORDED


def test_the_tools_choice_changes_the_plan_version(acme, operator):
    source = finished_run(support_workflow(acme)[0])
    membership = operator.memberships.get(workspace=acme)
    live = preview_replay(membership=membership, run_id=source.pk, fields={"mode": "as_is"}).plan
    recorded = preview_replay(membership=membership, run_id=source.pk, fields=RECORDED).plan
    assert live.version != recorded.version


def test_the_same_idempotency_key_with_another_tools_choice_is_409(acme, operator):
    source = finished_run(support_workflow(acme)[0])
    submit_replay(user=operator, run=source, request={"mode": "as_is"}, idempotency_key="k-tools")
    with pytest.raises(Rejected) as info:
        submit_replay(user=operator, run=source, request=RECORDED, idempotency_key="k-tools")
    assert info.value.status == 409 and Run.objects.filter(replay_of=source).count() == 1


def test_an_unknown_tools_value_is_refused_naming_the_field(acme, operator):
    source = finished_run(support_workflow(acme)[0])
    with pytest.raises(Rejected) as info:
        submit_replay(user=operator, run=source, request={"mode": "as_is", "tools": "mocked"})
    assert info.value.status == 400 and info.value.field == "tools"


def test_the_command_replays_with_recorded_tools(acme, operator, capsys):
    from django.core.management import call_command

    source = finished_run(support_workflow(acme)[0])
    call_command("replay", source.run_id, "--tools", "recorded", "--as", "operator")
    replay = Run.objects.get(pk=capsys.readouterr().out.strip())
    assert replay.replay_plan["tools"] == "recorded"


def test_the_run_api_gives_each_tool_call_its_source(acme, operator, api):
    source = finished_run(support_workflow(acme)[0])
    replay = executed_replay(user=operator, run=source, request=RECORDED)
    answer = api.get(f"/api/v1/acme/runs/{replay.pk}").json()
    calls = [c for step in answer["steps"] for c in step["tool_calls"]]
    assert [(c["source"], c["recorded_in"]) for c in calls] == [("recorded", source.pk)]


def test_the_migration_backfills_the_source_of_earlier_calls_from_their_flags(acme, operator):
    from importlib import import_module

    from django.apps import apps

    source = finished_run(support_workflow(acme)[0])
    dry = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    copied = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    ToolCall.objects.filter(step__run=copied).update(reused=True)  # a dry-run call copied with its step
    ToolCall.objects.update(source="live")  # as the column's default left every call made before it
    import_module("runs.migrations.0013_toolcall_source").backfill(apps, None)
    sources = {run.pk: ToolCall.objects.get(step__run=run).source for run in (source, dry, copied)}
    assert sources == {source.pk: "live", dry.pk: "dry_run", copied.pk: "reused"}


def test_the_replay_plan_endpoint_says_nothing_is_sent_in_recorded_mode(api, acme):
    acme.replay_allow_mutations = True
    acme.save()
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    body = api.post(f"/api/v1/acme/runs/{source.pk}/replay-plan", RECORDED, content_type="application/json").json()
    assert (body["tools"], body["mutations"], body["invoking_nodes"], body["confirmation_required"]) == (
        "recorded",
        "recorded",
        [],
        False,
    )
    assert body["nodes"][1]["call"]["disposition"] == "recorded" and body["totals"]["recorded"] == 1


def test_the_dialog_offers_the_tool_calls_choice_live_by_default(operator_client, acme):
    source = finished_run(support_workflow(acme)[0])
    html = operator_client.get(f"/acme/ai/runs/{source.pk}/replay", HTTP_HX_REQUEST="true").content.decode()
    assert "<legend>Tool calls</legend>" in html
    # A change inside .tool-calls refreshes the plan (static/js/app.js listens on the document for it).
    assert '<input type="radio" name="tools" value="live" checked>' in html and 'class="tool-calls"' in html


def test_the_plan_panel_in_recorded_mode_is_blue_and_marks_each_call_recorded(operator_client, acme):
    acme.replay_allow_mutations = True
    acme.save()
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    html = operator_client.post(
        f"/acme/ai/runs/{source.pk}/replay/plan", {"mode": "as_is", "tools": "recorded"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<span class="chip chip-recorded">recorded</span>' in html and "will invoke" not in html
    assert 'name="confirm_invoke"' not in html and "banner-danger" not in html
    assert "answered from this run's recording: none is sent" in html


def test_the_trace_labels_a_recorded_call_with_the_run_it_was_recorded_in(operator_client, acme, operator):
    source = finished_run(support_workflow(acme)[0])
    replay = executed_replay(user=operator, run=source, request=RECORDED)
    html = operator_client.get(f"/acme/ai/runs/{replay.pk}").content.decode()
    link = f'<a class="mono" href="/acme/ai/runs/{source.pk}">{source.pk}</a>'
    assert f'<span class="badge badge-recorded">recorded</span> <span class="nowrap">in run {link}</span>' in html
    assert "<td>invoked</td>" not in html


def test_a_recorded_calls_collapsed_step_row_says_recorded_as_a_dry_run_row_says_dry_run(
    operator_client, acme, operator
):
    """The row's summary is what an operator scans: a call that was not sent is named there, not only inside."""
    source = finished_run(support_workflow(acme)[0])
    replay = executed_replay(user=operator, run=source, request=RECORDED)
    html = operator_client.get(f"/acme/ai/runs/{replay.pk}").content.decode()
    summary = re.search(r'<summary id="summary-notify">.*?</summary>', html, re.S)
    assert summary and '<span class="badge badge-recorded">recorded</span>' in summary.group()


def test_the_recordings_are_read_in_one_query_per_run_whatever_the_number_of_calls(acme, operator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from runs.engine.executor import execute

    nodes = [tool(f"look{i}", "records.lookup", {"kind": "ticket", "key": str(i)}) for i in range(5)]
    source = finished_run(services.create_workflow(workspace=acme, name="Lookups", nodes=nodes))
    replay = submit_replay(user=operator, run=source, request=RECORDED).run
    with CaptureQueriesContext(connection) as queries:
        execute(replay.pk)
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and ToolCall._meta.db_table in q["sql"]]
    assert len(reads) == 1 and Run.objects.get(pk=replay.pk).status == "completed"
