"""The runs list and the monitoring list: one selector (runs.listing), its filters in the URL, keyset pages."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import Client
from django.utils import timezone

from .builders import new_run, support_workflow

LISTS = ["/acme/ai/runs", "/acme/monitoring/workflow-runs"]
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "runs-table"}
NOW = timezone.now()


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr("runs.web.views.RUNS_PAGE", 2)


def link(html: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}"', html)
    return unescape(found.group(1)) if found else None


def listed(html: str, runs) -> list[str]:
    return [r.run_id for r in runs if r.run_id in html]


@pytest.mark.parametrize("url", LISTS)
def test_older_and_newer_links_page_through_the_filtered_runs_keeping_the_filters(
    url, operator_client, version, small_pages
):
    failed = [new_run(version, status="failed", created_at=NOW - timedelta(minutes=i)) for i in range(5)]
    new_run(version, status="completed", created_at=NOW)
    first = operator_client.get(f"{url}?status=failed").content.decode()
    assert listed(first, failed) == [r.run_id for r in failed[:2]] and link(first, "prev") is None
    older = link(first, "next")
    assert "status=failed" in older and "cursor=" in older
    second = operator_client.get(url + older).content.decode()
    assert listed(second, failed) == [r.run_id for r in failed[2:4]]
    back = operator_client.get(url + link(second, "prev")).content.decode()
    assert listed(back, failed) == [r.run_id for r in failed[:2]]


@pytest.mark.parametrize("url", LISTS)
def test_filters_combine_on_the_page(url, operator_client, version):
    original = new_run(version, status="failed", run_id="run_abcd0001")
    new_run(version, status="failed", run_id="run_abcd0002", replay_of=original, replay_depth=1, mode="as_is")
    new_run(version, status="completed", run_id="run_abcd0003")
    new_run(version, status="failed", run_id="run_ffff0004")
    html = operator_client.get(f"{url}?status=failed&lineage=originals&run_id_prefix=abcd").content.decode()
    assert re.findall(r"run_[0-9a-f]{8}(?=</a>)", html) == ["run_abcd0001"]


@pytest.mark.parametrize("url", LISTS)
def test_an_invalid_filter_is_a_clear_message_on_a_400_page(url, operator_client, version):
    response = operator_client.get(f"{url}?from=2026-11-30T10:00&to=2026-11-30T09:00")
    html = response.content.decode()
    assert response.status_code == 400 and "to must be later than from." in html
    assert 'value="2026-11-30T10:00"' in html  # what was typed stays in the form


@pytest.mark.parametrize("url", LISTS)
def test_a_cursor_the_list_did_not_give_shows_the_first_page(url, operator_client, version):
    run = new_run(version)
    response = operator_client.get(f"{url}?cursor=not-a-cursor")
    assert response.status_code == 200 and run.run_id in response.content.decode()


@pytest.mark.parametrize("url", LISTS)
def test_an_outsider_gets_the_access_error(url, outsider):
    client = Client()
    client.force_login(outsider)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", LISTS)
def test_a_post_is_refused_with_405(url, operator_client):
    assert operator_client.post(url).status_code == 405


@pytest.mark.parametrize("url", LISTS)
def test_the_queries_of_a_page_do_not_grow_with_the_runs(url, operator_client, version, django_assert_max_num_queries):
    for i in range(60):
        new_run(version, created_at=NOW - timedelta(seconds=i))
    with django_assert_max_num_queries(8):
        first = operator_client.get(f"{url}?status=pending&lineage=originals").content.decode()
    with django_assert_max_num_queries(8):
        operator_client.get(url + link(first, "next"))


def test_replays_that_kept_their_sources_changes_are_listed_without_a_query_each(
    operator_client, version, django_assert_max_num_queries
):
    source = new_run(version, status="completed")
    kept = {"prompt": {"artifact_id": "prompt_a1b2c3d4", "content_hash": "sha256:" + "d" * 64}}
    for i in range(30):
        new_run(
            version,
            replay_of=source,
            replay_depth=1,
            mode="model",
            overrides={**kept, "model": {"model_id": "gpt-5", "model_ref": "openai:gpt-5"}},
            created_at=NOW - timedelta(seconds=i),
        )
    with django_assert_max_num_queries(8):
        html = operator_client.get("/acme/ai/runs?lineage=replays").content.decode()
    assert html.count("kept prompt prompt_a1b2c3d4 @ sha256:dddddddddd") >= 25


def test_the_runs_lists_htmx_swap_keeps_the_filters_in_its_links(operator_client, version, small_pages):
    for i in range(3):
        new_run(version, created_at=NOW - timedelta(minutes=i))
    response = operator_client.get("/acme/ai/runs?lineage=originals", **HTMX)
    html = response.content.decode()
    assert "<html" not in html and 'hx-target="#runs-table"' in html
    assert "lineage=originals" in link(html, "next")


def test_filtering_through_htmx_offers_clear_filters_and_clearing_them_takes_it_away(operator_client, version):
    """The swap replaces the table only: the filter form's Clear filters link follows it out of band, as a full
    page with the same filters shows it."""
    filtered = operator_client.get("/acme/ai/runs?status=failed", **HTMX).content.decode()
    oob = re.search(r'<span id="clear-filters" hx-swap-oob="true">(.*?)</span>', filtered, re.S)
    assert oob and '<a href="/acme/ai/runs">Clear filters</a>' in oob.group(1)
    cleared = operator_client.get("/acme/ai/runs?status=", **HTMX).content.decode()
    oob = re.search(r'<span id="clear-filters" hx-swap-oob="true">(.*?)</span>', cleared, re.S)
    assert oob and "Clear filters" not in oob.group(1)
    page = operator_client.get("/acme/ai/runs?status=failed").content.decode()
    assert page.count('id="clear-filters"') == 1 and "Clear filters" in page


def test_monitoring_shows_each_runs_progress_from_its_counter(operator_client, version):
    new_run(version, steps_total=2, steps_completed=1)
    assert "1 / 2" in operator_client.get("/acme/monitoring/workflow-runs").content.decode()
