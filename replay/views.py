import uuid

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django_htmx.http import reswap, trigger_client_event

from mappings.services import pairs_from_form, unmapped_message
from runs.access import get_run_for_member, target_version_of
from runs.compare import json_diff, pretty_json
from runs.http.errors import BadRequest, Forbidden, Rejected
from runs.http.input import parse_json, version_number
from runs.http.web import ROLE_NEEDED, workspace_view
from runs.models import CatalogModel, PromptRevision, Role, WorkflowVersion
from runs.prompts import prompts_of_version
from runs.services import save_prompt_revision

from .messages import (
    MODE_FIELDS_EMPTY,
    NEW_RUN,
    NO_PROMPTS,
    NOT_A_VERSION_PROMPT,
    REVISION_CREATED,
    REVISION_REUSED,
    SUBMITTED,
    VERSION_DELETED,
)
from .presenters import plan_rows, start_options, submit_blocked
from .rules import CROSS_BOUNDARY, MODE_FIELDS
from .services import StartHint, preview_replay, still_dropped, submit_replay

DIALOG = "replay/dialog.html"
MODE_FIELD_NAMES = {name for names in MODE_FIELDS.values() for name in names}


def _target(run, raw):
    return target_version_of(run, version_number(raw))


def field_choices(membership, run) -> dict:
    """What the change fields offer for `run`: its workflow's versions, the workspace's prompt revisions (this run's
    marked) and the models it may use. The dialog and the cohort form (anchored on one member) read the same."""
    workspace = membership.workspace
    return {
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
        # The revisions this run used: a suggestion says so, or "new prompt" could replay the same one unawares.
        "run_hashes": set(
            run.steps.exclude(prompt_hash="").order_by().values_list("prompt_hash", flat=True).distinct()
        ),
        "models": [m for m in CatalogModel.objects.select_related(None).all() if workspace.model_refusal(m) is None],
    }


def _dialog_context(request, membership, run, fields: dict, start_hint: StartHint | None = None):
    """The whole dialog from one preview: the banner, Start from, the mapping section and the plan panel."""
    context = {
        "workspace": membership.workspace,
        "run": run,
        "values": fields,
        **field_choices(membership, run),
        "idempotency_key": uuid.uuid4().hex,
        "payload_text": fields.get("trigger_payload") or pretty_json(run.trigger_payload),
        "original_payload_text": pretty_json(run.trigger_payload),
    }
    # A run whose version was deleted still gets its preview: its refusal is what the dialog says before any submit.
    context.update(_plan_context(membership, run, fields, start_hint))
    return context


def _shown_refusal(preview, fields: dict):
    """The refusal the plan panel shows, and Submit is disabled for: not a mode's field that is still empty, nor a
    trigger payload the editor already refuses beside itself.

    Those fields are required, and Submit waits for them anyway; saying so in red before anything is typed
    would be noise.
    """
    refusal = preview.refusal
    if refusal is None:
        return None
    if refusal.status == 400 and refusal.field in MODE_FIELD_NAMES and not (fields.get(refusal.field) or "").strip():
        return None
    if refusal.status == 400 and refusal.field == "trigger_payload":
        return None  # the editor says it as it is typed, at its line and column: once is enough, and Submit waits
    return refusal


def preview_context(preview, *, start_from: bool = True) -> dict:
    """The fields that follow the preview: the target version, its mapping check and Start from (its options, a
    thousand of them, only where it is rendered)."""
    mapping = preview.mapping
    return {
        "preview": preview,
        "target": preview.target,
        "mapping": mapping,
        "unmapped_message": unmapped_message(len(mapping.unmapped)) if mapping and mapping.unmapped else "",
        "start_nodes": preview.start_nodes,
        "start_from": preview.start_from,
        "start_options": start_options(preview.start_nodes, preview.start_from) if start_from else "",
        "start_dropped": preview.start_dropped,
    }


CHANGE_INPUTS = ("mode", "prompt_artifact_id", "content_hash", "model_id", "model_ref", "target_version", "tools")


def change_fields(post, names: tuple[str, ...] = CHANGE_INPUTS) -> dict:
    """The change fields as the form posts them: the mapping section's map:<node> pairs and Start from's one node
    become node_mapping and from_nodes. The dialog and the cohort form read their fields through it."""
    data = {k: post.get(k, "") for k in names}
    data["node_mapping"] = pairs_from_form(post)
    data["from_nodes"] = [post["from_node"]] if post.get("from_node") else None
    return data


def _form_data(post) -> dict:
    data = change_fields(post, (*CHANGE_INPUTS, "save_mapping", "plan_version", "confirm_invoke"))
    data["trigger_payload"] = post.get("trigger_payload") or None
    return data


