"""A run's detail, read in two prepared statements: it is polled until final, so each poll's reading is a hot path.

The run with its workflow and its usage sums (runs.usage's own query, joined), then its steps with their tool calls
(an outer join: a step has at most a call or two, and an LLM step none). Their text is built once per process from
the models' metadata, bound server-side on PostgreSQL so that psycopg prepares it (runs.prepared), and each row
becomes model instances through each field's database converters, as the ORM's rows would. Through the ORM the
same reading took five queries, most of a poll's CPU compiling them and running the prefetch machinery.
"""

from dataclasses import dataclass, field
from functools import cache

from django.db import connection

from runs.models import Run, Step, ToolCall, Workflow
from runs.prepared import columns, converted, hot_cursor, instance, select_list
from runs.usage import ONE_RUN, RunUsage, usage_of_row


@dataclass
class RunDetail:
    run: Run
    usage: RunUsage
    steps: list[tuple[Step, list[ToolCall]]] = field(default_factory=list)  # by position, each with its calls by id


@cache
def _run_columns() -> tuple[tuple, tuple]:
    """The run's columns but its replay plan (the executor's, an entry per node, which no answer shows), the
    workflow's."""
    return columns(Run, "r", leaving=("replay_plan",)), columns(Workflow, "w")


@cache
def _step_columns() -> tuple[tuple, tuple]:
    return columns(Step, "s"), columns(ToolCall, "c")


def _join(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def run_and_workflow_sql(run_columns: tuple, workflow_columns: tuple, *, more: str = "", joined: str = "") -> str:
    """A statement reading a run (alias r) by its id and its workflow (alias w): those columns, then `more`
    columns of what is `joined`."""
    q = connection.ops.quote_name
    return (
        f"SELECT {select_list(run_columns + workflow_columns)}{more} FROM {q(Run._meta.db_table)} r"
        f" JOIN {q(Workflow._meta.db_table)} w ON w.{_join(Workflow, 'id')} = r.{_join(Run, 'workflow')}"
        f"{joined} WHERE r.{_join(Run, 'run_id')} = %s"
    )


def run_and_workflow(row, run_columns: tuple, workflow_columns: tuple) -> Run:
    """The run of a row of run_and_workflow_sql, its workflow set."""
    width = len(run_columns)
    run = instance(Run, run_columns, converted(row[:width], run_columns))
    end = width + len(workflow_columns)
    run.workflow = instance(Workflow, workflow_columns, converted(row[width:end], workflow_columns))
    return run


@cache
def _statements(vendor: str) -> tuple[str, str]:
    q = connection.ops.quote_name
    steps, calls = _step_columns()
    usage, _ = ONE_RUN.statement(None)
    run_sql = run_and_workflow_sql(*_run_columns(), more=", u.*", joined=f" LEFT JOIN ({usage}) u ON 1 = 1")
    steps_sql = (
        f"SELECT {select_list(steps + calls)} FROM {q(Step._meta.db_table)} s"
        f" LEFT JOIN {q(ToolCall._meta.db_table)} c ON c.{_join(ToolCall, 'step')} = s.{_join(Step, 'id')}"
        f" WHERE s.{_join(Step, 'run')} = %s"
        f" ORDER BY s.{_join(Step, 'position')}, s.{_join(Step, 'id')}, c.{_join(ToolCall, 'id')}"
    )
    return run_sql, steps_sql


def read_run(run_id: str) -> RunDetail | None:
    """The run with its workflow and usage, its steps not yet read (read_steps): None when there is no such run."""
    run_sql, _ = _statements(connection.vendor)
    _, params = ONE_RUN.statement(run_id)
    with hot_cursor() as cursor:
        cursor.execute(run_sql, [*params, run_id])
        row = cursor.fetchone()
    if row is None:
        return None
    run_columns, workflow_columns = _run_columns()
    usage = usage_of_row(row[len(run_columns) + len(workflow_columns) :])
    return RunDetail(run=run_and_workflow(row, run_columns, workflow_columns), usage=usage)


def read_steps(detail: RunDetail) -> None:
    """The run's steps by position, each with its tool calls by id, as the ORM's prefetch of both would give them."""
    _, steps_sql = _statements(connection.vendor)
    with hot_cursor() as cursor:
        cursor.execute(steps_sql, [detail.run.run_id])
        rows = cursor.fetchall()
    step_columns, call_columns = _step_columns()
    width = len(step_columns)
    call_id = next(i for i, (_, f) in enumerate(call_columns) if f.primary_key) + width
    steps: list[tuple[Step, list[ToolCall]]] = []
    step_id = next(i for i, (_, f) in enumerate(step_columns) if f.primary_key)
    for row in rows:
        if not steps or steps[-1][0].pk != row[step_id]:
            steps.append((instance(Step, step_columns, converted(row[:width], step_columns)), []))
        if row[call_id] is not None:
            steps[-1][1].append(instance(ToolCall, call_columns, converted(row[width:], call_columns)))
    detail.steps = steps
