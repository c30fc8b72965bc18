"""A plan explains itself (issue 28): every node's reason and a cost range in every mode, what will fail,
what Submit is disabled for, and where the prompts and models are found."""

import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from replay.rules import VERSION_DELETED
from runs import services
from runs.engine.pricing import price
from runs.engine.providers import Usage
from runs.models import PromptRevision, Step

from .builders import chain_workflow, finished_run, llm, renaming_version, support_workflow
from .factories import PromptRevisionFactory


def preflight(api, run, **body):
    response = api.post(
        f"/api/v1/acme/runs/{run.run_id}/replay-plan", {"mode": "as_is", **body}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def reasons(plan) -> dict[str, str]:
    return {n["node_id"]: n["reason"] for n in plan["nodes"]}


def dialog(client, run, query=""):
    return client.get(f"/acme/ai/runs/{run.run_id}/replay{query}", HTTP_HX_REQUEST="true").content.decode()


def plan_panel(client, run, **form):
    return client.post(
        f"/acme/ai/runs/{run.run_id}/replay/plan", {"mode": "as_is", **form}, HTTP_HX_REQUEST="true"
    ).content.decode()


def test_an_as_is_plan_says_each_node_reads_unchanged_inputs_and_estimates_the_recorded_cost(api, acme):
    source = finished_run(support_workflow(acme)[0])
    plan = preflight(api, source)
    assert reasons(plan) == {"draft": "unchanged inputs", "notify": "unchanged inputs"}
    assert plan["totals"]["estimated_cost_usd"] is not None


def test_a_model_plan_says_model_changed_and_downstream_and_reprices_the_recorded_usage(api, acme):
    source = finished_run(support_workflow(acme)[0])
    plan = preflight(api, source, mode="model", model_id="gpt-5", model_ref="openai:gpt-5")
    assert reasons(plan) == {"draft": "model changed", "notify": "input may change: downstream of draft"}
    step = Step.objects.get(run=source, node_id="draft")
    usage = Usage(step.input_tokens, step.output_tokens, step.cache_read_tokens, step.cache_write_tokens)
    repriced = price("openai:gpt-5", usage, step.started_at)
    low, high = (Decimal(v) for v in plan["totals"]["estimated_cost_usd"])
    assert low < repriced < high


def test_a_recorded_model_plan_says_a_downstream_call_may_find_no_recording(api, acme):
    source = finished_run(support_workflow(acme)[0])
    plan = preflight(api, source, mode="model", model_id="gpt-5", model_ref="openai:gpt-5", tools="recorded")
    assert reasons(plan)["notify"] == (
        "input may change: downstream of draft: the recording answers the same arguments only, other ones fail the step"
    )


def test_a_prompt_plan_says_prompt_changed(api, acme):
    version, revision = support_workflow(acme)
    source = finished_run(version)
    other = PromptRevisionFactory(artifact=revision.artifact, content="Write to {{ trigger.name }} kindly")
    plan = preflight(
        api, source, mode="prompt", prompt_artifact_id=revision.artifact.artifact_id, content_hash=other.content_hash
    )
    assert reasons(plan)["draft"] == "prompt changed"


def test_an_edited_payload_says_input_changed(api, acme):
    source = finished_run(support_workflow(acme)[0])
    plan = preflight(api, source, trigger_payload={"name": "Ana", "email": "dana@example.com"})
    assert reasons(plan)["draft"] == "input changed"


def test_the_command_prints_each_nodes_reason_of_a_default_plan(acme, operator):
    source = finished_run(support_workflow(acme)[0])
    out = StringIO()
    call_command("replay", source.run_id, "--model", "gpt-5", "openai:gpt-5", "--plan", "--as", "operator", stdout=out)
    assert "run    draft  (model changed)" in out.getvalue()
    assert "run    notify  (input may change: downstream of draft)" in out.getvalue()


def test_the_default_dialog_plan_shows_reasons_and_a_known_estimate(operator_client, acme):
    source = finished_run(support_workflow(acme)[0])
    html = dialog(operator_client, source)
    assert "unchanged inputs" in html and "a replay without a start node runs every node" not in html
    assert "Estimated cost unknown" not in html and "Estimated cost $" in html


def _order_total_revision(acme):
    """The support workflow, run, and a new revision of its prompt reading a field its payload lacks."""
    version, revision = support_workflow(acme)
    source = finished_run(version)
    other = PromptRevisionFactory(artifact=revision.artifact, content="Refund {{ trigger.order_total }} to the client")
    fields = {"mode": "prompt", "prompt_artifact_id": revision.artifact.artifact_id, "content_hash": other.content_hash}
    return source, fields


def test_a_revision_reading_a_missing_payload_field_marks_the_node_will_fail(api, acme):
    source, fields = _order_total_revision(acme)
    plan = preflight(api, source, **fields)
    draft = next(n for n in plan["nodes"] if n["node_id"] == "draft")
    assert draft["will_fail"] == "missing trigger.order_total"
    assert draft["reason"] == "will fail: missing trigger.order_total"


def test_the_dialog_blocks_submit_for_a_node_that_will_fail_and_says_why(operator_client, acme):
    source, fields = _order_total_revision(acme)
    html = plan_panel(operator_client, source, **fields)
    assert (
        '<span class="chip chip-fail">will fail</span> <span class="plan-fails">missing trigger.order_total</span>'
        in html
    )
    assert 'data-blocked="This replay would fail: draft will fail: missing trigger.order_total.' in html
    assert 'id="submit-why"' in html and 'hx-swap-oob="true"' in html


def test_a_run_whose_version_was_deleted_gets_the_product_message_in_the_dialog(operator_client, acme):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    services.add_version(workflow=version.workflow, nodes=[llm("only", PromptRevision.objects.first())])
    services.delete_version(version=version)
    html = dialog(operator_client, source)
    assert f'data-blocked="{VERSION_DELETED}"' in html
    assert f'<p id="submit-why" class="submit-why field-error" role="status">{VERSION_DELETED}</p>' in html


def test_a_hash_of_another_artifact_blocks_submit_with_the_refusal(operator_client, acme):
    version, revision = support_workflow(acme)
    source = finished_run(version)
    foreign = PromptRevisionFactory(artifact__workspace=acme)
    html = plan_panel(
        operator_client,
        source,
        mode="prompt",
        prompt_artifact_id=revision.artifact.artifact_id,
        content_hash=foreign.content_hash,
    )
    message = (
        f"Content hash {foreign.content_hash} is not a revision of prompt artifact {revision.artifact.artifact_id}."
    )
    assert f'data-blocked="{message}"' in html


def test_prompt_mode_shows_no_red_error_before_anything_is_typed(operator_client, acme):
    source = finished_run(support_workflow(acme)[0])
    html = plan_panel(operator_client, source, mode="prompt", prompt_artifact_id="", content_hash="")
    assert "alert-error" not in html and 'data-blocked=""' in html


def test_a_large_plan_leads_with_what_will_run_and_collapses_the_reused(operator_client, acme):
    source = finished_run(chain_workflow(acme, length=12)[0])
    html = dialog(operator_client, source, "?from_node=n10")
    assert "Will run 2 · Reused 10" in html
    assert html.index("<h4>Will run</h4>") < html.index('<details class="plan-reused">')


def test_the_trace_names_each_steps_prompt_artifact_and_revision(operator_client, acme):
    version, revision = support_workflow(acme)
    PromptRevisionFactory(artifact=revision.artifact, content="A later revision")
    source = finished_run(version)
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}").content.decode()
    artifact = revision.artifact
    assert f'<span class="prompt-name">{artifact.name}</span> <span class="mono">{artifact.artifact_id}</span>' in html
    assert " · revision 1 of 2 (" in html
    assert f'data-artifact="{artifact.artifact_id}">Replay with another revision of this prompt</button>' in html


