"""A filtered set of runs as JSON Lines, streamed: the API's runs with their steps, or their LLM steps as chats.

The runs come from runs.listing.runs_in_pages, the lists' one selector read a keyset page at a time, so an export
of a hundred thousand runs holds one page in memory and starts answering at once.
"""

from collections import namedtuple
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson
import psycopg
from django.db import connections
from django.db.models import JSONField, QuerySet, TextField
from django.db.models.functions import Cast
from django.http import StreamingHttpResponse
from pydantic import Field, RootModel

from runs.engine.step_boundary import FINISH_USAGE_COLUMNS
from runs.http.openapi import Closed
from runs.listing import RunExportQuery, RunFilters, runs_in_pages
from runs.lookups import any_of
from runs.models import NodeType, Run, Step, ToolCall, Workspace
from runs.usage import RunUsage, usage_of_runs

from . import shapes
from .serializers import run_dict, step_dict

MEDIA_TYPE = "application/jsonl"
EXPORT_PAGE = 2000  # runs read at a time: three or four queries a page (runs, steps, tool calls, usage)


class ChatMessage(Closed):
    role: str = Field(description="`system`, `user` or `assistant`.")
    content: str


class ChatUsage(Closed):
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None


class ChatSource(Closed):
    """Where the example comes from in Reprise."""

    run_id: str
    node_id: str
    model_ref: str = Field(description="`provider:model`, as the workflow names it.")
    simulated: bool


class ChatExample(Closed):
    """One completed LLM step in the OpenAI chat shape, for evaluation and fine-tuning tools: a step the run made
    itself (a step a rerun reused is its source run's example, not repeated)."""

    messages: list[ChatMessage] = Field(
        description="The system prompt (when the node has one), the prompt, the output."
    )
    model: str
    usage: ChatUsage
    metadata: ChatSource


class ExportLine(RootModel[shapes.Run | ChatExample]):
    """One line of a JSONL export: a run as GET /runs/<run_id> answers it, or with `format=chat` a ChatExample."""


class StoredJson(TextField):
    """A JSON column read as the text the database holds and written into a line as it is (orjson.Fragment): an
    export copies payloads, inputs and results without decoding and encoding them again."""

    def from_db_value(self, value, expression, connection):
        return None if value is None else orjson.Fragment(value)


def _read(model, names: tuple[str, ...]) -> tuple:
    """values_list's arguments for `names`: a JSON column as its stored text (StoredJson)."""
    return tuple(
        Cast(name, StoredJson()) if isinstance(model._meta.get_field(name), JSONField) else name for name in names
    )


def _load_times_in_c(cursor) -> None:
    """This cursor's times read by psycopg's own loader: Django wraps it in Python, a call per value, to set the zone
    psycopg sets already (a connection of Django's with USE_TZ is in UTC, which psycopg reads as timezone.utc)."""
    oid = psycopg.adapters.types["timestamptz"].oid
    cursor.adapters.register_loader(oid, psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT))


def _rows(rows: QuerySet) -> list[tuple]:
    """values_list's rows in one fetch, without its iteration a hundred rows at a time through the model layer (an
    export's page holds thousands). The fields' converters still apply (SQLite's times and booleans); StoredJson
    columns are wrapped a column at a time rather than a value at a time through a converter."""
    compiler = rows.query.get_compiler(rows.db)
    sql, params = compiler.as_sql()
    columns = [column for column, _, _ in compiler.select]
    stored = [i for i, column in enumerate(columns) if isinstance(column.output_field, StoredJson)]
    converters = {i: c for i, c in compiler.get_converters(columns).items() if i not in stored}
    connection = connections[rows.db]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _load_times_in_c(cursor.cursor)
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    if converters:
        fetched = list(compiler.apply_converters(fetched, converters))
    if not stored or not fetched:
        return fetched
    by_column = list(zip(*fetched, strict=True))
    for i in stored:
        by_column[i] = tuple(None if value is None else orjson.Fragment(value) for value in by_column[i])
    return list(zip(*by_column, strict=True))


def _line(data: dict) -> bytes:
    return orjson.dumps(data) + b"\n"


# The columns run_dict reads, after the page's keyset position (created_at, run_id) and the workflow's id.
RUN_COLUMNS = (
    "version_id",
    "version_number",
    "status",
    "trigger_payload",
    "payload_edited",
    "from_nodes",
    "tools",
    "replay_of_id",
    "replay_depth",
    "mode",
    "overrides",
    "node_mapping",
    "simulated",
    "started_at",
    "finished_at",
    "error",
)


def row_type(name: str, columns: tuple[str, ...], **attributes) -> Any:
    """Rows of values_list as the serializers read a model instance: the same attribute names (typed Any), and
    `attributes` (a model's properties, read from the row's columns)."""
    return type(name, (namedtuple(name, columns),), {"__slots__": (), **attributes})


# A run as the export reads it (a row, not a model instance): what run_dict reads of a run.
RunRow = row_type(
    "RunRow",
    ("workspace", "workflow", "created_at", "run_id", *RUN_COLUMNS),
    source_is_gone=Run.source_is_gone,  # the model's own rule
)


class WorkflowRef(NamedTuple):
    workflow_id: str


