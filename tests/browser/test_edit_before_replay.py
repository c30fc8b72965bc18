"""Editing before replaying, in the browser: the payload editor and "Write a new revision…", through a real worker."""

import re

import pytest
from playwright.sync_api import expect

from runs.models import Run, content_hash_of

from ..builders import chain_workflow, finished_run, support_workflow
from ..worker import celery_worker, wait_for
from .test_replay_dialog import _shot, open_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def finished_replay_of(source) -> Run:
    return wait_for(
        lambda: Run.objects.filter(replay_of=source, status__in=Run.FINAL_STATUSES).first(),
        message="the replay to finish",
    )


def test_an_edited_payload_marks_the_nodes_it_changes_and_runs_with_the_edit(page_for, operator, acme):
    source = finished_run(chain_workflow(acme, length=3)[0])
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    dialog = page.locator("#modal[open]")
    expect(dialog.locator("#plan-panel")).to_contain_text("Will run 3 · Reused 0")  # htmx has processed the dialog
    dialog.get_by_label("Start from").select_option("n2")
    expect(dialog.locator("#plan-panel")).to_contain_text("Will run 1 · Reused 2")
    dialog.get_by_text("Edit trigger payload").click()
    dialog.get_by_label("Trigger payload (JSON)").fill('{"name": "Ana", "email": "dana@example.com"}')
    plan = dialog.locator("#plan-panel")
    expect(plan).to_contain_text("Will run 3 · Reused 0")
    expect(plan.locator("li", has_text="n0")).to_contain_text("input changed")
    plan.locator("li", has_text="n2").scroll_into_view_if_needed()
    plan.screenshot(path=_shot("dialog-payload-edit-marks-nodes"))
    with celery_worker():
        dialog.get_by_role("button", name="Submit replay").click()
        expect(page.locator("#toasts")).to_contain_text("Replay submitted")
        replay = finished_replay_of(source)
    assert replay.status == Run.Status.COMPLETED and replay.payload_edited
    assert replay.trigger_payload == {"name": "Ana", "email": "dana@example.com"}
    assert all("Ana" in step.input["prompt"] for step in replay.steps.all())
    assert page.errors == []


def test_a_revision_written_in_the_dialog_is_the_one_the_replay_renders(page_for, operator, acme):
    version, revision = support_workflow(acme)
    source = finished_run(version)
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    dialog = page.locator("#modal[open]")
    dialog.get_by_label("Replay with new prompt").check()
    submit = dialog.get_by_role("button", name="Submit replay")
    expect(submit).to_be_disabled()
    dialog.get_by_role("button", name="Write a new revision…").click()
    content = dialog.get_by_label("Content", exact=True)
    expect(content).to_have_value("Reply to {{ trigger.name }}")
    content.fill("Reply briefly to {{ trigger.name }}")
    dialog.get_by_role("button", name="Save revision").click()
    expected = content_hash_of("Reply briefly to {{ trigger.name }}")
    expect(dialog.locator("#revision-result")).to_contain_text(f"Saved a new revision: {expected}.")
    expect(dialog.get_by_label("Prompt artifact id")).to_have_value(revision.artifact.artifact_id)
    expect(dialog.get_by_label("Content hash")).to_have_value(expected)
    expect(dialog.locator(f'#hash-suggestions option[value="{expected}"]')).to_have_count(1)
    expect(submit).to_be_enabled()
    page.screenshot(path=_shot("dialog-revision-written"), full_page=True)
    with celery_worker():
        submit.click()
        expect(page.locator("#toasts")).to_contain_text("Replay submitted")
        replay = finished_replay_of(source)
    draft = replay.steps.get(node_id="draft")
    assert draft.prompt_hash == expected and re.search("Reply briefly to Dana", draft.input["prompt"])
    assert page.errors == []
