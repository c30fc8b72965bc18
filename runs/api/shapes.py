"""The shapes of runs' JSON API that runs.api.openapi describes: bodies it reads and answers it gives.

Request bodies are the declared inputs of runs.inputs. Node specs are still validated by hand in
runs.graph.parse_nodes, so the models below describe them from the same constants (ids, patterns, tools).
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from runs.engine.llm_options import LlmOptions
from runs.engine.tools import TOOLS
from runs.graph import MAX_NODES, LlmNodeInput, ToolNodeInput
from runs.http.input import QueryInput, invalid
from runs.http.openapi import Closed
from runs.inputs import WorkflowInput
from runs.integers import ascii_int
from runs.models import NodeType, ReplayMode, RunStatus
from runs.models import Run as RunRow
from runs.models.runs import StepStatus
from runs.waiting import MAX_WAIT


class LlmNode(LlmNodeInput, LlmOptions):
    """A model call: the node as parse_nodes declares it, with the options LlmOptions declares."""

    # LlmOptions ignores extra keys (it reads a stored config); a node in a request refuses them, as parse_nodes does.
    model_config = ConfigDict(extra="forbid")

    type: Literal["llm"]


class ToolNode(ToolNodeInput):
    """A tool call: the node as parse_nodes declares it, its tool one of the registry's."""

    type: Literal["tool"]
    tool: Literal[tuple(sorted(TOOLS))]  # type: ignore[valid-type]


Node = Annotated[LlmNode | ToolNode, Field(discriminator="type")]
Nodes = Annotated[list[Node], Field(min_length=1, max_length=MAX_NODES)]


class WorkflowBody(WorkflowInput):
    nodes: Nodes


class VersionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")  # the view refuses an unknown key (refuse_unknown_fields)

    nodes: Nodes


class Prompt(Closed):
    """A prompt artifact and the hash of the revision just stored."""

    artifact_id: str
    content_hash: str


class WorkflowVersion(Closed):
    """A workflow and the number of the version just created."""

    workflow_id: str
    version: int


class WorkflowPause(Closed):
    workflow_id: str
    paused: bool
    reason: str


class RunTriggered(Closed):
    run_id: str
    status: RunStatus
    version: int


class Usage(Closed):
    """Token counts; `input_tokens` includes cache reads and writes. null where the provider did not say."""

    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None


class ReusedFrom(Closed):
    run_id: str
    node_id: str


class ToolCall(Closed):
    tool: str
    mutating: bool
    dry_run: bool
    reused: bool = Field(description="Copied with its step by a rerun from a step: nothing was sent again.")
    source: Literal["live", "dry_run", "recorded", "reused"] = Field(
        description="Where the result came from: sent (live), dry-run, answered from a recording, or copied with its step."
    )
    recorded_in: str | None = Field(
        description="For a recorded call, the run in which the call was really made.", default=None
    )
    label: str = Field(
        description='What the call was, as the trace says it: "invoked" (sent), "dry run", "recorded in <run_id>" '
        'or "reused from <run_id>". Only a call that was sent is "invoked".'
    )
    arguments: Any
    result: Any


class Step(Closed):
    node_id: str
    type: NodeType
    status: StepStatus
    input: Any
    output: str
    model_ref: str | None
    prompt_hash: str | None
    prompt_artifact_id: str | None = Field(
        description="The prompt artifact an LLM step ran a revision of: replay with another revision of it "
        "(`mode: prompt`, `prompt_artifact_id`, `content_hash`)."
    )
    simulated: bool
    mapped_from: str | None = Field(description="The original run's node id, when this node was renamed.")
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    reused_from: ReusedFrom | None = Field(
        description="The step that first produced this output, when a rerun from a step reused it."
    )
    usage: Usage | None = Field(description="An LLM step's tokens; null for a tool step.")
    raw_usage: dict[str, Any] | None = Field(description="The provider's own usage object, as it answered.")
    cost_usd: str | None = Field(description="The exact decimal cost; null when unknown (never 0 for unknown).")
    price_version: str | None
    latency_ms: int | None
    tool_calls: list[ToolCall]


