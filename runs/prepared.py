"""Raw SQL on the hot paths: a cursor whose statements PostgreSQL prepares, and values adapted as the ORM adapts them."""

from typing import Any

import psycopg
from django.db import connection


def prepared_cursor():
    """PostgreSQL: a cursor binding parameters server-side, so psycopg prepares the statements it runs.

    Parsing and planning a hot statement can cost more than executing it; prepared (after `prepare_threshold`
    runs on a connection, see config/env.py) PostgreSQL does neither again. Django's own cursors bind
    client-side and never prepare. Wrapped as connection.cursor() wraps its cursors, so query logging,
    execute wrappers and database error translation still apply.
    """
    connection.validate_thread_sharing()
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        cursor: Any = psycopg.Cursor(connection.connection)  # django-stubs types the argument as a wrapper
    return connection.make_debug_cursor(cursor) if connection.queries_logged else connection.make_cursor(cursor)


def db_datetime(moment):
    """A datetime as this database's driver takes it for a DateTimeField (a string on SQLite)."""
    return connection.ops.adapt_datetimefield_value(moment)