def _plan_context(membership, run, data: dict, start_hint: StartHint | None = None, *, start_from: bool = True) -> dict:
    """What submit would do with these fields now, and what it would answer: the preview and what the panel shows
    (the plan panel alone, without `start_from`, does not show Start from)."""
    preview = preview_replay(membership=membership, run_id=run.run_id, fields=data, start_hint=start_hint, run=run)
    plan = preview.plan
    edited = data.get("trigger_payload")
    payload_diff = None
    if isinstance(edited, str):
        try:
            payload_diff = json_diff(run.trigger_payload, parse_json(edited, field="trigger_payload"))
        except BadRequest:
            payload_diff = None  # the editor shows the syntax error as you type; the refusal says it too
    refusal = _shown_refusal(preview, data)
    waiting = MODE_FIELDS_EMPTY.get(data.get("mode", "")) if preview.refusal is not None and refusal is None else None
    reused = [n for n in plan.nodes if n.action == "reuse"] if plan else []
    will_run = [n for n in plan.nodes if n.action == "run"] if plan else []
    return {
        **preview_context(preview, start_from=start_from),
        "payload_diff": payload_diff,
        "plan": plan,
        "refusal": refusal,
        "blocked": submit_blocked(refusal, plan),
        "waiting": waiting or "",  # said beside Submit, which the empty fields disable; the plan blocks nothing
        "reused": reused,
        "will_run": will_run,
        # The rows are built in Python: 1,000 template includes were most of the dialog's time (replay/presenters.py).
        "reused_rows": plan_rows(reused),
        "will_run_rows": plan_rows(will_run),
        "dropped_rows": plan_rows(plan.dropped) if plan else "",
        "estimate": plan.estimate() if plan else None,
        "quota_left": preview.quota_left,
    }


@workspace_view(methods=("GET", "POST"), outsider_message=CROSS_BOUNDARY)
def dialog(request, membership, run_id):
    run = get_run_for_member(membership, run_id, foreign_message=CROSS_BOUNDARY)
    if request.method == "GET":
        fields = {"mode": "as_is", "target_version": request.GET.get("target_version", "")}
        if request.GET.get("mode") == "prompt":  # the trace's "Replay with another revision of this prompt"
            fields.update(mode="prompt", prompt_artifact_id=request.GET.get("prompt_artifact_id", ""))
        hint = StartHint(request.GET.get("from_node", ""), opening=True)
        context = _dialog_context(request, membership, run, fields, start_hint=hint)
        refusal = context.get("preview") and context["preview"].refusal
        if refusal and refusal.field == "target_version":  # the URL names no version of this workflow: its 400 or 404
            return render(request, "_error_fragment.html", {"message": refusal.message}, status=refusal.status)
        return render(request, DIALOG, context)
    data = _form_data(request.POST)
    try:
        result = submit_replay(
            membership=membership,
            run_id=run.run_id,
            fields=data,
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
    except Rejected as exc:
        context = _dialog_context(request, membership, run, data)
        context["error"] = exc.message
        response = exc.carried_by(render(request, DIALOG + "#form", context, status=exc.status))
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
    """The plan panel and the banner, re-rendered as the mode, version, mapping or start node changes."""
    run = get_run_for_member(membership, run_id, foreign_message=CROSS_BOUNDARY)
    data = _form_data(request.POST)
    data.pop("plan_version", None)
    context = {
        "workspace": membership.workspace,
        "run": run,
        "standalone": True,
        **_plan_context(membership, run, data, start_from=False),
    }
    context["start_dropped"] = start_reset_by_version(request.POST, context["preview"])
    return render(request, DIALOG + "#plan-panel", context)


def start_reset_by_version(post, preview) -> str:
    """The Start from node the last version change reset (the mapping section's start_dropped), while the plan may
    still say so: Start from is still the first node and no node mapping the form shows leads the node into the
    version. The dialog's plan panel and the cohort form's preview say it alike."""
    dropped = post.get("start_dropped", "")
    return dropped if not post.get("from_node") and still_dropped(dropped, preview) else ""


@workspace_view()
def mapping_section(request, membership, run_id):
    """The mapping section and Start from for the version chosen: both belong to the target version.

    Start from keeps the node the form showed when the version chosen has it, itself or through the node mapping
    (the form sends the mapping it showed); else it starts at the first node, and the plan says why.
    """
    run = get_run_for_member(membership, run_id)
    if run.version_id is None:
        return render(request, "_error_fragment.html", {"message": VERSION_DELETED}, status=409)
    fields = {"mode": "as_is", "target_version": request.GET.get("target_version", "")}
    hint = StartHint(request.GET.get("from_node", ""), shown_pairs=pairs_from_form(request.GET))
    preview = preview_replay(membership=membership, run_id=run.run_id, fields=fields, start_hint=hint, run=run)
    if preview.target is None and preview.refusal is not None:  # e.g. an unknown version: its 404
        return render(
            request, "_error_fragment.html", {"message": preview.refusal.message}, status=preview.refusal.status
        )
    context = {"workspace": membership.workspace, "run": run, "standalone": True, **preview_context(preview)}
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
