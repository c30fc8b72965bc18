"""axe-core on the pages an operator spends the afternoon on, at a desktop and a phone width.

axe-core comes from the axe-playwright-python wheel (a test dependency, its axe.min.js bundled): nothing is
vendored here and nothing is fetched at test time.
"""

from pathlib import Path

import axe_playwright_python
import pytest
from playwright.sync_api import expect

from ..builders import executed_replay, finished_run, support_workflow
from .test_replay_dialog import _shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

AXE = (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()
WIDTHS = [1366, 390]


def serious_violations(page) -> list[str]:
    """Each serious or critical violation as "rule: the first elements it names"."""
    page.evaluate(AXE)
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:4]]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def replay(acme, operator):
    """A rerun from notify, whose messages.send is opted in: the trace shows an invoked call, the dialog the red
    banner and its confirmation."""
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    request = {"mode": "as_is", "from_nodes": ["notify"], "confirm_invoke": True}
    return executed_replay(user=operator, run=source, request=request)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_trace_of_a_rerun_has_no_serious_violation(page_for, operator, replay, width):
    page = page_for(operator, width=width, height=800)
    page.goto(f"/acme/ai/runs/{replay.run_id}")
    page.locator("#step-draft summary").click()
    page.screenshot(path=_shot(f"axe-trace-{width}"), full_page=True)
    assert serious_violations(page) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_open_replay_dialog_has_no_serious_violation(page_for, operator, replay, width):
    page = page_for(operator, width=width, height=800)
    page.goto(f"/acme/ai/runs/{replay.run_id}")
    page.keyboard.press("r")
    expect(page.locator("#modal[open] #mutation-banner .banner-danger")).to_be_visible()
    expect(page.locator("#modal[open] #confirm-hint")).to_be_visible()
    page.screenshot(path=_shot(f"axe-dialog-{width}"))
    assert serious_violations(page) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_compare_page_has_no_serious_violation(page_for, operator, replay, width):
    page = page_for(operator, width=width, height=800)
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare")
    page.locator("details.compare-row summary").first.click()
    page.screenshot(path=_shot(f"axe-compare-{width}"), full_page=True)
    assert serious_violations(page) == []


@pytest.mark.parametrize("width", WIDTHS)
def test_the_runs_list_has_no_serious_violation(page_for, operator, replay, width):
    page = page_for(operator, width=width, height=800)
    page.goto("/acme/ai/runs")
    expect(page.locator("tbody tr")).to_have_count(2)
    page.screenshot(path=_shot(f"axe-runs-{width}"), full_page=True)
    assert serious_violations(page) == []
