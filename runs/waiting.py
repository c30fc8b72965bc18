"""The run detail's long poll: wait, without a database connection, until a run is final or the time is up.

A waiter holds one gunicorn gthread thread: at most LONG_POLL_WAITERS per process wait at once (half of
WEB_THREADS), so long polls never take every thread; a poll beyond them answers at once with the run as it is.
"""

import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection

from .models import Run

MAX_WAIT = 30  # seconds: GET …/runs/<run_id>?wait= accepts at most this
FIRST_POLL, LAST_POLL = 0.05, 1.0  # seconds between reads of the status: doubling from the first to the last

_waiters = threading.BoundedSemaphore(settings.LONG_POLL_WAITERS)


def _release_connection() -> None:
    """Hand the connection back while waiting (a request holds none between queries; a test's transaction does)."""
    if not connection.in_atomic_block:
        connection.close()


def wait_until_final(run_id: str, seconds: float, *, sleep: Callable[[float], object] = time.sleep) -> bool:
    """Return once the run is final or `seconds` have passed: whether it waited (False when every waiter slot was
    taken). Reads only the run's status, one short query a poll, and holds no connection between them."""
    if not _waiters.acquire(blocking=False):
        return False
    try:
        deadline = time.monotonic() + min(seconds, settings.LONG_POLL_MAX_WAIT)
        pause = FIRST_POLL
        while True:
            _release_connection()
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            sleep(min(pause, left))
            pause = min(pause * 2, LAST_POLL)
            status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
            if status is None or status in Run.FINAL_STATUSES:
                _release_connection()
                return True
    finally:
        _waiters.release()
