"""The description of runs' JSON API: its operations, beside runs/api/urls.py (their shapes: runs.api.shapes)."""

from runs.checks import CheckResults, ChecksBody
from runs.http.openapi import SAME_WORKSPACE, Header, Link, Operation
from runs.idempotency import IDEMPOTENCY_KEY
from runs.inputs import PauseInput, PromptInput, RevisionInput, TriggerInput
from runs.listing import PageQuery, RunExportQuery, RunListQuery

from . import views
from .export import MEDIA_TYPE, ChatExample, ExportLine
from .shapes import (
    CompareQuery,
    Comparison,
    ModelCatalog,
    OtlpTrace,
    Prompt,
    PromptDetail,
    PromptList,
    PromptRevisionContent,
    Run,
    RunList,
    RunQuery,
    RunTriggered,
    VersionBody,
    Workflow,
    WorkflowBody,
    WorkflowList,
    WorkflowPause,
    WorkflowVersion,
    WorkflowVersionDetail,
)

TAG = "Prompts, workflows and runs"
IF_NONE_MATCH = Header(
    "If-None-Match", "The `ETag` of an earlier answer: 304 while the run is unchanged.", {"type": "string"}
)
NOT_FOUND = {
    404: "The workflow, version, prompt artifact or run is not in this workspace, or a node names an unknown tool, model or prompt revision."
}
ILLEGAL = {409: "The run's status does not allow this transition."}
COMPARE_CODES = {409: ("different_workflows",), 410: ("source_gone",)}

PAGED = {400: "`cursor` or `limit` is malformed: `error.field` names it."}

