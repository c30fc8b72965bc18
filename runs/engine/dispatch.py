"""Handing runs to workers: after commit, never failing the request, and re-sent by the sweep when lost."""

import functools
import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from runs.models import Run

log = logging.getLogger(__name__)


# How a run reaches a worker: registered by runs.apps (the Celery task), so the engine imports no task module.
_senders: list[Callable[[str], object]] = []


def register_sender(send: Callable[[str], object]) -> None:
    _senders[:] = [send]


def dispatch_on_commit(run_id: str) -> None:
    transaction.on_commit(lambda: send_to_worker(run_id))


def send_to_worker(run_id: str) -> bool:
    """Publish the task. A broker outage leaves the run pending for the sweep, never fails the request."""
    if not _senders:
        raise ImproperlyConfigured("No task sender is registered: the runs app registers it when Django starts.")
    try:
        _senders[0](run_id)
        return True
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("could not dispatch %s (broker down?): %s; the sweep will retry", run_id, exc)
        return False


EXPORT_TASK = "runs.tasks.export_run_trace"  # by name: the engine does not import runs.tasks

# Who hears that a run finished (the webhooks app registers its sender): the engine imports no task module.
_finish_listeners: list[Callable[[str], object]] = []


def register_finish_listener(listener: Callable[[str], object]) -> None:
    if listener not in _finish_listeners:
        _finish_listeners.append(listener)


def finished_on_commit(run_id: str) -> None:
    """The run reaches its final status (completed, failed, cancelled) in the transaction being committed: once it
    is committed, push its trace and tell the listeners. A listener's failure never fails or delays the run."""
    export_on_commit(run_id)
    for listener in _finish_listeners:
        transaction.on_commit(functools.partial(_tell, listener, run_id), robust=True)


def _tell(listener: Callable[[str], object], run_id: str) -> None:
    try:
        listener(run_id)
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("could not announce that %s finished (broker down?): %s", run_id, exc)


def export_on_commit(run_id: str) -> None:
    """The run reaches its final status in the transaction being committed: push its trace once it is committed.

    Only with an OTLP endpoint configured; a broker outage loses the push, never fails or delays the run.
    """
    if settings.OTLP_TRACES_ENDPOINT:
        transaction.on_commit(lambda: send_export(run_id), robust=True)


def send_export(run_id: str) -> bool:
    from celery import current_app

    try:
        current_app.send_task(EXPORT_TASK, args=[run_id], retry=False)
        return True
    except Exception as exc:  # kombu raises several types for an unreachable broker
        log.warning("could not queue the OTLP export of %s (broker down?): %s", run_id, exc)
        return False


def stale_runs(now, limit: int = 500):
    """The ids of runs nobody is executing: pending too long, or running with a stale heartbeat.

    Served by run_status_heartbeat_idx: it reads the in-flight runs only, however long the history.
    """
    pending_before = now - timedelta(seconds=settings.RUN_PENDING_REDISPATCH_AFTER)
    stale_before = now - timedelta(seconds=settings.RUN_STALE_AFTER)
    return (
        Run.objects.annotate(last_dispatch=Coalesce("dispatched_at", "created_at"))
        .filter(
            Q(status=Run.Status.PENDING, last_dispatch__lt=pending_before)
            | Q(status=Run.Status.RUNNING, heartbeat_at__lt=stale_before, last_dispatch__lt=stale_before)
        )
        .values_list("pk", flat=True)[:limit]
    )


def sweep_stale_runs(limit: int = 500) -> int:
    """Re-dispatch runs nobody is executing: pending too long, or running with a stale heartbeat."""
    now = timezone.now()
    ids = list(stale_runs(now, limit))
    if not ids:
        return 0
    Run.objects.filter(pk__in=ids).update(dispatched_at=now)
    sent = sum(send_to_worker(run_id) for run_id in ids)
    log.info("sweep re-dispatched %d of %d stale runs", sent, len(ids))
    return len(ids)
