from celery import shared_task


@shared_task(ignore_result=True)
def cohort_tick() -> int:
    """Advance every active cohort once (beat's schedule, and after each create): safe to run twice."""
    from replay.cohorts.admission import tick

    return tick()
