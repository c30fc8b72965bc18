import logging
from datetime import timedelta

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_ready
from django.db import close_old_connections, connections

log = logging.getLogger(__name__)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_run(run_id: str) -> None:
    from runs.engine.executor import execute

    execute(run_id)


def send_execute_run(run_id: str) -> None:
    """The engine's sender (runs.apps registers it): no retry, so a broker outage leaves the run to the sweep."""
    execute_run.apply_async(args=[run_id], retry=False)


@shared_task(ignore_result=True)
def sweep_stale_runs() -> int:
    from runs.engine.dispatch import sweep_stale_runs as sweep

    return sweep()


@shared_task(ignore_result=True)
def prune_old_runs() -> int:
    """Retention on beat's schedule: each batch is claimed afresh, so a second or concurrent run is harmless."""
    from django.conf import settings

    from runs.retention import prune_runs

    if settings.RUN_RETENTION_DAYS is None:
        return 0  # the setting was removed since this was queued
    return prune_runs(older_than=timedelta(days=settings.RUN_RETENTION_DAYS)).runs


# Attempts of one run's OTLP push, with backoff between them (seconds: 5, 10, 20, 40, 80).
EXPORT_MAX_RETRIES = 5


@shared_task(bind=True, acks_late=False, ignore_result=True, max_retries=EXPORT_MAX_RETRIES)
def export_run_trace(self, run_id: str, start: int = 0) -> None:
    """Push a finished run's trace once. The first attempt claims the run, so a second message for it sends nothing;
    acknowledged on receipt, a message is never redelivered after a send. A retry resumes at the batch that failed."""
    from django.conf import settings

    from runs import otlp  # OpenTelemetry is loaded by the first push, never at start-up

    if not settings.OTLP_TRACES_ENDPOINT:
        return  # the endpoint was removed since this was queued
    if self.request.retries == 0 and not otlp.claim_export(run_id):
        return
    failed_at = otlp.push(run_id, start=start)
    if failed_at is None:
        return
    if self.request.retries >= self.max_retries:
        otlp.release_export(run_id)
        log.warning("OTLP export of %s failed after %d attempts; not sent", run_id, self.request.retries + 1)
        return
    raise self.retry(kwargs={"run_id": run_id, "start": failed_at}, countdown=5 * 2**self.request.retries)


@worker_ready.connect
def sweep_on_worker_start(**_):
    """A worker that starts after an outage picks up what the outage left behind."""
    from runs.engine.dispatch import sweep_stale_runs as sweep

    try:
        sweep()
    finally:
        connections.close_all()  # the main process runs no task: it need not hold a database connection


@task_prerun.connect
def check_database_connection(**_):
    """A kept connection is checked before each task as before each request: too old or broken, it is replaced."""
    close_old_connections()


@task_postrun.connect
def drop_database_connection_after_failure(state=None, **_):
    """A task that failed may have been interrupted mid-query (a time limit, a cut connection): start afresh."""
    if state != "SUCCESS":
        for connection in connections.all(initialized_only=True):
            connection.close()
