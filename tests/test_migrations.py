"""Migrations that touch the runs table: on a million-run table they must not block its writes."""

import io
import re

import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="CREATE INDEX CONCURRENTLY is PostgreSQL's; SQLite builds them plainly"
)

RUN_INDEXES = {
    "0009_run_list_indexes": {
        "run_ws_recent_idx",
        "run_ws_status_recent_idx",
        "run_ws_workflow_recent_idx",
        "run_ws_replays_recent_idx",
    },
    "0010_run_workflow_status_index": {"run_ws_workflow_status_idx"},
    "0011_run_prune_idx": {"run_prune_idx"},
}


def _sql_of(migration: str) -> str:
    out = io.StringIO()
    call_command("sqlmigrate", "runs", migration, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize("migration", sorted(RUN_INDEXES))
def test_the_runs_tables_indexes_are_built_concurrently_outside_a_transaction(migration):
    sql = _sql_of(migration)
    built = set(re.findall(r'CREATE INDEX CONCURRENTLY "(\w+)"', sql))
    assert built == RUN_INDEXES[migration]
    assert "BEGIN;" not in sql
