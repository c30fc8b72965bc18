"""The cohorts API: thin views over replay.cohorts' services, every answer through its declared shape."""

from django.http import StreamingHttpResponse
from django.urls import reverse

from runs.engine.replay_plan import _money
from runs.http.api import answer, api_view, created, json_body
from runs.http.input import parse, query_values
from runs.http.web import workspace_view
from runs.models import Role

from ..api import preflight_plan
from . import shapes
from .inputs import CancelInput
from .reading import CohortListQuery, MemberQuery, cohort_dict, csv_lines, jsonl_lines, page_of_cohorts, page_of_members
from .services import cancel_cohort, cohort_for_member, create_cohort, preview_cohort

JSONL = "application/jsonl"


@api_view(("GET", "POST"), role=Role.OPERATOR)
def cohorts(request, membership):
    if request.method == "POST":
        cohort, is_new = create_cohort(
            membership=membership, data=json_body(request), idempotency_key=request.headers.get("Idempotency-Key", "")
        )
        response = answer(shapes.CohortCreated, {"cohort_id": cohort.cohort_id}, status=201 if is_new else 200)
        if not is_new:
            return response
        return created(response, reverse(detail, kwargs={"slug": membership.workspace.slug, "cohort_id": cohort.pk}))
    query = parse(CohortListQuery, query_values(request.GET, CohortListQuery))
    rows, following = page_of_cohorts(membership.workspace, query.cursor, query.limit)
    return answer(shapes.CohortList, {"cohorts": rows, "next": following})


@api_view(("POST",), role=Role.OPERATOR)
def preview(request, membership):
    found = preview_cohort(membership=membership, data=json_body(request))
    cost = found.estimated_cost_usd
    return answer(
        shapes.CohortPreview,
        {
            "members": found.members,
            "baseline": found.baseline,
            "ineligible": found.ineligible,
            "plan": preflight_plan(found.preview),
            "estimated_cost_usd": [_money(cost[0]), _money(cost[1])] if cost else None,
            "eta_seconds": found.eta_seconds,
        },
    )


@api_view(("GET",))
def detail(request, membership, cohort_id):
    return answer(shapes.Cohort, cohort_dict(cohort_for_member(membership, cohort_id)))


@api_view(("GET",))
def members(request, membership, cohort_id):
    cohort = cohort_for_member(membership, cohort_id)
    rows, following = page_of_members(cohort, parse(MemberQuery, query_values(request.GET, MemberQuery)))
    return answer(shapes.MemberPage, {"members": rows, "next": following})


@api_view(("POST",), role=Role.OPERATOR)
def cancel(request, membership, cohort_id):
    cancel_running = parse(CancelInput, json_body(request)).cancel_running
    cohort = cancel_cohort(membership=membership, cohort_id=cohort_id, cancel_running=cancel_running)
    return answer(shapes.Cohort, cohort_dict(cohort_for_member(membership, cohort.pk)))


def _export(membership, cohort_id, lines, media_type: str, extension: str) -> StreamingHttpResponse:
    cohort = cohort_for_member(membership, cohort_id)
    response = StreamingHttpResponse(lines(cohort), content_type=f"{media_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{cohort.cohort_id}-members.{extension}"'
    return response


@api_view(("GET",))
def export_jsonl(request, membership, cohort_id):
    return _export(membership, cohort_id, jsonl_lines, JSONL, "jsonl")


@api_view(("GET",))
def export_csv(request, membership, cohort_id):
    return _export(membership, cohort_id, csv_lines, "text/csv", "csv")


@workspace_view()
def export_csv_page(request, membership, cohort_id):
    """The cohort page's CSV, with the page's session: the API's stream (routed in config, beside the pages)."""
    return _export(membership, cohort_id, csv_lines, "text/csv", "csv")


@workspace_view()
def export_jsonl_page(request, membership, cohort_id):
    return _export(membership, cohort_id, jsonl_lines, JSONL, "jsonl")
