import uuid

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django_htmx.http import reswap, trigger_client_event

from mappings.services import pairs_from_form, unmapped_message
from runs.access import get_run_for_member, target_version_of
from runs.compare import json_diff
from runs.engine.plan import version_plan
from runs.http.errors import BadRequest, Forbidden, Rejected
from runs.http.input import parse_json, version_number
from runs.http.web import ROLE_NEEDED, workspace_view
from runs.models import CatalogModel, PromptRevision, Role, Run, Step, WorkflowVersion
from runs.prompts import prompts_of_version
from runs.services import save_prompt_revision
from runs.web.presenters import pretty_json

from .messages import (
    NEW_RUN,
    NO_PROMPTS,
    NOT_A_VERSION_PROMPT,
    REVISION_CREATED,
    REVISION_REUSED,
    SUBMITTED,
    VERSION_DELETED,
)
from .plan import mutation_plan, plan_mapping
from .rules import CROSS_BOUNDARY
from .services import preview_replay, quota_left, submit_replay

DIALOG = "replay/dialog.html"


def _target(run, raw):
    return target_version_of(run, version_number(raw))


def _mapping_context(request, membership, run, target):
    mapping = plan_mapping(user=request.user, run=run, target=target)
    return {
        "target": target,
        "mapping": mapping,
        "unmapped_message": unmapped_message(len(mapping.unmapped)) if mapping.unmapped else "",
        "mutations": mutation_plan(workspace=membership.workspace, target=target),
    }


def _dialog_context(request, membership, run, target_raw=None, values=None):
    workspace = membership.workspace
    context = {
        "workspace": workspace,
        "run": run,
        "values": values or {"mode": "as_is"},
        "versions": list(
            WorkflowVersion.objects.filter(workflow_id=run.workflow_id)
            .order_by("number")
            .values_list("number", flat=True)
        ),
        "revisions": list(
            PromptRevision.objects.filter(artifact__workspace=workspace)
            .select_related("artifact")
            .order_by("artifact__name", "created_at")
        ),
        "models": [
            m
            for m in CatalogModel.objects.select_related(None).all()
            if workspace.model_is_available(m) and workspace.provider_is_allowed(m.provider)
        ],
        "idempotency_key": uuid.uuid4().hex,
        "payload_text": (values or {}).get("trigger_payload") or pretty_json(run.trigger_payload),
        "original_payload_text": pretty_json(run.trigger_payload),
    }
    if run.version_id is not None:
        target = _target(run, target_raw)
        context.update(_mapping_context(request, membership, run, target))
        target_nodes = version_plan(target.pk)
        chosen = (values or {}).get("from_nodes") or [request.GET.get("from_node", "")]
        context["start_nodes"] = [n.node_id for n in target_nodes]
        context["start_from"] = default_start(run, target_nodes, chosen[0])
        fields = {
            **(values or {"mode": "as_is"}),
            "from_nodes": [context["start_from"]] if context["start_from"] else None,
        }
        fields["node_mapping"] = context["mapping"].pairs
        fields.pop("plan_version", None)
        context.update(_plan_context(membership, run, fields))
    return context


def _form_data(post) -> dict:
    data = {
        k: post.get(k, "")
        for k in (
            "mode",
            "prompt_artifact_id",
            "content_hash",
            "model_id",
            "model_ref",
            "target_version",
            "save_mapping",
            "plan_version",
        )
    }
    data["node_mapping"] = pairs_from_form(post)
    data["from_nodes"] = [post["from_node"]] if post.get("from_node") else None
    data["trigger_payload"] = post.get("trigger_payload") or None
    return data


def default_start(run, target_nodes, requested: str = "") -> str:
    """The Start from select's choice: the node asked for, else a failed run's failed node, else the first node."""
    ids = [n.node_id for n in target_nodes]
    if requested in ids:
        return requested
    if run.status == Run.Status.FAILED:
        failed = run.steps.filter(status=Step.Status.FAILED).values_list("node_id", flat=True).first()
        if failed in ids:
            return failed
    return ""


def _plan_context(membership, run, data: dict) -> dict:
    """The dialog's plan panel: what submit would do with these fields now, and what it would answer."""
    preview = preview_replay(membership=membership, run_id=run.run_id, fields=data)
    plan = preview.plan
    edited = data.get("trigger_payload")
    payload_diff = None
    if isinstance(edited, str):
        try:
            payload_diff = json_diff(run.trigger_payload, parse_json(edited, field="trigger_payload"))
        except BadRequest:
            payload_diff = None  # the editor shows the syntax error as you type; the refusal says it too
    return {
        "payload_diff": payload_diff,
        "preview": preview,
        "plan": plan,
        "reused": [n for n in plan.nodes if n.action == "reuse"] if plan else [],
        "will_run": [n for n in plan.nodes if n.action == "run"] if plan else [],
        "estimate": plan.estimate() if plan else None,
        "quota_left": quota_left(membership.workspace_id),
    }


