"""A filtered set of runs as JSON Lines, streamed: the API's runs with their steps, or their LLM steps as chats.

The runs come from runs.listing.runs_in_pages, the lists' one selector read a keyset page at a time, so an export
of a hundred thousand runs holds one page in memory and starts answering at once.
"""

import json
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from pydantic import Field, RootModel

from runs.engine.step_boundary import FINISH_USAGE_COLUMNS
from runs.http.openapi import Closed
from runs.listing import RunExportQuery, RunFilters, runs_in_pages
from runs.models import Step, ToolCall, Workspace
from runs.usage import RunUsage, usage_of_runs

from .serializers import run_dict, step_dict
from .shapes import Run

MEDIA_TYPE = "application/jsonl"
EXPORT_PAGE = 200  # runs read at a time: four queries a page (runs, steps, tool calls, usage)


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
    """One completed LLM step in the OpenAI chat shape, for evaluation and fine-tuning tools."""

    messages: list[ChatMessage] = Field(
        description="The system prompt (when the node has one), the prompt, the output."
    )
    model: str
    usage: ChatUsage
    metadata: ChatSource


class ExportLine(RootModel[Run | ChatExample]):
    """One line of a JSONL export: a run as GET /runs/<run_id> answers it, or with `format=chat` a ChatExample."""


def _line(data) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n"


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
    "step_id",
    "tool",
    "mutating",
    "dry_run",
    "reused",
    "source",
    "recorded_in_run_id",
    "arguments",
    "result",
)


def _steps_of(run_ids: list[str]) -> dict[str, list[dict]]:
    """The runs' steps as the API writes them, in two queries (steps, tool calls). Plain rows, not a prefetch: a
    prefetch ties each step back to its run, and those cycles would wait for the garbage collector, page after page."""
    steps = list(
        Step.objects.filter(run_id__in=run_ids).order_by("run_id", "position").values_list(*STEP_COLUMNS, named=True)
    )
    calls: dict[int, list] = {}
    for call in ToolCall.objects.filter(step__run_id__in=run_ids).order_by("id").values_list(*CALL_COLUMNS, named=True):
        calls.setdefault(call.step_id, []).append(call)
    by_run: dict[str, list[dict]] = {run_id: [] for run_id in run_ids}
    for step in steps:
        by_run[step.run_id].append(step_dict(step, calls.get(step.id, ())))
    return by_run


def run_lines(workspace: Workspace, filters: RunFilters) -> Iterator[str]:
    """A line per run, as the API's run (GET /runs/<run_id>) writes it; a page of runs is one chunk."""
    for page in runs_in_pages(workspace, filters, EXPORT_PAGE):
        run_ids = [run.run_id for run in page]
        steps, usage = _steps_of(run_ids), usage_of_runs(run_ids)
        yield "".join(
            _line(run_dict(run, steps=steps[run.run_id], usage=usage.get(run.run_id, RunUsage()))) for run in page
        )


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
    """A line per completed LLM step of the runs, newest run first, each run's steps in order."""
    for page in runs_in_pages(workspace, filters, EXPORT_PAGE, defer=("trigger_payload", "overrides", "node_mapping")):
        order = {run.run_id: index for index, run in enumerate(page)}
        steps = Step.objects.filter(run_id__in=order, type="llm", status=Step.Status.COMPLETED)
        chats = sorted(steps, key=lambda s: (order[s.run_id], s.position))
        yield "".join(_chat(step).model_dump_json() + "\n" for step in chats)


def export_response(workspace: Workspace, query: RunExportQuery) -> StreamingHttpResponse:
    chat = query.format == "chat"
    lines = chat_lines(workspace, query) if chat else run_lines(workspace, query)
    response = StreamingHttpResponse(lines, content_type=f"{MEDIA_TYPE}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{workspace.slug}-{"chat" if chat else "runs"}.jsonl"'
    return response
