from django.db.models import Q
from django.http import JsonResponse

from runs.access import get_workflow_for_member
from runs.http.api import api_view, json_body
from runs.http.errors import BadRequest, NotFound
from runs.models import WorkflowVersion

from .detection import renamed_nodes
from .models import NodeMapping
from .services import save_mapping, target_node_ids, validate_pairs


def _version_param(request, data: dict, name: str):
    raw = data.get(name, request.GET.get(name))
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise BadRequest(f"{name} is required: a workflow version number.", field=name)
    return raw


def _versions(request, membership, data: dict):
    workflow_id = data.get("workflow_id", request.GET.get("workflow_id"))
    if not isinstance(workflow_id, str) or not workflow_id:
        raise BadRequest("workflow_id is required.", field="workflow_id")
    workflow = get_workflow_for_member(membership, workflow_id)
    numbers = (_version_param(request, data, "source_version"), _version_param(request, data, "target_version"))
    if numbers[0] == numbers[1]:
        raise BadRequest("source_version and target_version must differ.", field="target_version")
    found = {v.number: v for v in WorkflowVersion.objects.filter(workflow=workflow, number__in=numbers)}
    for name, number in zip(("source_version", "target_version"), numbers, strict=True):
        if number not in found:
            raise NotFound(f"{name} {number} does not exist for workflow {workflow_id}.", field=name)
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


def renamed_between(source: WorkflowVersion, target: WorkflowVersion) -> list[str]:
    """Renamed nodes of a version pair, run-independent: every source node missing from the target."""
    from runs.models import Node

    source_ids = Node.objects.filter(version=source).order_by("position").values_list("node_id", flat=True)
    return renamed_nodes(source_ids, set(target_node_ids(target)))


@api_view(("GET", "PUT"), role="operator")
def mappings(request, membership):
    data = json_body(request) if request.method == "PUT" else {}
    source, target = _versions(request, membership, data)
    if request.method == "PUT":
        visibility = data.get("visibility", NodeMapping.Visibility.OPERATOR)
        pairs = validate_pairs(
            data.get("pairs"),
            renamed=renamed_between(source, target),
            target_ids=set(target_node_ids(target)),
            field="pairs",
        )
        if not pairs:
            raise BadRequest("pairs must map at least one renamed node.", field="pairs")
        mapping = save_mapping(
            user=request.user,
            workspace=membership.workspace,
            source_version=source,
            target_version=target,
            visibility=visibility,
            pairs=pairs,
        )
        mapping = NodeMapping.objects.select_related("source_version", "target_version", "owner").get(pk=mapping.pk)
        return JsonResponse(mapping_dict(mapping), status=200)
    visible = (
        NodeMapping.objects.select_related("source_version", "target_version", "owner")
        .prefetch_related("pairs")
        .filter(source_version=source, target_version=target)
        .filter(Q(visibility=NodeMapping.Visibility.WORKSPACE) | Q(owner=request.user))
        .order_by("visibility")
    )
    return JsonResponse({"mappings": [mapping_dict(m) for m in visible]})
