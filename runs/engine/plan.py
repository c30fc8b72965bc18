"""What a run will execute: a version's nodes in order, and the one rule that says which calls dry-run."""

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from runs.graph import execution_order
from runs.models import Node, PromptRevision

from .tools import TOOLS

if TYPE_CHECKING:
    from .llm_options import LlmOptions


@dataclass(frozen=True)
class PlannedNode:
    node_id: str
    type: str
    config: dict
    allow_mutations: bool | None
    after: tuple[str, ...] = ()

    @property
    def tool_name(self) -> str:
        return self.config.get("tool", "") if self.type == Node.Type.TOOL else ""

    @cached_property
    def options(self) -> "LlmOptions":
        """An llm node's validated options, once per process (versions are immutable)."""
        from .llm_options import options_of

        return options_of(self.config)

    @property
    def mutating(self) -> bool:
        """A tool the registry no longer knows counts as mutating: never invoked by mistake."""
        if self.type != Node.Type.TOOL:
            return False
        tool = TOOLS.get(self.tool_name)
        return tool is None or tool.mutating


@lru_cache(maxsize=256)
def version_plan(version_id: int) -> tuple[PlannedNode, ...]:
    """A version's nodes in execution order. Versions are immutable, so this is cached per process."""
    nodes = list(Node.objects.filter(version_id=version_id).order_by("position"))
    order = execution_order([(n.node_id, n.after) for n in nodes])
    by_id = {n.node_id: n for n in nodes}
    return tuple(
        PlannedNode(n.node_id, n.type, n.config, n.replay_allow_mutations, tuple(n.after))
        for n in (by_id[i] for i in order)
    )


@dataclass(frozen=True)
class MutationDecision:
    """How a replay treats one node's mutating tool call, and which policy decided."""

    node_id: str
    tool: str
    invoke: bool
    reason: str  # "node policy" | "workspace policy" | "default"


def mutation_decision(node: PlannedNode, *, workspace_allows: bool) -> MutationDecision | None:
    """The dry-run rule: the replay plan applies it (and the banner reads the plan); None when nothing mutates.

    The node's own policies.replay.allowMutations wins; without one, the workspace policy decides;
    without that, the call dry-runs.
    """
    if not node.mutating:
        return None
    if node.allow_mutations is not None:
        return MutationDecision(node.node_id, node.tool_name, node.allow_mutations, "node policy")
    if workspace_allows:
        return MutationDecision(node.node_id, node.tool_name, True, "workspace policy")
    return MutationDecision(node.node_id, node.tool_name, False, "default")


def effective_prompt_hash(node: PlannedNode, overrides: dict) -> str:
    """The prompt revision an llm node runs with: the replay's prompt override for its artifact, else its own."""
    prompt = node.config["prompt"]
    override = overrides.get("prompt")
    if override and override.get("artifact_id") == prompt["artifact_id"]:
        return override["content_hash"]
    return prompt["content_hash"]


# Prompt contents by (workspace, artifact id, content hash), per process: a revision's content is what its hash
# says (PromptRevision.clean), so a cached content can never differ from the row's. Bounded: cleared when full.
_PROMPT_CONTENTS: dict[tuple[int, str, str], str] = {}
PROMPT_CONTENTS_CACHED = 2048


def prompt_contents(workspace_id: int, plan, overrides: dict) -> dict[tuple[str, str], str]:
    """The content of every prompt revision the llm nodes of `plan` run with, by (artifact id, content hash)."""
    wanted = {(n.config["prompt"]["artifact_id"], effective_prompt_hash(n, overrides)) for n in plan if n.type == "llm"}
    found = {key: _PROMPT_CONTENTS[(workspace_id, *key)] for key in wanted if (workspace_id, *key) in _PROMPT_CONTENTS}
    missing = wanted - found.keys()
    if not missing:
        return found
    rows = PromptRevision.objects.filter(
        artifact__workspace_id=workspace_id,
        artifact__artifact_id__in={a for a, _ in missing},
        content_hash__in={h for _, h in missing},
    ).values_list("artifact__artifact_id", "content_hash", "content")
    if len(_PROMPT_CONTENTS) > PROMPT_CONTENTS_CACHED:
        _PROMPT_CONTENTS.clear()
    for a, h, c in rows:
        found[(a, h)] = _PROMPT_CONTENTS[(workspace_id, a, h)] = c
    return found


def effective_model(node: PlannedNode, overrides: dict) -> str:
    """The model an llm node runs with: the replay's model override, else its own."""
    override = overrides.get("model")
    return override["model_ref"] if override else node.config["model"]
