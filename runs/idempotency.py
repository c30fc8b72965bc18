"""Idempotency-Key: the one machinery of the trigger and the replay submit.

A key is remembered on the run it made (Run.idempotency_key, unique per workspace and member), so it is scoped to
the member and the workspace, and remembered as long as that run exists (RUN_RETENTION_DAYS after it finished).
"""

import re
from collections.abc import Callable
from functools import cache

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections
from django.db.models import Model
from django.db.models.signals import post_save, pre_save

from .http.errors import BadRequest
from .http.openapi import Header
from .models import Membership, Run
from .prepared import hot_cursor

IDEMPOTENCY_KEY_RE = re.compile(r"[\x20-\x7e]{0,200}")
KEY_REUSED = "This Idempotency-Key was already used for a different request: use a new key for a new request."
IDEMPOTENCY_KEY = Header(
    "Idempotency-Key",
    "A retry with the same key and request answers 200 with the run it made; the same key with another request is a "
    "409. Scoped to the member and the workspace; remembered as long as the run it made exists.",
    {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY_RE.pattern}$"},
)


def checked_idempotency_key(key: str) -> str:
    key = (key or "").strip()
    if not IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise BadRequest("Idempotency-Key is at most 200 printable ASCII characters.", field="Idempotency-Key")
    return key


def run_with_key(membership: Membership, key: str) -> Run | None:
    """The run this member's Idempotency-Key made in the workspace: at most one (run_unique_idempotency_key)."""
    rows = Run.objects.filter(
        workspace_id=membership.workspace_id, requested_by_id=membership.user_id, idempotency_key=key
    )
    return next(iter(rows[:1]), None)  # no ORDER BY: the unique index answers alone


class KeyTaken(Exception):
    """The insert collided on the Idempotency-Key: raised inside the transaction so that it rolls back."""

    def __init__(self, key: str, error: IntegrityError):
        self.key = key
        self.error = error


_INSERTED = tuple(Run._meta.concrete_fields)  # every column: the key is a run id made in Python (new_run_id)


@cache
def _insert_statement(vendor: str) -> str:
    q = connection.ops.quote_name
    names = ", ".join(q(column) for f in _INSERTED if (column := f.column))
    return f"INSERT INTO {q(Run._meta.db_table)} ({names}) VALUES ({', '.join(['%s'] * len(_INSERTED))})"


def _insert(run: Run) -> None:
    """The INSERT save(force_insert=True) sends, prepared: every submit and trigger sends one (the ORM compiled it
    anew each time). A value left to the database's default (none today) goes through the ORM, which writes it."""
    values = [f.pre_save(run, True) for f in _INSERTED]
    if any(hasattr(value, "resolve_expression") for value in values) or _save_does_more():
        run.save(force_insert=True)
        return
    db = connections[DEFAULT_DB_ALIAS]
    with hot_cursor() as cursor:
        cursor.execute(
            _insert_statement(db.vendor), [f.get_db_prep_save(v, db) for f, v in zip(_INSERTED, values, strict=True)]
        )
    run._state.adding, run._state.db = False, DEFAULT_DB_ALIAS


def _save_does_more() -> bool:
    """Whether Run.save() would do more than its INSERT: a save() of its own, or a receiver of its save signals."""
    return Run.save is not Model.save or pre_save.has_listeners(Run) or post_save.has_listeners(Run)


def insert_run(run: Run) -> None:
    """Insert `run`; a collision on its Idempotency-Key raises KeyTaken, to be raised out of the transaction."""
    try:
        _insert(run)  # no savepoint: a collision rolls the whole request back (KeyTaken)
    except IntegrityError as exc:
        if not run.idempotency_key:  # only a key can collide
            raise
        raise KeyTaken(run.idempotency_key, exc) from exc


def created_once(membership: Membership, create: Callable[[], tuple[Run, bool]]) -> tuple[Run, bool]:
    """`create()` (a transaction that finds the key's run or inserts through insert_run: (run, created)), or, when
    the same key won a race the locks do not cover, the run that key made."""
    try:
        return create()
    except KeyTaken as taken:
        existing = run_with_key(membership, taken.key)
        if existing is None:
            raise taken.error from None  # a collision on something else than the key
        return existing, False
