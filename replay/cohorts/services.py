"""Creating, previewing and cancelling cohorts. Each member's eligibility is the single replay's own rules
(replay.rules, replay.services.preview_replay); each member's replay is created by the single replay's submit."""

import contextlib
import logging
import math
import random
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from runs.access import WorkspaceForbidden
from runs.engine.replay_plan import ReplayPlan
from runs.engine.templating import says_missing
from runs.http.errors import BadRequest, Conflict, NotFound, Rejected
from runs.idempotency import KEY_REUSED
from runs.models import Membership, Node, Run, Step, Workspace
from runs.services import cancel_run

from ..rules import QUOTA_EXCEEDED, ReplayRejected, check_member_may_replay, check_replayable
from ..services import Preview, checked_idempotency_key, confirmation_refusal, preview_replay
from .inputs import CHANGE_FIELDS, CohortBody, Selection, change_of, parse_body
from .models import ACTIVE_STATUSES, Cohort, CohortMember, CohortStatus, Lane, MemberStatus
from .quota import cohort_rate, cohort_window
from .selection import Matched, Source, matching_runs

log = logging.getLogger(__name__)

TOO_MANY_RUNNING = "At most 3 cohorts can run at once in this workspace."
ANCHORED_ON_ELIGIBLE = "Fields as for run {run_id}, the first member a replay with this change accepts."
ANCHORED_ON_REPLAYABLE = (
    "Fields as for run {run_id}, the first member that can be replayed: no member accepts this change as it is."
)
# When the name, the lanes or the checks are refused: the change itself may well be accepted.
ANCHORED_ON_FIRST_REPLAYABLE = "Fields as for run {run_id}, the first member that can be replayed."
# The body's fields besides the change: a refusal naming one of them says nothing of the change.
NOT_THE_CHANGE = frozenset(CohortBody.model_fields) - {"replay"}
ALREADY_FINISHED = "This cohort has finished: there is nothing to cancel."
COHORT_OF_ANOTHER_WORKSPACE = "This cohort belongs to another workspace."
BASELINE_MIN, BASELINE_MAX = 5, 50
TICK_TASK = "replay.tasks.cohort_tick"  # by name, as the engine sends its own


def baseline_size(members: int, percent: int) -> int:
    """The baseline lane's sample: `percent` of the members, at least 5 and at most 50 (never more than there are)."""
    if percent == 0 or members == 0:
        return 0
    wanted = math.ceil(members * percent / 100)
    return min(members, max(BASELINE_MIN, min(BASELINE_MAX, wanted)))


def baseline_change(change: dict) -> dict:
    """The baseline lane's replay: as-is, with the same tools choice (the noise floor of an unchanged replay)."""
    return {"mode": "as_is", **({"tools": change["tools"]} if "tools" in change else {})}


@dataclass
class Assessment:
    """Which members a single replay would refuse now, and the plan of the first it would accept."""

    eligible: list[Source] = field(default_factory=list)
    ineligible: dict[str, int] = field(default_factory=dict)  # refusal code -> members
    first_refusal: Rejected | None = None
    preview: Preview | None = None  # the first eligible member's


def _refusal_of(preview: Preview) -> Rejected | None:
    """What submit would answer: the preview's refusal (the quota aside: a member waits for it), or the missing
    confirmation of a replay that invokes mutating calls (a cohort never confirms one)."""
    refusal = preview.refusal
    if refusal is not None and refusal.message == QUOTA_EXCEEDED:
        refusal = None
    if refusal is None and preview.needs_confirmation:
        refusal = confirmation_refusal(preview.invoking)
    return refusal


