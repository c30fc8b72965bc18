"""The API reference page in Chromium: it renders every operation and asks nothing of another origin."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from config.openapi import document

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def shot(name):
    from django.conf import settings

    folder = settings.VAR_DIR / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


def test_the_api_reference_renders_without_a_request_to_another_origin_or_a_csp_violation(
    browser, live_server, settings
):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    origins, console = set(), []
    page.on("request", lambda r: origins.add(urlsplit(r.url).netloc))
    page.on("console", lambda m: console.append(m.text) if m.type in ("error", "warning") else None)
    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", name="Reprise API v1")).to_be_visible()
    operations = [op for item in document()["paths"].values() for op in item.values()]
    expect(page.locator("article.api-op")).to_have_count(len(operations))
    page.screenshot(path=str(shot("api-docs")))
    page.get_by_role("link", name="POST /api/v1/{slug}/runs/{run_id}/replays").click()
    expect(page.locator("#op-submitReplay")).to_contain_text("Replay quota exceeded")
    page.locator("#op-submitReplay").screenshot(path=str(shot("api-docs-replay")))
    context.close()
    assert origins == {urlsplit(live_server.url).netloc}
    assert console == []


def test_the_api_reference_at_390px_does_not_scroll_sideways(browser, live_server):
    from .test_polish import sideways_overflow

    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    page = context.new_page()
    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", name="Reprise API v1")).to_be_visible()
    page.screenshot(path=str(shot("api-docs-390")))
    overflow = sideways_overflow(page)
    context.close()
    assert overflow == []


def test_a_short_page_at_390px_keeps_its_header_as_tall_as_its_contents(page_for, operator):
    page = page_for(operator, width=390, height=844)
    page.goto("/acme/ai/cohorts")
    header = page.locator(".sidebar").bounding_box()
    assert header is not None and header["height"] < 250  # it stretched to 302 px, sharing the page's height


def test_a_table_narrower_than_its_scroll_box_at_390px_fills_it_to_the_right_edge(browser, live_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    page = context.new_page()
    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", name="Reprise API v1")).to_be_visible()
    # For each table that fits its box: the header row's right edge, and the box's inner right edge.
    edges = page.locator(".api-docs .table").evaluate_all(
        """tables => tables.filter(t => t.scrollWidth <= t.clientWidth).map(t => {
             const box = t.getBoundingClientRect(), row = t.querySelector('thead tr').getBoundingClientRect();
             return [Math.round(row.right), Math.round(box.left + t.clientLeft + t.clientWidth)];
           })"""
    )
    context.close()
    assert edges, "no table fits its box at 390 px"
    assert [row for row, box in edges if row != box] == []
