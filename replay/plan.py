"""Renamed nodes and the node mapping in effect for a replay onto another version."""

from dataclasses import dataclass

from mappings.models import NodeMapping
from mappings.services import find_saved_mapping, node_ids_of, renamed_nodes_of
from runs.models import Run, WorkflowVersion

from .reads import FRESH, Reads


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
    *, user, run: Run, target: WorkflowVersion, requested: dict[str, str] | None = None, reads: Reads = FRESH
) -> NodeMappingPlan:
    """Renamed nodes, the saved mapping that applies, and the pairs in effect (request over saved)."""
    source_version_id = run.version_id
    if target.pk == source_version_id or source_version_id is None:
        return NodeMappingPlan([], [], None, {})
    target_ids = reads.once(("node_ids", target.pk), lambda: node_ids_of(target))
    renamed = renamed_nodes_of(run, target, target_ids)
    saved = (
        reads.once(
            ("saved_mapping", user.pk, source_version_id, target.pk),
            lambda: find_saved_mapping(user=user, source_version_id=source_version_id, target_version_id=target.pk),
        )
        if renamed
        else None
    )
    pairs: dict[str, str] = {}
    if saved is not None:
        target_set = set(target_ids)
        pairs = {s: t for s, t in saved.pairs_dict().items() if s in renamed and t in target_set}
    pairs.update(requested or {})
    return NodeMappingPlan(renamed, target_ids, saved, pairs)
