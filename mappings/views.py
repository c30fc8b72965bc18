import json

from django.http import HttpResponse
from django.shortcuts import render
from django_htmx.http import reswap, trigger_client_event

from runs.access import get_run_for_member
from runs.http.errors import BadRequest, Rejected
from runs.http.web import workspace_view
from runs.models import WorkflowVersion

from .models import NodeMapping
from .services import find_saved_mapping, renamed_nodes_of, save_mapping, target_node_ids, validate_pairs

DIALOG = "mappings/dialog.html"


def _target(run, raw) -> WorkflowVersion:
    number = int(raw) if isinstance(raw, str) and raw.isdigit() else None
    version = WorkflowVersion.objects.filter(workflow_id=run.workflow_id, number=number).first() if number else None
    if version is None:
        raise BadRequest("target_version must be a version of this run's workflow.", field="target_version")
    return version


def _context(request, membership, run, target, chosen=None, visibility=NodeMapping.Visibility.OPERATOR):
    renamed = renamed_nodes_of(run, target)
    if chosen is None:
        saved = find_saved_mapping(user=request.user, source_version_id=run.version_id, target_version_id=target.pk)
        chosen = saved.pairs_dict() if saved else {}
    return {
        "workspace": membership.workspace,
        "run": run,
        "target": target,
        "renamed": [(node_id, chosen.get(node_id, "")) for node_id in renamed],
        "target_ids_json": json.dumps(target_node_ids(target)),
        "visibility": visibility,
        "visibilities": NodeMapping.Visibility.choices,
    }


@workspace_view(methods=("GET", "POST"), role="operator")
def mapping_dialog(request, membership, run_id):
    run = get_run_for_member(membership, run_id)
    if run.version_id is None:
        raise BadRequest("This run's workflow version was deleted: there is nothing to map from.")
    target = _target(run, request.GET.get("target_version") or request.POST.get("target_version"))
    if request.method == "GET":
        return render(request, DIALOG, _context(request, membership, run, target))
    renamed = renamed_nodes_of(run, target)
    pairs = {k[len("map:") :]: v for k, v in request.POST.items() if k.startswith("map:") and v}
    visibility = request.POST.get("visibility", NodeMapping.Visibility.OPERATOR)
    try:
        pairs = validate_pairs(pairs, renamed=renamed, target_ids=set(target_node_ids(target)))
        missing = [n for n in renamed if n not in pairs]
        if missing:
            raise Rejected(422, f"{len(missing)} renamed node(s) still need a target.", field="node_mapping")
        mapping = save_mapping(
            user=request.user,
            workspace=membership.workspace,
            source_version=run.version,
            target_version=target,
            visibility=visibility,
            pairs=pairs,
        )
    except Rejected as exc:
        context = _context(request, membership, run, target, chosen=pairs, visibility=visibility)
        context["error"] = exc.message
        return render(request, DIALOG + "#form", context, status=exc.status)
    # Nothing to swap: the mapping dialog closes and the replay dialog re-reads its mapping on the event.
    response = reswap(HttpResponse(), "none")
    return trigger_client_event(response, "mappingSaved", {"visibility": mapping.get_visibility_display()})