class RunSummary(Closed):
    """A run with its lineage and its usage, without its steps."""

    run_id: str
    workspace: str
    workflow_id: str
    version: int | None = Field(description="null once the version was deleted; `version_number` stays.")
    version_number: int
    status: RunStatus
    trigger_payload: dict[str, Any]
    payload_edited: bool = Field(description="A replay whose trigger payload was edited before it was submitted.")
    from_nodes: list[str] | None = Field(
        description="The start nodes of a rerun from a step (the steps before them were reused); null otherwise."
    )
    tools: Literal["live", "recorded"] = Field(
        description="A replay's tool calls: live (sent as the dry-run rule decides) or recorded (answered from the "
        "source's recording, nothing sent); live for an original run."
    )
    replay_of: str | None = Field(
        description="The run this replays; null for an original, or once that run was pruned."
    )
    lineage_note: str | None = Field(
        description=f'"{RunRow.SOURCE_GONE}" for a replay whose source was pruned (replay_of null); null otherwise.'
    )
    replay_depth: int
    mode: ReplayMode | None = Field(description="How a replay replayed its source; null for an original run.")
    overrides: dict[str, Any]
    node_mapping: dict[str, str]
    simulated: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    usage: Usage = Field(
        description="The sums of the run's LLM steps; each null where no step said it (a run that called no model)."
    )
    cost_usd: str | None = Field(
        description="The sum of the steps' costs; null when a step's cost is unknown; \"0\" for a run that called no"
        " model (it spent nothing)."
    )
    cost_complete: bool


class Run(RunSummary):
    """A run with its lineage, its steps and their tool calls."""

    steps: list[Step]


class RunList(Closed):
    """A page of runs, newest first; pass `next` as `cursor` for the older page (null: there is none)."""

    runs: list[RunSummary]
    next: str | None
    prev: str | None = Field(description="The cursor of the newer page; null on the first page.")


def _wait(value: Any) -> int | None:
    if value is None or value == "":
        return None
    seconds = ascii_int(value, low=0, high=MAX_WAIT)
    if seconds is None:
        raise invalid(f"{{field}} must be a whole number of seconds from 0 to {MAX_WAIT}.")
    return seconds


class RunQuery(QueryInput):
    wait: Annotated[
        int | None,
        BeforeValidator(_wait, json_schema_input_type=Annotated[int, Field(ge=0, le=MAX_WAIT)] | None),
    ] = Field(
        default=None,
        description=f"Long poll: answer as soon as the run is completed, failed or cancelled, or after this many "
        f"seconds (at most {MAX_WAIT}), whichever comes first.",
    )


class CompareQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    with_: str | None = Field(
        default=None,
        alias="with",
        description="Another run of the same workflow: it is compared with this run (base = this run).",
    )


class CompareCall(Closed):
    """The n-th tool call of a node in both runs."""

    tool: str
    label: list[str | None] = Field(description='[base, other]: what each call was ("invoked", "dry run", …).')
    arguments_changed: bool = Field(description="What each run sent, or would have sent for a dry-run call, differs.")
    result_changed: bool | None = Field(
        description="null when a run did not send the call (dry-run, recorded, reused): its result is another run's."
    )


class CompareRow(Closed):
    """One node of both runs; each pair is [base, other], null where a run has no value."""

    base_node_id: str | None
    other_node_id: str | None
    match: Literal["same", "mapped", "base_only", "other_only"]
    status: list[str | None]
    model_ref: list[str | None]
    prompt_hash: list[str | None]
    output_changed: bool = Field(description="The output text (a tool step's result as canonical JSON) differs.")
    outcome: Literal["same", "changed", "reused", "pending"] = Field(
        description="changed: the output or a tool call differs; reused: a copy made by a rerun from a step "
        "(left out of the totals' tokens and cost); pending: a run in flight has not finished the node."
    )
    tool_calls: list[CompareCall]
    latency_ms: list[int | None]
    input_tokens: list[int | None]
    output_tokens: list[int | None]
    cost_usd: list[str | None]


