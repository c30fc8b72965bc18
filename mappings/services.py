"""Saved node mappings: lookup (the operator's own first, then the shared one) and save."""

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from runs.http.errors import BadRequest, Rejected
from runs.models import Node, Run, WorkflowVersion

from .detection import renamed_nodes
from .models import NodeMapping, NodeMappingPair, SuggestionTally
from .suggestions import suggestion_answer, suggestions_for

MAP_FIELD_PREFIX = "map:"


def unmapped_message(count: int) -> str:
    return f"{count} renamed node(s) need mapping before this cross-version replay can run."


class UnmappedNodes(Rejected):
    """The refusal of a replay with renamed nodes left unmapped; its JSON lists them with their suggestions.

    The suggestions are computed only when the refusal is answered as JSON: a preview that is refused
    for the same reason on every change of the dialog does not pay for them.
    """

    code = "unmapped_nodes"

    def __init__(self, *, source_id: int | None, target_id: int, unmapped: list[str], mapped: dict[str, str]):
        super().__init__(422, unmapped_message(len(unmapped)), field="node_mapping", nodes=list(unmapped))
        self.source_id, self.target_id, self.mapped = source_id, target_id, mapped

    def as_dict(self) -> dict:
        answer = super().as_dict()
        if self.source_id is not None:  # a run whose version was deleted is refused earlier, with no mapping
            found = suggestions_for(self.source_id, self.target_id, self.nodes or [], self.mapped)
            answer["error"]["suggestions"] = suggestion_answer(found)
        return answer


def check_pair_count(count: int, *, field: str) -> None:
    """The one limit on a node mapping's size (MAPPING_MAX_PAIRS), for replays and saved mappings alike."""
    if count > settings.MAPPING_MAX_PAIRS:
        raise BadRequest(
            f"A saved mapping holds up to {settings.MAPPING_MAX_PAIRS} node pairs; {field} has {count}.", field=field
        )


def pairs_from_form(post) -> dict[str, str]:
    """The pairs a dialog posts as one select per renamed node, named map:<renamed node id>."""
    return {k[len(MAP_FIELD_PREFIX) :]: v for k, v in post.items() if k.startswith(MAP_FIELD_PREFIX) and v}


def ran_node_ids(run: Run) -> list[str]:
    return list(run.steps.order_by("position").values_list("node_id", flat=True))


def node_ids_of(version: WorkflowVersion) -> list[str]:
    return list(Node.objects.filter(version=version).order_by("position").values_list("node_id", flat=True))


def renamed_nodes_of(run: Run, target: WorkflowVersion, target_ids: list[str] | None = None) -> list[str]:
    """The renamed nodes of a replay of `run` on `target`: nodes that ran and whose id `target` lacks."""
    if run.version_id == target.pk:
        return []
    return renamed_nodes(ran_node_ids(run), set(node_ids_of(target) if target_ids is None else target_ids))


def mappable_nodes(source: WorkflowVersion, target: WorkflowVersion) -> list[str]:
    """For a mapping saved without a run: every source node that could have run and that `target` lacks."""
    return renamed_nodes(node_ids_of(source), set(node_ids_of(target)))


def find_saved_mapping(*, user, source_version_id: int, target_version_id: int) -> NodeMapping | None:
    """The operator's own mapping for the pair first, then the workspace's shared one."""
    found = {
        m.visibility: m
        for m in NodeMapping.objects.select_related("owner").filter(
            Q(visibility=NodeMapping.Visibility.WORKSPACE) | Q(visibility=NodeMapping.Visibility.OPERATOR, owner=user),
            source_version_id=source_version_id,
            target_version_id=target_version_id,
        )
    }
    return found.get(NodeMapping.Visibility.OPERATOR) or found.get(NodeMapping.Visibility.WORKSPACE)


