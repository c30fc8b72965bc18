"""A cohort's members: the runs its selection names, found with the runs list's one selector, frozen at creation."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from runs.access import get_workflow_for_member
from runs.http.errors import BadRequest
from runs.listing import runs_matching
from runs.models import Membership, Run, Workflow

from ..rules import model_change_of
from .inputs import Selection

NO_MATCH = "No run matches this selection."
# What a member's rules read of its source run (replay.rules.check_replayable) and what the preview sums: plain
# values, not 10,000 model instances.
SOURCE_FIELDS = (
    "run_id",
    "workspace_id",
    "workflow_id",
    "status",
    "version_id",
    "workflow__paused",
    "replay_depth",
    "started_at",
    "finished_at",
    "overrides",
)


@dataclass(frozen=True)
class Source:
    run_id: str
    workspace_id: int
    workflow_id: int
    status: str
    version_id: int | None
    paused: bool
    replay_depth: int
    started_at: datetime | None
    finished_at: datetime | None
    overrides: dict

    @property
    def plan_key(self) -> tuple:
        """What a member's preview refusal reads beyond the change: its version, and the model it keeps from its own
        change (a replay of a model replay is checked against the allowlists for that model)."""
        return (self.version_id, model_change_of(self.overrides))

    @property
    def rules_key(self) -> tuple:
        """What rules 2-5 read (replay.rules.check_replayable): members alike here are refused alike."""
        return (self.status, self.version_id, self.paused, self.replay_depth)

    def as_run(self) -> Run:
        """A run holding what check_replayable reads, to apply it as to any run."""
        return Run(
            run_id=self.run_id,
            status=self.status,
            version_id=self.version_id,
            replay_depth=self.replay_depth,
            workflow=Workflow(pk=self.workflow_id, paused=self.paused),
        )

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


@dataclass
class Matched:
    workflow: Workflow
    runs: list[Source]  # newest first (a filter) or in the order of run_ids


def too_many(count: int) -> BadRequest:
    return BadRequest(
        f"This selection matches {count} runs; a cohort has at most {settings.COHORT_MAX_MEMBERS} members: "
        "narrow the filter.",
        field="filter",
    )


def matching_runs(membership: Membership, selection: Selection) -> Matched:
    """The source runs, or a 400: none matches, too many match, or run_ids names runs of another workflow or
    workspace (named). A 404/403 for the workflow as for any workflow of the API."""
    body = selection.body
    workflow = get_workflow_for_member(membership, body.workflow_id)
    limit = settings.COHORT_MAX_MEMBERS
    if body.filter is not None:
        query = runs_matching(membership.workspace, body.filter.run_filters(workflow.workflow_id))
        if body.filter.status:
            query = query.filter(status__in=body.filter.status)
        rows = [
            Source(*values)
            for values in query.order_by("-created_at", "-run_id").values_list(*SOURCE_FIELDS)[: limit + 1]
        ]
        if len(rows) > limit:
            raise too_many(query.count())
    else:
        wanted = list(dict.fromkeys(body.run_ids or ()))
        found = {v[0]: Source(*v) for v in Run.objects.filter(pk__in=wanted).values_list(*SOURCE_FIELDS)}
        foreign = [rid for rid in wanted if rid in found and found[rid].workspace_id != membership.workspace_id]
        unknown = [rid for rid in wanted if rid not in found or rid in foreign]
        if unknown:
            # Another workspace's run is named as an unknown one: its existence is not told apart.
            raise BadRequest(f"run_ids: no run {', '.join(unknown[:20])} in this workspace.", field="run_ids")
        other = [rid for rid in wanted if found[rid].workflow_id != workflow.pk]
        if other:
            raise BadRequest(
                f"run_ids: {', '.join(other[:20])} {'is a run' if len(other) == 1 else 'are runs'} of another "
                f"workflow than {workflow.workflow_id}.",
                field="run_ids",
            )
        rows = [found[rid] for rid in wanted]
    if not rows:
        raise BadRequest(NO_MATCH, field="run_ids" if body.run_ids is not None else "filter")
    return Matched(workflow, rows)
