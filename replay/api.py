from django.urls import reverse

from mappings.suggestions import suggestions_for
from runs.access import get_run_for_member, get_run_ref_for_member
from runs.engine.replay_plan import Tools
from runs.http.api import answer, api_view, created, json_body
from runs.http.errors import BadRequest, Rejected
from runs.http.input import version_number
from runs.models import ReplayMode, Role, RunStatus

from .rules import CROSS_BOUNDARY
from .services import Preview, preview_replay, submit_replay
from .shapes import InvokingNode, Policy, PreflightPlan, Refusal, ReplayCreated, ReplayPlan, SavedMapping


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
    new, source_id = result.run, run_id
    replayed = ReplayCreated(
        run_id=new.run_id,
        status=RunStatus(new.status),
        replay_of=source_id,
        replay_depth=new.replay_depth,
        version=new.version_number,
        mode=ReplayMode(new.mode),
    )
    response = answer(ReplayCreated, replayed, status=201 if result.created else 200)
    if result.created:
        created(response, reverse("api-run", kwargs={"slug": membership.workspace.slug, "run_id": new.run_id}))
    for name, value in result.quota.headers().items():
        response[name] = value
    return response


@api_view(("GET", "POST"), outsider_message=CROSS_BOUNDARY)
def replay_plan(request, membership, run_id):
    if request.method == "POST":
        return _preflight(request, membership, run_id)
    run = get_run_for_member(membership, run_id)
    if run.version_id is None:
        raise BadRequest("This run's workflow version was deleted: it has no replay plan.")
    number = version_number(request.GET.get("target_version"))
    preview = preview_replay(membership=membership, run_id=run_id, fields={"mode": "as_is", "target_version": number})
    if preview.target is None or preview.mapping is None:
        raise preview.refusal or BadRequest("This run has no replay plan.")
    mapping, saved = preview.mapping, preview.mapping.saved
    return answer(
        ReplayPlan,
        ReplayPlan(
            source_version=run.version_number,
            target_version=preview.target.number,
            renamed_nodes=mapping.renamed,
            suggestions=suggestions_for(run.version_id, preview.target.pk, mapping.renamed),
            target_nodes=preview.start_nodes,
            saved_mapping=SavedMapping(
                visibility="workspace" if saved.visibility == "workspace" else "operator",
                owner=saved.owner.username,
                pairs=saved.pairs_dict(),
                covers_all=not mapping.unmapped,
            )
            if saved
            else None,
            mutations=preview.mutations,
            invoking_nodes=[n.node_id for n in preview.invoking],
            invoking_reasons=[InvokingNode(node_id=n.node_id, tool=n.tool, reason=n.policy) for n in preview.invoking],
        ),
    )


def _preflight(request, membership, run_id):
    """The plan submit would follow for this body, and what submit would answer now: no side effect, no quota."""
    preview = preview_replay(membership=membership, run_id=run_id, fields=json_body(request))
    return answer(PreflightPlan, preflight_plan(preview))


def preflight_plan(preview: Preview) -> PreflightPlan:
    """A preview as the API answers it: a single replay's, and a cohort's first eligible member's."""
    refusal, plan = preview.refusal, preview.plan
    return PreflightPlan(
        replayable=refusal is None,
        refusal=Refusal(status=refusal.status, code=refusal.code, message=refusal.message, field=refusal.field)
        if refusal
        else None,
        plan_version=plan.version if plan else None,
        nodes=plan.api_nodes() if plan else [],
        totals=plan.totals() if plan else None,
        tools=plan.tools if plan else Tools.LIVE,
        mutations=preview.mutations,
        invoking_nodes=[n.node_id for n in preview.invoking],
        confirmation_required=preview.needs_confirmation,
        quota_left=preview.quota_left,
    )


@api_view(("GET", "PUT"), role=Role.ADMIN)
def policy(request, membership):
    workspace = membership.workspace
    if request.method == "PUT":
        data = json_body(request)
        from .policy import update_policy

        update_policy(workspace=workspace, data=data)
    return answer(Policy, workspace.policy_dict())
