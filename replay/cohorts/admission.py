"""The admission tick (replay.tasks.cohort_tick, on beat's schedule and after each create): each active cohort's
members follow their children, the canary decides, and pending members are admitted within the cohorts' share of
the replay quota. Every step is a conditional update or a locked row: a tick run twice, or killed and run again,
never admits a member twice (and a child's idempotency key is the member's, should it try)."""

import contextlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum

from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models import Count
from django.utils import timezone

from runs.http.errors import Rejected
from runs.models import Membership, RunStatus

from ..rules import QUOTA_EXCEEDED
from ..services import lock_sources, submit_replay
from .events import cohort_finished
from .models import ACTIVE_STATUSES, Cohort, CohortMember, CohortStatus, Lane, MemberStatus
from .quota import cohort_quota_left, count_admission
from .services import baseline_change
from .verdict import keep_verdict

log = logging.getLogger(__name__)

TICK_LOCK = "cohort-tick"
TICK_LOCK_SECONDS = 60  # without PostgreSQL, a killed tick holds it no longer than this
TICK_LOCK_KEY = 0x636F686F7274  # PostgreSQL's advisory lock of the tick ("cohort" in ASCII)
# Members admitted per cohort and tick at most, so that one large cohort with a raised quota lets the others move.
ADMIT_PER_TICK = 200
# Members admitted in one transaction: one commit, one lock of the cohort, its members and their sources per batch.
ADMIT_BATCH = 50
CHILD_TO_MEMBER = {
    RunStatus.COMPLETED: MemberStatus.COMPLETED,
    RunStatus.FAILED: MemberStatus.FAILED,
    RunStatus.CANCELLED: MemberStatus.CANCELLED,
}


class Admitted(Enum):
    YES = "admitted"
    WAIT = "wait"  # no quota left: the member stays pending
    STOP = "stop"  # the cohort is no longer running, or the member was taken


def member_key(member: CohortMember) -> str:
    """The child replay's Idempotency-Key: one child per (cohort, source run, lane), whatever retries."""
    return f"cohort:{member.cohort_id}:{member.source_run_id}:{member.lane}"


@contextmanager
def one_tick_at_a_time() -> Iterator[bool]:
    """Whether this tick may run: no other is running. On PostgreSQL a session's advisory lock, which ends with
    the connection of a worker SIGKILLed mid-tick, so the next tick runs at once; elsewhere a cache key that such a
    tick holds for TICK_LOCK_SECONDS (every step of a tick is safe twice: the lock only saves the work)."""
    if connection.vendor != "postgresql":
        taken = cache.add(TICK_LOCK, 1, TICK_LOCK_SECONDS)
        try:
            yield taken
        finally:
            if taken:
                cache.delete(TICK_LOCK)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [TICK_LOCK_KEY])
        taken = cursor.fetchone()[0]
    try:
        yield taken
    finally:
        if taken:
            with contextlib.suppress(DatabaseError), connection.cursor() as cursor:  # a lost connection released it
                cursor.execute("SELECT pg_advisory_unlock(%s)", [TICK_LOCK_KEY])


def tick() -> int:
    """Advance every active cohort once; answers how many members were admitted. One tick at a time."""
    with one_tick_at_a_time() as taken:
        if not taken:
            return 0
        admitted = 0
        for cohort_id in list(Cohort.objects.filter(status__in=ACTIVE_STATUSES).values_list("pk", flat=True)):
            admitted += advance(cohort_id)
        return admitted


def sync_members(cohort: Cohort) -> None:
    """Admitted members whose child finished take its outcome (completed, failed, cancelled): one update each."""
    now = timezone.now()
    for run_status, member_status in CHILD_TO_MEMBER.items():
        cohort.members.filter(status=MemberStatus.ADMITTED, child_run__status=run_status).update(
            status=member_status, finished_at=now
        )


def finish(cohort: Cohort, status: CohortStatus, reason: str = "") -> bool:
    """The cohort's final status, once: cohort_finished is called after the commit of the one that set it."""
    now = timezone.now()
    if not Cohort.objects.filter(pk=cohort.pk, status__in=ACTIVE_STATUSES).update(
        status=status, stop_reason=reason, finished_at=now
    ):
        return False
    cohort.status, cohort.stop_reason, cohort.finished_at = status, reason, now
    if status == CohortStatus.STOPPED:
        cohort.members.filter(status=MemberStatus.PENDING).update(
            status=MemberStatus.CANCELLED, reason_code="stopped", reason_message=reason, finished_at=now
        )
    keep_verdict(cohort)
    cohort_id = cohort.pk
    transaction.on_commit(lambda: cohort_finished(cohort_id), robust=True)
    return True


def finish_if_done(cohort: Cohort) -> bool:
    """Completed (or cancelled, when cancelling) once no member is pending or admitted."""
    if cohort.members.filter(status__in=(MemberStatus.PENDING, MemberStatus.ADMITTED)).exists():
        return False
    return finish(
        cohort, CohortStatus.CANCELLED if cohort.status == CohortStatus.CANCELLING else CohortStatus.COMPLETED
    )


def canary_verdict(cohort: Cohort) -> tuple[bool, str]:
    """(decided, stop reason): decided once every canary member ended; a reason when one failed where its
    original completed."""
    canary = cohort.members.filter(lane=Lane.CANDIDATE, position__lt=cohort.canary)
    regressed = (
        canary.filter(status=MemberStatus.FAILED, source_run__status=RunStatus.COMPLETED)
        .values_list("source_run_id", "child_run_id")
        .first()
    )
    if regressed is not None:
        source, child = regressed
        return True, f"Canary member {source} failed in its replay {child} where its original completed."
    return not canary.filter(status__in=(MemberStatus.PENDING, MemberStatus.ADMITTED)).exists(), ""


