"""What a replay will do before it is submitted: renamed nodes and their mapping, and which calls mutate."""

from dataclasses import dataclass

from mappings.models import NodeMapping
from mappings.services import find_saved_mapping, node_ids_of, renamed_nodes_of
from runs.engine.plan import mutation_decisions, version_plan
from runs.models import Run, WorkflowVersion, Workspace


@dataclass
class NodeMappingPlan:
    renamed: list[str]
    target_ids: list[str]
    saved: NodeMapping | None
    pairs: dict[str, str]

    @property
    def unmapped(self) -> list[str]:
        return [n for n in self.renamed if n not in self.pairs]


def plan_mapping(
    *, user, run: Run, target: WorkflowVersion, requested: dict[str, str] | None = None
) -> NodeMappingPlan:
    """Renamed nodes, the saved mapping that applies, and the pairs in effect (request over saved)."""
    if target.pk == run.version_id or run.version_id is None:
        return NodeMappingPlan([], [], None, {})
    target_ids = node_ids_of(target)
    renamed = renamed_nodes_of(run, target, target_ids)
    saved = (
        find_saved_mapping(user=user, source_version_id=run.version_id, target_version_id=target.pk)
        if renamed
        else None
    )
    pairs: dict[str, str] = {}
    if saved is not None:
        target_set = set(target_ids)
        pairs = {s: t for s, t in saved.pairs_dict().items() if s in renamed and t in target_set}
    pairs.update(requested or {})
    return NodeMappingPlan(renamed, target_ids, saved, pairs)


@dataclass
class MutationPlan:
    mutations: str  # "dry_run" | "invoke"
    invoking_nodes: list[dict]
    dry_run_nodes: list[str]

    @property
    def invokes(self) -> bool:
        return self.mutations == "invoke"


def mutation_plan(*, workspace: Workspace, target: WorkflowVersion) -> MutationPlan:
    """Which mutating tool calls a replay on `target` will really invoke: the executor's own rule."""
    decisions = mutation_decisions(version_plan(target.pk), workspace_allows=workspace.replay_allow_mutations)
    invoking = [{"node_id": d.node_id, "tool": d.tool, "reason": d.reason} for d in decisions if d.invoke]
    dry = [d.node_id for d in decisions if not d.invoke]
    return MutationPlan("invoke" if invoking else "dry_run", invoking, dry)
