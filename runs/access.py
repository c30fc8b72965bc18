"""Every object is reached through the requesting user's workspace; nothing else is."""

from django.core.exceptions import PermissionDenied

from .http.errors import Forbidden, NotFound
from .models import Membership, PromptArtifact, Run, Workflow, WorkflowVersion, Workspace

NOT_A_MEMBER = "You do not have access to this workspace."
CROSS_BOUNDARY = "You can only replay runs that belong to your own workspace and account."


class WorkspaceForbidden(Forbidden, PermissionDenied):
    pass


def get_membership(user, slug: str) -> Membership:
    """The user's membership of workspace `slug`, or a 403 (an unknown slug is not told apart)."""
    if not user.is_authenticated:
        raise WorkspaceForbidden(NOT_A_MEMBER)
    membership = Membership.objects.select_related("workspace__account").filter(user=user, workspace__slug=slug).first()
    if membership is None:
        raise WorkspaceForbidden(NOT_A_MEMBER)
    return membership


def get_run_for_member(membership: Membership, run_id: str, related=("workflow", "version", "replay_of")) -> Run:
    """A run of the member's workspace: 404 when unknown, 403 when it belongs to another workspace.

    related=None reads only the run's id and workspace, for a caller that reads the run again itself.
    """
    runs = Run.objects.select_related(*related) if related is not None else Run.objects.only("run_id", "workspace_id")
    return member_run(membership, run_id, runs.filter(pk=run_id).first())


def member_run(membership: Membership, run_id: str, run: Run | None) -> Run:
    """`run` as read for `run_id` by the caller: 404 when there was none, 403 when another workspace's."""
    if run is None:
        raise NotFound(f"Run {run_id} was not found.")
    if run.workspace_id != membership.workspace_id:
        raise WorkspaceForbidden(CROSS_BOUNDARY)
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
    version = workflow.versions.filter(number=number).first()
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


def workspaces_of(user) -> list[Workspace]:
    if not user.is_authenticated:
        return []
    return list(Workspace.objects.filter(memberships__user=user).order_by("slug"))