def validate_pairs(pairs, *, renamed: list[str], target_ids: set[str], field: str = "node_mapping") -> dict[str, str]:
    """Each key a renamed node (once), each value a node of the target version that no other key names; nothing else.

    A target node reads one recorded step: of two renamed nodes mapped to it, the replay would drop one.
    """
    if not isinstance(pairs, dict):
        raise BadRequest(f"{field} must be an object of {{renamed node id: target node id}}.", field=field)
    check_pair_count(len(pairs), field=field)
    renamed_set = set(renamed)
    receiver_of: dict[str, str] = {}
    for source, target in pairs.items():
        if not isinstance(target, str):
            raise BadRequest(f"{field}[{source!r}] must be a node id string.", field=field)
        if source not in renamed_set:
            raise Rejected(
                422, f"{field}: {source!r} is not a renamed node of this replay.", code="not_renamed", field=field
            )
        if target not in target_ids:
            raise Rejected(
                422,
                f"{field}[{source!r}]: {target!r} is not a node of the target version.",
                code="unknown_target",
                field=field,
            )
        if target in receiver_of:
            raise Rejected(
                422,
                f"{field}: {receiver_of[target]!r} and {source!r} both map to {target!r}: a node of the target version"
                " receives one renamed node.",
                code="duplicate_target",
                field=field,
            )
        receiver_of[target] = source
    return dict(pairs)


def save_mapping(
    *,
    user,
    workspace,
    source_version: WorkflowVersion,
    target_version: WorkflowVersion,
    visibility,
    pairs: dict[str, str],
    preselected: dict[str, str | None] | None = None,
) -> NodeMapping:
    """Create or update the caller's mapping for the pair in a constant number of queries.

    Saved for the workspace, it replaces the caller's own private mapping of the pair: the dialog applies a member's
    private mapping first, so a shared one they had just saved (\"Edit mapping\" of it) would never apply to them.

    `preselected` holds the suggested targets the operator was shown: each saved pair counts as accepted or
    overridden in the workspace's tally.
    """
    if visibility not in NodeMapping.Visibility.values:
        raise BadRequest("visibility must be 'operator' or 'workspace'.", field="visibility")
    check_pair_count(len(pairs), field="pairs")
    now = timezone.now()
    lookup = {"source_version": source_version, "target_version": target_version, "visibility": visibility}
    if visibility == NodeMapping.Visibility.OPERATOR:
        lookup["owner"] = user
    with transaction.atomic():
        mapping = NodeMapping.objects.select_for_update().filter(**lookup).first()
        if mapping is None:
            mapping = NodeMapping.objects.create(
                workspace=workspace,
                owner=user,
                pair_count=len(pairs),
                created_at=now,
                updated_at=now,
                **{k: v for k, v in lookup.items() if k != "owner"},
            )
        else:
            NodeMapping.objects.filter(pk=mapping.pk).update(pair_count=len(pairs), updated_at=now)
            mapping.pairs.all().delete()
        NodeMappingPair.objects.bulk_create(
            [NodeMappingPair(mapping=mapping, source_node_id=s, target_node_id=t) for s, t in pairs.items()],
            batch_size=1000,
        )
        if visibility == NodeMapping.Visibility.WORKSPACE:
            NodeMapping.objects.filter(
                source_version=source_version,
                target_version=target_version,
                visibility=NodeMapping.Visibility.OPERATOR,
                owner=user,
            ).delete()
        if preselected:
            tally_suggestions(workspace=workspace, pairs=pairs, preselected=preselected)
    return mapping


def tally_suggestions(*, workspace, pairs: dict[str, str], preselected: dict[str, str | None]) -> None:
    """Count each saved pair whose source had a preselected target: accepted when equal, overridden when not."""
    shown = {s: t for s, t in preselected.items() if t is not None and s in pairs}
    accepted = sum(pairs[s] == t for s, t in shown.items())
    if not shown:
        return
    changes = {"accepted": F("accepted") + accepted, "overridden": F("overridden") + len(shown) - accepted}
    if not SuggestionTally.objects.filter(workspace=workspace).update(**changes, updated_at=timezone.now()):
        # The first tally of the workspace; a concurrent first save loses the race and adds to the winner's row.
        tally, created = SuggestionTally.objects.get_or_create(
            workspace=workspace, defaults={"accepted": accepted, "overridden": len(shown) - accepted}
        )
        if not created:
            SuggestionTally.objects.filter(pk=tally.pk).update(**changes)
