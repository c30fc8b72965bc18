"""JSON API for prompts, workflows, versions, triggers and the run lifecycle."""

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from runs import services
from runs.access import (
    get_artifact_for_member,
    get_run_for_member,
    get_run_ref_for_member,
    get_version_for_member,
    get_workflow_for_member,
)
from runs.compare import compare, compared_runs
from runs.http.api import api_view, created, error_response, json_body
from runs.http.errors import NotFound
from runs.http.input import parse
from runs.listing import RunExportQuery, RunListQuery, page_of_runs
from runs.models import Role
from runs.usage import RunUsage, usage_of_runs

from .export import export_response
from .serializers import run_dict, run_with_steps
from .shapes import OtlpTrace


@api_view(("POST",), role=Role.OPERATOR)
def create_prompt(request, membership):
    data = json_body(request)
    revision = services.create_prompt(
        workspace=membership.workspace,
        name=data.get("name"),
        content=data.get("content"),
        content_hash=data.get("content_hash"),
    )
    return created({"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash})


@api_view(("POST",), role=Role.OPERATOR)
def create_prompt_revision(request, membership, artifact_id):
    artifact = get_artifact_for_member(membership, artifact_id)
    data = json_body(request)
    revision = services.add_prompt_revision(
        artifact=artifact, content=data.get("content"), content_hash=data.get("content_hash")
    )
    return created({"artifact_id": artifact.artifact_id, "content_hash": revision.content_hash})


@api_view(("POST",), role=Role.OPERATOR)
def create_workflow(request, membership):
    data = json_body(request)
    version = services.create_workflow(workspace=membership.workspace, name=data.get("name"), nodes=data.get("nodes"))
    return created({"workflow_id": version.workflow.workflow_id, "version": version.number})


@api_view(("POST",), role=Role.OPERATOR)
def create_version(request, membership, workflow_id):
    workflow = get_workflow_for_member(membership, workflow_id)
    data = json_body(request)
    version = services.add_version(workflow=workflow, nodes=data.get("nodes"))
    return created({"workflow_id": workflow.workflow_id, "version": version.number})


@api_view(("DELETE",), role=Role.OPERATOR)
def delete_version(request, membership, workflow_id, number):
    version = get_version_for_member(membership, workflow_id, number)
    services.delete_version(version=version)
    return HttpResponse(status=204)


def _pause_view(paused: bool):
    @api_view(("POST",), role=Role.OPERATOR)
    def view(request, membership, workflow_id):
        workflow = get_workflow_for_member(membership, workflow_id)
        data = json_body(request)
        workflow = services.set_workflow_paused(workflow=workflow, paused=paused, reason=data.get("reason", ""))
        return JsonResponse(
            {"workflow_id": workflow.workflow_id, "paused": workflow.paused, "reason": workflow.paused_reason}
        )

    return view


pause_workflow = _pause_view(True)
unpause_workflow = _pause_view(False)


@api_view(("POST",), role=Role.OPERATOR)
def trigger_run(request, membership, workflow_id):
    workflow = get_workflow_for_member(membership, workflow_id)
    data = json_body(request)
    run = services.trigger_run(workflow=workflow, payload=data.get("payload", {}))
    return created({"run_id": run.run_id, "status": run.status, "version": run.version_number})


@api_view(("GET",))
def list_runs(request, membership):
    query = parse(RunListQuery, request.GET.dict())
    page = page_of_runs(membership.workspace, query, query.cursor, query.limit)
    usage = usage_of_runs(run.run_id for run in page.rows)  # one query for the page
    runs = [run_dict(run, steps=False, usage=usage.get(run.run_id, RunUsage())) for run in page.rows]
    return JsonResponse({"runs": runs, "next": page.next, "prev": page.prev})


@api_view(("GET",))
def export_runs(request, membership):
    return export_response(membership.workspace, parse(RunExportQuery, request.GET.dict()))


@api_view(("GET",))
def run_detail(request, membership, run_id):
    return JsonResponse(run_dict(run_with_steps(membership, run_id)))


@api_view(("GET",))
def run_otlp(request, membership, run_id):
    from runs.otlp import trace_document  # OpenTelemetry is loaded by the first export, never at start-up

    run = get_run_for_member(membership, run_id)
    document = trace_document(run, content=settings.OTEL_EXPORT_CONTENT)
    return JsonResponse(OtlpTrace(**document).model_dump(mode="json"))


def _lifecycle_view(action):
    @api_view(("POST",), role=Role.OPERATOR)
    def view(request, membership, run_id):
        run = get_run_ref_for_member(membership, run_id)  # the transitions need only its id
        action(run=run)
        return JsonResponse(run_dict(run_with_steps(membership, run_id)))

    return view


pause_run = _lifecycle_view(services.pause_run)
resume_run = _lifecycle_view(services.resume_run)
cancel_run = _lifecycle_view(services.cancel_run)


@api_view(("GET",))
def compare_runs(request, membership, run_id):
    base, other = compared_runs(membership, run_id, request.GET.get("with") or None)
    comparison = compare(base, other)
    return JsonResponse(
        {"base": run_dict(base, steps=False), "other": run_dict(other, steps=False), **comparison.as_api()}
    )


@csrf_exempt
def no_such_endpoint(request, path=""):
    """Any other path under /api/v1/: the API's own 404, not the HTML page (a malformed id in a path lands here)."""
    return error_response(NotFound(f"No API endpoint at {request.path}: check the path and its ids."))
