"""JSON API for prompts, workflows, versions, triggers and the run lifecycle."""

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from runs import services
from runs.access import (
    get_artifact_for_member,
    get_revision_for_member,
    get_run_for_member,
    get_run_ref_for_member,
    get_version_for_member,
    get_workflow_for_member,
)
from runs.checks import CheckResults, check_pair, parse_checks
from runs.compare import compare, compared_runs
from runs.http.api import answer, api_view, created, error_response, json_body, with_etag
from runs.http.errors import NotFound
from runs.http.input import parse, query_values, refuse_unknown_fields
from runs.http.web import workspace_view
from runs.inputs import PauseInput, PromptInput, RevisionInput, TriggerInput
from runs.listing import PageQuery, RunExportQuery, RunListQuery, page_of_prompts, page_of_runs, page_of_workflows
from runs.models import CatalogModel, Role
from runs.prompts import revisions_with_uses
from runs.usage import RunUsage, usage_of_runs
from runs.waiting import wait_until_final

from . import shapes
from .export import export_response
from .serializers import detail_dict, run_dict, run_with_steps
from .shapes import OtlpTrace


@api_view(("GET",))
def models(request, membership):
    workspace = membership.workspace
    entries = [
        {
            "model_id": m.model_id,
            "model_ref": m.model_ref,
            "provider": m.provider,
            "retired": m.retired,
            "allowed": (reason := workspace.model_refusal(m)) is None,
            "reason": reason,
        }
        for m in CatalogModel.objects.all()
    ]
    return answer(shapes.ModelCatalog, {"models": entries})


@api_view(("GET", "POST"), role=Role.OPERATOR)
def prompts(request, membership):
    if request.method == "POST":
        return create_prompt(request, membership)
    query = parse(PageQuery, query_values(request.GET, PageQuery))
    page = page_of_prompts(membership.workspace, query.cursor, query.limit)
    rows = [
        {
            "artifact_id": a.artifact_id,
            "name": a.name,
            "created_at": a.created_at,
            "latest_content_hash": a.latest_content_hash,  # type: ignore[attr-defined]  # page_of_prompts annotates it
        }
        for a in page.rows
    ]
    return answer(shapes.PromptList, {"prompts": rows, "next": page.next, "prev": page.prev})


@api_view(("GET",))
def prompt_detail(request, membership, artifact_id):
    artifact = get_artifact_for_member(membership, artifact_id)
    revisions = [
        {"content_hash": r.content_hash, "created_at": r.created_at, "used_by": uses}
        for r, uses in revisions_with_uses(artifact)
    ]
    detail = {"artifact_id": artifact.artifact_id, "name": artifact.name, "created_at": artifact.created_at}
    return answer(shapes.PromptDetail, {**detail, "revisions": revisions})


@api_view(("GET",))
def prompt_revision(request, membership, artifact_id, content_hash):
    revision = get_revision_for_member(membership, artifact_id, content_hash)
    content = {"content_hash": revision.content_hash, "created_at": revision.created_at, "content": revision.content}
    return answer(shapes.PromptRevisionContent, {"artifact_id": artifact_id, **content})


def create_prompt(request, membership):
    data = json_body(request)
    refuse_unknown_fields(data, PromptInput)
    revision = services.create_prompt(
        workspace=membership.workspace,
        name=data.get("name"),
        content=data.get("content"),
        content_hash=data.get("content_hash"),
    )
    artifact_id = revision.artifact.artifact_id
    response = answer(shapes.Prompt, {"artifact_id": artifact_id, "content_hash": revision.content_hash}, status=201)
    return created(
        response, reverse(prompt_detail, kwargs={"slug": membership.workspace.slug, "artifact_id": artifact_id})
    )