OPERATIONS = [
    Operation(
        views.models,
        "GET",
        "listModels",
        "The model catalog as this workspace may use it",
        TAG,
        response=ModelCatalog,
        description="Each model with whether this workspace may use it and, when not, why: the rules a replay with "
        "a new model (`mode: model`) is checked by, and the list the Replay dialog offers.",
    ),
    Operation(
        views.prompts,
        "GET",
        "listPrompts",
        "Prompt artifacts of the workspace, newest first, a page at a time",
        TAG,
        query=PageQuery,
        response=PromptList,
        errors=PAGED,
        description="Keyset pages: each answer's `next` is the `cursor` of the page of older artifacts.",
    ),
    Operation(
        views.prompt_detail,
        "GET",
        "getPrompt",
        "A prompt artifact with its revisions and the nodes that run each",
        TAG,
        response=PromptDetail,
        errors={404: "No such prompt artifact in this workspace."},
    ),
    Operation(
        views.prompt_revision,
        "GET",
        "getPromptRevision",
        "A prompt revision's content",
        TAG,
        response=PromptRevisionContent,
        errors={404: "No such prompt artifact in this workspace, or no such revision of it."},
    ),
    Operation(
        views.workflows,
        "GET",
        "listWorkflows",
        "Workflows of the workspace, newest first, a page at a time",
        TAG,
        query=PageQuery,
        response=WorkflowList,
        errors=PAGED,
        description="Keyset pages: each answer's `next` is the `cursor` of the page of older workflows.",
    ),
    Operation(
        views.workflow_detail,
        "GET",
        "getWorkflow",
        "A workflow: whether it is paused and why, and its versions",
        TAG,
        response=Workflow,
        errors={404: "No such workflow in this workspace."},
    ),
    Operation(
        views.workflow_version,
        "GET",
        "getWorkflowVersion",
        "A workflow version's nodes as they were declared",
        TAG,
        response=WorkflowVersionDetail,
        errors={404: "No such workflow or version in this workspace."},
    ),
    Operation(
        views.prompts,
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
        views.workflows,
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
        views.workflow_version,
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
        headers=(IDEMPOTENCY_KEY,),
        response=RunTriggered,
        also={200: "A retry with the same Idempotency-Key, workflow and payload: the run it made."},
        errors={
            400: "The body or the Idempotency-Key is malformed: `error.field` names it.",
            404: "No such workflow in this workspace.",
            409: "The workflow has no version to run, or the Idempotency-Key was used for a different request.",
        },
    ),
    Operation(
        views.list_runs,
        "GET",
        "listRuns",
        "Runs of the workspace, newest first, a page at a time",
        TAG,
        query=RunListQuery,
        response=RunList,
        errors={400: "A filter, `cursor` or `limit` is malformed: `error.field` names it."},
        description="Keyset pages: each answer's `next` is the `cursor` of the page of older runs. The filters "
        "combine; keep them the same while paging.",
    ),
    Operation(
        views.export_runs,
        "GET",
        "exportRuns",
        "Every run the filters allow, as JSON Lines: a run with its steps per line, or a chat per LLM step",
        TAG,
        query=RunExportQuery,
        response=ExportLine,
        media_type=MEDIA_TYPE,
        errors={400: "A filter or `format` is malformed: `error.field` names it."},
        description="The filters of `listRuns`, through the same selector, newest first, streamed a keyset page at "
        "a time (a whole history exports without a timeout). Each line is the run as `getRun` answers it. With "
        "`format=chat`, each line is a completed LLM step in the OpenAI chat shape instead: "
        + ", ".join(f"`{name}`" for name in ChatExample.model_fields)
        + ".",
    ),
    Operation(
        views.run_detail,
        "GET",
        "getRun",
        "A run with its steps and tool calls",
        TAG,
        query=RunQuery,
        headers=(IF_NONE_MATCH,),
        response=Run,
        also={304: "The run is as the ETag named in If-None-Match: nothing changed."},
        errors={400: "`wait` is not a whole number of seconds from 0 to 30.", 404: "No such run."},
        description="Every answer carries an `ETag`; send it back in `If-None-Match` for a 304 while nothing "
        "changed. With `?wait=<seconds>` (at most 30) the answer waits until the run is completed, failed or "
        "cancelled, or the time is up, holding no database connection meanwhile; a server answers at once when "
        "its long-poll slots (half its threads) are all taken, so check `status` and poll again.",
    ),
    Operation(
        views.run_otlp,
        "GET",
        "getRunTrace",
        "A finished run as an OpenTelemetry GenAI trace, in OTLP/JSON",
        TAG,
        response=OtlpTrace,
        errors={404: "No such run.", 409: "The run has not finished: pending, running or paused."},
        description="The trace the OTLP push sends, without a collector: import it into any OTLP/JSON reader. "
        "Prompts, outputs and tool arguments and results are included only when the server sets "
        "`OTEL_EXPORT_CONTENT=true`. Ids are derived from the run and node ids: a second download is identical, "
        "and a replay's root span links to its original's.",
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
        codes=COMPARE_CODES,
        errors={
            400: "The run is not a replay and no ?with= names a run to compare it with.",
            404: "No such run in this workspace.",
            409: "These runs belong to different workflows and cannot be compared.",
            410: "The run is a replay whose source was pruned, and no ?with= names a run to compare it with.",
        },
    ),
    Operation(
        views.check_runs,
        "POST",
        "checkRuns",
        "Evaluate checks on a run and the run it replays, or another run of its workflow",
        TAG,
        body=ChecksBody,
        response=CheckResults,
        codes=COMPARE_CODES,
        errors={
            400: "A check is malformed (unknown kind, missing or ill-typed parameter, invalid regex or JSON Schema, "
            "a node in neither run), or the run is not a replay and no `with` names another: `error.field` names it.",
            404: "No such run in this workspace.",
            409: "These runs belong to different workflows and cannot be compared.",
            410: "The run is a replay whose source was pruned, and no `with` names a run to compare it with.",
        },
        description="Each check is evaluated on both runs from their recorded steps: pass, fail, or n/a when it "
        "cannot be (the node did not run, the cost is unknown, a regex ran past its 100 ms budget), never a pass. "
        "Nothing is stored and no model is called, so a viewer may call it. The runs pair as in `compareRuns`.",
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
    Link("createPrompt", "getPrompt", {**SAME_WORKSPACE, "path.artifact_id": "$response.body#/artifact_id"}),
    Link(
        "createPrompt",
        "getPromptRevision",
        {
            **SAME_WORKSPACE,
            "path.artifact_id": "$response.body#/artifact_id",
            "path.content_hash": "$response.body#/content_hash",
        },
    ),
    Link("createWorkflow", "getWorkflow", WORKFLOW),
    Link("createWorkflow", "getWorkflowVersion", {**WORKFLOW, "path.number": "$response.body#/version"}),
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
