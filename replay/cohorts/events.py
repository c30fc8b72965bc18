"""What happens when a cohort finishes (completed, stopped or cancelled): the one function the admission tick and
cancel call after the commit that finished it. The webhooks' cohort.finished event is wired here."""

import logging

log = logging.getLogger(__name__)


def cohort_finished(cohort_id: str) -> None:
    """Called once per cohort, after the commit of its final status."""
    log.info("cohort %s finished", cohort_id)
