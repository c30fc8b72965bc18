"""runs.listing: keyset pages of a workspace's runs, their filters and their cursors."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.http.errors import BadRequest
from runs.http.input import parse
from runs.listing import Position, RunFilters, decode_cursor, encode_cursor, page_of_runs

from .builders import new_run, support_workflow

NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


def filters(**values) -> RunFilters:
    return parse(RunFilters, values)


def walk_older(workspace, f, limit):
    """Every page from the first, by `next`: the run ids of each."""
    pages, cursor = [], None
    while True:
        page = page_of_runs(workspace, f, cursor, limit)
        pages.append([r.run_id for r in page.rows])
        if page.next is None:
            return pages
        cursor = page.next


def test_pages_by_older_list_every_run_once_newest_first_with_ties_broken_by_run_id(acme, version):
    runs = [new_run(version, created_at=NOW - timedelta(seconds=i // 3)) for i in range(10)]  # triples share a time
    expected = [r.run_id for r in sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)]
    pages = walk_older(acme, RunFilters(), limit=4)
    assert [len(p) for p in pages] == [4, 4, 2]
    assert [run_id for page in pages for run_id in page] == expected


def test_newer_from_a_later_page_gives_back_the_page_before_it(acme, version):
    for i in range(9):
        new_run(version, created_at=NOW - timedelta(seconds=i // 2))
    first = page_of_runs(acme, RunFilters(), None, 3)
    second = page_of_runs(acme, RunFilters(), first.next, 3)
    third = page_of_runs(acme, RunFilters(), second.next, 3)
    back = page_of_runs(acme, RunFilters(), third.prev, 3)
    assert [r.run_id for r in back.rows] == [r.run_id for r in second.rows]
    assert back.prev is not None and back.next is not None


def test_the_first_page_has_no_newer_link_and_the_last_no_older_link(acme, version):
    for i in range(4):
        new_run(version, created_at=NOW - timedelta(seconds=i))
    first = page_of_runs(acme, RunFilters(), None, 3)
    last = page_of_runs(acme, RunFilters(), first.next, 3)
    assert first.prev is None and last.next is None and len(last.rows) == 1
    assert page_of_runs(acme, RunFilters(), last.prev, 3).prev is None


def test_newer_back_to_the_top_is_a_full_first_page_after_deletions(acme, version):
    runs = [new_run(version, created_at=NOW - timedelta(seconds=i)) for i in range(6)]
    second = page_of_runs(acme, RunFilters(), page_of_runs(acme, RunFilters(), None, 3).next, 3)
    runs[0].delete()
    top = page_of_runs(acme, RunFilters(), second.prev, 3)
    assert [r.run_id for r in top.rows] == [r.run_id for r in runs[1:4]] and top.prev is None


def test_a_cursor_decodes_to_the_position_it_encodes():
    position = Position(NOW, "run_0123456789ab", older=True)
    assert decode_cursor(encode_cursor(position)) == position


@pytest.mark.parametrize("cursor", ["nonsense", "", "b3g=", encode_cursor(Position(NOW, "run_x", older=True))])
def test_a_cursor_this_list_did_not_give_is_a_400_naming_the_field(cursor):
    with pytest.raises(BadRequest) as exc:
        decode_cursor(cursor)
    assert exc.value.field == "cursor"


def test_filters_by_status(acme, version):
    failed = new_run(version, status="failed")
    new_run(version, status="completed")
    assert [r.run_id for r in page_of_runs(acme, filters(status="failed")).rows] == [failed.run_id]


def test_filters_by_workflow(acme, version):
    other_version = support_workflow(acme)[0]
    mine = new_run(other_version)
    new_run(version)
    page = page_of_runs(acme, filters(workflow=other_version.workflow.workflow_id))
    assert [r.run_id for r in page.rows] == [mine.run_id]


def test_filters_replays_only_and_originals_only(acme, version):
    original = new_run(version)
    replay = new_run(version, replay_of=original, replay_depth=1, mode="as_is")
    assert [r.run_id for r in page_of_runs(acme, filters(lineage="replays")).rows] == [replay.run_id]
    assert [r.run_id for r in page_of_runs(acme, filters(lineage="originals")).rows] == [original.run_id]


def test_filters_by_time_range_from_inclusive_to_exclusive(acme, version):
    at = [new_run(version, created_at=NOW - timedelta(hours=h)) for h in range(4)]
    f = filters(**{"from": (NOW - timedelta(hours=2)).isoformat(), "to": (NOW - timedelta(hours=0.5)).isoformat()})
    assert [r.run_id for r in page_of_runs(acme, f).rows] == [at[1].run_id, at[2].run_id]


def test_filters_by_run_id_prefix_with_or_without_run_(acme, version):
    wanted = new_run(version, run_id="run_abcd0001")
    new_run(version, run_id="run_abce0002")
    for prefix in ("run_abcd", "ABCD", "abcd"):
        assert [r.run_id for r in page_of_runs(acme, filters(run_id_prefix=prefix)).rows] == [wanted.run_id]


def test_filters_combine(acme, version):
    original = new_run(version, status="failed", created_at=NOW - timedelta(hours=1))
    new_run(version, status="failed", replay_of=original, replay_depth=1, mode="as_is", created_at=NOW)
    new_run(version, status="completed", created_at=NOW - timedelta(hours=1))
    f = filters(
        status="failed",
        lineage="originals",
        workflow=version.workflow.workflow_id,
        run_id_prefix=original.run_id[:8],
        **{"from": (NOW - timedelta(hours=2)).isoformat()},
    )
    assert [r.run_id for r in page_of_runs(acme, f).rows] == [original.run_id]


def test_runs_of_another_workspace_are_never_listed(acme, globex, version):
    new_run(support_workflow(globex)[0])
    mine = new_run(version)
    assert [r.run_id for r in page_of_runs(acme, RunFilters()).rows] == [mine.run_id]


def test_a_blank_filter_filters_nothing():
    assert not parse(RunFilters, {"status": "", "from": "", "run_id_prefix": "", "lineage": ""}).is_set()


def test_a_time_without_an_offset_is_utc():
    assert parse(RunFilters, {"from": "2026-11-30T10:00"}).from_.isoformat() == "2026-11-30T10:00:00+00:00"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"status": "done"}, "status"),
        ({"workflow": "nope"}, "workflow"),
        ({"lineage": "both"}, "lineage"),
        ({"run_id_prefix": "run_xyz"}, "run_id_prefix"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-11-30T10:00", "to": "2026-11-30T09:00"}, "to"),
    ],
)
def test_an_invalid_filter_is_a_400_naming_it(values, field):
    with pytest.raises(BadRequest) as exc:
        parse(RunFilters, values)
    assert exc.value.field == field and field in exc.value.message
