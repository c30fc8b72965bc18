"""EXPLAIN proofs: each list query and hot path reads an index range, never the whole history.

PostgreSQL only: the plans are its planner's, on a history written with SQL (bench/scale_data.py) and analyzed.
"""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from bench import scale_data
from runs.catalog import ensure_catalog
from runs.engine.dispatch import stale_runs
from runs.http.input import parse
from runs.listing import Position, RunFilters, page_query
from runs.models import Run

from .factories import UserFactory, WorkspaceFactory

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="EXPLAIN plans are PostgreSQL's, the database production runs"
    ),
    pytest.mark.django_db,
]

RUNS = 20_000


@pytest.fixture(scope="module")
def history(django_db_setup, django_db_blocker):
    """One history for the module (a few seconds to write), committed, and deleted after its last test."""
    with django_db_blocker.unblock():
        ensure_catalog()
        workspace = WorkspaceFactory(slug="history")
        user = UserFactory(username="history-operator")
        data = scale_data.build(workspace, runs=RUNS, requested_by_id=user.pk)
    yield data
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM runs_step WHERE run_id IN (SELECT run_id FROM runs_run WHERE workspace_id = %s)",
            [workspace.pk],
        )
        cursor.execute("DELETE FROM runs_run WHERE workspace_id = %s", [workspace.pk])
        workspace.delete()
        user.delete()


def plan_of(queryset) -> str:
    return queryset.explain()


def assert_index_range(plan: str, index: str) -> None:
    assert f" using {index} on " in plan, plan
    assert "Seq Scan on runs_run" not in plan and "Sort" not in plan, plan


def page(history, position=None, **values):
    return page_query(history.workspace, parse(RunFilters, values), position, 50)


def deep_position(history, older=True) -> Position:
    """A position far back in the history (the 90th percentile of its runs)."""
    run = Run.objects.filter(workspace=history.workspace).order_by("-created_at", "-run_id")[RUNS * 9 // 10]
    return Position(run.created_at, run.run_id, older=older)


def test_the_first_page_reads_the_recent_index(history):
    assert_index_range(plan_of(page(history)), "run_ws_recent_idx")


def test_a_page_far_back_starts_its_range_at_the_cursor(history):
    plan = plan_of(page(history, deep_position(history)))
    assert_index_range(plan, "run_ws_recent_idx")
    assert "Index Cond: ((workspace_id = " in plan and "created_at <=" in plan, plan


def test_a_newer_page_reads_the_same_index_backwards(history):
    plan = plan_of(page(history, deep_position(history, older=False)))
    assert "Index Scan Backward using run_ws_recent_idx" in plan and "Sort" not in plan, plan


def test_the_status_filter_reads_its_index(history):
    assert_index_range(plan_of(page(history, status="failed")), "run_ws_status_recent_idx")


def test_the_workflow_filter_reads_its_index(history):
    plan = plan_of(page(history, workflow=history.workflows[1].workflow_id))
    assert_index_range(plan, "run_ws_workflow_recent_idx")
    assert "InitPlan" in plan, plan  # the workflow's key, looked up once


def test_a_workflow_and_a_status_read_their_composite_index_even_when_nothing_matches(history):
    plan = plan_of(page(history, deep_position(history), status="failed", workflow=history.workflows[1].workflow_id))
    assert_index_range(plan, "run_ws_workflow_status_idx")


def test_replays_only_reads_the_partial_index_of_replays(history):
    assert_index_range(plan_of(page(history, lineage="replays")), "run_ws_replays_recent_idx")


def test_originals_only_reads_the_recent_index(history):
    assert_index_range(plan_of(page(history, lineage="originals")), "run_ws_recent_idx")


def test_a_time_range_is_an_index_range(history):
    now = timezone.now()
    plan = plan_of(page(history, **{"from": (now - timedelta(minutes=3)).isoformat(), "to": now.isoformat()}))
    assert_index_range(plan, "run_ws_recent_idx")
    assert "created_at >=" in plan.split("Index Cond")[1], plan


def test_a_long_run_id_prefix_reads_the_primary_keys_pattern_index(history):
    prefix = Run.objects.filter(workspace=history.workspace).values_list("run_id", flat=True).first()[:10]
    plan = plan_of(page(history, run_id_prefix=prefix))
    assert "runs_run_run_id_" in plan and "_like" in plan and "Seq Scan on runs_run" not in plan, plan


def test_a_short_run_id_prefix_reads_an_index(history):
    """The recent index filtered, or the pattern index and a sort of its matches: the planner weighs which is less."""
    plan = plan_of(page(history, run_id_prefix="run_8"))
    assert "Index" in plan and "Seq Scan on runs_run" not in plan, plan


@pytest.mark.parametrize(
    "values",
    [
        {"status": "failed", "lineage": "replays"},
        {"status": "completed", "lineage": "originals"},
        {"status": "failed", "workflow": 0},
        {"workflow": 2, "lineage": "replays"},
        {"status": "completed", "from": -10},
        {"workflow": 3, "from": -10, "to": 0},
        {"status": "failed", "workflow": 1, "lineage": "originals", "from": -60, "to": 0, "run_id_prefix": "run_"},
    ],
)
def test_combined_filters_read_the_index_of_one_of_them(history, values):
    """One filter's index range, the others checked on its rows; where the planner expects few matches it may
    instead combine two index ranges in a bitmap and sort those few. Never a scan of the history."""
    now = timezone.now()
    values = {
        k: history.workflows[v].workflow_id
        if k == "workflow"
        else (now + timedelta(minutes=v)).isoformat()
        if k in ("from", "to")
        else v
        for k, v in values.items()
    }
    plan = plan_of(page(history, deep_position(history), **values))
    assert re.search(r"Index Scan (Backward )?(using|on) run_ws_", plan) and "Seq Scan on runs_run" not in plan, plan


def test_the_sweep_reads_the_in_flight_runs_by_status(history):
    plan = plan_of(stale_runs(timezone.now()))
    assert "run_status_heartbeat_idx" in plan and "Seq Scan on runs_run" not in plan, plan


def test_the_idempotency_lookup_of_replay_submit_reads_its_unique_index(history):
    replay = Run.objects.filter(workspace=history.workspace).exclude(idempotency_key="").first()
    plan = plan_of(
        Run.objects.filter(
            workspace_id=history.workspace.pk,
            requested_by_id=replay.requested_by_id,
            idempotency_key=replay.idempotency_key,
        ).order_by("pk")[:1]  # what .first() asks, as replay.services._earlier_replay does
    )
    assert "run_unique_idempotency_key" in plan and "Seq Scan on runs_run" not in plan, plan


def test_replay_submit_reads_its_source_and_lineage_depth_by_its_key(history):
    """The depth of the new replay is the source's replay_depth + 1: a column of the row, no walk up the lineage."""
    source = Run.objects.filter(workspace=history.workspace, replay_depth=1).first()
    plan = plan_of(Run.objects.select_for_update(of=("self",)).select_related("workflow").filter(pk=source.pk))
    assert "Index Cond: ((run_id)::text = " in plan and "Seq Scan on runs_run" not in plan, plan


def test_the_replays_of_a_run_on_the_trace_viewer_read_their_index(history):
    source = Run.objects.filter(workspace=history.workspace, replays__isnull=False).first()
    plan = plan_of(source.replays.order_by("-created_at").only("run_id", "status", "mode", "created_at")[:50])
    assert_index_range(plan, "run_replays_of_idx")
