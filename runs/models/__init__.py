"""What exists, one module per concern; everything is importable from `runs.models`."""

from .accounts import Account, ApiToken, Membership, Role, Workspace
from .catalog import CatalogModel
from .effects import OutboxMessage, Record
from .ids import (
    CONTENT_HASH_RE,
    PROMPT_ID_RE,
    RUN_ID_RE,
    WORKFLOW_ID_RE,
    content_hash_of,
    new_prompt_id,
    new_run_id,
    new_workflow_id,
)
from .prompts import PromptArtifact, PromptRevision
from .runs import ReplayMode, Run, RunMode, RunStatus, Step, StepStatus, ToolCall
from .workflows import Node, NodeType, Workflow, WorkflowVersion

__all__ = [
    "CONTENT_HASH_RE",
    "PROMPT_ID_RE",
    "RUN_ID_RE",
    "WORKFLOW_ID_RE",
    "Account",
    "ApiToken",
    "CatalogModel",
    "Membership",
    "Node",
    "NodeType",
    "OutboxMessage",
    "PromptArtifact",
    "PromptRevision",
    "Record",
    "ReplayMode",
    "Role",
    "Run",
    "RunMode",
    "RunStatus",
    "Step",
    "StepStatus",
    "ToolCall",
    "Workflow",
    "WorkflowVersion",
    "Workspace",
    "content_hash_of",
    "new_prompt_id",
    "new_run_id",
    "new_workflow_id",
]