# The columns step_dict reads: the export reads them as rows (values_list), not model instances, which would
# cost it a third of its time, and step_dict serializes either (the API's detail is compared with it in tests).
STEP_COLUMNS = (
    "id",
    "run_id",
    "node_id",
    "type",
    "status",
    "input",
    "output",
    "model_ref",
    "prompt_hash",
    "prompt_artifact_id",
    "simulated",
    "mapped_from",
    "started_at",
    "finished_at",
    "error",
    "reused_from_run_id",
    "reused_from_node_id",
    *FINISH_USAGE_COLUMNS,
)
CALL_COLUMNS = (
    "tool",
    "mutating",
    "dry_run",
    "reused",
    "source",
    "recorded_in_run_id",
    "arguments",
    "result",
)
StepRow = row_type("StepRow", STEP_COLUMNS)
CallRow = row_type("CallRow", CALL_COLUMNS)


def _steps_of(run_ids: list[str]) -> tuple[dict[str, list], dict[int, list]]:
    """The runs' steps as rows by run, in order, and the tool calls of their tool steps by step id, in two queries (the
    calls by step id: an index scan, where joined to the steps PostgreSQL scans every tool call). Plain rows, not a
    prefetch: a prefetch ties each step back to its run, and those cycles would wait for the garbage collector."""
    by_run: dict[str, list] = {}
    tool_steps = []
    for row in _rows(
        Step.objects.filter(any_of("run_id", run_ids))
        .order_by("run_id", "position")
        .values_list(*_read(Step, STEP_COLUMNS))
    ):
        step = StepRow._make(row)
        by_run.setdefault(step.run_id, []).append(step)
        if step.type == NodeType.TOOL:
            tool_steps.append(step.id)
    calls: dict[int, list] = {}
    if tool_steps:
        rows = _rows(
            ToolCall.objects.filter(any_of("step_id", tool_steps))
            .order_by("id")
            .values_list("step_id", *_read(ToolCall, CALL_COLUMNS))
        )
        for step_id, *values in rows:
            calls.setdefault(step_id, []).append(CallRow._make(values))
    return by_run, calls


def run_lines(workspace: Workspace, filters: RunFilters) -> Iterator[bytes]:
    """A line per run, as the API's run (GET /runs/<run_id>) writes it; a page of runs is one chunk.

    Each line is written as soon as its run's dicts are built, so they are freed at once rather than all of a page's
    staying alive for the garbage collector to walk."""
    workflows: dict[str, WorkflowRef] = {}
    columns = ("created_at", "run_id", "workflow__workflow_id", *_read(Run, RUN_COLUMNS))
    for page in runs_in_pages(workspace, filters, EXPORT_PAGE, columns=columns, read=_rows):
        run_ids = [row[1] for row in page]
        (steps, calls), usage = _steps_of(run_ids), usage_of_runs(run_ids)
        lines = []
        for created_at, run_id, workflow_id, *values in page:
            workflow = workflows.get(workflow_id) or workflows.setdefault(workflow_id, WorkflowRef(workflow_id))
            run = RunRow(workspace, workflow, created_at, run_id, *values)
            written = [step_dict(step, calls.get(step.id, ())) for step in steps.get(run_id, ())]
            lines.append(_line(run_dict(run, steps=written, usage=usage.get(run_id, RunUsage()))))
        yield b"".join(lines)


def _chat(step: Step) -> ChatExample:
    sent = step.input if isinstance(step.input, dict) else {}
    system = [ChatMessage(role="system", content=sent["system"])] if sent.get("system") else []
    tokens = (step.input_tokens, step.output_tokens)
    return ChatExample(
        messages=[
            *system,
            ChatMessage(role="user", content=sent.get("prompt", "")),
            ChatMessage(role="assistant", content=step.output),
        ],
        model=step.model_ref.partition(":")[2],
        usage=ChatUsage(
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
            total_tokens=None if None in tokens else sum(t for t in tokens if t is not None),
        ),
        metadata=ChatSource(
            run_id=step.run_id, node_id=step.node_id, model_ref=step.model_ref, simulated=step.simulated
        ),
    )


def chat_lines(workspace: Workspace, filters: RunFilters) -> Iterator[str]:
    """A line per completed LLM step of the runs, newest run first, each run's steps in order.

    A step a rerun reused is left out: it is a copy of another run's example (its conversation and output), which is
    that run's line, and an evaluation or a fine-tune would count it twice."""
    for page in runs_in_pages(workspace, filters, EXPORT_PAGE, defer=("trigger_payload", "overrides", "node_mapping")):
        order = {run.run_id: index for index, run in enumerate(page)}
        steps = Step.objects.filter(run_id__in=order, type="llm", status=Step.Status.COMPLETED, reused_from_run_id="")
        chats = sorted(steps, key=lambda s: (order[s.run_id], s.position))
        yield "".join(_chat(step).model_dump_json() + "\n" for step in chats)


def export_response(workspace: Workspace, query: RunExportQuery) -> StreamingHttpResponse:
    chat = query.format == "chat"
    lines = chat_lines(workspace, query) if chat else run_lines(workspace, query)
    response = StreamingHttpResponse(lines, content_type=f"{MEDIA_TYPE}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{workspace.slug}-{"chat" if chat else "runs"}.jsonl"'
    return response
