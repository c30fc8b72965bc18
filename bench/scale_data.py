"""A workspace with a long history, written with SQL (generate_series) on PostgreSQL: a million runs in a minute.

Used by the scale figures (bench/scale.py) and by the EXPLAIN proofs (tests/test_explain.py), so both read
plans of the same shape of data: four workflows, one run in ten a replay of the run before it (with an
Idempotency-Key), a failure in fifty, a cancel in two hundred, pairs of runs created in the same microsecond
(ties for the keyset), a handful in flight, and three recorded steps a run.
"""

from dataclasses import dataclass

from django.db import connection, transaction

from runs import services
from runs.models import Run, Step, Workflow, WorkflowVersion, Workspace

WORKFLOWS = 4
STEPS = 3
IN_FLIGHT = 10  # the newest runs: running, with a fresh heartbeat
SPACING_MS = 40  # two runs every SPACING_MS: a million runs span about 5.5 hours

# (g * ⌊2^48 / golden ratio⌋, odd) mod 2^48: a bijection, so ids are unique, and consecutive ones far apart.
RUN_ID = "'run_' || lpad(to_hex(((g::numeric * 173961102589771) %% 281474976710656)::bigint), 12, '0')"
PREVIOUS_RUN_ID = RUN_ID.replace("g::numeric", "(g - 1)::numeric")  # a replay replays the run just before it


@dataclass
class ScaleData:
    workspace: Workspace
    workflows: list[Workflow]
    versions: list[WorkflowVersion]
    runs: int


def _versions(workspace: Workspace, revision) -> list[WorkflowVersion]:
    nodes = [
        {
            "id": f"n{i}",
            "type": "llm",
            "model": "anthropic:claude-opus-4-7",
            "after": [f"n{i - 1}"] if i else [],
            "prompt": {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash},
        }
        for i in range(STEPS)
    ]
    return [services.create_workflow(workspace=workspace, name=f"Scale {w}", nodes=nodes) for w in range(WORKFLOWS)]


def build(workspace: Workspace, *, runs: int, requested_by_id: int) -> ScaleData:
    """`runs` runs (and STEPS steps each) in `workspace`, then ANALYZE so the planner sees them."""
    revision = services.create_prompt(workspace=workspace, name="scale", content="Summarise: {{ trigger.name }}")
    versions = _versions(workspace, revision)
    run, step = Run._meta.db_table, Step._meta.db_table
    cases = " ".join(f"WHEN {w} THEN {v.pk}" for w, v in enumerate(versions))
    workflow_cases = " ".join(f"WHEN {w} THEN {v.workflow_id}" for w, v in enumerate(versions))
    # A bulk load builds the declared indexes after the rows (one sorted build each), not row by row.
    declared = [(model, index) for model in (Run, Step) for index in model._meta.indexes]
    with transaction.atomic(), connection.schema_editor(atomic=False) as editor, connection.cursor() as cursor:
        for model, index in declared:
            editor.remove_index(model, index)
        # Consistent by construction: the foreign keys' checks (millions of lookups) would double the time.
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL work_mem = '256MB'")  # the sort of the steps below, in memory
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")  # the index builds after the load
        cursor.execute(
            f"""
            INSERT INTO {run} (run_id, workspace_id, workflow_id, version_id, version_number, status,
                trigger_payload, payload_edited, steps_total, steps_completed, simulated, created_at, started_at,
                finished_at, error, lease, heartbeat_at, dispatched_at, replay_of_id, replay_depth, mode, overrides,
                node_mapping, requested_by_id, idempotency_key, replay_plan)
            SELECT {RUN_ID}, %(ws)s, CASE g %% {WORKFLOWS} {workflow_cases} END, CASE g %% {WORKFLOWS} {cases} END, 1,
                CASE WHEN g > %(n)s - {IN_FLIGHT} THEN 'running' WHEN g %% 50 = 0 THEN 'failed'
                     WHEN g %% 200 = 1 THEN 'cancelled' ELSE 'completed' END,
                '{{"name": "Dana"}}', false, {STEPS},
                CASE WHEN g > %(n)s - {IN_FLIGHT} THEN 1 WHEN g %% 50 = 0 THEN {STEPS - 1} ELSE {STEPS} END, true,
                at, at, CASE WHEN g > %(n)s - {IN_FLIGHT} THEN NULL ELSE at + interval '120 ms' END,
                CASE WHEN g %% 50 = 0 THEN 'Node n2 failed: simulated' ELSE '' END,
                CASE WHEN g > %(n)s - {IN_FLIGHT} THEN 'bench-lease' ELSE '' END,
                CASE WHEN g > %(n)s - {IN_FLIGHT} THEN now() ELSE at + interval '80 ms' END, at,
                CASE WHEN g %% 10 = 0 THEN {PREVIOUS_RUN_ID} END, CASE WHEN g %% 10 = 0 THEN 1 ELSE 0 END, CASE WHEN g %% 10 = 0 THEN 'as_is' ELSE '' END,
                '{{}}', '{{}}', CASE WHEN g %% 10 = 0 THEN %(user)s END,
                CASE WHEN g %% 10 = 0 THEN 'scale-' || g ELSE '' END, '{{}}'
            FROM generate_series(1, %(n)s) AS g,
                LATERAL (SELECT now() - ((%(n)s - g) / 2) * interval '{SPACING_MS} milliseconds' AS at) AS t
            """,
            {"ws": workspace.pk, "n": runs, "user": requested_by_id},
        )
        cursor.execute(
            f"""
            INSERT INTO {step} (run_id, node_id, type, position, status, input, output, error, model_ref,
                prompt_hash, simulated, mapped_from, started_at, finished_at, price_version,
                reused_from_run_id, reused_from_node_id)
            SELECT r.run_id, 'n' || p, 'llm', p, CASE WHEN r.status = 'failed' AND p = {STEPS - 1} THEN 'failed'
                    ELSE 'completed' END,
                '{{"prompt": "Summarise: Dana"}}', '[simulated] A plausible paragraph.', '',
                'anthropic:claude-opus-4-7', 'sha256:' || repeat('a', 64), true, '',
                r.created_at + p * interval '40 ms', r.created_at + (p + 1) * interval '40 ms', '', '', ''
            FROM {run} r CROSS JOIN generate_series(0, {STEPS - 1}) AS p
            WHERE r.workspace_id = %(ws)s AND (r.status <> 'running' OR p = 0)
            ORDER BY r.run_id, p  -- every index of steps leads with run_id: appended to, not written all over
            """,
            {"ws": workspace.pk},
        )
        for model, index in declared:
            editor.add_index(model, index)
        cursor.execute(f"ANALYZE {run}")
        cursor.execute(f"ANALYZE {step}")
    return ScaleData(workspace, [v.workflow for v in versions], versions, runs)
