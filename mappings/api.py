from typing import Annotated, Any

from django.db.models import Q
from pydantic import BeforeValidator, ConfigDict, StringConstraints

from runs.access import get_workflow_for_member
from runs.http.api import answer, api_view, json_body
from runs.http.errors import BadRequest, NotFound
from runs.http.input import QueryInput, parse, query_values, required_version, with_query
from runs.models import Role, WorkflowVersion

from .models import NodeMapping
from .services import mappable_nodes, node_ids_of, save_mapping, validate_pairs
from .shapes import Mapping as MappingShape
from .shapes import MappingList
from .suggestions import suggestions_for


class VersionPair(QueryInput):
    """The version pair a saved mapping is for, from the query string or the PUT body."""

    workflow_id: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    source_version: Annotated[int, BeforeValidator(required_version)]
    target_version: Annotated[int, BeforeValidator(required_version)]


class MappingBody(VersionPair):
    """A PUT: the version pair (in the body, or in the query string as for a GET), the visibility and the pairs."""

    model_config = ConfigDict(extra="forbid")
    visibility: str = NodeMapping.Visibility.OPERATOR
    pairs: Any = None


def _versions(membership, pair: VersionPair) -> tuple[WorkflowVersion, WorkflowVersion]:
    if pair.source_version == pair.target_version:
        raise BadRequest("source_version and target_version must differ.", field="target_version")
    workflow = get_workflow_for_member(membership, pair.workflow_id)
    numbers = (pair.source_version, pair.target_version)
    found = {v.number: v for v in WorkflowVersion.objects.filter(workflow=workflow, number__in=numbers)}
    for name, number in zip(("source_version", "target_version"), numbers, strict=True):
        if number not in found:
            raise NotFound(f"{name} {number} does not exist for workflow {pair.workflow_id}.", field=name)
    return found[numbers[0]], found[numbers[1]]


def mapping_dict(mapping: NodeMapping) -> dict:
    return {
        "source_version": mapping.source_version.number,
        "target_version": mapping.target_version.number,
        "visibility": mapping.visibility,
        "owner": mapping.owner.username,
        "updated_at": mapping.updated_at.isoformat(),
        "pairs": mapping.pairs_dict(),
    }


@api_view(("GET", "PUT"), role=Role.OPERATOR)
def mappings(request, membership):
    query = query_values(request.GET, VersionPair)
    if request.method == "GET":
        source, target = _versions(membership, parse(VersionPair, query))
    else:
        body = parse(MappingBody, with_query(json_body(request), query, VersionPair))
        source, target = _versions(membership, body)
        renamed = mappable_nodes(source, target)
        pairs = validate_pairs(body.pairs, renamed=renamed, target_ids=set(node_ids_of(target)), field="pairs")
        if not pairs:
            raise BadRequest("pairs must map at least one renamed node.", field="pairs")
        mapping = save_mapping(
            user=request.user,
            workspace=membership.workspace,
            source_version=source,
            target_version=target,
            visibility=body.visibility,
            pairs=pairs,
            preselected={n: s.preselected for n, s in suggestions_for(source.pk, target.pk, renamed).items()},
        )
        mapping = NodeMapping.objects.select_related("source_version", "target_version", "owner").get(pk=mapping.pk)
        return answer(MappingShape, mapping_dict(mapping))
    visible = (
        NodeMapping.objects.select_related("source_version", "target_version", "owner")
        .prefetch_related("pairs")
        .filter(source_version=source, target_version=target)
        .filter(Q(visibility=NodeMapping.Visibility.WORKSPACE) | Q(owner=request.user))
        .order_by("visibility")
    )
    return answer(MappingList, {"mappings": [mapping_dict(m) for m in visible]})
