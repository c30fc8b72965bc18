"""The run detail's long poll: wait, without a database connection, until a run is final or the time is up.

A waiter holds one gunicorn gthread thread: at most LONG_POLL_WAITERS per process wait at once (half of
WEB_THREADS), so long polls never take every thread; a poll beyond them answers at once with the run as it is.

With Redis (REDIS_URL), a run that becomes final is announced on a channel of its own (`announce_final`, a finish
listener of the engine and of cancel), so a waiter answers within a round trip of the end; it still reads the status
once a second, should an announcement be lost. The embedded default, whose processes share no Redis, reads the
status 50 ms apart at first, doubling up to 1 s.
"""

import logging
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import connection

from config.cache import shared_redis

from .models import Run

MAX_WAIT = 30  # seconds: GET …/runs/<run_id>?wait= accepts at most this
FIRST_POLL, LAST_POLL = 0.05, 1.0  # seconds between reads of the status: doubling from the first to the last
CONFIRM_WITHIN = 2.0  # seconds Redis has to confirm a subscription, while the request still holds its connection

log = logging.getLogger(__name__)

_waiters = threading.BoundedSemaphore(settings.LONG_POLL_WAITERS)


def _release_connection() -> None:
    """Hand the connection back while waiting (a request holds none between queries; a test's transaction does)."""
    if not connection.in_atomic_block:
        connection.close()


def final_channel(run_id: str) -> str:
    return f"reprise:run-final:{run_id}"


def announce_final(run_id: str) -> None:
    """Wake the long polls waiting on this run (registered by runs.apps as a finish listener, so it runs after the
    commit that made the run final). Nothing to do without Redis: the embedded default's waiters poll."""
    client = shared_redis()
    if client is not None:
        client.publish(final_channel(run_id), "final")


def _is_final(run_id: str) -> bool:
    """One short query of the status; a run deleted meanwhile is as final as it will get."""
    status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
    _release_connection()
    return status is None or status in Run.FINAL_STATUSES


def wait_until_final(
    run_id: str, seconds: float, *, sleep: Callable[[float], object] = time.sleep, recheck: float = LAST_POLL
) -> bool:
    """Return once the run is final or `seconds` have passed: whether it waited (False when every waiter slot was
    taken). Reads only the run's status, one short query at a time, and holds no connection between them.

    `recheck`: with Redis, how often the status is read besides the announcement."""
    if not _waiters.acquire(blocking=False):
        return False
    try:
        deadline = time.monotonic() + min(seconds, settings.LONG_POLL_MAX_WAIT)
        client = shared_redis()
        if client is None:
            _release_connection()
            _poll(run_id, deadline, sleep)
        else:
            from redis.exceptions import RedisError  # not at start-up: redis loads OpenTelemetry's SDK with it

            try:
                _listen(client, run_id, deadline, recheck)
            except RedisError as exc:  # Redis is down: the wait goes on as the embedded default's
                log.warning("long poll of %s: no announcements (%s); polling the status instead", run_id, exc)
                _release_connection()
                _poll(run_id, deadline, sleep)
        return True
    finally:
        _waiters.release()


def _poll(run_id: str, deadline: float, sleep: Callable[[float], object]) -> None:
    pause = FIRST_POLL
    while (left := deadline - time.monotonic()) > 0:
        sleep(min(pause, left))
        pause = min(pause * 2, LAST_POLL)
        if _is_final(run_id):
            return


def _listen(client, run_id: str, deadline: float, recheck: float) -> None:
    """Subscribed before the status is read, so an end between the caller's read and this wait is never missed; that
    read uses the caller's connection, which is let go only then (a new one costs a PostgreSQL backend's start)."""
    pubsub = client.pubsub()
    try:
        pubsub.subscribe(final_channel(run_id))
        confirmed = pubsub.get_message(timeout=max(0.0, min(CONFIRM_WITHIN, deadline - time.monotonic())))
        if confirmed is None or _is_final(run_id):
            return
        while (left := deadline - time.monotonic()) > 0:
            message = pubsub.get_message(timeout=min(recheck, left))
            if message is not None and message["type"] == "message":
                return
            if message is None and _is_final(run_id):
                return
    finally:
        pubsub.close()
