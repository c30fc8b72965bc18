"""Ownership of a running run: claim, hold and fail, each a compare-and-swap on the run's lease."""

import itertools
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q
from django.utils import timezone

from runs.models import Run, Step
from runs.prepared import converted, db_datetime, hot_cursor

from .dispatch import finished_on_commit

log = logging.getLogger(__name__)

# While a step executes, its worker extends the heartbeat this often (a fraction of RUN_STALE_AFTER),
# so a model call of minutes is not mistaken for a lost worker, and a dead worker's run still goes stale.
HEARTBEAT_FRACTION = 0.25


# Set by the worker when it is told to stop (SIGTERM, runs.tasks): each run it executes stops at its next step
# boundary and is handed on (runs.engine.step_boundary), instead of keeping the worker alive until it finishes.
DRAINING = threading.Event()


def stop_at_boundary() -> bool:
    """At a step boundary: should this process hand the run on rather than start its next step?"""
    return DRAINING.is_set()


def beat_interval() -> float:
    """Seconds a heartbeat stays fresh: the heartbeat thread beats no more often, and a boundary leaves a fresher
    one alone, so most boundaries change no indexed column of the run and PostgreSQL updates it in place (HOT)."""
    return settings.RUN_STALE_AFTER * HEARTBEAT_FRACTION


def claim(run_id: str, lease: str) -> Run | None:
    """Take the run for `lease` if nobody holds it (pending) or its holder went stale: the run as claimed, or None.

    One statement claims and reads the row (UPDATE ... RETURNING), so an executor starts with one round trip;
    `had_steps` says whether the run had recorded steps when it was claimed (none, for a run's first execution).
    Prepared on PostgreSQL, and its row made a Run as a raw queryset makes one (the same converters and
    from_db), without the raw queryset's work of matching columns to fields on every claim.
    """
    moment = timezone.now()
    now, stale = db_datetime(moment), db_datetime(moment - timedelta(seconds=settings.RUN_STALE_AFTER))
    sql, columns, attnames = _claim_statement(connection.vendor)
    pending, running = Run.Status.PENDING, Run.Status.RUNNING
    with hot_cursor() as cursor:
        cursor.execute(sql, [running, lease, now, now, run_id, pending, pending, running, stale, run_id])
        row = cursor.fetchone()
    if row is None:
        return None
    run = Run.from_db(connection.alias, attnames, converted(row[: len(columns)], columns))
    run.had_steps = row[len(columns)]  # type: ignore[attr-defined]  # an annotation, as the raw queryset set it
    return run


@cache
def _claim_statement(vendor: str) -> tuple[str, tuple, list[str]]:
    """The claim's statement on this database, the (table, field) of the columns it returns in their order (for
    runs.prepared.converted), and their attribute names."""
    q = connection.ops.quote_name
    fields = tuple(Run._meta.concrete_fields)
    columns = ", ".join(q(column) for field in fields if (column := field.column))
    sql = (
        f"UPDATE {q(Run._meta.db_table)} SET status = %s, lease = %s, heartbeat_at = %s,"
        f" started_at = COALESCE(started_at, %s) WHERE run_id = %s AND ((status = %s AND lease = '')"
        f" OR (status IN (%s, %s) AND (heartbeat_at < %s OR heartbeat_at IS NULL))) RETURNING {columns},"
        f" EXISTS (SELECT 1 FROM {q(Step._meta.db_table)} WHERE run_id = %s) AS had_steps"
    )
    return sql, tuple((Run._meta.db_table, field) for field in fields), [field.attname for field in fields]


def keep(run_id: str, lease: str) -> bool:
    """Whether the run is still running on this lease (a resumed one runs again); never lets go of it.

    Beside steps still executing, a paused or cancelled run keeps its lease until they are recorded: a resume
    meanwhile must not hand the run to another executor while they run.
    """
    return bool(
        Run.objects.filter(pk=run_id, lease=lease, status__in=(Run.Status.RUNNING, Run.Status.PENDING)).update(
            status=Run.Status.RUNNING, heartbeat_at=timezone.now()
        )
    )


