"""What a browser shows of the pages' truth: a rerun's reused steps, a dry-run row's tool-call diff, compare while a
run is in flight (open rows and the scroll survive the poll), ?with= rows, and a chain's lineage after a submit."""

import re

import pytest
from playwright.sync_api import expect

from runs.models import Run, Step

from ..builders import chain_workflow, executed_replay, finished_run, new_prompt_replay, side_effect_workflow
from .test_replay_dialog import _shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def source(acme):
    return finished_run(side_effect_workflow(acme))


def test_a_reruns_trace_labels_its_reused_steps_with_the_run_they_come_from(page_for, operator, source):
    rerun = executed_replay(user=operator, run=source, request={"mode": "as_is", "from_nodes": ["summary"]})
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{rerun.run_id}")
    expect(page.locator("#replay-choices")).to_contain_text("from summary")
    notify = page.locator("#step-notify")
    notify.locator("summary").click()
    expect(notify.locator("summary .badge-reused")).to_have_text("reused")
    expect(notify.locator("table")).to_contain_text(f"reused from run {source.run_id}")
    expect(notify.locator("table")).not_to_contain_text("invoked")
    expect(page.locator("#step-draft summary")).to_contain_text("original's:")
    page.screenshot(path=str(_shot("trace-rerun")), full_page=True)
    notify.locator("table").get_by_role("link", name=source.run_id).click()
    expect(page).to_have_url(re.compile(f"/acme/ai/runs/{source.run_id}$"))
    assert page.errors == []


def test_a_dry_run_row_opens_onto_its_tool_call_argument_diff(page_for, operator, source):
    replay = new_prompt_replay(user=operator, run=source)
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare")
    notify = page.locator("details.compare-row", has=page.locator(".node", has_text="notify"))
    expect(notify.locator("summary .badge-dry-run")).to_have_text("dry run")
    expect(notify.locator("summary .badge-changed")).to_have_text("changed")
    notify.locator("summary").click()
    calls = notify.locator(".compare-calls")
    expect(calls).to_contain_text("arguments differ")
    expect(calls.locator(".call-diff ins").first).to_be_visible()
    expect(calls).to_contain_text("the original's result (not sent)")
    notify.screenshot(path=str(_shot("compare-dry-run-row")))
    page.screenshot(path=str(_shot("compare-tool-call-diff")), full_page=True)
    assert page.errors == []


def test_with_rows_open_onto_their_diff(page_for, operator, source):
    replay = new_prompt_replay(user=operator, run=source)
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{source.run_id}/compare?with={replay.run_id}")
    draft = page.locator("details.compare-row").first
    draft.locator("summary").click()
    expect(draft.locator("pre.diff ins").first).to_be_visible()
    expect(draft).not_to_contain_text("compared with itself")
    assert page.errors == []


def test_compare_in_flight_keeps_open_rows_open_and_the_scroll_where_it_is(page_for, operator, acme):
    source = finished_run(chain_workflow(acme, length=30)[0])
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    Run.objects.filter(pk=replay.pk).update(status=Run.Status.RUNNING, finished_at=None)
    Step.objects.filter(run=replay, position__gte=20).delete()
    page = page_for(operator, height=600)
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare")
    expect(page.locator("#compare-outcomes")).to_contain_text("10 pending")
    row = page.locator("details.compare-row", has=page.locator(".node", has_text=re.compile("^n12$")))
    row.locator("summary").click()
    expect(row.locator(".compare-diff pre.diff")).to_be_visible()
    row.scroll_into_view_if_needed()
    scrolled = page.evaluate("window.scrollBy(0, 150), window.scrollY")
    assert scrolled > 0
    executed = Step.objects.get(run=source, position=20)  # the replay finishes one more step, as the base did
    executed.pk, executed.run_id = None, replay.run_id
    executed.save()
    expect(page.locator("#compare-outcomes")).to_contain_text("9 pending", timeout=8000)
    expect(row).to_have_attribute("open", "")
    expect(row.locator(".compare-diff pre.diff")).to_be_visible()
    assert abs(page.evaluate("window.scrollY") - scrolled) < 2
    page.screenshot(path=str(_shot("compare-in-flight")))
    assert page.errors == []


def test_a_submit_adds_the_replay_to_the_lineage_without_a_reload(page_for, operator, source):
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{source.run_id}")
    expect(page.locator("#lineage")).to_contain_text("No replays of this run yet.")
    page.evaluate("window.notReloaded = true")
    page.keyboard.press("r")
    page.get_by_role("button", name="Submit replay").click()
    expect(page.locator(".toast")).to_contain_text("Replay submitted")
    new = Run.objects.get(replay_of=source)
    expect(page.locator("#lineage").get_by_role("link", name=new.run_id)).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    assert page.errors == []


def test_a_replay_of_a_replay_offers_to_compare_with_its_parent_and_its_root(page_for, operator, source):
    first = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    second = executed_replay(user=operator, run=first, request={"mode": "as_is"})
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{second.run_id}")
    expect(page.locator("#compare-link")).to_contain_text("Compare with parent")
    page.locator("#compare-root-link").click()
    expect(page.locator("h1")).to_have_text(f"Compare {second.run_id} with {source.run_id}")
    # The heading is there before the page's deferred htmx has run: a row opened then sends no request for its diff.
    page.wait_for_load_state()
    page.locator("details.compare-row").first.locator("summary").click()
    expect(page.locator("details.compare-row").first.locator(".compare-diff")).not_to_contain_text("Loading")
    page.go_back()
    page.keyboard.press("c")
    expect(page.locator("h1")).to_have_text(f"Compare {second.run_id} with {first.run_id}")
    assert page.errors == []