@workspace_view(methods=("GET", "POST"), outsider_message=CROSS_BOUNDARY)
def dialog(request, membership, run_id):
    run = get_run_for_member(membership, run_id, foreign_message=CROSS_BOUNDARY)
    if request.method == "GET":
        return render(request, DIALOG, _dialog_context(request, membership, run, request.GET.get("target_version")))
    data = _form_data(request.POST)
    try:
        result = submit_replay(
            membership=membership,
            run_id=run.run_id,
            fields=data,
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
    except Rejected as exc:
        context = _dialog_context(request, membership, run, data.get("target_version"), values=data)
        context["error"] = exc.message
        response = render(request, DIALOG + "#form", context, status=exc.status)
        return trigger_client_event(response, "replayFailed", {"message": exc.message})
    new = result.run
    url = reverse("trace", kwargs={"slug": membership.workspace.slug, "run_id": new.run_id})
    if not request.htmx:
        messages.success(request, SUBMITTED)
        return redirect(url)
    link = format_html('<a class="mono" href="{}">{}</a>', url, new.run_id)
    toast = {"title": SUBMITTED, "description": format_html(NEW_RUN, run_id=link)}
    response = render(request, "replay/_submitted.html", toast, status=201 if result.created else 200)
    reswap(response, "none")  # the answer is only its out-of-band toast; the dialog closes on the event
    return trigger_client_event(response, "replaySubmitted", {"run_id": new.run_id, "url": url}, after="settle")


@workspace_view(methods=("POST",), outsider_message=CROSS_BOUNDARY)
def plan_panel(request, membership, run_id):
    """The plan panel, re-rendered as the mode, version, mapping or start node changes."""
    run = get_run_for_member(membership, run_id, foreign_message=CROSS_BOUNDARY)
    data = _form_data(request.POST)
    data.pop("plan_version", None)
    context = {"workspace": membership.workspace, "run": run, **_plan_context(membership, run, data)}
    return render(request, DIALOG + "#plan-panel", context)


@workspace_view()
def mapping_section(request, membership, run_id):
    run = get_run_for_member(membership, run_id)
    if run.version_id is None:
        return render(request, "_error_fragment.html", {"message": VERSION_DELETED}, status=409)
    context = {
        "workspace": membership.workspace,
        "run": run,
        "standalone": True,
        **_mapping_context(request, membership, run, _target(run, request.GET.get("target_version"))),
    }
    response = render(request, DIALOG + "#mapping-section", context)
    # The plan panel follows: only now does the form hold this version's mapping, which submit will send.
    return trigger_client_event(response, "mappingChecked", after="settle")


WRITER = "replay/_revision_writer.html"


@workspace_view(methods=("GET", "POST"), outsider_message=CROSS_BOUNDARY)
def revision_writer(request, membership, run_id):
    """ "Write a new revision…": edit the content of a prompt the target version uses, and save it as a revision.

    The same service as the API saves it, so identical content reuses its revision; both dialog fields are then
    filled through the revisionSaved event.
    """
    run = get_run_for_member(membership, run_id, foreign_message=CROSS_BOUNDARY)
    data = request.POST if request.method == "POST" else request.GET
    if run.version_id is None:
        return render(request, WRITER, {"error": VERSION_DELETED}, status=409)
    target = _target(run, data.get("target_version"))
    prompts = prompts_of_version(target, membership.workspace_id)
    context = {"workspace": membership.workspace, "run": run, "target": target, "prompts": prompts}
    if not prompts:
        return render(request, WRITER, {**context, "error": NO_PROMPTS.format(number=target.number)})
    requested = data.get("revision_artifact", "")
    chosen = next((p for p in prompts if p.artifact.artifact_id == requested), None)
    if request.method == "GET":
        chosen = chosen or prompts[0]
        return render(request, WRITER, {**context, "chosen": chosen, "content": chosen.content})
    content = data.get("revision_content", "")
    try:
        if not membership.has_role(Role.OPERATOR):
            raise Forbidden(ROLE_NEEDED[Role.OPERATOR])
        if chosen is None:
            raise BadRequest(NOT_A_VERSION_PROMPT.format(number=target.number), field="revision_artifact")
        revision, created = save_prompt_revision(artifact=chosen.artifact, content=content)
    except Rejected as exc:
        context.update(chosen=chosen or prompts[0], content=content, error=exc.message)
        return render(request, WRITER, context, status=exc.status)
    notice = (REVISION_CREATED if created else REVISION_REUSED).format(content_hash=revision.content_hash)
    context.update(chosen=chosen, content=revision.content, notice=notice)
    response = render(request, WRITER, context, status=201 if created else 200)
    saved = {"artifact_id": chosen.artifact.artifact_id, "content_hash": revision.content_hash}
    return trigger_client_event(response, "revisionSaved", saved, after="settle")