def hold(run_id: str, lease: str) -> bool:
    """At a step boundary: keep going, or let go because the run was paused, cancelled or taken over."""
    if keep(run_id, lease):
        return True
    now = timezone.now()
    held = Q(pk=run_id, lease=lease)
    if Run.objects.filter(held).exclude(status=Run.Status.PENDING).update(lease=""):
        return False
    # A resume made it pending again between the two writes: keep it.
    return bool(Run.objects.filter(held, status=Run.Status.PENDING).update(status=Run.Status.RUNNING, heartbeat_at=now))


def fail_run(run_id: str, lease: str, message: str) -> None:
    if Run.objects.filter(pk=run_id, lease=lease).update(
        status=Run.Status.FAILED, error=message, finished_at=timezone.now(), lease=""
    ):
        finished_on_commit(run_id)


def beat(run_id: str, lease: str) -> bool:
    """Extend the heartbeat of a run still running on this lease; False once it is not (paused, taken over)."""
    return bool(
        Run.objects.filter(pk=run_id, lease=lease, status=Run.Status.RUNNING).update(heartbeat_at=timezone.now())
    )


class Heartbeats:
    """The steps executing in this process, and one thread that keeps their leases alive.

    A step registers for the time of its call (a dict entry, no thread of its own: cheap on the hot path
    and with many executor threads). The thread looks every second at most and extends the heartbeat of
    each call last beaten `beat_interval()` ago, so a quick step writes nothing and
    a call of minutes is never stale.
    """

    TICK = 1.0  # seconds between looks, at most

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: dict[int, list] = {}  # token -> [run_id, lease, last beat (or start), monotonic]
        self.tokens = itertools.count()
        self.thread: threading.Thread | None = None
        self.pid = 0

    def _ensure_thread(self) -> None:
        if self.thread is None or not self.thread.is_alive() or self.pid != os.getpid():  # none yet, or forked
            self.pid = os.getpid()
            self.thread = threading.Thread(target=self._beat_forever, name="reprise-heartbeat", daemon=True)
            self.thread.start()

    def register(self, run_id: str, lease: str) -> int:
        with self.lock:
            token = next(self.tokens)
            self.calls[token] = [run_id, lease, time.monotonic()]
            self._ensure_thread()
        return token

    def unregister(self, token: int) -> None:
        with self.lock:
            self.calls.pop(token, None)

    def active(self) -> int:
        with self.lock:
            return len(self.calls)

    def due(self, interval: float) -> list[tuple[str, str]]:
        """The calls last beaten `interval` ago or more, marked as beaten now."""
        now = time.monotonic()
        with self.lock:
            due = [call for call in self.calls.values() if call[2] <= now - interval]
            for call in due:
                call[2] = now
            return [(run_id, lease) for run_id, lease, _ in due]

    def _beat_forever(self) -> None:
        while True:
            interval = beat_interval()
            time.sleep(min(interval, self.TICK))
            due = self.due(interval)
            if not due:
                continue
            try:
                for run_id, lease in due:
                    beat(run_id, lease)  # 0 rows once the run is no longer ours: the next boundary lets go
            except DatabaseError as exc:
                log.warning("heartbeat of %d running steps failed: %s; trying again", len(due), exc)
            finally:
                connection.close()  # this thread's own: beats are seconds apart, hold no connection between them


HEARTBEATS = Heartbeats()


@contextmanager
def heartbeat(run_id: str, lease: str) -> Iterator[None]:
    """Keep the lease alive while the body runs (a provider or tool call); stops beating when it returns."""
    token = HEARTBEATS.register(run_id, lease)
    try:
        yield
    finally:
        HEARTBEATS.unregister(token)
