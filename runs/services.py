"""Services that change what exists: prompts, workflows, versions, runs and their lifecycle."""

import logging

from django.db import transaction
from django.utils import timezone

from .engine.dispatch import dispatch_on_commit, finished_on_commit
from .graph import build_nodes, parse_nodes
from .http.errors import BadRequest, Conflict
from .http.input import parse
from .idempotency import KEY_REUSED, checked_idempotency_key, created_once, insert_run, run_with_key
from .inputs import PauseInput, PromptInput, RevisionInput, TriggerInput, WorkflowInput
from .models import (
    Membership,
    Node,
    PromptArtifact,
    PromptRevision,
    Run,
    Workflow,
    WorkflowVersion,
    Workspace,
    content_hash_of,
)

log = logging.getLogger(__name__)


@transaction.atomic
def create_prompt(*, workspace: Workspace, name, content, content_hash=None) -> PromptRevision:
    fields = parse(PromptInput, {"name": name, "content": content, "content_hash": content_hash})
    artifact = PromptArtifact.objects.create(workspace=workspace, name=fields.name)
    return add_prompt_revision(artifact=artifact, content=fields.content, content_hash=fields.content_hash)


def add_prompt_revision(*, artifact: PromptArtifact, content, content_hash=None) -> PromptRevision:
    return save_prompt_revision(artifact=artifact, content=content, content_hash=content_hash)[0]


def save_prompt_revision(*, artifact: PromptArtifact, content, content_hash=None) -> tuple[PromptRevision, bool]:
    """The revision of this content, and whether it is new: identical content reuses the existing revision."""
    fields = parse(RevisionInput, {"content": content, "content_hash": content_hash})
    content, content_hash = fields.content, fields.content_hash
    actual = content_hash_of(content)
    if content_hash is not None and content_hash != actual:
        raise BadRequest(f"content_hash does not match the content (its SHA-256 is {actual}).", field="content_hash")
    return PromptRevision.objects.get_or_create(artifact=artifact, content_hash=actual, defaults={"content": content})


@transaction.atomic
def create_workflow(*, workspace: Workspace, name, nodes) -> WorkflowVersion:
    fields = parse(WorkflowInput, {"name": name})
    specs = parse_nodes(workspace, nodes)
    workflow = Workflow.objects.create(workspace=workspace, name=fields.name)
    version = WorkflowVersion.objects.create(workflow=workflow, number=1)
    Node.objects.bulk_create(build_nodes(version, specs))
    return version


def add_version(*, workflow: Workflow, nodes) -> WorkflowVersion:
    specs = parse_nodes(workflow.workspace, nodes)
    with transaction.atomic():
        # Lock the workflow so two concurrent creates do not pick the same number.
        Workflow.objects.select_for_update().filter(pk=workflow.pk).first()
        last = workflow.versions.order_by("-number").values_list("number", flat=True).first() or 0
        version = WorkflowVersion.objects.create(workflow=workflow, number=last + 1)
        Node.objects.bulk_create(build_nodes(version, specs))
    return version


def delete_version(*, version: WorkflowVersion) -> None:
    """Runs of the version survive with a null version (their version_number stays)."""
    version.delete()


def set_workflow_paused(*, workflow: Workflow, paused: bool, reason="") -> Workflow:
    reason = parse(PauseInput, {"reason": reason}).reason
    if paused and not reason.strip():
        reason = "Paused for safety."
    Workflow.objects.filter(pk=workflow.pk).update(paused=paused, paused_reason=reason if paused else "")
    workflow.refresh_from_db()
    return workflow


def trigger_run(*, workflow: Workflow, payload, version: WorkflowVersion | None = None) -> Run:
    return _trigger(workflow=workflow, payload=payload, version=version)[0]


def trigger_run_once(*, membership: Membership, workflow: Workflow, payload, idempotency_key: str) -> tuple[Run, bool]:
    """A member's trigger with an Idempotency-Key: (the run, whether it was created now). The same key with the same
    workflow and payload answers the run it made; with another, a 409."""
    key = checked_idempotency_key(idempotency_key)
    return created_once(
        membership, lambda: _trigger(workflow=workflow, payload=payload, membership=membership, idempotency_key=key)
    )


def _trigger(
    *,
    workflow: Workflow,
    payload,
    version: WorkflowVersion | None = None,
    membership: Membership | None = None,
    idempotency_key: str = "",
) -> tuple[Run, bool]:
    payload = parse(TriggerInput, {"payload": payload}).payload
    with transaction.atomic():
        if idempotency_key and membership is not None:
            earlier = run_with_key(membership, idempotency_key)
            if earlier is not None:
                if earlier.replay_depth or earlier.workflow_id != workflow.pk or earlier.trigger_payload != payload:
                    raise Conflict(KEY_REUSED)
                return earlier, False
        if version is None:
            version = workflow.versions.order_by("-number").first()
            if version is None:
                raise Conflict("This workflow has no version to run.")
        run = Run(
            workspace_id=workflow.workspace_id,
            workflow=workflow,
            version=version,
            version_number=version.number,
            trigger_payload=payload,
            steps_total=version.nodes.count(),
            requested_by_id=membership.user_id if membership is not None else None,
            idempotency_key=idempotency_key,
        )
        insert_run(run)
        dispatch_on_commit(run.pk)
    return run, True


# Lifecycle. Each transition is a compare-and-swap on the status it starts from.


def _transition_error(run: Run, action: str, allowed: str) -> Conflict:
    run.refresh_from_db(fields=["status"])
    return Conflict(
        f"Cannot {action} a {run.status} run: only a {allowed} run can be {action}d.".replace("canceld", "cancelled")
    )


def pause_run(*, run: Run) -> Run:
    if not Run.objects.filter(pk=run.pk, status__in=(Run.Status.PENDING, Run.Status.RUNNING)).update(
        status=Run.Status.PAUSED
    ):
        raise _transition_error(run, "pause", "pending or running")
    run.refresh_from_db()
    return run


def resume_run(*, run: Run) -> Run:
    with transaction.atomic():
        if not Run.objects.filter(pk=run.pk, status=Run.Status.PAUSED).update(status=Run.Status.PENDING):
            raise _transition_error(run, "resume", "paused")
        dispatch_on_commit(run.pk)
    run.refresh_from_db()
    return run


def cancel_run(*, run: Run) -> Run:
    if not Run.objects.filter(pk=run.pk, status__in=Run.IN_FLIGHT_STATUSES).update(
        status=Run.Status.CANCELLED, finished_at=timezone.now()
    ):
        raise _transition_error(run, "cancel", "pending, running or paused")
    finished_on_commit(run.pk)
    run.refresh_from_db()
    return run