def test_the_dialog_opens_in_prompt_mode_with_the_artifact_filled(operator_client, acme):
    version, revision = support_workflow(acme)
    source = finished_run(version)
    artifact = revision.artifact.artifact_id
    html = dialog(operator_client, source, f"?mode=prompt&prompt_artifact_id={artifact}")
    assert 'value="prompt" checked' in html and 'name="prompt_artifact_id"' in html and f'value="{artifact}"' in html
    assert "alert-error" not in html  # the hash is still to be typed


def test_hash_suggestions_name_their_artifact_first_line_and_date(operator_client, acme):
    version, revision = support_workflow(acme)
    source = finished_run(version)
    other = PromptRevisionFactory(artifact__workspace=acme, content="Other prompt\nsecond line")
    html = dialog(operator_client, source, f"?mode=prompt&prompt_artifact_id={revision.artifact.artifact_id}")
    date = other.created_at.strftime("%Y-%m-%d %H:%M")
    assert (
        f'<option value="{other.content_hash}" data-artifact="{other.artifact.artifact_id}" disabled>'
        f"Other prompt · {date}</option>"
    ) in html
    assert f'<option value="{revision.content_hash}" data-artifact="{revision.artifact.artifact_id}">' in html
    assert "· this run's revision</option>" in html
    assert html.count("this run's revision") == 1  # the one the run used, not the other artifact's


def test_the_model_select_lists_the_allowed_models_only(operator_client, acme):
    acme.allowed_models = ["openai:gpt-5", "anthropic:claude-2-1"]
    acme.save()
    source = finished_run(support_workflow(acme)[0])
    html = dialog(operator_client, source)
    select = html[
        html.index('<select id="model_pick"') : html.index("</select>", html.index('<select id="model_pick"'))
    ]
    assert '<option value="openai:gpt-5" data-model-id="gpt-5">gpt-5 (openai:gpt-5)</option>' in select
    assert "claude-2-1" not in select and "claude-opus-4-7" not in select


def test_a_renamed_nodes_reference_is_not_an_argument_change_on_a_mapped_version(api, acme):
    version = support_workflow(acme)[0]
    source = finished_run(version)
    v2 = renaming_version(version)
    plan = preflight(api, source, target_version=v2.number, node_mapping={"draft": "compose", "notify": "send"})
    assert reasons(plan)["send"] == "unchanged inputs"


def test_an_argument_that_reads_another_node_on_a_mapped_version_is_a_change(api, acme):
    version = support_workflow(acme)[0]
    source = finished_run(version)
    v2 = renaming_version(version, tool_id="notify", body="{{ nodes.compose.output }} (v2)")
    plan = preflight(api, source, target_version=v2.number, node_mapping={"draft": "compose"})
    assert reasons(plan)["notify"] == "arguments changed"


@pytest.mark.parametrize(("mode", "said"), [("prompt", "Choose the prompt revision"), ("model", "Choose the model")])
def test_submit_says_what_it_waits_for_while_the_modes_fields_are_empty_without_a_red_alert(
    operator_client, acme, mode, said
):
    source = finished_run(support_workflow(acme)[0])
    html = plan_panel(operator_client, source, mode=mode)
    assert 'id="plan-refusal"' not in html
    assert re.search(rf'<p id="submit-why"[^>]*>{said} to replay with: the plan follows it.</p>', html)