def assess(membership: Membership, matched: Matched, selection: Selection) -> Assessment:
    """Rules 2-5 on each member, then the whole check and plan once per source version (what the change's own rules
    depend on); raises the first refusal when the single replay would refuse every member."""
    check_member_may_replay(membership)
    found = Assessment()
    by_plan: dict[tuple, Rejected | None] = {}
    by_rules: dict[tuple, Rejected | None] = {}
    for run in matched.runs:
        if run.rules_key not in by_rules:
            try:
                check_replayable(run.as_run())
                by_rules[run.rules_key] = None
            except ReplayRejected as exc:
                by_rules[run.rules_key] = exc
        refusal: Rejected | None = by_rules[run.rules_key]
        if refusal is None:
            if run.plan_key not in by_plan:
                try:
                    preview = preview_replay(membership=membership, run_id=run.run_id, fields=selection.change_data)
                except Rejected as exc:  # the change itself is refused (an unknown model, prompt or version)
                    raise _in_change(exc) from None
                by_plan[run.plan_key] = _refusal_of(preview)
                if by_plan[run.plan_key] is None and found.preview is None:
                    found.preview = preview
            refusal = by_plan[run.plan_key]
        if refusal is None:
            found.eligible.append(run)
            continue
        found.ineligible[refusal.code] = found.ineligible.get(refusal.code, 0) + 1
        found.first_refusal = found.first_refusal or refusal
    if not found.eligible:
        assert found.first_refusal is not None
        raise _in_change(found.first_refusal)
    return found


def _in_change(refusal: Rejected) -> Rejected:
    """A single replay's refusal as a cohort answers it: a field of the change sits in the body's `replay`."""
    if refusal.field in CHANGE_FIELDS:
        refusal.field = f"replay.{refusal.field}"
    return refusal


def check_nodes_known(selection: Selection, matched: Matched, found: Assessment) -> None:
    """A check names a node of a version its members ran or will run (the change's target): a mistyped node is a
    400 naming the check, not a check that fails on every member. One query."""
    named = [(i, check.node) for i, check in enumerate(selection.body.checks) if check.node is not None]
    if not named:
        return
    versions = {run.version_id for run in matched.runs if run.version_id is not None}
    plan = found.preview.plan if found.preview is not None else None
    if plan is not None:
        versions.add(plan.target_version_id)
    known = set(Node.objects.filter(version_id__in=versions).values_list("node_id", flat=True))
    for i, node in named:
        if node not in known:
            raise BadRequest(
                f"checks[{i}].node: no node {node!r} in the versions this cohort's runs ran or will run.",
                field=f"checks[{i}].node",
            )


@dataclass
class CohortPreview:
    members: int
    ineligible: dict[str, int]
    preview: Preview
    baseline: int
    estimated_cost_usd: tuple[Decimal, Decimal] | None
    eta_seconds: int


def estimated_cost(plan: ReplayPlan | None, replays: int) -> tuple[Decimal, Decimal] | None:
    """The plan's own per-run estimate (ReplayPlan.estimate) for each of `replays` replays made with it."""
    if replays == 0:
        return Decimal(0), Decimal(0)
    estimate = plan.estimate() if plan is not None else None
    return (estimate[0] * replays, estimate[1] * replays) if estimate else None


def cohort_cost(
    membership: Membership, found: Assessment, change: dict, baseline: int
) -> tuple[Decimal, Decimal] | None:
    """The candidates priced with the change's plan and the baseline lane with its own (as-is: the version's models
    and prompts), one eligible member's plan each; None when either cannot be estimated."""
    assert found.preview is not None
    candidates = estimated_cost(found.preview.plan, len(found.eligible))
    as_is = None
    if baseline:
        as_is = preview_replay(membership=membership, run_id=found.eligible[0].run_id, fields=baseline_change(change))
    lane = estimated_cost(as_is.plan if as_is is not None else None, baseline)
    if candidates is None or lane is None:
        return None
    return candidates[0] + lane[0], candidates[1] + lane[1]


def baseline_sample(runs: Sequence[Source], eligible: list[Source], percent: int) -> list[int]:
    """The places in `runs` of the baseline lane's members: sampled among the members a replay would accept now, so
    the noise floor is measured on runs that replay rather than sized by ones that will be skipped."""
    accepted = {run.run_id for run in eligible}
    places = [i for i, run in enumerate(runs) if run.run_id in accepted]
    return sorted(random.sample(places, baseline_size(len(places), percent)))


