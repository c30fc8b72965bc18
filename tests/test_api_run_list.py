"""GET /api/v1/<slug>/runs: the lists' selector as JSON, its filters and cursor, and its refusals."""

from datetime import timedelta

import pytest
from django.utils import timezone

from .builders import finished_run, new_run, support_workflow

URL = "/api/v1/acme/runs"
NOW = timezone.now()


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


def ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [run["run_id"] for run in response.json()["runs"]]


def test_lists_runs_newest_first_without_their_steps(api, version):
    older = finished_run(version)
    newer = new_run(version)
    body = api.get(URL).json()
    assert [r["run_id"] for r in body["runs"]] == [newer.run_id, older.run_id] and body["next"] is None
    first = body["runs"][1]
    assert first["workspace"] == "acme" and first["status"] == "completed" and "steps" not in first
    assert first["cost_usd"] is not None


def test_next_pages_through_every_run_once_with_ties_broken_by_run_id(api, version):
    runs = [new_run(version, created_at=NOW - timedelta(seconds=i // 2)) for i in range(7)]
    seen, cursor = [], ""
    while True:
        body = api.get(URL, {"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        seen += [r["run_id"] for r in body["runs"]]
        if not body["next"]:
            break
        cursor = body["next"]
    assert seen == [r.run_id for r in sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)]


def test_the_filters_apply_and_combine(api, version):
    original = new_run(version, status="failed", created_at=NOW - timedelta(hours=1))
    replay = new_run(version, status="failed", replay_of=original, replay_depth=1, mode="as_is")
    new_run(version, status="completed")
    assert ids(api.get(URL, {"status": "failed"})) == [replay.run_id, original.run_id]
    assert ids(api.get(URL, {"status": "failed", "lineage": "replays"})) == [replay.run_id]
    assert ids(
        api.get(URL, {"workflow": version.workflow.workflow_id, "lineage": "originals", "status": "failed"})
    ) == [original.run_id]
    assert ids(api.get(URL, {"to": (NOW - timedelta(minutes=30)).isoformat()})) == [original.run_id]
    assert ids(api.get(URL, {"run_id_prefix": replay.run_id[:9]})) == [replay.run_id]


def test_a_filter_keeps_paging_with_its_cursor(api, version):
    failed = [new_run(version, status="failed", created_at=NOW - timedelta(minutes=i)) for i in range(3)]
    new_run(version, status="completed", created_at=NOW - timedelta(seconds=90))
    first = api.get(URL, {"status": "failed", "limit": 2}).json()
    second = api.get(URL, {"status": "failed", "limit": 2, "cursor": first["next"]}).json()
    assert [r["run_id"] for r in second["runs"]] == [failed[2].run_id] and second["next"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"status": "done"}, "status"),
        ({"lineage": "all"}, "lineage"),
        ({"workflow": "wf_nothex!"}, "workflow"),
        ({"run_id_prefix": "job_1"}, "run_id_prefix"),
        ({"from": "soon"}, "from"),
        ({"from": "2026-11-30T10:00:00Z", "to": "2026-11-30T10:00:00Z"}, "to"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"to": "0001-01-01T00:00:00+05:00"}, "to"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, acme, query, field):
    response = api.get(URL, query)
    assert response.status_code == 400 and response.json()["error"]["field"] == field


def test_a_filter_given_twice_is_a_400_not_its_last_value(api, version):
    new_run(version, status="completed")
    response = api.get(URL + "?status=completed&status=failed")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "bad_request",
        "message": "status is given 2 times in the query string: it takes one value.",
        "field": "status",
    }


def test_an_outsider_gets_the_access_error(outsider_api, version):
    new_run(version)
    assert outsider_api.get(URL).status_code == 403


def test_a_post_is_refused_with_405(api, acme):
    assert api.post(URL).status_code == 405


def test_a_viewer_may_list_runs(viewer_api, version):
    run = new_run(version)
    assert ids(viewer_api.get(URL)) == [run.run_id]


def test_the_queries_of_a_page_do_not_grow_with_the_runs(api, version, django_assert_max_num_queries):
    for i in range(60):
        new_run(version, created_at=NOW - timedelta(seconds=i))
    with django_assert_max_num_queries(6):
        body = api.get(URL, {"status": "pending"}).json()
    assert len(body["runs"]) == 50
    with django_assert_max_num_queries(6):
        api.get(URL, {"status": "pending", "cursor": body["next"]})


def test_a_time_with_an_offset_postgresql_would_refuse_is_read_in_utc(api, version):
    """ISO 8601 and Python allow offsets up to ±23:59, PostgreSQL only ±15:59 (found by the contract test)."""
    run = new_run(version, created_at=NOW)
    response = api.get(URL, {"from": (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S") + "+17:27"})
    assert response.status_code == 200 and [r["run_id"] for r in response.json()["runs"]] == [run.run_id]
