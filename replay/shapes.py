"""The replay API's answers, declared once: the views build them, the OpenAPI document is generated from them."""

from typing import Literal

from pydantic import Field

from mappings.suggestions import NodeSuggestions
from runs.engine.replay_plan import PlannedNodeShape, PlanTotals, Tools
from runs.http.openapi import Closed
from runs.models import ReplayMode, RunStatus


class ReplayCreated(Closed):
    run_id: str
    status: RunStatus
    replay_of: str
    replay_depth: int
    version: int
    mode: ReplayMode


class SavedMapping(Closed):
    visibility: Literal["operator", "workspace"]
    owner: str
    pairs: dict[str, str]
    covers_all: bool


class InvokingNode(Closed):
    node_id: str
    tool: str
    reason: str


class ReplayPlan(Closed):
    """What an as-is replay on the target version will do: renamed nodes, the saved mapping that applies, mutations.

    `mutations` and `invoking_nodes` come from the replay plan itself: the calls it really sends.
    """

    source_version: int
    target_version: int
    renamed_nodes: list[str]
    suggestions: dict[str, NodeSuggestions] = Field(
        description="Suggested targets for each renamed node, best first; a person still saves the mapping."
    )
    target_nodes: list[str]
    saved_mapping: SavedMapping | None
    mutations: Literal["dry_run", "invoke", "recorded"]
    invoking_nodes: list[str]
    invoking_reasons: list[InvokingNode]


class Refusal(Closed):
    status: int
    code: str
    message: str
    field: str | None


class PreflightPlan(Closed):
    """What submit would do with this body, and what it would answer now; no side effect, no quota taken."""

    replayable: bool
    refusal: Refusal | None
    plan_version: str | None
    nodes: list[PlannedNodeShape]
    totals: PlanTotals | None
    tools: Tools = Field(description="live: tool calls run as the dry-run rule decides; recorded: none is sent.")
    mutations: Literal["dry_run", "invoke", "recorded"] = Field(
        description="What happens to mutating calls: all dry-run, some really invoked, or all answered from the recording."
    )
    invoking_nodes: list[str]
    confirmation_required: bool
    quota_left: int


class Policy(Closed):
    allowed_models: list[str] | None
    allowed_providers: list[str] | None
    replay_allow_mutations: bool