def eta_seconds(workspace_id: int, replays: int, runs: list[Source], canary: int = 0) -> int:
    """Admission at the cohorts' share of the quota: what this window has left, then a window's share at a time;
    then a typical run's duration; with a canary, the rest wait for its runs first. One admission tick to start."""
    per_window, window = cohort_rate(workspace_id)
    left, resets_in = cohort_window(workspace_id)
    later = max(0, replays - left)  # the replays this window cannot admit
    waiting = resets_in + (math.ceil(later / per_window) - 1) * window if later else 0
    durations = [r.duration_ms for r in runs if r.duration_ms is not None]
    typical = statistics.median(durations) / 1000 if durations else 0
    rounds = 2 if 0 < canary < replays else 1
    return math.ceil(settings.COHORT_TICK_INTERVAL + waiting + rounds * typical)


def preview_cohort(*, membership: Membership, data) -> CohortPreview:
    """What create would make now: the members, those a single replay would refuse (by code), the first eligible
    member's plan, the cost range and the ETA. Creates nothing and takes no quota."""
    selection = parse_body(data)
    matched = matching_runs(membership, selection)
    found = assess(membership, matched, selection)
    assert found.preview is not None and found.preview.plan is not None
    check_nodes_known(selection, matched, found)
    baseline = baseline_size(len(found.eligible), selection.body.baseline_percent)
    replays = len(found.eligible) + baseline
    return CohortPreview(
        members=len(matched.runs),
        ineligible=found.ineligible,
        preview=found.preview,
        baseline=baseline,
        estimated_cost_usd=cohort_cost(membership, found, selection.change_data, baseline),
        eta_seconds=eta_seconds(membership.workspace_id, replays, found.eligible, selection.body.canary),
    )


def _earlier_cohort(membership: Membership, key: str) -> Cohort | None:
    if not key:
        return None
    return (
        Cohort.objects.filter(
            workspace_id=membership.workspace_id, created_by_id=membership.user_id, idempotency_key=key
        )
        .select_related("workflow")
        .first()
    )


def _stored_selection(body: CohortBody, run_ids: list[str]) -> dict:
    """The selection as a cohort keeps it: its filter (without the workflow), or the run ids it names."""
    if body.filter is not None:
        return {"filter": body.filter.model_dump(mode="json", by_alias=True, exclude={"workflow"})}
    return {"run_ids": run_ids}


def _repeated(earlier: Cohort, selection: Selection) -> Cohort:
    """The cohort an Idempotency-Key made, when this request repeats the one that made it; otherwise a 409, as the
    trigger and the replay answer a key used again for another request."""
    body = selection.body
    if body.run_ids is None:
        same_members = earlier.selection == _stored_selection(body, [])
    else:
        same_members = set(earlier.selection.get("run_ids", ())) == set(body.run_ids)
    same = (
        same_members
        and earlier.name == body.name
        and earlier.workflow.workflow_id == body.workflow_id
        and earlier.change == selection.change_data
        and (earlier.baseline_percent, earlier.canary) == (body.baseline_percent, body.canary)
        and earlier.checks == [c.model_dump(mode="json") for c in body.checks]
    )
    if not same:
        raise Conflict(KEY_REUSED)
    return earlier


