"""Copying a replay's reused steps: what its plan says to reuse, copied in one commit before anything runs."""

import json
from functools import cache

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from runs.models import NodeType, Run, Step, ToolCall
from runs.prepared import db_datetime

from .lease import fail_run, hold
from .plan import version_plan
from .replay_plan import Action, PersistedNode, PersistedPlan

REUSED_STEPS_GONE = "The source run's recorded steps no longer exist, so the steps this replay reuses cannot be copied."


def reused_nodes(run: Run) -> dict[str, PersistedNode]:
    """The plan's reuse entries by node id (none for a run without a plan)."""
    plan = PersistedPlan.of(run)
    if plan is None:
        return {}
    return {node_id: entry for node_id, entry in plan.nodes.items() if entry.action == Action.REUSE}


# The reused nodes reach the database as one JSON parameter: a thousand placeholders cost more to bind than the copy.
REUSED_ROWS = {
    "postgresql": "jsonb_to_recordset(%s::jsonb) AS m(src text, dst text, pos integer, prun text, pnode text)",
    "sqlite": "(SELECT json_extract(value, '$.src') AS src, json_extract(value, '$.dst') AS dst,"
    " json_extract(value, '$.pos') AS pos, json_extract(value, '$.prun') AS prun,"
    " json_extract(value, '$.pnode') AS pnode FROM json_each(%s)) AS m",
}


@cache
def _copy_statements(vendor: str) -> tuple[str, str]:
    """INSERT … SELECT, so the database copies the reused rows: nothing is loaded into Python and rebuilt.

    The steps' statement reads the reused nodes (source node, new node, position, producer run and node) and looks
    each one's source step up by the unique (run_id, node_id) index. The CROSS JOIN keeps the nodes the outer
    loop on SQLite, whose planner otherwise scans the JSON array once per source step (quadratic: a second at
    1,000 steps); PostgreSQL plans a cross join with a WHERE as any inner join.
    A reused LLM step costs nothing and uses no tokens; a reused tool step has no usage at all.
    """
    q = connection.ops.quote_name
    step, call = q(Step._meta.db_table), q(ToolCall._meta.db_table)
    llm = f"CASE WHEN s.type = '{NodeType.LLM}' THEN 0 END"
    usage = ", ".join(Step.USAGE_FIELDS)
    steps = (
        f"INSERT INTO {step} (run_id, node_id, type, position, status, input, output, error, model_ref, prompt_hash,"
        f" prompt_artifact_id, simulated, mapped_from, started_at, finished_at, {usage}, cost_usd, price_version, latency_ms,"
        f" reused_from_run_id, reused_from_node_id)"
        f" SELECT %s, m.dst, s.type, m.pos, '{Step.Status.COMPLETED}', s.input, s.output, '', s.model_ref,"
        f" s.prompt_hash, s.prompt_artifact_id, s.simulated, CASE WHEN s.node_id = m.dst THEN '' ELSE s.node_id END, %s, %s,"
        f" {', '.join([llm] * len(Step.USAGE_FIELDS))}, {llm}, s.price_version, {llm}, m.prun, m.pnode"
        f" FROM {REUSED_ROWS[vendor]} CROSS JOIN {step} s WHERE s.run_id = %s AND s.node_id = m.src"
    )
    calls = (
        f"INSERT INTO {call} (step_id, tool, mutating, dry_run, reused, source, recorded_in_run_id, arguments, result,"
        f" created_at) SELECT n.id, c.tool, c.mutating, c.dry_run, %s, '{ToolCall.Source.REUSED}',"
        f" c.recorded_in_run_id, c.arguments, c.result, %s FROM {step} n"
        f" JOIN {step} s ON s.run_id = %s"
        f" AND s.node_id = CASE WHEN n.mapped_from = '' THEN n.node_id ELSE n.mapped_from END"
        f" JOIN {call} c ON c.step_id = s.id"
        f" WHERE n.run_id = %s AND n.reused_from_run_id <> ''"
    )
    return steps, calls


class _SourceGone(Exception):
    pass


def copy_reused_steps(run: Run, lease: str) -> bool:
    """Copy every reused step and its tool call from the run that produced it, all or nothing.

    Returns False when the run was paused, cancelled or taken over, or failed because the source's steps
    are gone (nothing is copied then). A copy that a redelivered task finds already made is not made
    again. Reused steps cost nothing and their tool calls are marked reused: nothing is sent again.
    """
    reuse = reused_nodes(run)
    if not reuse or run.version_id is None:
        return True
    mapping = {new: old for old, new in (run.node_mapping or {}).items()}
    positions = {node.node_id: i for i, node in enumerate(version_plan(run.version_id))}
    rows = []
    for node_id, entry in reuse.items():
        source_node = mapping.get(node_id, node_id)
        producer = entry.reused_from
        rows.append(
            {
                "src": source_node,
                "dst": node_id,
                "pos": positions[node_id],
                "prun": producer.run_id if producer else run.replay_of_id,
                "pnode": producer.node_id if producer else source_node,
            }
        )
    steps_sql, calls_sql = _copy_statements(connection.vendor)
    now = db_datetime(timezone.now())
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if not hold(run.pk, lease):
                return False
            if Step.objects.filter(run=run).exclude(reused_from_run_id="").exists():
                return True  # copied by an earlier delivery of this task
            cursor.execute(steps_sql, (run.pk, now, now, json.dumps(rows), run.replay_of_id))
            copied = cursor.rowcount
            if copied != len(rows):
                raise _SourceGone
            # Reused steps are completed steps of this run: counted in the commit that copies them.
            Run.objects.filter(pk=run.pk).update(steps_completed=F("steps_completed") + copied)
            cursor.execute(calls_sql, (True, now, run.replay_of_id, run.pk))
    except _SourceGone:
        fail_run(run.pk, lease, REUSED_STEPS_GONE)
        return False
    return True
