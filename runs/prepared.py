"""Raw SQL on the hot paths: a cursor whose statements PostgreSQL prepares, and values adapted as the ORM adapts them."""

from typing import Any

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections


def prepared_cursor():
    """PostgreSQL: a cursor binding parameters server-side, so psycopg prepares the statements it runs.

    Parsing and planning a hot statement can cost more than executing it; prepared (after `prepare_threshold`
    runs on a connection, see config/env.py) PostgreSQL does neither again. Django's own cursors bind
    client-side and never prepare. Wrapped as connection.cursor() wraps its cursors, so query logging,
    execute wrappers and database error translation still apply.
    """
    db = connections[DEFAULT_DB_ALIAS]  # django.db.connection looks it up again on each use: once here
    db.validate_thread_sharing()
    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        cursor: Any = psycopg.Cursor(db.connection)  # django-stubs types the argument as a wrapper
    return db.make_debug_cursor(cursor) if db.queries_logged else db.make_cursor(cursor)


def db_datetime(moment):
    """A datetime as this database's driver takes it for a DateTimeField (a string on SQLite)."""
    return connections[DEFAULT_DB_ALIAS].ops.adapt_datetimefield_value(moment)
