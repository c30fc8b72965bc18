"""The Replay dialog follows its plan (issue 28): reasons and costs, Start from of the version chosen, Submit
waiting for what the plan refuses, and prompts and models found where the operator looks."""

import re

import pytest
from playwright.sync_api import expect

from replay.rules import MODEL_NOT_AVAILABLE, VERSION_DELETED
from runs import services
from runs.models import PromptRevision, Run

from ..builders import finished_run, llm, renaming_version, support_workflow
from ..factories import PromptRevisionFactory
from .test_mapping_and_monitoring import save_mapping_in_dialog
from .test_replay_dialog import _shot, open_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def open_dialog(page, run):
    open_trace(page, run)
    page.keyboard.press("r")
    dialog = page.locator("#modal[open]")
    expect(dialog.locator("#plan-panel .plan-totals")).to_be_visible()
    return dialog


def test_the_default_plan_in_model_mode_gives_each_nodes_reason_and_a_cost_range(page_for, operator, acme):
    source = finished_run(support_workflow(acme)[0])
    page = page_for(operator)
    dialog = open_dialog(page, source)
    plan = dialog.locator("#plan-panel")
    expect(plan).to_contain_text("unchanged inputs")
    dialog.get_by_label("Replay with new model").check()
    dialog.get_by_label("Allowed models").select_option("openai:gpt-5")
    expect(dialog.get_by_label("Model id")).to_have_value("gpt-5")
    expect(dialog.get_by_label("Model ref")).to_have_value("openai:gpt-5")
    expect(plan).to_contain_text("model changed")
    expect(plan).to_contain_text("input may change: downstream of draft")
    expect(plan.locator(".plan-totals")).to_contain_text(re.compile(r"Estimated cost \$[0-9.]+–\$[0-9.]+"))
    expect(dialog.get_by_role("button", name="Submit replay")).to_be_enabled()
    plan.locator("li").last.evaluate("el => el.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(_shot("dialog-default-plan-model")))
    assert page.errors == []


def test_start_from_lists_the_chosen_versions_nodes_and_follows_the_select(page_for, operator, acme):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    renaming_version(version)
    page = page_for(operator)
    dialog = open_dialog(page, source)
    start = dialog.get_by_label("Start from")
    dialog.get_by_label("Workflow version").select_option("2")
    expect(start.locator("option")).to_have_text(["compose (the first node: every node runs)", "send"])
    dialog.get_by_label("Workflow version").select_option("1")
    expect(start.locator("option")).to_have_text(["draft (the first node: every node runs)", "notify"])
    dialog.get_by_label("Workflow version").select_option("2")
    save_mapping_in_dialog(page)
    expect(dialog.locator("#mapping-section")).to_have_attribute("data-unmapped", "0")
    expect(dialog.locator("#plan-panel .plan-totals")).to_contain_text("Will run 2 · Reused 0")
    dialog.get_by_label("Start from").select_option("send")
    expect(dialog.locator("#plan-panel .plan-totals")).to_contain_text("Will run 1 · Reused 1")
    expect(dialog.locator("#plan-refusal")).to_have_count(0)
    dialog.get_by_role("button", name="Submit replay").click()
    expect(page.locator("#toasts")).to_contain_text("Replay submitted")
    replay = Run.objects.get(replay_of=source)
    assert replay.version_number == 2 and replay.replay_plan["from_nodes"] == ["send"]
    assert page.errors == []


def test_start_from_survives_a_version_change_through_the_mapping_and_is_reset_only_without_one(
    page_for, operator, acme
):
    version, _ = support_workflow(acme)
    source = finished_run(version)
    renaming_version(version)  # v2: compose → send
    page = page_for(operator)
    dialog = open_dialog(page, source)
    start, plan = dialog.get_by_label("Start from"), dialog.locator("#plan-panel")
    start.select_option("notify")
    expect(plan.locator(".plan-totals")).to_contain_text("Will run 1 · Reused 1")
    dialog.get_by_label("Workflow version").select_option("2")  # no mapping yet: notify leads nowhere in v2
    expect(start).to_have_value("")
    expect(plan.locator("#start-reset")).to_contain_text("notify is not a node of v2")
    plan.locator("#start-reset").evaluate("el => el.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(_shot("dialog-start-from-reset")))
    save_mapping_in_dialog(page)
    expect(dialog.locator("#mapping-section")).to_have_attribute("data-unmapped", "0")
    expect(plan.locator(".plan-totals")).to_contain_text("Will run 2 · Reused 0")
    start.select_option("send")
    expect(plan.locator("#start-reset")).to_have_count(0)
    expect(plan.locator(".plan-totals")).to_contain_text("Will run 1 · Reused 1")
    started = plan.locator(".plan-nodes").first.locator("li").first  # the start node, first of "Will run"
    expect(started).to_contain_text("send mapped from notify")
    dialog.get_by_label("Workflow version").select_option("1")  # back through the mapping the form showed
    expect(start).to_have_value("notify")
    expect(started.locator("code")).to_have_text("notify")
    expect(plan.locator(".plan-totals")).to_contain_text("Will run 1 · Reused 1")
    dialog.get_by_label("Workflow version").select_option("2")  # forward through the saved mapping
    expect(start).to_have_value("send")
    expect(dialog.locator("#mapping-section")).to_have_attribute("data-unmapped", "0")
    expect(started).to_contain_text("send mapped from notify")
    expect(plan.locator(".plan-totals")).to_contain_text("Will run 1 · Reused 1")
    expect(plan.locator("#start-reset")).to_have_count(0)
    expect(dialog.get_by_role("button", name="Submit replay")).to_be_enabled()
    plan.locator(".plan-nodes").first.evaluate("el => el.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(_shot("dialog-start-from-kept")))
    assert page.errors == []


def test_submit_waits_for_a_model_the_plan_refuses_and_says_why(page_for, operator, acme):
    acme.allowed_models = ["anthropic:claude-opus-4-7"]
    acme.save()
    source = finished_run(support_workflow(acme)[0])
    page = page_for(operator)
    dialog = open_dialog(page, source)
    submit = dialog.get_by_role("button", name="Submit replay")
    dialog.get_by_label("Replay with new model").check()
    dialog.get_by_label("Model id").fill("gpt-5")
    dialog.get_by_label("Model ref").fill("openai:gpt-5")
    expect(dialog.locator("#plan-refusal")).to_have_text(MODEL_NOT_AVAILABLE)
    expect(dialog.locator("#submit-why")).to_have_text(MODEL_NOT_AVAILABLE)
    expect(submit).to_be_disabled()
    dialog.locator("#plan-refusal").evaluate("el => el.scrollIntoView({block: 'center'})")
    page.screenshot(path=str(_shot("dialog-refusal")))
    cancel, submitted = dialog.locator(".dialog-footer .js-close-dialog").bounding_box(), submit.bounding_box()
    assert cancel and submitted  # the reason wraps beside the buttons: they keep their row and their height
    assert abs(cancel["y"] - submitted["y"]) < 2 and abs(cancel["height"] - submitted["height"]) < 2
    dialog.get_by_label("Allowed models").select_option("anthropic:claude-opus-4-7")
    expect(dialog.locator("#submit-why")).to_have_text("")
    expect(submit).to_be_enabled()
    assert page.errors == []


def test_a_run_whose_version_was_deleted_says_so_before_any_submit(page_for, operator, acme):
    version, revision = support_workflow(acme)
    source = finished_run(version)
    services.add_version(workflow=version.workflow, nodes=[llm("only", revision)])
    services.delete_version(version=version)
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    dialog = page.locator("#modal[open]")
    expect(dialog.locator("#plan-refusal")).to_have_text(VERSION_DELETED)
    expect(dialog.locator("#submit-why")).to_have_text(VERSION_DELETED)
    expect(dialog.get_by_role("button", name="Submit replay")).to_be_disabled()
    assert page.errors == []


def test_a_revision_reading_a_missing_payload_field_disables_submit_until_the_payload_has_it(page_for, operator, acme):
    version, revision = support_workflow(acme)
    source = finished_run(version)
    other = PromptRevisionFactory(artifact=revision.artifact, content="Refund {{ trigger.order_total }} to the client")
    page = page_for(operator)
    dialog = open_dialog(page, source)
    submit = dialog.get_by_role("button", name="Submit replay")
    dialog.get_by_label("Replay with new prompt").check()
    dialog.get_by_label("Prompt artifact id").fill(revision.artifact.artifact_id)
    dialog.get_by_label("Content hash").fill(other.content_hash)
    expect(dialog.locator("#plan-panel .plan-fails")).to_have_text("missing trigger.order_total")
    expect(dialog.locator("#submit-why")).to_contain_text("draft will fail: missing trigger.order_total")
    expect(submit).to_be_disabled()
    dialog.get_by_text("Edit trigger payload").click()
    dialog.get_by_label("Trigger payload (JSON)").fill(
        '{"name": "Dana", "email": "dana@example.com", "order_total": 42}'
    )
    expect(dialog.locator("#plan-panel")).to_contain_text("prompt changed")
    expect(submit).to_be_enabled()
    assert page.errors == []


def test_the_trace_opens_the_dialog_in_prompt_mode_with_the_steps_artifact(page_for, operator, acme):
    version, revision = support_workflow(acme)
    later = PromptRevisionFactory(artifact=revision.artifact, content="A kinder reply to {{ trigger.name }}")
    unrelated = PromptRevisionFactory(artifact__workspace=acme, content="Another prompt altogether")
    source = finished_run(version)
    page = page_for(operator)
    open_trace(page, source)
    page.locator("#step-draft summary").click()
    step = page.locator("#step-draft")
    expect(step).to_contain_text(f"{revision.artifact.name} {revision.artifact.artifact_id} · revision 1 of 2")
    step.screenshot(path=str(_shot("trace-step-prompt")))
    step.get_by_role("button", name="Replay with another revision of this prompt").click()
    dialog = page.locator("#modal[open]")
    expect(dialog.get_by_label("Replay with new prompt")).to_be_checked()
    expect(dialog.get_by_label("Prompt artifact id")).to_have_value(revision.artifact.artifact_id)
    expect(dialog.locator("#plan-panel")).to_be_visible()
    expect(dialog.locator(".alert-error")).to_have_count(0)
    suggested = dialog.locator("#hash-suggestions option:not([disabled])")
    expect(suggested).to_have_count(2)
    expect(suggested.nth(1)).to_have_attribute("value", later.content_hash)
    dialog.get_by_label("Prompt artifact id").fill(unrelated.artifact.artifact_id)
    expect(suggested).to_have_count(1)
    expect(suggested.first).to_contain_text("Another prompt altogether · ")
    assert PromptRevision.objects.count() == 3 and page.errors == []
