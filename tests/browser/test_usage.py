"""Tokens and cost as a person sees them: on the step row, in the trace header, in the runs list."""

import pytest
from playwright.sync_api import expect

from ..builders import finished_run, support_workflow
from ..provider_wire import MESSAGES, message
from .test_replay_dialog import _shot, open_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_steps_tokens_and_cost_fit_its_row_with_the_exact_cost_on_hover(page_for, operator, acme, anthropic_server):
    usage = {"input_tokens": 1200, "cache_read_input_tokens": 800, "output_tokens": 350}
    anthropic_server.script(MESSAGES, [(200, message(**usage))])
    version, _ = support_workflow(acme)
    run = finished_run(version)
    page = page_for(operator)
    open_trace(page, run)

    row = page.locator("#step-draft > summary")
    step_usage = row.locator(".step-usage")
    expect(step_usage).to_be_visible()
    expect(step_usage).to_contain_text("2k in · 350 out")
    assert step_usage.locator(".cost").get_attribute("title").startswith("$0.")
    name_box, usage_box = row.locator(".step-name").bounding_box(), step_usage.bounding_box()
    assert usage_box["x"] + usage_box["width"] <= name_box["x"] + name_box["width"] + 1  # inside its column
    expect(page.locator(".trace-header .usage-totals").first).to_contain_text("2k in · 350 out")
    page.screenshot(path=_shot("usage-trace"), full_page=True)

    page.goto("/acme/ai/runs")
    expect(page.locator("td.num .cost").first).to_be_visible()
    page.screenshot(path=_shot("usage-runs-list"), full_page=True)
