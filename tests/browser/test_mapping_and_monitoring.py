"""Cross-version replay through the mapping dialog, saved-mapping reuse, and the monitoring page."""

import pytest
from playwright.sync_api import expect

from mappings.models import NodeMapping
from runs.models import Run

from ..builders import finished_run, renaming_version, run_in_status, support_workflow
from ..factories import MembershipFactory, UserFactory
from .test_replay_dialog import _shot, open_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def cross(acme):
    """A finished run of v1 (draft, notify) and v2, which renames both."""
    version, _ = support_workflow(acme)
    source = finished_run(version)
    renaming_version(version)
    return source


def choose_version_2(page):
    page.keyboard.press("r")
    # Submit is enabled by the htmx:load handler: once it is, htmx has wired the dialog.
    expect(page.get_by_role("button", name="Submit replay")).to_be_enabled()
    page.get_by_label("Workflow version").select_option("2")


def colleague_choosing_version_2(page_for, workspace, run):
    """A second operator of the workspace, in the Replay dialog of the same run with version 2 chosen."""
    colleague = MembershipFactory(user=UserFactory(username="colleague"), workspace=workspace).user
    page = page_for(colleague)
    open_trace(page, run)
    choose_version_2(page)
    return page


def save_mapping_in_dialog(page, *, shared=False):
    page.get_by_role("button", name="Resolve mapping").click()
    mapping = page.locator("#mapping-modal[open]")
    mapping.get_by_label("draft", exact=True).select_option("compose")
    mapping.get_by_label("notify", exact=True).select_option("send")
    if shared:
        mapping.get_by_label("Workspace (shared)").check()
    mapping.get_by_role("button", name="Save mapping").click()
    expect(page.locator("#mapping-modal[open]")).to_have_count(0)


def test_cross_version_replay_from_the_alert_through_the_mapping_dialog(page_for, operator, cross):
    page = page_for(operator)
    open_trace(page, cross)
    choose_version_2(page)
    alert = page.locator("#mapping-section .alert-error")
    expect(alert).to_contain_text("2 renamed node(s) need mapping before this cross-version replay can run.")
    expect(page.get_by_role("button", name="Submit replay")).to_be_disabled()
    alert.get_by_role("button", name="Resolve mapping").click()
    mapping = page.locator("#mapping-modal[open]")
    expect(mapping.get_by_role("heading", name="Map renamed nodes.")).to_be_visible()
    expect(mapping.get_by_label("Operator (private)")).to_be_checked()
    save = mapping.get_by_role("button", name="Save mapping")
    draft = mapping.get_by_label("draft", exact=True)
    expect(draft).to_have_value("compose")  # preselected (issue 32); the operator still saves
    draft.select_option("")
    expect(draft.locator("option:checked")).to_have_text("Pick target")
    expect(save).to_be_disabled()
    draft.select_option("compose")
    notify = mapping.get_by_label("notify", exact=True)
    notify.click()
    expect(notify.locator("option", has_text="compose (already chosen)")).to_have_count(1)
    notify.select_option("send")
    expect(save).to_be_enabled()
    page.screenshot(path=str(_shot("mapping-dialog")))
    save.click()
    expect(page.locator("#mapping-modal[open]")).to_have_count(0)
    expect(page.locator("#mapping-section")).to_contain_text("Applied saved mapping: Operator (private)")
    expect(page.locator("#mapping-section .alert-error")).to_have_count(0)
    page.get_by_role("button", name="Submit replay").click()
    expect(page.locator(".toast")).to_contain_text("Replay submitted")
    replay = Run.objects.get(replay_of=cross)
    assert replay.version_number == 2 and replay.node_mapping == {"draft": "compose", "notify": "send"}
    from runs.engine.executor import execute

    execute(replay.run_id)
    page.goto(f"/acme/ai/runs/{replay.run_id}")
    expect(page.locator("#step-compose")).to_contain_text("was draft")
    expect(page.locator("#step-send")).to_contain_text("dry run")
    assert page.errors == []


def test_each_dialog_opens_with_the_focus_on_its_first_field(page_for, operator, cross):
    page = page_for(operator)
    open_trace(page, cross)
    page.keyboard.press("r")
    expect(page.get_by_label("Replay as-is")).to_be_focused()  # the checked option of the first field
    page.get_by_label("Workflow version").select_option("2")
    page.get_by_role("button", name="Resolve mapping").click()
    expect(page.locator("#mapping-modal[open]").get_by_label("draft", exact=True)).to_be_focused()


def test_shared_mapping_goes_straight_to_submit_for_another_operator(page_for, operator, acme, cross):
    page = page_for(operator)
    open_trace(page, cross)
    choose_version_2(page)
    save_mapping_in_dialog(page, shared=True)
    assert NodeMapping.objects.get().visibility == "workspace"

    other = colleague_choosing_version_2(page_for, acme, cross)
    expect(other.locator("#mapping-section")).to_contain_text("Applied saved mapping: Workspace (shared) by operator")
    expect(other.get_by_role("button", name="Submit replay")).to_be_enabled()
    other.get_by_role("button", name="Submit replay").click()
    expect(other.locator(".toast")).to_contain_text("Replay submitted")


def test_private_mapping_is_not_seen_by_another_operator(page_for, operator, acme, cross):
    page = page_for(operator)
    open_trace(page, cross)
    choose_version_2(page)
    save_mapping_in_dialog(page)
    expect(page.locator("#mapping-section")).to_contain_text("Applied saved mapping: Operator (private)")

    other = colleague_choosing_version_2(page_for, acme, cross)
    expect(other.locator("#mapping-section .alert-error")).to_contain_text("2 renamed node(s) need mapping")
    expect(other.get_by_role("button", name="Submit replay")).to_be_disabled()


def test_monitoring_detail_pause_resume_cancel_and_no_replay(page_for, operator, acme):
    version, _ = support_workflow(acme)
    run = run_in_status(version, "running")
    page = page_for(operator)
    page.goto(f"/acme/monitoring/workflow-runs/{run.run_id}")
    expect(page.get_by_role("button", name="Replay")).to_have_count(0)
    page.keyboard.press("r")
    expect(page.locator("dialog[open]")).to_have_count(0)
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#run-notice")).to_contain_text("Run paused.")
    expect(page.locator("#run-status .badge-paused")).to_be_visible()
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#run-notice")).to_contain_text("Run resumed.")
    page.get_by_role("button", name="Cancel").click()
    page.locator("#confirm[open]").get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-notice")).to_contain_text("Run cancelled.")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)
    page.screenshot(path=str(_shot("monitoring-detail")))
    assert Run.objects.get(pk=run.pk).status == "cancelled"
