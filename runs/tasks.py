import gc
import logging
import os
import threading
import time
from datetime import timedelta

from celery import shared_task
from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown, worker_shutting_down
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


# Set by the shutdown signal's handler; the drain's watchdog (started with the worker) waits on it.
_STOPPING = threading.Event()


@worker_shutting_down.connect
def hand_runs_on_when_stopping(**_):
    """SIGTERM starts Celery's warm shutdown, which takes no new task and waits for those in progress: each run
    in progress now stops at its next step boundary and is re-queued (runs.engine.step_boundary.hand_on), so the
    worker waits for the current steps only. Runs in a signal handler: it sets two events and nothing more."""
    from runs.engine.lease import DRAINING

    DRAINING.set()
    _STOPPING.set()


@worker_ready.connect
def start_drain_watchdog(**_):
    from django.conf import settings

    threading.Thread(
        target=_drain_watchdog, args=(settings.WORKER_DRAIN_SECONDS,), name="reprise-drain", daemon=True
    ).start()


def _drain_watchdog(seconds: float) -> None:
    """After WORKER_DRAIN_SECONDS of draining, wait only for the provider and tool calls still in progress (a call
    is never cut, its answer would be lost), then exit: a run still held (a boundary's commit that waits on a lock)
    goes stale and the sweep hands it on."""
    from celery.worker import state

    from runs.engine.lease import HEARTBEATS

    _STOPPING.wait()
    deadline = time.monotonic() + seconds
    while state.active_requests:
        if time.monotonic() >= deadline and not HEARTBEATS.active():
            log.warning(
                "drain: %d tasks still in progress %.0f s after the shutdown signal; exiting without them",
                len(state.active_requests),
                seconds,
            )
            os._exit(1)
        time.sleep(0.1)


@worker_shutdown.connect
def exit_without_a_final_collection(**_):
    """The worker has stopped: spare the interpreter's last garbage collection, which took 3 to 7 s of a loaded
    machine's CPU after a few runs (every object a worker loads, once more), time an orchestrator counts against
    its grace period. Nothing is left to clean up that exiting does not."""
    gc.freeze()


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