@api_view(("POST",), role=Role.OPERATOR)
def create_prompt_revision(request, membership, artifact_id):
    artifact = get_artifact_for_member(membership, artifact_id)
    data = json_body(request)
    refuse_unknown_fields(data, RevisionInput)
    revision = services.add_prompt_revision(
        artifact=artifact, content=data.get("content"), content_hash=data.get("content_hash")
    )
    response = answer(
        shapes.Prompt, {"artifact_id": artifact.artifact_id, "content_hash": revision.content_hash}, status=201
    )
    where = {"slug": membership.workspace.slug, "artifact_id": artifact_id, "content_hash": revision.content_hash}
    return created(response, reverse(prompt_revision, kwargs=where))


def _workflow(workflow) -> dict:
    versions = [{"number": v.number, "created_at": v.created_at} for v in workflow.versions.all()]
    return {
        "workflow_id": workflow.workflow_id,
        "name": workflow.name,
        "paused": workflow.paused,
        "paused_reason": workflow.paused_reason,
        "created_at": workflow.created_at,
        "versions": versions,
    }


@api_view(("GET", "POST"), role=Role.OPERATOR)
def workflows(request, membership):
    if request.method == "POST":
        return create_workflow(request, membership)
    query = parse(PageQuery, query_values(request.GET, PageQuery))
    page = page_of_workflows(membership.workspace, query.cursor, query.limit)
    rows = [_workflow(w) for w in page.rows]
    return answer(shapes.WorkflowList, {"workflows": rows, "next": page.next, "prev": page.prev})


@api_view(("GET",))
def workflow_detail(request, membership, workflow_id):
    return answer(shapes.Workflow, _workflow(get_workflow_for_member(membership, workflow_id)))


def create_workflow(request, membership):
    data = json_body(request)
    refuse_unknown_fields(data, shapes.WorkflowBody)
    version = services.create_workflow(workspace=membership.workspace, name=data.get("name"), nodes=data.get("nodes"))
    workflow_id = version.workflow.workflow_id
    response = answer(shapes.WorkflowVersion, {"workflow_id": workflow_id, "version": version.number}, status=201)
    where = {"slug": membership.workspace.slug, "workflow_id": workflow_id}
    return created(response, reverse(workflow_detail, kwargs=where))


@api_view(("POST",), role=Role.OPERATOR)
def create_version(request, membership, workflow_id):
    workflow = get_workflow_for_member(membership, workflow_id)
    data = json_body(request)
    refuse_unknown_fields(data, shapes.VersionBody)
    version = services.add_version(workflow=workflow, nodes=data.get("nodes"))
    response = answer(shapes.WorkflowVersion, {"workflow_id": workflow_id, "version": version.number}, status=201)
    where = {"slug": membership.workspace.slug, "workflow_id": workflow_id, "number": version.number}
    return created(response, reverse(workflow_version, kwargs=where))


@api_view(("GET", "DELETE"), role=Role.OPERATOR)
def workflow_version(request, membership, workflow_id, number):
    version = get_version_for_member(membership, workflow_id, number)
    if request.method == "DELETE":
        services.delete_version(version=version)
        return HttpResponse(status=204)
    nodes = [node.as_spec() for node in version.nodes.order_by("position")]
    detail = {"workflow_id": workflow_id, "version": version.number, "created_at": version.created_at}
    return answer(shapes.WorkflowVersionDetail, {**detail, "nodes": nodes})


def _pause_view(paused: bool):
    @api_view(("POST",), role=Role.OPERATOR)
    def view(request, membership, workflow_id):
        workflow = get_workflow_for_member(membership, workflow_id)
        data = json_body(request)
        refuse_unknown_fields(data, PauseInput)
        workflow = services.set_workflow_paused(workflow=workflow, paused=paused, reason=data.get("reason", ""))
        pause = {"workflow_id": workflow.workflow_id, "paused": workflow.paused, "reason": workflow.paused_reason}
        return answer(shapes.WorkflowPause, pause)

    return view


pause_workflow = _pause_view(True)
unpause_workflow = _pause_view(False)