def create_cohort(*, membership: Membership, data, idempotency_key: str = "") -> tuple[Cohort, bool]:
    """Freeze the members and create the cohort (pending: the admission tick starts it), or raise and create
    nothing. A repeat with the same Idempotency-Key answers the cohort it made (the same key with another request, a
    409)."""
    key = checked_idempotency_key(idempotency_key)
    selection = parse_body(data)
    if (earlier := _earlier_cohort(membership, key)) is not None:
        return _repeated(earlier, selection), False
    matched = matching_runs(membership, selection)
    found = assess(membership, matched, selection)
    check_nodes_known(selection, matched, found)
    body = selection.body
    try:
        with transaction.atomic():
            # One creator at a time per workspace: the running-cohorts limit is counted under this lock.
            Workspace.objects.select_for_update().filter(pk=membership.workspace_id).values_list("pk").first()
            running = Cohort.objects.filter(workspace_id=membership.workspace_id, status__in=ACTIVE_STATUSES).count()
            if running >= settings.COHORT_MAX_RUNNING:
                raise Rejected(429, TOO_MANY_RUNNING, code="cohorts_running")
            cohort = Cohort.objects.create(
                workspace_id=membership.workspace_id,
                name=body.name,
                created_by_id=membership.user_id,
                workflow=matched.workflow,
                selection=_stored_selection(body, [r.run_id for r in matched.runs]),
                change=selection.change_data,
                baseline_percent=body.baseline_percent,
                canary=body.canary,
                checks=[c.model_dump(mode="json") for c in body.checks],
                idempotency_key=key,
            )
            sample = baseline_sample(matched.runs, found.eligible, body.baseline_percent)
            insert_members(
                cohort,
                [(run.run_id, Lane.CANDIDATE, i) for i, run in enumerate(matched.runs)]
                + [(matched.runs[i].run_id, Lane.BASELINE, i) for i in sample],
            )
            transaction.on_commit(send_tick, robust=True)
    except IntegrityError:
        if (earlier := _earlier_cohort(membership, key)) is not None:  # the same key won a race
            return _repeated(earlier, selection), False
        raise
    return cohort, True


MEMBER_COLUMNS = ("cohort", "source_run", "lane", "position", "status", "reason_code", "reason_message", "regression")


INSERT_CHUNK = 1000  # rows per statement: 8,000 parameters, within SQLite's limit


def insert_members(cohort: Cohort, rows: Sequence[tuple[str, str, int]]) -> None:
    """(source run, lane, position) rows as pending members, a thousand per INSERT: bulk_create compiles each of
    10,000 instances' values (seconds), multi-row statements send them in a few round trips."""
    meta = CohortMember._meta
    column_of = {f.name: f.column for f in meta.concrete_fields if f.column}
    columns = ", ".join(connection.ops.quote_name(column_of[name]) for name in MEMBER_COLUMNS)
    row_sql = "(" + ", ".join(["%s"] * len(MEMBER_COLUMNS)) + ")"
    values = [
        (cohort.pk, run_id, lane, position, MemberStatus.PENDING, "", "", False) for run_id, lane, position in rows
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(values), INSERT_CHUNK):
            chunk = values[start : start + INSERT_CHUNK]
            cursor.execute(
                f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) VALUES {', '.join([row_sql] * len(chunk))}",
                [value for row in chunk for value in row],
            )


def send_tick() -> None:
    """Start admitting now rather than at the next scheduled tick; a broker outage leaves it to the schedule."""
    from celery import current_app

    try:
        current_app.send_task(TICK_TASK, retry=False)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("could not queue a cohort tick (broker down?): %s; the schedule will run it", exc)


def cohort_for_member(membership: Membership, cohort_id: str) -> Cohort:
    """A cohort of the member's workspace: 404 when unknown, 403 when another workspace's (as a run answers)."""
    cohort = Cohort.objects.select_related("workflow", "created_by").filter(pk=cohort_id).first()
    if cohort is None:
        raise NotFound(f"Cohort {cohort_id} was not found.")
    if cohort.workspace_id != membership.workspace_id:
        raise WorkspaceForbidden(COHORT_OF_ANOTHER_WORKSPACE)
    cohort.workspace = membership.workspace
    return cohort


