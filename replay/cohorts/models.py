"""A cohort and its members: the frozen selection, the change, and each member's state."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from runs.models import Run, Workflow, Workspace

COHORT_ID_RE = r"^cohort_[0-9a-f]{12}$"


def new_cohort_id() -> str:
    return f"cohort_{secrets.token_hex(6)}"


class CohortStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class MemberStatus(models.TextChoices):
    PENDING = "pending"
    ADMITTED = "admitted"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class Lane(models.TextChoices):
    CANDIDATE = "candidate"
    BASELINE = "baseline"


# A cohort the admission tick still works on; a cohort in any other status never changes again.
ACTIVE_STATUSES = (CohortStatus.PENDING, CohortStatus.RUNNING, CohortStatus.CANCELLING)
FINISHED_STATUSES = (CohortStatus.COMPLETED, CohortStatus.STOPPED, CohortStatus.CANCELLED)
# A member in one of these has ended: it never moves again.
ENDED_MEMBER_STATUSES = (MemberStatus.COMPLETED, MemberStatus.FAILED, MemberStatus.SKIPPED, MemberStatus.CANCELLED)


class Cohort(models.Model):
    cohort_id = models.CharField(primary_key=True, max_length=19, default=new_cohort_id)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="cohorts", db_index=False)
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="cohorts")
    # {"filter": {...}} or {"run_ids": [...]}, as given (normalised): what the members were frozen from.
    selection = models.JSONField(default=dict)
    # The single replay's fields, as its parser normalised them: every member's submit reads them.
    change = models.JSONField(default=dict)
    baseline_percent = models.PositiveSmallIntegerField(default=10)
    canary = models.PositiveIntegerField(default=5)
    checks = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=10, choices=CohortStatus.choices, default=CohortStatus.PENDING)
    stop_reason = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    # The verdict, kept when the cohort finishes (its members' replays no longer change): pages and API read it.
    verdict = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(cohort_id__regex=COHORT_ID_RE), name="cohort_id_format"),
            models.CheckConstraint(condition=Q(status__in=CohortStatus.values), name="cohort_valid_status"),
            models.CheckConstraint(
                condition=Q(baseline_percent__gte=0, baseline_percent__lte=100), name="cohort_baseline_percent_range"
            ),
            # A retried create with the same Idempotency-Key finds the cohort it made.
            models.UniqueConstraint(
                fields=["workspace", "created_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="cohort_unique_idempotency_key",
            ),
        ]
        indexes = [
            # The cohorts list, newest first, in keyset pages per workspace.
            models.Index(fields=["workspace", "-created_at", "-cohort_id"], name="cohort_ws_recent_idx"),
            # The admission tick and the running-cohorts limit: the active cohorts only.
            models.Index(
                fields=["workspace", "status"], condition=Q(status__in=ACTIVE_STATUSES), name="cohort_active_idx"
            ),
        ]

    def __str__(self):
        return self.cohort_id

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class CohortMember(models.Model):
    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="members")
    # The ids stay when retention prunes a run: a cohort's history still names it (no foreign key constraint).
    source_run = models.ForeignKey(
        Run, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+", db_index=False
    )
    lane = models.CharField(max_length=9, choices=Lane.choices, default=Lane.CANDIDATE)
    # The order of admission: the candidate lane's first `canary` positions are the canary.
    position = models.PositiveIntegerField()
    child_run = models.ForeignKey(
        Run, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=9, choices=MemberStatus.choices, default=MemberStatus.PENDING)
    reason_code = models.CharField(max_length=40, blank=True)
    reason_message = models.TextField(blank=True)
    admitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set with the cohort's verdict when it finishes (null: not judged, its replay did not complete or fail).
    changed = models.BooleanField(null=True, blank=True)
    regression = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cohort", "source_run", "lane"], name="cohort_member_unique_source"),
            models.UniqueConstraint(
                fields=["child_run"], condition=Q(child_run__isnull=False), name="cohort_member_unique_child"
            ),
            models.CheckConstraint(condition=Q(lane__in=Lane.values), name="cohort_member_valid_lane"),
            models.CheckConstraint(condition=Q(status__in=MemberStatus.values), name="cohort_member_valid_status"),
            # Admitted and finished replays have their child; pending and skipped members have none.
            models.CheckConstraint(
                condition=Q(status__in=(MemberStatus.PENDING, MemberStatus.SKIPPED), child_run__isnull=True)
                | Q(
                    status__in=(MemberStatus.ADMITTED, MemberStatus.COMPLETED, MemberStatus.FAILED),
                    child_run__isnull=False,
                )
                | Q(status=MemberStatus.CANCELLED),
                name="cohort_member_child_matches_status",
            ),
        ]
        indexes = [
            # Admission (the next pending members in order of position), the counts and the member table's filters.
            models.Index(fields=["cohort", "status", "position", "lane"], name="cohort_member_status_idx"),
            # The member table and the export, in order (keyset on position).
            models.Index(fields=["cohort", "lane", "position"], name="cohort_member_order_idx"),
        ]

    def __str__(self):
        return f"{self.cohort_id}:{self.source_run_id}:{self.lane}"
