"""Live pages keep their state while they poll: an open step, the focus, rows loaded on demand, a notice."""

import pytest
from playwright.sync_api import expect

from runs import services
from runs.models import Step

from ..builders import run_in_status, support_workflow, tool
from ..worker import TOOLS_REACH_LOCAL_SERVER, celery_worker, wait_for
from .test_replay_dialog import _shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def next_polls(page, fragment, count):
    """Waits for `count` more poll answers; each one after the first proves the one before it was swapped in."""
    for _ in range(count):
        with page.expect_response(lambda r: f"fragment={fragment}" in r.url, timeout=15_000):
            pass


def timed_workflow(workspace, server_url, seconds):
    """A chain of http.get steps s0, s1, ... against the local server's /slow endpoint, each as long as given."""
    nodes = [
        tool(f"s{i}", "http.get", {"url": f"{server_url}/slow?s={s}"}, after=[f"s{i - 1}"] if i else [])
        for i, s in enumerate(seconds)
    ]
    return services.create_workflow(workspace=workspace, name="Timed", nodes=nodes)


def focused_id(page):
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_an_open_step_loaded_with_load_more_stays_open_and_focused_while_the_run_executes(
    page_for, operator, acme, local_server, monkeypatch
):
    monkeypatch.setattr("runs.web.views.STEPS_PAGE", 2)  # so that the third step comes with "Load more"
    version = timed_workflow(acme, local_server.url, [0.3, 0.3, 4, 1, 1])  # s2 runs while we open it
    page = page_for(operator)
    with celery_worker(env=TOOLS_REACH_LOCAL_SERVER):
        run = services.trigger_run(workflow=version.workflow, payload={"name": "x"})
        wait_for(lambda: Step.objects.filter(run=run, node_id="s2").exists(), message="the third step to start")
        with page.expect_response(lambda r: "/steps?after=1" in r.url):  # "Load more", revealed at once
            page.goto(f"/acme/ai/runs/{run.run_id}")
        expect(page.locator("#trace-steps > details")).to_have_count(3)
        third = page.locator("#step-s2")
        expect(third.locator(".badge-running")).to_have_count(1)
        third.locator("summary").click()
        expect(third).to_have_attribute("open", "")
        assert focused_id(page) == "summary-s2"
        next_polls(page, "live", 3)
        expect(third).to_have_attribute("open", "")
        assert focused_id(page) == "summary-s2"
        expect(page.locator("#step-s2 .badge-completed")).to_be_visible(timeout=15_000)
        page.screenshot(path=str(_shot("trace-live-open-step")), full_page=True)
        expect(page.locator(".trace-header .badge-completed")).to_be_visible(timeout=20_000)
    expect(page.locator("#trace-steps > details")).to_have_count(5)
    for node in ("s0", "s1", "s2", "s3", "s4"):
        expect(page.locator(f"#step-{node} .badge-completed")).to_have_count(1)
    expect(third).to_have_attribute("open", "")
    expect(third.locator("summary")).to_be_focused()
    expect(page.locator("#step-s1")).not_to_have_attribute("open", "")
    expect(page.get_by_role("button", name="Replay")).to_be_enabled()
    page.screenshot(path=str(_shot("trace-live-finished")), full_page=True)
    assert page.errors == []


def test_the_monitoring_notice_and_the_focus_survive_the_polls(page_for, operator, acme):
    run = run_in_status(support_workflow(acme)[0], "running")
    page = page_for(operator)
    page.goto(f"/acme/monitoring/workflow-runs/{run.run_id}")
    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#run-notice")).to_have_text("Run paused.")
    expect(page.get_by_role("button", name="Resume")).to_be_focused()  # the button that undoes it
    page.evaluate("document.getElementById('run-status').dataset.before = 'poll'")
    next_polls(page, "status", 3)
    expect(page.locator("#run-status[data-before]")).to_have_count(0)  # the polls did replace the status
    expect(page.locator("#run-notice")).to_have_text("Run paused.")
    expect(page.get_by_role("button", name="Resume")).to_be_focused()
    page.get_by_role("button", name="Cancel").focus()
    next_polls(page, "status", 2)
    expect(page.get_by_role("button", name="Cancel")).to_be_focused()
    expect(page.locator("#run-notice")).to_have_text("Run paused.")
    page.screenshot(path=str(_shot("monitoring-notice")))
    assert page.errors == []


def test_the_disabled_replay_button_explains_itself_to_the_keyboard(page_for, operator, acme):
    run = run_in_status(support_workflow(acme)[0], "running")
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{run.run_id}")
    button = page.locator("#replay-button")
    button.focus()
    expect(button).to_be_focused()
    expect(button).to_have_accessible_description(
        "Replay is available once the run has finished (completed, failed or cancelled). This run is running."
    )
    expect(page.get_by_role("tooltip")).to_be_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("r")
    expect(page.locator("#modal[open]")).to_have_count(0)
    page.screenshot(path=str(_shot("trace-replay-disabled")))
