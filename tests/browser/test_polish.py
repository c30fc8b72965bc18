"""What an operator notices in an afternoon (issue 28, items 13-15 and 17-20): focus, Escape, toasts above a
dialog, a confirmation in sight, the mapping check's notice, Cancel that asks, narrow screens, Back, time zones."""

import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from runs import services
from runs.models import PromptArtifact, Run, Step

from ..builders import executed_replay, finished_run, llm, run_in_status, submit_replay, support_workflow, tool
from ..factories import PromptRevisionFactory
from .test_mapping_and_monitoring import choose_version_2, cross  # noqa: F401 (cross: a fixture)
from .test_replay_dialog import _shot, open_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def source(acme):
    return finished_run(support_workflow(acme)[0])


TOAST_ON_TOP = """() => {
  const toast = document.querySelector(".toast-error");
  if (!toast) return false;
  const box = toast.getBoundingClientRect();
  const drawn = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
  return !!(drawn && drawn.closest(".toast-error"));
}"""


def open_dialog(page):
    """With the r key, as an operator does: nothing on the page has the focus before."""
    page.keyboard.press("r")
    expect(page.locator("#modal[open]").get_by_role("button", name="Submit replay")).to_be_enabled()


def sideways_overflow(page) -> list[str]:
    """The elements that reach past the viewport's right edge, when the page scrolls sideways."""
    if page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
        return []
    return page.evaluate(
        "Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right > innerWidth - 1)"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className)"
    ) or ["(the page scrolls sideways)"]


# Item 13: focus, Escape, toasts, long ids


