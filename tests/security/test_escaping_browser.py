"""Hostile text in outputs, payloads, prompts, workflow names and errors is shown as text; no script runs."""

import pytest
from playwright.sync_api import expect

from runs.models import PromptArtifact, Run, Step, Workflow

from ..browser.test_replay_dialog import open_trace
from ..builders import finished_run, support_workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

HOSTILE = [
    "<script>window.__pwned = 1</script>",
    '"><img src=x onerror="window.__pwned = 1">',
    "{{ 7|add:7 }} {% now 'Y' %}",
    '<svg onload="window.__pwned = 1"></svg>',
]
TEXT = " ".join(HOSTILE)


@pytest.fixture
def hostile_run(acme):
    version, revision = support_workflow(acme)
    run = finished_run(version, payload={"name": TEXT, "email": TEXT})
    Step.objects.filter(run=run, node_id="draft").update(output=TEXT)
    Run.objects.filter(pk=run.pk).update(error=TEXT)
    Workflow.objects.filter(pk=version.workflow_id).update(name=TEXT[:200])
    PromptArtifact.objects.filter(pk=revision.artifact_id).update(name=TEXT[:200])
    return run


def assert_nothing_ran(page):
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src=x], svg[onload]").count() == 0
    assert page.errors == []


def test_hostile_text_in_the_trace_is_shown_as_text_and_never_runs(page_for, operator, hostile_run):
    page = page_for(operator)
    open_trace(page, hostile_run)
    page.locator("#step-draft summary").first.click()
    expect(page.locator("#step-draft")).to_contain_text("<script>window.__pwned = 1</script>")
    expect(page.locator("body")).to_contain_text("{{ 7|add:7 }}")
    assert " 14 " not in page.locator("#step-draft").inner_text()
    page.keyboard.press("r")
    expect(page.locator("#modal[open] #replay-form")).to_be_visible()
    assert_nothing_ran(page)


@pytest.mark.parametrize(
    "path", ["/acme/ai/runs", "/acme/monitoring/workflow-runs", "/acme/monitoring/workflow-runs/{run}"]
)
def test_hostile_text_in_lists_and_monitoring_never_runs(page_for, operator, hostile_run, path):
    page = page_for(operator)
    page.goto(path.format(run=hostile_run.run_id))
    expect(page.locator("main")).to_contain_text(hostile_run.run_id)
    assert_nothing_ran(page)
