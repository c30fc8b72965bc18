"""Retention at scale: prune 100,000 old finished runs (3 steps and 3 tool calls each) built with SQL.

PostgreSQL only, in a database of its own so the other figures' data (and the scale section's) is not in the
selection. The parent (`python -m bench`) creates the database and reads one JSON line from a child process
(`python -m bench.prune`) that migrates it, builds the runs with generate_series and prunes them through
runs.retention.prune_runs, the service the command and the beat task call.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

RUNS = 100_000
STEPS = 3
KEPT_RECENT = 10_000  # recent finished runs: outside the window, they must survive
REPLAYS = 1_000  # recent replays of pruned runs: their replay_of must become null
TARGET_S = 60.0
LOCK_TARGET_S = 1.0
NAME = f"prune {RUNS:,} runs"


def figures(bench_db: str, pg_name: str, log: Callable[[str], None]) -> list:
    """The prune figures, measured in a child process on a fresh database; none (a printed reason) on SQLite."""
    from .figures import Figure

    if bench_db != "postgres":
        log(f"  {NAME}: skipped, PostgreSQL only (BENCH_DB={bench_db}): SQLite locks the whole database per batch.")
        return []
    name = f"{pg_name}_prune"
    _fresh_database(name)
    log(f"  {NAME}: building the runs with SQL in database {name}, then pruning them...")
    env = {**os.environ, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{name}"}
    env["REPRISE_VAR_DIR"] = str(Path(os.environ["REPRISE_VAR_DIR"]) / "prune")
    try:
        child = subprocess.run(
            [sys.executable, "-m", "bench.prune"], env=env, capture_output=True, text=True, check=False
        )
    finally:
        _drop_database(name)
    if child.returncode != 0:
        raise RuntimeError(f"bench.prune failed:\n{child.stderr}")
    for line in child.stderr.splitlines():
        log(f"    {line}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    rate = result["runs"] / result["seconds"]
    correct = result["runs"] == RUNS and result["survivors_ok"]
    log(
        f"  {NAME}: {result['seconds']:.1f} s ({rate:,.0f} runs/s), {result['batches']} batches, "
        f"longest {result['longest_batch_s'] * 1000:.0f} ms"
    )
    return [
        Figure(
            f"{NAME} ({RUNS * STEPS:,} steps, {RUNS * STEPS:,} tool calls), {rate:,.0f} runs/s",
            f"{result['seconds']:.1f} s",
            "",
            "",
            f"<= {TARGET_S:.0f} s, all deleted, the rest kept",
            correct and result["seconds"] <= TARGET_S,
        ),
        Figure(
            f"prune: batches of {_sizes(result)} runs, how long each holds its locks",
            f"{result['median_batch_s'] * 1000:.0f} ms",
            f"{result['p95_batch_s'] * 1000:.0f} ms",
            "",
            f"longest <= {LOCK_TARGET_S * 1000:.0f} ms (was {result['longest_batch_s'] * 1000:.0f} ms)",
            result["longest_batch_s"] <= LOCK_TARGET_S,
        ),
    ]


def _sizes(result: dict) -> str:
    low, high = result["smallest_batch"], result["batch_size"]
    return f"{high:,}" if low == high else f"{low:,}–{high:,}"


def _admin_execute(statement) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(statement)


def _fresh_database(name: str) -> None:
    from psycopg import sql

    _drop_database(name)
    _admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop_database(name: str) -> None:
    from psycopg import sql

    _admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def child() -> None:
    """In the child: migrate, build, prune, check; one JSON line on stdout, the rest on stderr."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    old, kept = _build()
    built = time.perf_counter() - began
    print(f"built {RUNS:,} old and {KEPT_RECENT + REPLAYS:,} recent runs in {built:.1f} s", file=sys.stderr)
    print("claim plan: " + _claim_plan(), file=sys.stderr)
    from runs.models import Run, Step, ToolCall
    from runs.retention import DEFAULT_BATCH_SIZE, prune_runs

    began = time.perf_counter()
    report = prune_runs(older_than=timedelta(days=30))  # the default batch size, as the command and the task
    seconds = time.perf_counter() - began
    batches = sorted(report.batch_seconds)
    survivors_ok = (
        not Run.objects.filter(workflow_id=old).exists()
        and not Step.objects.filter(run__workflow_id=old).exists()
        and Run.objects.filter(workflow_id=kept).count() == KEPT_RECENT + REPLAYS
        and not Run.objects.filter(workflow_id=kept, replay_of__isnull=False).exists()
        and ToolCall.objects.count() == Step.objects.count() == (KEPT_RECENT + REPLAYS) * STEPS
    )
    print(
        json.dumps(
            {
                "runs": report.runs,
                "batch_size": DEFAULT_BATCH_SIZE,
                "smallest_batch": min(report.batch_runs),
                "steps": report.steps,
                "tool_calls": report.tool_calls,
                "batches": report.batches,
                "seconds": seconds,
                "longest_batch_s": report.longest_batch_s,
                "median_batch_s": statistics.median(batches),
                "p95_batch_s": batches[min(len(batches) - 1, round(0.95 * (len(batches) - 1)))],
                "survivors_ok": survivors_ok,
            }
        )
    )