def test_focus_returns_to_the_replay_button_after_a_submit(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    open_dialog(page)
    page.get_by_role("button", name="Submit replay").click()
    expect(page.locator(".toast")).to_contain_text("Replay submitted")
    expect(page.locator("#replay-button")).to_be_focused()


def test_focus_returns_to_the_replay_button_after_escape(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    open_dialog(page)
    page.keyboard.press("Escape")
    expect(page.locator("#modal[open]")).to_have_count(0)
    expect(page.locator("#replay-button")).to_be_focused()


def test_after_save_mapping_the_focus_is_on_the_mapping_button_of_the_replay_dialog(page_for, operator, cross):  # noqa: F811
    page = page_for(operator)
    open_trace(page, cross)
    choose_version_2(page)
    page.get_by_role("button", name="Resolve mapping").click()
    mapping = page.locator("#mapping-modal[open]")
    mapping.get_by_label("draft", exact=True).select_option("compose")
    mapping.get_by_label("notify", exact=True).select_option("send")
    mapping.get_by_role("button", name="Save mapping").click()
    expect(page.locator("#mapping-section")).to_contain_text("Applied saved mapping")
    expect(page.locator("#modal[open]").get_by_role("button", name="Edit mapping")).to_be_focused()


def test_a_failed_submit_puts_the_focus_on_its_reason_and_escape_then_on_the_replay_button(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    open_dialog(page)
    Run.objects.filter(pk=source.pk).update(status="running")  # an API race: the submit is refused with 409
    page.get_by_role("button", name="Submit replay").click()
    expect(page.locator("#replay-error")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#replay-button")).to_be_focused()


def test_escape_asks_before_discarding_an_edited_payload(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    open_dialog(page)
    dialog = page.locator("#modal[open]")
    dialog.get_by_text("Edit trigger payload").click()
    dialog.get_by_label("Trigger payload (JSON)").fill('{"name": "Ana"}')
    page.keyboard.press("Escape")
    ask = page.locator("#confirm[open]")
    expect(ask).to_contain_text("Discard your changes?")
    page.screenshot(path=_shot("dialog-discard-ask"))
    ask.get_by_role("button", name="Keep editing").click()
    expect(page.locator("#modal[open]")).to_have_count(1)
    expect(dialog.get_by_label("Trigger payload (JSON)")).to_have_value('{"name": "Ana"}')
    dialog.get_by_role("button", name="Cancel").click()
    page.locator("#confirm[open]").get_by_role("button", name="Discard").click()
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.locator("#replay-button")).to_be_focused()
    open_dialog(page)
    page.get_by_label("Replay with new prompt").check()
    page.keyboard.press("Escape")  # nothing typed: nothing to lose, no question
    expect(page.locator("dialog[open]")).to_have_count(0)
    assert page.errors == []


def test_an_error_toast_shows_above_the_dialog_and_its_backdrop(page_for, operator, source, settings):
    settings.REPLAY_QUOTA_RATE = "1/m"
    page = page_for(operator)
    open_trace(page, source)
    open_dialog(page)
    submit = page.locator("#modal[open]").get_by_role("button", name="Submit replay")
    expect(submit).to_be_enabled()
    submit_replay(user=operator, run=source, request={"mode": "as_is"})  # another tab takes the last one
    submit.click()
    toast = page.locator(".toast-error")
    expect(toast).to_contain_text("Replay quota exceeded")
    page.screenshot(path=_shot("dialog-error-toast"))
    # What is drawn at the toast's centre is the toast, not the dialog's backdrop (old code: the dialog).
    page.wait_for_function(TOAST_ON_TOP)


def test_long_node_ids_wrap_inside_the_dialog_on_a_narrow_screen(page_for, operator, acme):
    long_id = "classify_the_customer_message_by_intent_and_urgency_before_drafting_any_reply_to_it"
    revision = PromptRevisionFactory(artifact__workspace=acme, content="Classify {{ trigger.name }}")
    version = services.create_workflow(
        workspace=acme,
        name="Long ids",
        nodes=[llm(long_id, revision), tool("notify", "messages.send", {"to": "a@b.c", "body": "x"}, after=[long_id])],
    )
    run = finished_run(version)
    page = page_for(operator, width=390, height=800)
    open_trace(page, run)
    open_dialog(page)
    dialog = page.locator("#modal[open]")
    expect(dialog.locator("#plan-panel")).to_contain_text(long_id)
    page.screenshot(path=_shot("dialog-long-ids-390"))
    assert dialog.evaluate("d => d.scrollWidth <= d.clientWidth"), "the dialog scrolls sideways"


# Item 14: the red banner's confirmation beside Submit


@pytest.mark.parametrize("size", [(1366, 768), (390, 800)])
def test_the_invoke_confirmation_is_in_sight_beside_submit(page_for, operator, acme, size):
    run = finished_run(support_workflow(acme, allow_send=True)[0])
    page = page_for(operator, width=size[0], height=size[1])
    open_trace(page, run)
    page.keyboard.press("r")
    dialog = page.locator("#modal[open]")
    expect(dialog.locator("#mutation-banner .banner-danger")).to_be_visible()
    hint = dialog.get_by_role("button", name="Confirm the invoked calls above")
    expect(hint).to_be_in_viewport()
    expect(dialog.get_by_role("button", name="Submit replay")).to_be_disabled()
    page.screenshot(path=_shot(f"dialog-confirm-hint-{size[0]}"))
    hint.click()
    box = dialog.locator("input[name=confirm_invoke]")
    expect(box).to_be_focused()
    expect(box).to_be_in_viewport()
    page.keyboard.press("Space")
    expect(hint).to_be_hidden()
    expect(dialog.get_by_role("button", name="Submit replay")).to_be_enabled()


# Item 15: "Checking saved node mappings..." only while that check runs


def test_the_mapping_check_notice_shows_during_the_check_and_not_during_a_submit(page_for, operator, cross):  # noqa: F811
    page = page_for(operator)
    open_trace(page, cross)
    open_dialog(page)
    notice = page.get_by_text("Checking saved node mappings...")
    held = []
    page.route(re.compile(r"/replay(/mapping)?(\?.*)?$"), lambda route: held.append(route))
    page.get_by_label("Workflow version").select_option("2")
    expect(notice).to_be_visible()  # the mapping check is in flight

    def release_the_mapping_check():
        """The check alone: the plan asked after the previous check may be held too, before or after it."""
        check = next(route for route in held if "/replay/mapping" in route.request.url)
        held.remove(check)
        check.continue_()

    release_the_mapping_check()
    expect(notice).to_be_hidden()
    page.get_by_label("Workflow version").select_option("1")
    expect(notice).to_be_visible()
    release_the_mapping_check()
    expect(notice).to_be_hidden()
    expect(page.get_by_role("button", name="Submit replay")).to_be_enabled()
    page.get_by_role("button", name="Submit replay").click()
    expect(page.locator("#replay-form.htmx-request")).to_have_count(1)  # the submit is in flight
    expect(notice).to_be_hidden()
    while held:
        held.pop().continue_()
    expect(page.locator(".toast")).to_contain_text("Replay submitted")


# Item 17: monitoring


def test_cancel_asks_for_confirmation_first(page_for, operator, acme):
    run = run_in_status(support_workflow(acme)[0], "running")
    page = page_for(operator)
    page.goto(f"/acme/monitoring/workflow-runs/{run.run_id}")
    page.get_by_role("button", name="Cancel").click()
    ask = page.locator("#confirm[open]")
    expect(ask).to_contain_text(f"Cancel {run.run_id}?")
    expect(ask.get_by_role("button", name="Keep running")).to_be_focused()
    page.screenshot(path=_shot("monitoring-cancel-ask"))
    ask.get_by_role("button", name="Keep running").click()
    expect(page.locator("#run-status .badge-running")).to_be_visible()
    assert Run.objects.get(pk=run.pk).status == "running"
    page.get_by_role("button", name="Cancel").click()
    page.locator("#confirm[open]").get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-notice")).to_contain_text("Run cancelled.")
    assert Run.objects.get(pk=run.pk).status == "cancelled"
    assert page.errors == []


def test_the_monitoring_detail_shows_the_current_step(page_for, operator, acme):
    run = finished_run(support_workflow(acme)[0])
    Run.objects.filter(pk=run.pk).update(status="running", finished_at=None)
    Step.objects.filter(run=run, node_id="notify").update(status="running", finished_at=None)
    page = page_for(operator)
    page.goto(f"/acme/monitoring/workflow-runs/{run.run_id}")
    expect(page.locator("#current-step")).to_have_text("notify (running)")
    page.screenshot(path=_shot("monitoring-current-step"))


def test_a_viewer_is_told_why_monitoring_has_no_buttons(page_for, viewer, acme):
    run = run_in_status(support_workflow(acme)[0], "running")
    page = page_for(viewer)
    page.goto(f"/acme/monitoring/workflow-runs/{run.run_id}")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator("#run-actions-why")).to_contain_text("Read-only (viewer)")
    expect(page.locator("#run-actions-why")).to_contain_text("needs the operator or admin role")


# Item 18: 390 px


def test_the_runs_list_at_390px_keeps_status_and_cost_in_sight_without_sideways_scroll(page_for, operator, source):
    page = page_for(operator, width=390, height=800)
    page.goto("/acme/ai/runs")
    row = page.locator("tbody tr").first
    expect(row.locator(".badge-completed")).to_be_in_viewport()
    expect(row.locator("td.num")).to_be_in_viewport()
    page.screenshot(path=_shot("runs-list-390"), full_page=True)
    assert sideways_overflow(page) == []


def test_a_table_wider_than_a_phone_scrolls_inside_itself_with_its_shadow_cue(page_for, operator, source):
    """The shadows are backgrounds that only a scroll container shows: the table must scroll, and carry them."""
    page = page_for(operator, width=390, height=800)
    page.goto("/acme/monitoring/workflow-runs")
    table = page.locator("table.table")
    expect(table.locator("tbody tr")).to_have_count(1)
    assert table.evaluate("t => t.scrollWidth > t.clientWidth"), "the table fits: nothing to cue"
    attachments = table.evaluate("t => getComputedStyle(t).backgroundAttachment").split(", ")
    assert attachments[:4] == ["local", "local", "scroll", "scroll"], attachments
    page.screenshot(path=_shot("monitoring-390"), full_page=True)
    assert sideways_overflow(page) == []


def test_the_mapping_dialog_at_390px_puts_each_node_id_above_a_select_as_wide_as_its_row(
    page_for,
    operator,
    cross,  # noqa: F811
):
    page = page_for(operator, width=390, height=844)
    open_trace(page, cross)
    choose_version_2(page)
    page.get_by_role("button", name="Resolve mapping").click()
    row = page.locator("#mapping-modal[open] .mapping-row").first
    expect(row).to_be_visible()
    label, select, box = row.locator("label").bounding_box(), row.locator("select").bounding_box(), row.bounding_box()
    assert label and select and box
    assert select["y"] >= label["y"] + label["height"], "the select sits beside the node id"
    assert select["width"] >= box["width"] - 1, "the select is narrower than its row"
    page.screenshot(path=_shot("mapping-dialog-390"))


@pytest.mark.parametrize("mode", ["as_is", "prompt"])
def test_the_compare_page_at_390px_keeps_status_and_cost_in_sight_without_sideways_scroll(
    page_for, operator, source, mode
):
    request = {"mode": "as_is"}
    if mode == "prompt":  # the longest Mode cell ("Replay with new prompt · …") and a changed node's deltas
        artifact = PromptArtifact.objects.get(workspace=source.workspace)
        revision = services.add_prompt_revision(artifact=artifact, content="A longer reply to {{ trigger.name }}")
        request = {"mode": "prompt", "prompt_artifact_id": artifact.artifact_id, "content_hash": revision.content_hash}
    replay = executed_replay(user=operator, run=source, request=request)
    page = page_for(operator, width=390, height=800)
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare")
    header = page.locator("table.compare-header")
    expect(header.locator("tr", has_text="Status").locator(".badge").last).to_be_in_viewport()
    cost = header.locator("tr", has_text="Cost").locator("td").last
    cost.scroll_into_view_if_needed()
    expect(cost).to_be_in_viewport(ratio=1)
    page.locator("details.compare-row summary").first.click()
    page.screenshot(path=_shot(f"compare-390-{mode}"), full_page=True)
    assert sideways_overflow(page) == []


def test_the_compare_page_at_390px_keeps_its_checks_and_their_remove_links_in_sight(page_for, operator, source):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    checks = '[{"kind": "not_contains", "node": "draft", "value": "refund"}, {"kind": "json_valid", "node": "notify"}]'
    page = page_for(operator, width=390, height=800)
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare?checks={quote(checks)}")
    expect(page.locator("tr.check-result")).to_have_count(2)
    remove = page.get_by_role("link", name="Remove check 1")
    remove.scroll_into_view_if_needed()
    expect(remove).to_be_in_viewport(ratio=1)
    page.screenshot(path=_shot("compare-checks-390"), full_page=True)
    assert sideways_overflow(page) == []


# Item 19: Back


def test_back_restores_the_filters_of_the_rows_shown(page_for, operator, acme):
    version, _ = support_workflow(acme)
    finished_run(version)
    run_in_status(version, "failed")
    page = page_for(operator)
    page.goto("/acme/ai/runs")
    page.get_by_label("Status").select_option("failed")
    expect(page).to_have_url(re.compile(r"status=failed"))
    page.get_by_label("Lineage").select_option("originals")
    expect(page).to_have_url(re.compile(r"lineage=originals"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"status=failed&workflow=&lineage=&"))
    expect(page.get_by_label("Status")).to_have_value("failed")
    expect(page.get_by_label("Lineage")).to_have_value("")
    expect(page.locator("tbody .badge-completed")).to_have_count(0)
    page.go_back()
    expect(page.get_by_label("Status")).to_have_value("")
    expect(page.locator("tbody .badge-completed")).to_have_count(1)


def test_back_from_a_trace_shows_the_filters_of_the_list_left(page_for, operator, acme):
    version, _ = support_workflow(acme)
    finished_run(version)
    failed = run_in_status(version, "failed")
    page = page_for(operator)
    page.goto("/acme/ai/runs")
    page.get_by_label("Status").select_option("failed")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name=failed.run_id).click()
    expect(page.locator("h1")).to_have_text(failed.run_id)
    page.go_back()
    expect(page.get_by_label("Status")).to_have_value("failed")
    expect(page.locator("tbody tr")).to_have_count(1)


# Item 20: time zones


def test_times_show_their_time_zone(page_for, operator, source):
    page = page_for(operator)
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
    page.goto("/acme/ai/runs")
    expect(page.locator("tbody time").first).to_have_text(stamp)
    open_trace(page, source)
    expect(page.locator(".times time").first).to_have_text(stamp)
    page.locator("#step-draft summary").click()
    expect(page.locator("#step-draft .step-body dt:text-is('Started') + dd")).to_have_text(
        re.compile(r"^\d\d:\d\d:\d\d\.\d+ UTC$")
    )
    page.goto(f"/acme/monitoring/workflow-runs/{source.run_id}")
    expect(page.locator("#run-status time").first).to_have_text(stamp)


def test_an_open_llm_step_at_390px_does_not_scroll_sideways(page_for, operator, source):
    """Its prompt hash (sha256: and 64 hex digits, no space) wraps inside the step instead of widening the page."""
    page = page_for(operator, width=390, height=844)
    open_trace(page, source)
    page.locator("#step-draft summary").click()
    expect(page.locator("#step-draft dd", has_text="sha256:")).to_be_visible()
    page.screenshot(path=_shot("trace-open-llm-step-390"), full_page=True)
    assert sideways_overflow(page) == []


@pytest.mark.parametrize("replay", [False, True], ids=["original", "replay"])
def test_the_disabled_replay_buttons_tooltip_at_390px_stays_on_screen(page_for, operator, acme, replay):
    """A running replay's header also holds Compare with original: the actions wrap, Replay last."""
    version, _ = support_workflow(acme)
    lineage = {"replay_of": finished_run(version), "replay_depth": 1, "mode": "as_is"} if replay else {}
    running = run_in_status(version, Run.Status.RUNNING, **lineage)
    page = page_for(operator, width=390, height=844)
    open_trace(page, running)
    page.locator("#replay-button").hover()
    tooltip = page.locator("#replay-disabled-why")
    expect(tooltip).to_be_visible()
    page.screenshot(path=_shot("trace-replay-tooltip-390"))
    box = tooltip.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
