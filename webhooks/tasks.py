"""Thin tasks: each takes an id, and a second message for it does nothing (the delivery is claimed first)."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def emit_run_event(run_id: str) -> None:
    from .services import emit_run_finished

    emit_run_finished(run_id)


@shared_task(acks_late=True, ignore_result=True)
def emit_cohort_event(cohort_id: str) -> None:
    from .services import emit_cohort_finished

    emit_cohort_finished(cohort_id)


def send_cohort_finished(cohort_id: str) -> None:
    """The cohorts' finish listener (webhooks.apps registers it): runs once the cohort's final status is committed."""
    emit_cohort_event.apply_async(args=[cohort_id], retry=False)


def send_run_finished(run_id: str) -> None:
    """The engine's finish listener (webhooks.apps registers it): runs once the final transition is committed.
    A workspace without an enabled endpoint costs one indexed query here, not a task for every run."""
    from .services import listens_for_run

    if listens_for_run(run_id):
        emit_run_event.apply_async(args=[run_id], retry=False)


@shared_task(acks_late=True, ignore_result=True)
def deliver(delivery_id: int) -> None:
    from .services import attempt_delivery

    delay = attempt_delivery(delivery_id)
    if delay is not None:
        send_delivery(delivery_id, countdown=delay)


@shared_task(ignore_result=True)
def sweep_deliveries() -> int:
    """Beat's sweep of deliveries whose message was lost."""
    from .services import redispatch_overdue

    return len(redispatch_overdue())


def send_delivery(delivery_id: int, countdown: float = 0) -> None:
    deliver.apply_async(args=[delivery_id], countdown=countdown, retry=False)