def _build() -> tuple[int, int]:
    """RUNS finished runs 60–90 days old, KEPT_RECENT recent ones and REPLAYS recent replays of old ones."""
    from django.db import connection

    from runs import services
    from runs.models import Account, Workspace

    workspace = Workspace.objects.create(account=Account.objects.create(name="Prune"), slug="prune", name="Prune")
    nodes = [
        {"id": f"n{i}", "type": "tool", "tool": "records.lookup", "args": {"kind": "k", "key": "x"}, "after": []}
        for i in range(STEPS)
    ]
    old = services.create_workflow(workspace=workspace, name="Old", nodes=nodes)
    kept = services.create_workflow(workspace=workspace, name="Kept", nodes=nodes)
    with connection.cursor() as cursor:
        _insert_runs(cursor, workspace.pk, old, 1, RUNS, "interval '60 days' + g * interval '20 seconds'")
        _insert_runs(cursor, workspace.pk, kept, RUNS + 1, KEPT_RECENT + REPLAYS, "g * interval '1 second'")
        # The last REPLAYS recent runs replay the first REPLAYS old ones.
        cursor.execute(
            "UPDATE runs_run SET replay_of_id = 'run_' || lpad(to_hex(g - %s), 12, '0'), replay_depth = 1,"
            " mode = 'as_is' FROM generate_series(%s, %s) g WHERE run_id = 'run_' || lpad(to_hex(g), 12, '0')",
            [RUNS + KEPT_RECENT, RUNS + KEPT_RECENT + 1, RUNS + KEPT_RECENT + REPLAYS],
        )
        cursor.execute(
            "INSERT INTO runs_step (run_id, node_id, type, position, status, input, output, error, model_ref,"
            " prompt_hash, simulated, mapped_from, price_version, started_at, finished_at)"
            " SELECT r.run_id, 'n' || p, 'tool', p, 'completed', '{}', 'a recorded output', '', '', '', false, '',"
            " '', r.started_at, r.finished_at FROM runs_run r CROSS JOIN generate_series(0, %s) p",
            [STEPS - 1],
        )
        cursor.execute(
            "INSERT INTO runs_toolcall (step_id, tool, mutating, dry_run, arguments, result, created_at)"
            ' SELECT s.id, \'records.lookup\', false, false, \'{"kind": "k", "key": "x"}\', \'{"found": false}\','
            " s.started_at FROM runs_step s"
        )
        cursor.execute("ANALYZE")
    return old.workflow_id, kept.workflow_id


def _insert_runs(cursor, workspace_id: int, version, first: int, count: int, age: str) -> None:
    cursor.execute(
        "INSERT INTO runs_run (run_id, workspace_id, workflow_id, version_id, version_number, status,"
        " trigger_payload, payload_edited, steps_total, steps_completed, simulated, created_at, started_at,"
        " finished_at, error, lease, replay_depth, mode, overrides, node_mapping, idempotency_key, replay_plan)"
        " SELECT 'run_' || lpad(to_hex(g), 12, '0'), %s, %s, %s, 1, 'completed', '{\"name\": \"Dana\"}', false,"
        f" %s, %s, false, now() - ({age}), now() - ({age}), now() - ({age}) + interval '2 seconds', '', '', 0, '',"
        " '{}', '{}', '', '{}' FROM generate_series(%s, %s) g",
        [workspace_id, version.workflow_id, version.pk, STEPS, STEPS, first, first + count - 1],
    )


def _claim_plan() -> str:
    """EXPLAIN of the query that claims each batch: served by run_prune_idx, not a scan of every run."""
    from django.db import connection, transaction
    from django.utils import timezone

    from runs.retention import DEFAULT_BATCH_SIZE, claim_query

    with transaction.atomic(), connection.cursor() as cursor:  # FOR UPDATE needs a transaction
        sql, params = claim_query(timezone.now() - timedelta(days=30), DEFAULT_BATCH_SIZE).query.sql_with_params()
        cursor.execute("EXPLAIN " + sql, params)
        return " / ".join(row[0].strip() for row in cursor.fetchall())


if __name__ == "__main__":
    child()
