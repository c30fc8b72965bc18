"""Ownership of a running run: claim, hold and fail, each a compare-and-swap on the run's lease."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from runs.models import Run

log = logging.getLogger(__name__)

# While a step executes, its worker extends the heartbeat this often (a fraction of RUN_STALE_AFTER),
# so a model call of minutes is not mistaken for a lost worker, and a dead worker's run still goes stale.
HEARTBEAT_FRACTION = 0.25


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


def beat(run_id: str, lease: str) -> bool:
    """Extend the heartbeat of a run still running on this lease; False once it is not (paused, taken over)."""
    return bool(
        Run.objects.filter(pk=run_id, lease=lease, status=Run.Status.RUNNING).update(heartbeat_at=timezone.now())
    )


@contextmanager
def heartbeat(run_id: str, lease: str) -> Iterator[None]:
    """Keep the lease alive while the body runs (a provider or tool call), from a thread stopped when it returns."""
    interval = settings.RUN_STALE_AFTER * HEARTBEAT_FRACTION
    stop = threading.Event()

    def keep_alive() -> None:
        beaten = False
        try:
            while not stop.wait(interval):
                beaten = True
                try:
                    if not beat(run_id, lease):
                        return  # no longer ours: the step boundary after the call will find out and let go
                except DatabaseError as exc:
                    log.warning("heartbeat of run %s failed: %s; trying again", run_id, exc)
        finally:
            if beaten:
                connection.close()  # this thread's own connection

    thread = threading.Thread(target=keep_alive, name=f"heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=interval)