class CompareTotals(Closed):
    duration_ms: list[int | None]
    input_tokens: list[int | None]
    output_tokens: list[int | None]
    cost_usd: list[str | None]
    steps_completed: list[int]
    steps_failed: list[int]
    changed_outputs: int = Field(description="Rows whose outcome is changed (output or tool calls).")
    pending: int = Field(description="Rows pending: not counted as changed, nor in tokens and cost.")
    reused: int = Field(description="Rows reused: left out of tokens and cost.")


class Comparison(Closed):
    """Without ?with=, base is the run that was replayed and other this run."""

    base: RunSummary
    other: RunSummary
    rows: list[CompareRow]
    totals: CompareTotals
    payload_changed: bool


class OtlpTrace(Closed):
    """A finished run as one OpenTelemetry trace in OTLP/JSON: an `ExportTraceServiceRequest` as the protocol's JSON
    encoding writes it (lowerCamelCase keys, enums as integers, trace and span ids in hex), following the GenAI
    semantic conventions named by the resource's `schemaUrl` and its `reprise.semconv` attribute."""

    resourceSpans: list[dict[str, Any]] = Field(
        description="One resource (Reprise) with one scope holding the run's spans: `invoke_workflow` root, "
        "a `chat` span per LLM step, an `execute_tool` span per tool step."
    )


class CatalogEntry(Closed):
    """A model of the catalog as this workspace may use it (the rules a replay with a new model is checked by)."""

    model_id: str
    model_ref: str = Field(description="`provider:model_id`: what a node's `model` and a replay's `model_ref` name.")
    provider: str
    retired: bool
    allowed: bool
    reason: Literal["retired", "not_in_allowlist", "provider_blocked"] | None = Field(
        description="Why this workspace may not use it: retired, outside the account's or the workspace's model "
        "allowlist, or its provider blocked by the workspace policy; null when allowed."
    )


class ModelCatalog(Closed):
    models: list[CatalogEntry]


class VersionSummary(Closed):
    number: int
    created_at: datetime


class Workflow(Closed):
    """A workflow, whether it is paused (replays of its runs are refused) and why, and its versions, oldest first."""

    workflow_id: str
    name: str
    paused: bool
    paused_reason: str
    created_at: datetime
    versions: list[VersionSummary]


class WorkflowList(Closed):
    """A page of workflows, newest first; pass `next` as `cursor` for the older page (null: there is none)."""

    workflows: list[Workflow]
    next: str | None
    prev: str | None = Field(description="The cursor of the newer page; null on the first page.")


class WorkflowVersionDetail(Closed):
    """A workflow version's nodes as they were declared, in execution order."""

    workflow_id: str
    version: int
    created_at: datetime
    # Described as objects, not as LlmNode | ToolNode again: the same models in an answer would be a second,
    # "-Output" schema of each, which generated clients cannot tell from the body's (duplicate model names).
    nodes: list[dict[str, Any]] = Field(
        description="Each node as `createWorkflow`'s `nodes` declare it (`LlmNode` or `ToolNode`, by `type`), "
        "an llm node's options with their values."
    )


class NodeUse(Closed):
    workflow_id: str
    version: int
    node_id: str


class PromptRevisionSummary(Closed):
    content_hash: str
    created_at: datetime
    used_by: list[NodeUse] = Field(description="The llm nodes of this workspace's workflow versions that run it.")


class PromptSummary(Closed):
    artifact_id: str
    name: str
    created_at: datetime
    latest_content_hash: str | None = Field(description="The newest revision's hash.")


class PromptList(Closed):
    """A page of prompt artifacts, newest first; pass `next` as `cursor` for the older page (null: there is none)."""

    prompts: list[PromptSummary]
    next: str | None
    prev: str | None = Field(description="The cursor of the newer page; null on the first page.")


class PromptDetail(Closed):
    """A prompt artifact with its revisions, oldest first."""

    artifact_id: str
    name: str
    created_at: datetime
    revisions: list[PromptRevisionSummary]


class PromptRevisionContent(Closed):
    artifact_id: str
    content_hash: str
    created_at: datetime
    content: str
