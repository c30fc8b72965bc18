"""The description of runs' JSON API: its operations, beside runs/api/urls.py, and the shapes they answer with.

Request bodies are the declared inputs of runs.inputs. Node specs are still validated by hand in
runs.graph.parse_nodes, so the models below describe them from the same constants (ids, patterns, tools).
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from runs.engine.llm_options import LlmOptions
from runs.engine.tools import TOOLS
from runs.graph import MAX_NODES, LlmNodeInput, ToolNodeInput
from runs.http.openapi import SAME_WORKSPACE, Link, Operation
from runs.inputs import PauseInput, PromptInput, RevisionInput, TriggerInput, WorkflowInput
from runs.models import NodeType, ReplayMode, RunStatus
from runs.models import Run as RunRow
from runs.models.runs import StepStatus

from . import views


class LlmNode(LlmNodeInput, LlmOptions):
    """A model call: the node as parse_nodes declares it, with the options LlmOptions declares."""

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
    nodes: Nodes


class Prompt(BaseModel):
    """A prompt artifact and the hash of the revision just stored."""

    artifact_id: str
    content_hash: str


class WorkflowVersion(BaseModel):
    """A workflow and the number of the version just created."""

    workflow_id: str
    version: int


class WorkflowPause(BaseModel):
    workflow_id: str
    paused: bool
    reason: str


class RunTriggered(BaseModel):
    run_id: str
    status: RunStatus
    version: int


class ToolCall(BaseModel):
    tool: str
    mutating: bool
    dry_run: bool
    arguments: Any
    result: Any


class Step(BaseModel):
    node_id: str
    type: NodeType
    status: StepStatus
    input: Any
    output: str
    model_ref: str | None
    prompt_hash: str | None
    simulated: bool
    mapped_from: str | None = Field(description="The original run's node id, when this node was renamed.")
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    tool_calls: list[ToolCall]


class Run(BaseModel):
    """A run with its lineage, its steps and their tool calls."""

    run_id: str
    workspace: str
    workflow_id: str
    version: int | None = Field(description="null once the version was deleted; `version_number` stays.")
    version_number: int
    status: RunStatus
    trigger_payload: dict[str, Any]
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
    steps: list[Step]


class CompareQuery(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    with_: str | None = Field(
        default=None,
        alias="with",
        description="Another run of the same workflow: it is compared with this run (base = this run).",
    )


class CompareRow(BaseModel):
    """One node of both runs; each pair is [base, other], null where a run has no value."""

    base_node_id: str | None
    other_node_id: str | None
    match: Literal["same", "mapped", "base_only", "other_only"]
    status: list[str | None]
    model_ref: list[str | None]
    prompt_hash: list[str | None]
    output_changed: bool
    latency_ms: list[int | None]
    input_tokens: list[int | None]
    output_tokens: list[int | None]
    cost_usd: list[str | None]


class CompareTotals(BaseModel):
    duration_ms: list[int | None]
    input_tokens: list[int | None]
    output_tokens: list[int | None]
    cost_usd: list[str | None]
    steps_completed: list[int]
    steps_failed: list[int]
    changed_outputs: int


class Comparison(BaseModel):
    """Without ?with=, base is the run that was replayed and other this run."""

    base: dict[str, Any]
    other: dict[str, Any]
    rows: list[CompareRow]
    totals: CompareTotals
    payload_changed: bool


TAG = "Prompts, workflows and runs"
NOT_FOUND = {
    404: "The workflow, version, prompt artifact or run is not in this workspace, or a node names an unknown tool, model or prompt revision."
}
ILLEGAL = {409: "The run's status does not allow this transition."}

OPERATIONS = [
    Operation(
        views.create_prompt,
        "POST",
        "createPrompt",
        "Create a prompt artifact with its first revision",
        TAG,
        status=201,
        body=PromptInput,
        response=Prompt,
    ),
    Operation(
        views.create_prompt_revision,
        "POST",
        "createPromptRevision",
        "Add a revision to a prompt artifact",
        TAG,
        status=201,
        body=RevisionInput,
        response=Prompt,
        errors={404: "No such prompt artifact in this workspace."},
    ),
    Operation(
        views.create_workflow,
        "POST",
        "createWorkflow",
        "Create a workflow with its version 1",
        TAG,
        status=201,
        body=WorkflowBody,
        response=WorkflowVersion,
        errors=NOT_FOUND,
    ),
    Operation(
        views.create_version,
        "POST",
        "createWorkflowVersion",
        "Add a version to a workflow",
        TAG,
        status=201,
        body=VersionBody,
        response=WorkflowVersion,
        errors=NOT_FOUND,
    ),
    Operation(
        views.delete_version,
        "DELETE",
        "deleteWorkflowVersion",
        "Delete a workflow version",
        TAG,
        status=204,
        errors={404: "No such workflow or version in this workspace."},
        description="Its runs survive with `version: null` (their `version_number` stays).",
    ),
    Operation(
        views.pause_workflow,
        "POST",
        "pauseWorkflow",
        "Pause a workflow for safety",
        TAG,
        body=PauseInput,
        body_required=False,
        response=WorkflowPause,
        errors={404: "No such workflow in this workspace."},
        description="Its runs cannot be replayed until it is unpaused.",
    ),
    Operation(
        views.unpause_workflow,
        "POST",
        "unpauseWorkflow",
        "Unpause a workflow",
        TAG,
        body=PauseInput,
        body_required=False,
        response=WorkflowPause,
        errors={404: "No such workflow in this workspace."},
    ),
    Operation(
        views.trigger_run,
        "POST",
        "triggerRun",
        "Trigger a run of a workflow's latest version",
        TAG,
        status=201,
        body=TriggerInput,
        body_required=False,
        response=RunTriggered,
        errors={404: "No such workflow in this workspace.", 409: "The workflow has no version to run."},
    ),
    Operation(
        views.run_detail,
        "GET",
        "getRun",
        "A run with its steps and tool calls",
        TAG,
        response=Run,
        errors={404: "No such run."},
    ),
    Operation(
        views.pause_run,
        "POST",
        "pauseRun",
        "Pause a pending or running run",
        TAG,
        response=Run,
        errors={404: "No such run.", **ILLEGAL},
    ),
    Operation(
        views.resume_run,
        "POST",
        "resumeRun",
        "Resume a paused run",
        TAG,
        response=Run,
        errors={404: "No such run.", **ILLEGAL},
    ),
    Operation(
        views.cancel_run,
        "POST",
        "cancelRun",
        "Cancel a pending, running or paused run",
        TAG,
        response=Run,
        errors={404: "No such run.", **ILLEGAL},
    ),
    Operation(
        views.compare_runs,
        "GET",
        "compareRuns",
        "Compare a run with the run it replays, or with another run of its workflow",
        TAG,
        query=CompareQuery,
        response=Comparison,
        errors={
            400: "The run is not a replay and no ?with= names a run to compare it with.",
            404: "No such run in this workspace.",
            409: "These runs belong to different workflows and cannot be compared.",
            410: "The run is a replay whose source was pruned, and no ?with= names a run to compare it with.",
        },
    ),
]

WORKFLOW = {**SAME_WORKSPACE, "path.workflow_id": "$response.body#/workflow_id"}
RUN = {**SAME_WORKSPACE, "path.run_id": "$response.body#/run_id"}
# A workflow of one llm node on the prompt revision just created.
ONE_NODE_ON_THE_PROMPT = {
    "name": "Linked workflow",
    "nodes": [
        {
            "id": "draft",
            "type": "llm",
            "model": "anthropic:claude-opus-4-7",
            "prompt": {"artifact_id": "$response.body#/artifact_id", "content_hash": "$response.body#/content_hash"},
        }
    ],
}

LINKS = [
    Link(
        "createPrompt",
        "createPromptRevision",
        {**SAME_WORKSPACE, "path.artifact_id": "$response.body#/artifact_id"},
    ),
    Link("createPrompt", "createWorkflow", SAME_WORKSPACE, body=ONE_NODE_ON_THE_PROMPT),
    Link("createWorkflow", "createWorkflowVersion", WORKFLOW),
    Link("createWorkflow", "triggerRun", WORKFLOW),
    Link("createWorkflow", "pauseWorkflow", WORKFLOW),
    Link("createWorkflow", "deleteWorkflowVersion", {**WORKFLOW, "path.number": "$response.body#/version"}),
    Link("createWorkflowVersion", "triggerRun", WORKFLOW),
    Link("createWorkflowVersion", "deleteWorkflowVersion", {**WORKFLOW, "path.number": "$response.body#/version"}),
    Link("pauseWorkflow", "unpauseWorkflow", WORKFLOW),
    Link("triggerRun", "getRun", RUN),
    Link("triggerRun", "pauseRun", RUN),
    Link("triggerRun", "cancelRun", RUN),
    Link("pauseRun", "resumeRun", RUN),
    Link("pauseRun", "cancelRun", RUN),
    Link("cancelRun", "getRun", RUN),
]
