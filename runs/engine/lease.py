"""Ownership of a running run: claim, hold and fail, each a compare-and-swap on the run's lease."""

from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from runs.models import Run


def claim(run_id: str, lease: str) -> bool:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.RUN_STALE_AFTER)
    in_flight = Q(status__in=(Run.Status.PENDING, Run.Status.RUNNING))
    claimable = Q(status=Run.Status.PENDING, lease="") | (
        in_flight & (Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True))
    )
    return bool(
        Run.objects.filter(claimable, pk=run_id).update(
            status=Run.Status.RUNNING, lease=lease, heartbeat_at=now, started_at=Coalesce(F("started_at"), now)
        )
    )


def hold(run_id: str, lease: str) -> bool:
    """At a step boundary: keep going, or let go because the run was paused, cancelled or taken over."""
    now = timezone.now()
    held = Q(pk=run_id, lease=lease)
    if Run.objects.filter(held, status__in=(Run.Status.RUNNING, Run.Status.PENDING)).update(
        status=Run.Status.RUNNING, heartbeat_at=now
    ):
        return True
    if Run.objects.filter(held).exclude(status=Run.Status.PENDING).update(lease=""):
        return False
    # A resume made it pending again between the two writes: keep it.
    return bool(Run.objects.filter(held, status=Run.Status.PENDING).update(status=Run.Status.RUNNING, heartbeat_at=now))


def fail_run(run_id: str, lease: str, message: str) -> None:
    Run.objects.filter(pk=run_id, lease=lease).update(
        status=Run.Status.FAILED, error=message, finished_at=timezone.now(), lease=""
    )
