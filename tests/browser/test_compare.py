"""What only a browser shows on the compare page: rows that open onto their diff, the c key, the badges."""

import re

import pytest
from playwright.sync_api import expect

from ..builders import executed_replay, finished_run, renaming_version, support_workflow
from .test_replay_dialog import _shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def source(acme):
    return finished_run(support_workflow(acme)[0])


def test_an_as_is_replay_shows_every_output_the_same(page_for, operator, source):
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{replay.run_id}")
    page.keyboard.press("c")
    expect(page).to_have_url(re.compile(rf"/acme/ai/runs/{replay.run_id}/compare$"))
    rows = page.locator("details.compare-row")
    expect(rows).to_have_count(2)
    expect(page.locator("details.compare-row .badge-same")).to_have_count(2)
    expect(page.locator(".compare-banners")).to_contain_text("dry-ran")
    page.screenshot(path=_shot("compare-as-is"), full_page=True)
    assert page.errors == []


def test_a_model_replay_shows_the_changed_output_as_a_word_diff(page_for, operator, source):
    replay = executed_replay(
        user=operator, run=source, request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    )
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare")
    draft = page.locator("details.compare-row").first
    expect(draft.locator(".badge-changed")).to_have_text("changed")
    expect(draft).to_contain_text("anthropic:claude-opus-4-7 → openai:gpt-5")
    draft.locator("summary").click()
    expect(draft.locator("pre.diff ins").first).to_be_visible()
    expect(draft.locator("pre.diff del").first).to_be_visible()
    page.screenshot(path=_shot("compare-model-diff"), full_page=True)
    page.get_by_label("Changed only").check()
    expect(page).to_have_url(re.compile(r"changed=1"))
    assert page.errors == []


def test_a_cross_version_replay_pairs_the_renamed_node_with_its_target_as_mapped(page_for, operator, source):
    renaming_version(source.version)
    executed_replay(
        user=operator,
        run=source,
        request={"mode": "as_is", "target_version": 2, "node_mapping": {"draft": "compose", "notify": "send"}},
    )
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{source.run_id}")
    page.get_by_role("link", name="compare").click()
    first = page.locator("details.compare-row").first
    expect(first.locator(".node")).to_have_text("draft → compose")
    expect(first.locator(".match")).to_have_text("mapped")
    expect(page.locator(".compare-banners")).to_contain_text("different workflow versions (v1 and v2)")
    page.screenshot(path=_shot("compare-mapped"), full_page=True)
    assert page.errors == []


def test_rows_loaded_with_more_rows_stay_loaded_and_open_while_the_page_polls(page_for, operator, source, monkeypatch):
    from runs.models import Run

    from .test_live_pages import next_polls

    monkeypatch.setattr("runs.web.compare.ROWS_PAGE", 1)  # so that the second row comes with "More rows"
    replay = executed_replay(user=operator, run=source, request={"mode": "as_is"})
    Run.objects.filter(pk=replay.pk).update(status=Run.Status.RUNNING)  # in flight: the page polls
    page = page_for(operator)
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare")
    with page.expect_response(lambda r: "fragment=rows" in r.url):  # "More rows" loads once it is revealed
        page.locator(".load-more").scroll_into_view_if_needed()
    rows = page.locator("details.compare-row")
    expect(rows).to_have_count(2)
    second = rows.nth(1)
    second.locator("summary").click()
    expect(second.locator("pre.diff, .compare-diff p.muted").first).to_be_visible()
    expect(second).to_have_attribute("open", "")
    more_rows = []
    page.on("request", lambda r: more_rows.append(r.url) if "fragment=rows" in r.url else None)
    next_polls(page, "live", 3)
    expect(rows).to_have_count(2)
    expect(second).to_have_attribute("open", "")
    assert more_rows == []  # the poll's answer had both rows: none was loaded again
    page.screenshot(path=_shot("compare-live-more-rows"), full_page=True)
    assert page.errors == []


def test_a_row_opened_before_htmx_has_loaded_loads_its_diff_once_it_has(page_for, operator, source):
    replay = executed_replay(
        user=operator, run=source, request={"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
    )
    page = page_for(operator)
    held = []  # the htmx script's request, answered only once the row is open
    page.route("**/htmx-*.min.js", lambda route: held.append(route))
    page.goto(f"/acme/ai/runs/{replay.run_id}/compare", wait_until="commit")
    draft = page.locator("details.compare-row").first
    draft.locator("summary").click()
    expect(draft.locator(".diff-pending")).to_be_visible()
    assert len(held) == 1
    held[0].continue_()
    expect(draft.locator("pre.diff ins").first).to_be_visible()
    expect(draft.locator(".diff-pending")).to_have_count(0)
    assert page.errors == []
