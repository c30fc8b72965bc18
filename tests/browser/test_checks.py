"""What only a browser shows of the Checks panel: the form adds a check, the URL keeps it, a regression stands out."""

import re

import pytest
from playwright.sync_api import expect

from ..builders import executed_replay, finished_run, support_workflow
from .test_replay_dialog import _shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def replay(acme, operator):
    source = finished_run(support_workflow(acme)[0])
    return executed_replay(
        user=operator, run=source, request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    )


def add_check(page, *, node, kind, value="", path=""):
    form = page.locator("form.check-add")
    form.get_by_label("Node").select_option(node)
    form.get_by_label("Kind").select_option(kind)
    form.get_by_label("Value").fill(value)
    form.get_by_label("JSON pointer").fill(path)
    form.get_by_role("button", name="Add check").click()


def test_a_check_added_by_the_form_marks_the_regression_and_its_link_reproduces_it(page_for, operator, replay):
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare")
    expect(page.locator("#checks")).to_contain_text("No check yet")
    add_check(page, node="draft", kind="contains", value="claude-opus-4-7")
    expect(page).to_have_url(re.compile(r"[?&]checks="))
    add_check(page, node="notify", kind="json_valid")
    add_check(page, node="draft", kind="similar_to_original", value="0.1")
    rows = page.locator("tr.check-result")
    expect(rows).to_have_count(3)
    regression = page.locator("tr.check-result.regression")
    expect(regression).to_have_count(1)
    expect(regression.locator(".outcome-base .badge")).to_have_text("pass")
    expect(regression.locator(".outcome-other")).to_contain_text('fail The output does not contain "claude-opus-4-7".')
    expect(regression.locator(".badge-regression")).to_be_visible()
    expect(page.locator("#checks-title")).to_contain_text("1 regression")
    expect(rows.nth(2).locator(".outcome-base .badge")).to_have_text("n/a")
    page.locator("#checks").screenshot(path=str(_shot("checks-panel-regression")))
    page.screenshot(path=str(_shot("checks-page")), full_page=True)

    again = page_for(operator)
    again.goto(page.url)
    expect(again.locator("tr.check-result")).to_have_count(3)
    expect(again.locator("tr.check-result.regression")).to_have_count(1)
    assert page.errors == [] and again.errors == []


def test_a_refused_check_says_why_beside_the_form_and_keeps_what_was_typed(page_for, operator, replay):
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare")
    add_check(page, node="draft", kind="regex", value="(unclosed")
    expect(page.locator("#check-add-error")).to_contain_text("pattern is not a valid regular expression")
    expect(page.locator("form.check-add").get_by_label("Value")).to_have_value("(unclosed")
    page.locator("#checks").screenshot(path=str(_shot("checks-refused")))
    assert page.errors == []


def test_the_kind_picked_says_what_the_form_fields_hold(page_for, operator, replay):
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare")
    form = page.locator("form.check-add")
    form.get_by_label("Kind").select_option("json_field_equals")
    expect(form.get_by_label("JSON pointer")).to_have_attribute("placeholder", "a JSON pointer, e.g. /decision")
    expect(form.get_by_label("Value")).to_have_attribute("placeholder", "the expected JSON value (or plain text)")
    form.get_by_label("Kind").select_option("json_valid")
    expect(form.get_by_label("Value")).to_have_attribute("placeholder", "(not used)")
    assert page.errors == []
