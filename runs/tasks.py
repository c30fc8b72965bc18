from datetime import timedelta

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_ready
from django.db import close_old_connections, connections


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