@api_view(("POST",), role=Role.OPERATOR)
def trigger_run(request, membership, workflow_id):
    workflow = get_workflow_for_member(membership, workflow_id)
    data = json_body(request)
    run, is_new = services.trigger_run_once(
        membership=membership,
        workflow=workflow,
        payload=parse(TriggerInput, data).payload,
        idempotency_key=request.headers.get("Idempotency-Key", ""),
    )
    triggered = {"run_id": run.run_id, "status": run.status, "version": run.version_number}
    response = answer(shapes.RunTriggered, triggered, status=201 if is_new else 200)
    return created(response, run_location(membership, run.run_id)) if is_new else response


@api_view(("GET",))
def list_runs(request, membership):
    query = parse(RunListQuery, query_values(request.GET, RunListQuery))
    page = page_of_runs(membership.workspace, query, query.cursor, query.limit)
    usage = usage_of_runs(run.run_id for run in page.rows)  # one query for the page
    runs = [run_dict(run, usage=usage.get(run.run_id, RunUsage())) for run in page.rows]
    return answer(shapes.RunList, {"runs": runs, "next": page.next, "prev": page.prev})


@api_view(("GET",))
def export_runs(request, membership):
    return export_response(membership.workspace, parse(RunExportQuery, query_values(request.GET, RunExportQuery)))


@workspace_view()
def export_runs_page(request, membership):
    """The runs list's "Export", with the page's session: the API's stream (routed in config, beside the pages)."""
    return export_response(membership.workspace, parse(RunExportQuery, query_values(request.GET, RunExportQuery)))


def run_location(membership, run_id: str) -> str:
    return reverse("api-run", kwargs={"slug": membership.workspace.slug, "run_id": run_id})


@api_view(("GET",))
def run_detail(request, membership, run_id):
    query = parse(shapes.RunQuery, query_values(request.GET, shapes.RunQuery))
    detail = run_with_steps(membership, run_id)
    if query.wait and not detail.run.is_finished and wait_until_final(run_id, query.wait):
        detail = run_with_steps(membership, run_id)
    return with_etag(request, answer(shapes.Run, detail_dict(detail)))


@api_view(("GET",))
def run_otlp(request, membership, run_id):
    from runs.otlp import trace_document  # OpenTelemetry is loaded by the first export, never at start-up

    run = get_run_for_member(membership, run_id)
    document = trace_document(run, content=settings.OTEL_EXPORT_CONTENT)
    return answer(OtlpTrace, document)


def _lifecycle_view(action):
    @api_view(("POST",), role=Role.OPERATOR)
    def view(request, membership, run_id):
        run = get_run_ref_for_member(membership, run_id)  # the transitions need only its id
        action(run=run)
        return answer(shapes.Run, detail_dict(run_with_steps(membership, run_id)))

    return view


pause_run = _lifecycle_view(services.pause_run)
resume_run = _lifecycle_view(services.resume_run)
cancel_run = _lifecycle_view(services.cancel_run)


@api_view(("GET",))
def compare_runs(request, membership, run_id):
    base, other = compared_runs(membership, run_id, request.GET.get("with") or None)
    comparison = compare(base, other)
    both = {"base": run_dict(base), "other": run_dict(other)}
    return answer(shapes.Comparison, {**both, **comparison.as_api()})


@api_view(("POST",), role=Role.VIEWER)
def check_runs(request, membership, run_id):
    """Evaluating checks stores nothing, so a viewer may: POST only because the checks are a body."""
    body = parse_checks(json_body(request))
    base, other = compared_runs(membership, run_id, body.with_)
    results = check_pair(base=base, other=other, checks=list(body.checks))
    return answer(CheckResults, results)


@csrf_exempt
def no_such_endpoint(request, path=""):
    """Any other path under /api/v1/: the API's own 404, not the HTML page (a malformed id in a path lands here)."""
    return error_response(NotFound(f"No API endpoint at {request.path}: check the path and its ids."))