def _creator(cohort: Cohort) -> Membership | None:
    if cohort.created_by_id is None:
        return None
    membership = (
        Membership.objects.select_related("workspace__account", "user")
        .filter(workspace_id=cohort.workspace_id, user_id=cohort.created_by_id)
        .first()
    )
    return membership


def advance(cohort_id: str) -> int:
    """One cohort, one step: start it, follow its children, apply the canary, admit what the quota allows."""
    cohort = Cohort.objects.filter(pk=cohort_id, status__in=ACTIVE_STATUSES).first()
    if cohort is None:
        return 0
    if cohort.status == CohortStatus.PENDING:
        Cohort.objects.filter(pk=cohort_id, status=CohortStatus.PENDING).update(
            status=CohortStatus.RUNNING, started_at=timezone.now()
        )
        cohort.status = CohortStatus.RUNNING
    sync_members(cohort)
    if cohort.status == CohortStatus.CANCELLING:
        finish_if_done(cohort)
        return 0
    pending = cohort.members.filter(status=MemberStatus.PENDING)
    if cohort.canary:
        decided, reason = canary_verdict(cohort)
        if reason:
            finish(cohort, CohortStatus.STOPPED, reason)
            return 0
        if not decided:
            pending = pending.filter(lane=Lane.CANDIDATE, position__lt=cohort.canary)
    membership = _creator(cohort)
    if membership is None:
        finish(cohort, CohortStatus.STOPPED, "The member who created this cohort is no longer in its workspace.")
        return 0
    admitted = admit(cohort, membership, pending.order_by("position", "lane"))
    finish_if_done(cohort)
    return admitted


def admit(cohort: Cohort, membership: Membership, pending) -> int:
    """Admit pending members in order, a batch at a time, while the cohorts' share of the quota has room."""
    admitted = handled = 0
    while handled < ADMIT_PER_TICK:
        room = min(cohort_quota_left(cohort.workspace_id), ADMIT_BATCH, ADMIT_PER_TICK - handled)
        if room <= 0:
            break
        outcome, batch_admitted, batch_handled = admit_batch(cohort, membership, pending, room)
        admitted, handled = admitted + batch_admitted, handled + batch_handled
        if outcome != Admitted.YES:
            break
    return admitted


def admit_batch(cohort: Cohort, membership: Membership, pending, room: int) -> tuple[Admitted, int, int]:
    """The next `room` pending members, each with its child replay through the single replay's submit, in one
    transaction with the members' states: a kill before the commit leaves neither, after it both. Answers why it
    stopped (YES: more may be pending; WAIT: no quota left; STOP: nothing pending or the cohort stopped), how many
    members were admitted and how many were admitted or skipped."""
    created: list[int] = []
    with transaction.atomic():
        # Cancel locks the cohort too: no member is admitted once it has moved the cohort to cancelling.
        status = Cohort.objects.select_for_update().filter(pk=cohort.pk).values_list("status", flat=True).first()
        if status != CohortStatus.RUNNING:
            return Admitted.STOP, 0, 0
        members = list(pending.select_for_update().only("pk", "cohort_id", "source_run_id", "lane")[:room])
        if not members:
            return Admitted.STOP, 0, 0
        outcome = Admitted.YES if len(members) == room else Admitted.STOP
        locked = lock_sources(membership, {m.source_run_id: member_key(m) for m in members})
        now = timezone.now()
        admitted: list[CohortMember] = []
        ended: list[CohortMember] = []
        for member in members:
            fields = cohort.change if member.lane == Lane.CANDIDATE else baseline_change(cohort.change)
            try:
                result = submit_replay(
                    membership=membership,
                    run_id=member.source_run_id,
                    fields=fields,
                    idempotency_key=member_key(member),
                    locked=locked,
                )
            except Rejected as exc:
                if exc.message == QUOTA_EXCEEDED:
                    outcome = Admitted.WAIT  # an operator's replays took the rest of the window: wait for the next
                    break
                member.status, member.finished_at = MemberStatus.SKIPPED, now
                member.reason_code, member.reason_message = exc.code, exc.message
                ended.append(member)
                continue
            member.status, member.child_run, member.admitted_at = MemberStatus.ADMITTED, result.run, now
            admitted.append(member)
            if result.created:
                created.append(member.pk)
        CohortMember.objects.bulk_update(admitted, ["status", "child_run", "admitted_at"])
        CohortMember.objects.bulk_update(ended, ["status", "finished_at", "reason_code", "reason_message"])
    for _ in created:
        count_admission(cohort.workspace_id)
    return outcome, len(admitted), len(admitted) + len(ended)


def counts_of(cohort_ids: list[str]) -> dict[tuple[str, str], dict[str, int]]:
    """{(cohort id, lane): {status: members}} for these cohorts: one query."""
    found: dict[tuple[str, str], dict[str, int]] = {}
    rows = (
        CohortMember.objects.filter(cohort_id__in=cohort_ids)
        .values_list("cohort_id", "lane", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for cohort_id, lane, status, n in rows:
        found.setdefault((cohort_id, lane), {})[status] = n
    return found
