"""What happens when a cohort finishes (completed, stopped or cancelled): the one function the admission tick and
cancel call after the commit that finished it. Listeners (the webhooks' cohort.finished) register here, so the
replay app imports none of them."""

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

_listeners: list[Callable[[str], None]] = []


def register_finish_listener(listener: Callable[[str], None]) -> None:
    """Called with each finished cohort's id (an app's ready() registers it; twice is once)."""
    if listener not in _listeners:
        _listeners.append(listener)


def cohort_finished(cohort_id: str) -> None:
    """Called once per cohort, after the commit of its final status. A listener's failure never fails the cohort."""
    log.info("cohort %s finished", cohort_id)
    for listener in _listeners:
        try:
            listener(cohort_id)
        except Exception:
            log.exception("cohort %s: a finish listener failed", cohort_id)
