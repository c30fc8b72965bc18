"""What only a browser shows of recorded tool calls: the dialog's choice re-plans, the banner turns blue, the trace."""

import re

import pytest
from playwright.sync_api import expect

from ..builders import executed_replay, finished_run, support_workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _shot(name):
    from django.conf import settings

    folder = settings.VAR_DIR / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


@pytest.fixture
def allowed(acme):
    """A run whose send is allowed to invoke by its node and by the workspace: a live replay would send it."""
    acme.replay_allow_mutations = True
    acme.save()
    return finished_run(support_workflow(acme, allow_send=True)[0])


def test_choosing_recorded_tool_calls_replans_with_nothing_invoked(page_for, operator, allowed):
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{allowed.run_id}")
    page.keyboard.press("r")
    dialog = page.locator("#modal[open]")
    expect(dialog.locator(".banner-danger")).to_be_visible()
    expect(dialog.get_by_role("radio", name=re.compile("^Live"))).to_be_checked()
    dialog.get_by_role("radio", name=re.compile("^Recorded")).check()
    expect(dialog.locator("#plan-panel .chip-recorded")).to_have_text("recorded")
    expect(dialog.locator(".banner-danger")).to_have_count(0)
    expect(dialog.locator(".banner-info")).to_contain_text("answered from this run's recording")
    expect(dialog.locator("input[name=confirm_invoke]")).to_have_count(0)
    dialog.locator(".tool-calls").scroll_into_view_if_needed()
    page.screenshot(path=str(_shot("recorded-dialog")))
    dialog.locator("#plan-panel").screenshot(path=str(_shot("recorded-plan-panel")))
    assert page.errors == []


def test_the_trace_labels_a_recorded_call_with_its_run(page_for, operator, allowed):
    replay = executed_replay(user=operator, run=allowed, request={"mode": "as_is", "tools": "recorded"})
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{replay.run_id}")
    page.locator("#step-notify summary").click()
    calls = page.locator("#step-notify table")
    expect(calls).to_contain_text(f"recorded in run {allowed.run_id}")
    expect(calls).not_to_contain_text("invoked")
    page.screenshot(path=str(_shot("recorded-trace")), full_page=True)
    assert page.errors == []
