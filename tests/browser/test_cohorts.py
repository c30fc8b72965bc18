"""Replay cohorts in Chromium (issue 31): "Replay these…" from a filtered runs list, the preview, the live
progress, the verdict with a regression beside the baseline rate, and Cancel."""

import os
import re
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from replay.cohorts.admission import tick
from replay.cohorts.models import Cohort
from runs.engine.executor import execute
from runs.models import Run

from ..builders import finished_run, support_workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def shot(name):
    from django.conf import settings

    folder = Path(os.environ.get("SCREENSHOT_DIR") or settings.VAR_DIR / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / f"cohort-{name}.png")


def local(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


@pytest.fixture
def sources(acme):
    version = support_workflow(acme)[0]
    return version, [finished_run(version, payload={"name": f"N{i}", "email": "x@example.com"}) for i in range(6)]


def test_replay_these_from_a_filtered_list_previews_creates_and_shows_progress_and_verdict(page_for, operator, sources):
    version, runs = sources
    page = page_for(operator, height=1400)
    page.goto(f"/acme/ai/runs?workflow={version.workflow.workflow_id}&status=completed")
    page.locator("#replay-these").click()
    expect(page.get_by_role("heading", name="Replay these runs as a cohort")).to_be_visible()
    expect(page.locator("input[name=status][value=completed]")).to_be_checked()
    now = timezone.now()
    page.fill("input[name=name]", "Support, as-is")
    page.fill("input[name=from]", local(now - timezone.timedelta(hours=1)))
    page.fill("input[name=to]", local(now + timezone.timedelta(hours=1)))
    page.fill("input[name=canary]", "0")
    page.locator("#cohort-preview-button").click()
    expect(page.locator("#preview-members")).to_have_text("6 members")
    page.screenshot(path=shot("preview"), full_page=True)
    page.get_by_role("button", name="Create cohort").click()
    expect(page.locator("#cohort-status")).to_have_text("pending")
    cohort = Cohort.objects.get()

    tick()  # admits all (quota 20/m: the cohorts' 15 covers 6 + 5 baseline)
    expect(page.locator("#count-admitted")).to_have_text("6 admitted (running)", timeout=10_000)  # the page polls
    expect(page.locator("#baseline-counts")).to_contain_text("5 admitted (running)")
    page.screenshot(path=shot("progress"), full_page=True)

    for child in cohort.members.values_list("child_run_id", flat=True):
        execute(child)
    regressed = cohort.members.get(lane="candidate", source_run_id=runs[0].pk).child_run_id
    Run.objects.filter(pk=regressed).update(status="failed")
    tick()
    expect(page.locator("#cohort-status")).to_have_text("completed", timeout=10_000)
    expect(page.locator("#verdict-regressions")).to_have_text("1 regression")
    expect(page.locator("#verdict-changed")).to_contain_text("baseline (as-is): 0 of 5")
    expect(page.locator("#inspect li").first).to_contain_text("regression")
    page.screenshot(path=shot("verdict"), full_page=True)
    page.select_option("select[name=show]", "regressed")
    expect(page.locator("#members tbody tr")).to_have_count(1)
    assert page.errors == []


def test_replay_these_with_two_runs_ticked_creates_a_cohort_of_those_two(page_for, operator, sources):
    version, runs = sources
    page = page_for(operator, height=1000)
    page.goto("/acme/ai/runs")
    expect(page.locator("#replay-these")).to_have_text("Replay these…")
    page.get_by_label(f"Tick {runs[1].pk} to replay it in a cohort").check()
    page.get_by_label(f"Tick {runs[4].pk} to replay it in a cohort").check()
    expect(page.locator("#replay-these")).to_have_text("Replay 2 ticked runs…")
    page.screenshot(path=shot("ticked"), full_page=True)
    page.locator("#replay-these").click()
    expect(page.locator("#ticked-runs")).to_contain_text("2 runs ticked in the runs list")
    expect(page.locator("select[name=workflow_id]")).to_have_value(version.workflow.workflow_id)
    page.fill("input[name=name]", "Two ticked")
    page.fill("input[name=canary]", "0")
    page.fill("input[name=baseline_percent]", "0")
    page.locator("#cohort-preview-button").click()
    expect(page.locator("#preview-members")).to_have_text("2 members")
    page.screenshot(path=shot("ticked-preview"), full_page=True)
    page.get_by_role("button", name="Create cohort").click()
    expect(page.locator("#cohort-status")).to_have_text("pending")
    cohort = Cohort.objects.get()
    assert set(cohort.members.values_list("source_run_id", flat=True)) == {runs[1].pk, runs[4].pk}
    assert page.errors == []


def test_cancel_from_the_cohort_page_asks_first_and_the_box_ticked_survives_the_polls(page_for, operator, sources):
    from .. import cohorts

    version, runs = sources
    cohort = cohorts.new_cohort(
        operator, version.workflow.workspace, cohorts.body(version.workflow, run_ids=[r.pk for r in runs], canary=2)
    )
    tick()
    page = page_for(operator)
    page.goto(f"/acme/ai/cohorts/{cohort.pk}")
    expect(page.locator("#cohort-status")).to_have_text("running")
    page.check("input[name=cancel_running]")
    page.locator("#cohort-cancel").click()
    ask = page.locator("#confirm[open]")
    expect(ask).to_contain_text(f"Cancel {cohort.name}?")
    expect(ask).to_contain_text("the replays still running stop too")
    expect(ask.get_by_role("button", name="Keep running")).to_be_focused()
    page.screenshot(path=shot("cancel-asks"))
    ask.get_by_role("button", name="Keep running").click()
    expect(ask).to_have_count(0)
    for _ in range(2):  # two polls answered: the first one swapped in when the second is asked
        with page.expect_response(lambda r: r.url.endswith(f"/cohorts/{cohort.pk}") and r.request.method == "GET"):
            pass
    expect(page.locator("#cohort-status")).to_have_text("running")
    expect(page.locator("input[name=cancel_running]")).to_be_checked()
    assert Cohort.objects.get(pk=cohort.pk).status == "running"
    page.locator("#cohort-cancel").click()
    page.locator("#confirm[open]").get_by_role("button", name="Cancel cohort").click()
    expect(page.locator("#cohort-status")).to_have_text("cancelled")
    page.screenshot(path=shot("cancelled"), full_page=True)
    assert set(cohort.members.values_list("status", flat=True)) == {"cancelled"}
    assert page.errors == []


def test_ticks_survive_paging_and_a_box_ticks_all_runs_on_a_page(page_for, operator, acme):
    from ..cohorts import completed_runs

    version = support_workflow(acme)[0]
    completed_runs(version, 55)  # two pages of the runs list (50 a page)
    page = page_for(operator, height=1000)
    page.goto("/acme/ai/runs")
    boxes = page.locator("input[name=run][form=replay-these-form]")
    on_first = boxes.nth(0).get_attribute("value")
    boxes.nth(0).check()
    page.locator("a[rel=next]").first.click()
    expect(page.locator("a[rel=prev]").first).to_be_visible()
    page.check("#tick-page")
    expect(page.locator("#replay-these")).to_have_text("Replay 6 ticked runs…")
    expect(page.locator("#ticked-elsewhere")).to_have_text("(1 on other pages)")
    page.screenshot(path=shot("ticked-two-pages"), full_page=True)
    page.locator("a[rel=prev]").first.click()
    expect(page.locator(f"input[name=run][value={on_first}]")).to_be_checked()
    expect(page.locator("#tick-page")).to_have_js_property("indeterminate", True)
    page.locator("#replay-these").click()
    expect(page.locator("#ticked-runs")).to_contain_text("6 runs ticked in the runs list")
    expect(page.locator("#preview-members")).to_have_text("6 members")
    assert page.errors == []


def test_the_cohort_forms_banner_and_preview_follow_the_tools_choice(page_for, operator, sources):
    version, runs = sources
    page = page_for(operator, height=1400)
    page.goto(f"/acme/ai/cohorts/new?run={runs[0].pk}&run={runs[1].pk}")
    expect(page.locator("#mutation-banner")).to_contain_text("Mutating tool calls will dry-run.")
    page.check("input[name=tools][value=recorded]")
    expect(page.locator("#mutation-banner")).to_contain_text("answered from each member's own recording")
    expect(page.locator("#cohort-preview")).to_contain_text("tool calls recorded: nothing is sent")
    page.check("input[name=mode][value=model]")
    expect(page.locator("#model_pick")).to_be_visible()  # the dialog's own mode fields, shown by its script
    page.screenshot(path=shot("form-recorded"), full_page=True)
    assert page.errors == []


def test_the_cohort_form_at_390px_does_not_scroll_sideways(page_for, operator, sources):
    """A fieldset is as wide as its widest child by default: the Start from select's longest option pushed it out."""
    from .test_polish import sideways_overflow

    version, runs = sources
    page = page_for(operator, width=390, height=800)
    page.goto(f"/acme/ai/cohorts/new?workflow={version.workflow.workflow_id}&run={runs[0].pk}&run={runs[1].pk}")
    expect(page.locator("#from_node")).to_be_visible()
    page.screenshot(path=shot("form-390"), full_page=True)
    assert sideways_overflow(page) == []


def test_create_cohort_waits_for_every_renamed_node_to_be_mapped(page_for, operator, sources):
    from ..builders import renaming_version

    version, runs = sources
    renaming_version(version)
    page = page_for(operator, height=1400)
    page.goto(f"/acme/ai/cohorts/new?run={runs[0].pk}&run={runs[1].pk}")
    page.fill("input[name=name]", "On v2")
    expect(page.locator("#create-cohort")).to_be_enabled()
    page.select_option("#target_version", "2")
    expect(page.locator("#mapping-section")).to_contain_text("need mapping")
    expect(page.locator("#create-cohort")).to_be_disabled()
    page.select_option("#target_version", "")
    expect(page.locator("#create-cohort")).to_be_enabled()
    assert page.errors == []


def test_create_cohort_waits_while_the_first_members_plan_will_fail_and_says_why_beside_it(
    page_for, operator, acme, sources
):
    from urllib.parse import urlencode

    from runs.models import PromptRevision

    from ..factories import PromptRevisionFactory

    version, runs = sources
    artifact = PromptRevision.objects.filter(artifact__workspace=acme).first().artifact
    other = PromptRevisionFactory(artifact=artifact, content="Refund {{ trigger.order_total }} to the client")
    change = {"mode": "prompt", "prompt_artifact_id": artifact.artifact_id, "content_hash": other.content_hash}
    page = page_for(operator, height=1400)
    page.goto(f"/acme/ai/cohorts/new?run={runs[0].pk}&run={runs[1].pk}&{urlencode(change)}")
    page.fill("input[name=name]", "Refunds")
    create, why = page.locator("#create-cohort"), page.locator("#submit-why")
    expect(page.locator("#cohort-preview")).to_contain_text("will fail")
    expect(why).to_have_text(
        "This replay would fail: draft will fail: missing trigger.order_total. Pick another prompt revision, or select"
        " runs whose trigger payloads have what it reads: every member keeps its own."
    )
    expect(create).to_be_disabled()
    page.screenshot(path=shot("create-waits-for-a-failing-plan"), full_page=True)
    page.check("input[name=mode][value=as_is]")
    expect(why).to_have_text("")
    expect(create).to_be_enabled()
    assert page.errors == []


def test_enter_in_the_small_check_form_adds_the_check_and_create_takes_the_box(page_for, operator, sources):
    """Enter in a field of the small form adds its check (the cohort form around it would otherwise be created)."""
    version, runs = sources
    page = page_for(operator, height=1400)
    page.goto(f"/acme/ai/cohorts/new?run={runs[0].pk}&run={runs[1].pk}")
    page.fill("input[name=name]", "Checked")
    builder = page.locator("#cohort-check-add")
    builder.get_by_label("Node").fill("draft")
    builder.get_by_label("Kind").select_option("max_length")
    builder.get_by_label("JSON pointer").fill("")
    builder.get_by_label("Value").fill("2000")
    builder.get_by_label("Node").press("Enter")
    expect(page.locator("#cohort-checks-list")).to_contain_text('draft max_length {"value": 2000}')
    assert Cohort.objects.count() == 0
    page.locator("#cohort-checks-fieldset").screenshot(path=shot("form-checks"))
    expect(page.locator("#create-cohort")).to_be_enabled()
    page.click("#create-cohort")
    expect(page).to_have_url(re.compile(r"/acme/ai/cohorts/cohort_[0-9a-f]{12}$"))
    assert [(c["kind"], c["node"], c["value"]) for c in Cohort.objects.get().checks] == [("max_length", "draft", 2000)]
    assert page.errors == []


def test_the_small_check_forms_hints_follow_its_kind_after_htmx_replaces_it(page_for, operator, sources):
    version, runs = sources
    page = page_for(operator, height=1400)
    page.goto(f"/acme/ai/cohorts/new?run={runs[0].pk}&run={runs[1].pk}")
    builder = page.locator("#cohort-check-add")
    builder.get_by_label("Node").fill("draft")
    builder.get_by_label("Kind").select_option("regex")
    builder.get_by_label("Value").fill("(unclosed")
    builder.get_by_role("button", name="Add check").click()
    expect(page.locator("#cohort-check-error")).to_contain_text("pattern is not a valid regular expression")
    # The refusal's answer replaced the form, its kind still regex: no change event, yet the hints are regex's.
    expect(page.locator("#cohort-check-add").get_by_label("JSON pointer")).to_have_attribute(
        "placeholder", "(not used)"
    )
    assert page.errors == []


def test_the_cohort_preview_says_when_a_version_change_reset_start_from(page_for, operator, sources):
    from ..builders import renaming_version

    version, runs = sources
    renaming_version(version)  # v2 has no notify, and no saved mapping leads to one of its nodes
    page = page_for(operator, height=1400)
    page.goto(f"/acme/ai/cohorts/new?run={runs[0].pk}&run={runs[1].pk}")
    page.select_option("#from_node", "notify")
    page.select_option("#target_version", "2")
    expect(page.locator("#cohort-preview #start-reset")).to_contain_text(
        "Start from is back at the first node: notify is not a node of v2"
    )
    page.locator("#cohort-preview").screenshot(path=shot("preview-start-reset"))
    page.select_option("#target_version", "")
    expect(page.locator("#cohort-preview #start-reset")).to_have_count(0)
    assert page.errors == []


def test_at_390px_the_box_that_ticks_a_page_is_in_sight_and_takes_a_tap(page_for, operator, sources):
    """The runs list's cards hide the table's header row on a phone; its one control, the box that ticks the page,
    stays: shown above the cards and clickable (it was clipped to a pixel, under the first card)."""
    page = page_for(operator, width=390, height=844)
    page.goto("/acme/ai/runs")
    box = page.locator("#tick-page")
    expect(box).to_be_visible()
    box.click(timeout=3000)  # a real pointer click: fails when anything covers it
    count = page.locator("input[name=run][form=replay-these-form]").count()
    expect(page.locator("#replay-these")).to_have_text(f"Replay {count} ticked runs…")
    assert box.bounding_box()["width"] >= 13
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=shot("tick-page-390"))
    assert page.errors == []
