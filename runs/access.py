"""Every object is reached through the requesting user's workspace; nothing else is."""

from django.core.exceptions import PermissionDenied

from .http.errors import Forbidden, NotFound
from .models import Membership, PromptArtifact, PromptRevision, Run, Workflow, WorkflowVersion, Workspace

NOT_A_MEMBER = "You do not have access to this workspace."
RUN_OF_ANOTHER_WORKSPACE = "This run belongs to another workspace."


class WorkspaceForbidden(Forbidden, PermissionDenied):
    pass


def get_membership(user, slug: str, *, outsider_message: str = NOT_A_MEMBER) -> Membership:
    """The user's membership of workspace `slug`, or a 403 (an unknown slug is not told apart).

    `outsider_message` lets a page answer an outsider in its own words (replay: rule 1 of the rules table).
    """
    if not user.is_authenticated:
        raise WorkspaceForbidden(outsider_message)
    membership = Membership.objects.select_related("workspace__account").filter(user=user, workspace__slug=slug).first()
    if membership is None:
        raise WorkspaceForbidden(outsider_message)
    membership.user = user
    return membership


def get_run_for_member(membership: Membership, run_id: str, *, foreign_message: str = RUN_OF_ANOTHER_WORKSPACE) -> Run:
    """A run of the member's workspace, with its workflow, version and source: 404 when unknown, 403 when foreign."""
    run = Run.objects.select_related("workflow", "version", "replay_of").filter(pk=run_id).first()
    return member_run(membership, run_id, run, foreign_message=foreign_message)


def get_run_ref_for_member(
    membership: Membership, run_id: str, *, foreign_message: str = RUN_OF_ANOTHER_WORKSPACE
) -> Run:
    """The access check alone: a run with only its id and workspace read, for a caller that reads the rest itself."""
    run = Run.objects.only("run_id", "workspace_id").filter(pk=run_id).first()
    return member_run(membership, run_id, run, foreign_message=foreign_message)


def member_run(
    membership: Membership, run_id: str, run: Run | None, *, foreign_message: str = RUN_OF_ANOTHER_WORKSPACE
) -> Run:
    """`run` as read for `run_id` by the caller: 404 when there was none, 403 when another workspace's."""
    if run is None:
        raise NotFound(f"Run {run_id} was not found.")
    if run.workspace_id != membership.workspace_id:
        raise WorkspaceForbidden(foreign_message)
    run.workspace = membership.workspace
    return run


def get_workflow_for_member(membership: Membership, workflow_id: str) -> Workflow:
    workflow = Workflow.objects.filter(workflow_id=workflow_id).first()
    if workflow is None:
        raise NotFound(f"Workflow {workflow_id} was not found.")
    if workflow.workspace_id != membership.workspace_id:
        raise WorkspaceForbidden("This workflow belongs to another workspace.")
    workflow.workspace = membership.workspace
    return workflow


def get_version_for_member(membership: Membership, workflow_id: str, number: int) -> WorkflowVersion:
    workflow = get_workflow_for_member(membership, workflow_id)
    version = workflow.versions.filter(number=number).first() if number <= WorkflowVersion.MAX_NUMBER else None
    if version is None:
        raise NotFound(f"Workflow {workflow_id} has no version {number}.")
    version.workflow = workflow
    return version


def get_artifact_for_member(membership: Membership, artifact_id: str) -> PromptArtifact:
    artifact = PromptArtifact.objects.filter(artifact_id=artifact_id).first()
    if artifact is None:
        raise NotFound(f"Prompt artifact {artifact_id} was not found.")
    if artifact.workspace_id != membership.workspace_id:
        raise WorkspaceForbidden("This prompt artifact belongs to another workspace.")
    return artifact


def get_revision_for_member(membership: Membership, artifact_id: str, content_hash: str) -> PromptRevision:
    artifact = get_artifact_for_member(membership, artifact_id)
    revision = artifact.revisions.filter(content_hash=content_hash).first()
    if revision is None:
        raise NotFound(f"Content hash {content_hash} is not a revision of prompt artifact {artifact_id}.")
    revision.artifact = artifact
    return revision


def workspaces_of(user) -> list[Workspace]:
    if not user.is_authenticated:
        return []
    return list(Workspace.objects.filter(memberships__user=user).order_by("slug"))


def target_version_of(run: Run, number: int | None) -> WorkflowVersion:
    """The version a replay of `run` runs on: its own by default, else version `number` of its workflow."""
    if number is None or number == run.version_number:
        if run.version is not None:
            return run.version
        number = run.version_number
    version = WorkflowVersion.objects.filter(workflow_id=run.workflow_id, number=number).first()
    if version is None:
        raise NotFound(f"target_version {number} does not exist for this workflow.", field="target_version")
    return version