def cancel_cohort(*, membership: Membership, cohort_id: str, cancel_running: bool = False) -> Cohort:
    """No member is admitted after this; pending members are cancelled at once and, with `cancel_running`, the
    children still running too. Finished children are untouched. 409 on a finished cohort."""
    from .admission import finish_if_done, sync_members

    cohort_for_member(membership, cohort_id)
    with transaction.atomic():
        cohort = Cohort.objects.select_for_update().get(pk=cohort_id)
        if cohort.is_finished:
            raise Conflict(ALREADY_FINISHED)
        now = timezone.now()
        Cohort.objects.filter(pk=cohort_id).update(status=CohortStatus.CANCELLING)
        cohort.members.filter(status=MemberStatus.PENDING).update(
            status=MemberStatus.CANCELLED,
            reason_code="cancelled",
            reason_message="The cohort was cancelled before this member was admitted.",
            finished_at=now,
        )
        if cancel_running:
            running = Run.objects.filter(
                pk__in=cohort.members.filter(status=MemberStatus.ADMITTED).values("child_run_id"),
                status__in=Run.IN_FLIGHT_STATUSES,
            )
            for run in running.only("run_id", "status"):
                with contextlib.suppress(Conflict):  # it finished meanwhile: finished children are untouched
                    cancel_run(run=run)
        cohort.status = CohortStatus.CANCELLING
        sync_members(cohort)
        finish_if_done(cohort)
    cohort.refresh_from_db()
    return cohort


@dataclass
class CohortForm:
    """What the cohort form shows: the member its change fields are anchored on (that member's preview with the
    change: the banner, the mapping check, Start from), and the cohort's preview or the refusal create would answer."""

    anchor: Preview | None
    found: CohortPreview | None = None
    refusal: Rejected | None = None

    @property
    def anchor_note(self) -> str:
        if self.anchor is None:
            return ""
        if self.found is not None:
            template = ANCHORED_ON_ELIGIBLE
        elif self.refusal is not None and _field_root(self.refusal.field) in NOT_THE_CHANGE:
            template = ANCHORED_ON_FIRST_REPLAYABLE
        else:
            template = ANCHORED_ON_REPLAYABLE
        return template.format(run_id=self.anchor.source.run_id)


def _field_root(field: str | None) -> str:
    """`checks[0].kind` → `checks`, `replay.content_hash` → `replay`."""
    return re.split(r"[.\[]", field or "", maxsplit=1)[0]


def cohort_form(*, membership: Membership, data: dict) -> CohortForm:
    """The cohort preview and the run the form's fields are anchored on: the first eligible member (whose plan the
    preview computed); when the change is refused for every member, the first member a replay accepts as-is,
    previewed with the change, so its refusal (an unmapped node, an unknown revision) shows where the field is."""
    try:
        found = preview_cohort(membership=membership, data=data)
    except Rejected as exc:
        return CohortForm(anchor=_first_replayable(membership, data), refusal=exc)
    return CohortForm(anchor=found.preview, found=found)


def _first_replayable(membership: Membership, data: dict) -> Preview | None:
    try:  # the selection alone: the change, the lanes and the checks may be what is refused
        selection = parse_body({**data, "replay": {"mode": "as_is"}, "checks": []})
        matched = matching_runs(membership, selection)
    except Rejected:
        return None
    change = change_of(data)
    for run in matched.runs:
        try:
            check_replayable(run.as_run())
        except ReplayRejected:
            continue
        return preview_replay(membership=membership, run_id=run.run_id, fields=change)
    return None


def failing_as_before(preview: Preview) -> list[str]:
    """The nodes the first member's plan will fail at where its original failed too, for the same missing value
    (through the node mapping): the change does not cause them, so they do not hold the cohort's Create; that
    member fails as it did. A node the change makes miss another value still holds it."""
    plan = preview.plan
    if plan is None or not plan.failing:
        return []
    planned = {n.mapped_from or n.node_id: n for n in plan.failing}
    failed = Step.objects.filter(run_id=preview.source.pk, node_id__in=list(planned), status=Step.Status.FAILED)
    return [
        planned[node_id].node_id
        for node_id, error in failed.values_list("node_id", "error")
        if says_missing(error, planned[node_id].missing)
    ]
