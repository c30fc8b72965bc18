import json

from django.http import HttpResponse
from django.shortcuts import render
from django_htmx.http import reswap, trigger_client_event

from runs.access import get_run_for_member, target_version_of
from runs.http.errors import BadRequest, Rejected
from runs.http.input import version_number
from runs.http.web import workspace_view
from runs.models import Role

from .models import NodeMapping
from .services import (
    find_saved_mapping,
    node_ids_of,
    pairs_from_form,
    renamed_nodes_of,
    save_mapping,
    unmapped_message,
    validate_pairs,
)
from .suggestions import NodeSuggestions, suggestions_for

DIALOG = "mappings/dialog.html"


def _row(node_id: str, chosen: str, suggested: NodeSuggestions | None) -> dict:
    """One renamed node's select: the saved (or posted) target, else the preselected one; candidates first."""
    candidates = suggested.candidates if suggested else []
    preselected = suggested.preselected if suggested else None
    return {
        "node_id": node_id,
        "chosen": chosen or preselected or "",
        "preselected": preselected,
        "best": candidates[0] if candidates else None,
        "best_percent": round(candidates[0].confidence * 100) if candidates else None,
        "candidates_json": json.dumps([[c.target, round(c.confidence * 100)] for c in candidates]),
    }


def _context(
    request, membership, run, target, chosen=None, visibility=NodeMapping.Visibility.OPERATOR, suggestions=None
):
    target_ids = node_ids_of(target)
    renamed = renamed_nodes_of(run, target, target_ids)
    if chosen is None:
        saved = find_saved_mapping(user=request.user, source_version_id=run.version_id, target_version_id=target.pk)
        chosen = saved.pairs_dict() if saved else {}
    if suggestions is None:
        suggestions = suggestions_for(run.version_id, target.pk, renamed)
    return {
        "workspace": membership.workspace,
        "run": run,
        "target": target,
        "renamed": [_row(node_id, chosen.get(node_id, ""), suggestions.get(node_id)) for node_id in renamed],
        "target_ids_json": json.dumps(target_ids),
        "visibility": visibility,
        "visibilities": NodeMapping.Visibility.choices,
    }


@workspace_view(methods=("GET", "POST"), role=Role.OPERATOR)
def mapping_dialog(request, membership, run_id):
    run = get_run_for_member(membership, run_id)
    source_version = run.version
    if source_version is None:
        raise BadRequest("This run's workflow version was deleted: there is nothing to map from.")
    number = version_number(request.GET.get("target_version") or request.POST.get("target_version"))
    if number in (None, run.version_number):
        raise BadRequest("target_version must be another version of this run's workflow.", field="target_version")
    target = target_version_of(run, number)
    if request.method == "GET":
        return render(request, DIALOG, _context(request, membership, run, target))
    renamed = renamed_nodes_of(run, target)
    pairs = pairs_from_form(request.POST)
    visibility = request.POST.get("visibility", NodeMapping.Visibility.OPERATOR)
    suggestions = suggestions_for(source_version.pk, target.pk, renamed)
    try:
        pairs = validate_pairs(pairs, renamed=renamed, target_ids=set(node_ids_of(target)))
        missing = [n for n in renamed if n not in pairs]
        if missing:
            raise Rejected(422, unmapped_message(len(missing)), code="unmapped_nodes", field="node_mapping")
        mapping = save_mapping(
            user=request.user,
            workspace=membership.workspace,
            source_version=source_version,
            target_version=target,
            visibility=visibility,
            pairs=pairs,
            preselected={node_id: s.preselected for node_id, s in suggestions.items()},
        )
    except Rejected as exc:
        context = _context(request, membership, run, target, pairs, visibility, suggestions)
        context["error"] = exc.message
        return render(request, DIALOG + "#form", context, status=exc.status)
    # Nothing to swap: the mapping dialog closes and the replay dialog re-reads its mapping on the event.
    response = reswap(HttpResponse(), "none")
    return trigger_client_event(response, "mappingSaved", {"visibility": mapping.get_visibility_display()})
