"""The operator's double click on Submit replay yields one run."""

import pytest
from playwright.sync_api import expect

from runs.models import Run

from ..browser.test_replay_dialog import open_trace
from ..builders import finished_run, support_workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_double_click_on_a_new_model_replay_creates_one_run(page_for, operator, acme):
    # The as-is double click is tests/browser/test_replay_dialog.py::test_double_click_submits_once.
    source = finished_run(support_workflow(acme)[0])
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    page.get_by_label("Replay with new model").check()
    page.get_by_label("Model id").fill("gpt-5")
    page.get_by_label("Model ref").fill("openai:gpt-5")
    submit = page.get_by_role("button", name="Submit replay")
    expect(submit).to_be_enabled()
    submit.dblclick()
    expect(page.locator(".toast").first).to_contain_text("Replay submitted")
    page.wait_for_timeout(500)  # a second request, had one been sent, has landed by now
    assert Run.objects.filter(replay_of=source).count() == 1
    assert page.errors == []
