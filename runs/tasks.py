from celery import shared_task
from celery.signals import worker_ready


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_run(run_id: str) -> None:
    from runs.engine.executor import execute

    execute(run_id)


@shared_task(ignore_result=True)
def sweep_stale_runs() -> int:
    from runs.services import sweep_stale_runs as sweep

    return sweep()


@worker_ready.connect
def sweep_on_worker_start(**_):
    """A worker that starts after an outage picks up what the outage left behind."""
    from runs.services import sweep_stale_runs as sweep

    sweep()
