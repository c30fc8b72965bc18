from django.http import JsonResponse

from runs.access import get_run_for_member, get_run_ref_for_member, target_version_of
from runs.http.api import api_view, json_body
from runs.http.errors import BadRequest, Rejected
from runs.http.input import version_number
from runs.models import Role

from .plan import mutation_plan, plan_mapping
from .rules import CROSS_BOUNDARY
from .services import preview_replay, submit_replay


@api_view(("POST",), outsider_message=CROSS_BOUNDARY)
def submit(request, membership, run_id):
    try:
        data = json_body(request)
    except Rejected:
        get_run_ref_for_member(membership, run_id, foreign_message=CROSS_BOUNDARY)  # rule 1 answers before a 400
        raise
    # The run is found (404, 403) on the row submit_replay locks: one query, not two.
    result = submit_replay(
        membership=membership,
        run_id=run_id,
        fields=data,
        idempotency_key=request.headers.get("Idempotency-Key", ""),
    )
    new = result.run
    return JsonResponse(
        {
            "run_id": new.run_id,
            "status": new.status,
            "replay_of": new.replay_of_id,
            "replay_depth": new.replay_depth,
            "version": new.version_number,
            "mode": new.mode,
        },
        status=201 if result.created else 200,
    )


@api_view(("GET", "POST"), outsider_message=CROSS_BOUNDARY)
def replay_plan(request, membership, run_id):
    if request.method == "POST":
        return _preview(request, membership, run_id)
    run = get_run_for_member(membership, run_id)
    if run.version_id is None:
        raise BadRequest("This run's workflow version was deleted: it has no replay plan.")
    target = target_version_of(run, version_number(request.GET.get("target_version")))
    mapping = plan_mapping(user=request.user, run=run, target=target)
    mutations = mutation_plan(workspace=membership.workspace, target=target)
    saved = mapping.saved
    return JsonResponse(
        {
            "source_version": run.version_number,
            "target_version": target.number,
            "renamed_nodes": mapping.renamed,
            "target_nodes": mapping.target_ids,
            "saved_mapping": {
                "visibility": saved.visibility,
                "owner": saved.owner.username,
                "pairs": saved.pairs_dict(),
                "covers_all": not mapping.unmapped,
            }
            if saved
            else None,
            "mutations": mutations.mutations,
            "invoking_nodes": [n["node_id"] for n in mutations.invoking_nodes],
            "invoking_reasons": mutations.invoking_nodes,
        }
    )


def _preview(request, membership, run_id):
    """The plan submit would follow for this body, and what submit would answer now: no side effect, no quota."""
    preview = preview_replay(membership=membership, run_id=run_id, fields=json_body(request))
    refusal = preview.refusal
    plan = preview.plan.as_api() if preview.plan else {"plan_version": None, "nodes": [], "totals": None}
    return JsonResponse(
        {
            "replayable": refusal is None,
            "refusal": {"status": refusal.status, "code": refusal.code, "message": refusal.message}
            if refusal
            else None,
            **plan,
        }
    )


@api_view(("GET", "PUT"), role=Role.ADMIN)
def policy(request, membership):
    workspace = membership.workspace
    if request.method == "PUT":
        data = json_body(request)
        from .policy import update_policy

        update_policy(workspace=workspace, data=data)
    return JsonResponse(workspace.policy_dict())
