"""Raw SQL on the hot paths: a cursor whose statements PostgreSQL prepares, and values adapted as the ORM adapts them."""

from typing import Any
from weakref import WeakKeyDictionary

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


def hot_cursor():
    """The cursor of a hot path's statement: prepared on PostgreSQL (prepared_cursor), Django's own elsewhere."""
    db = connections[DEFAULT_DB_ALIAS]
    return prepared_cursor() if db.vendor == "postgresql" else db.cursor()


# Per connection (its backend's converters are bound to it), per column set: each column's database converters.
_converters: WeakKeyDictionary = WeakKeyDictionary()


def converted(row, columns: tuple) -> list:
    """`row`'s values as the ORM would read them into `columns`, ((table alias, field), ...) in the row's order:
    each field's database converters, looked up once per connection for a column set that lives as long as the
    process (a cached statement's), so they are found by the set's identity."""
    db = connections[DEFAULT_DB_ALIAS]  # the thread's connection itself, not the proxy
    by_set = _converters.setdefault(db, {})
    found = by_set.get(id(columns))
    if found is None:
        found = by_set[id(columns)] = [
            (col, db.ops.get_db_converters(col) + col.get_db_converters(db))
            for col in (field.get_col(alias) for alias, field in columns)
        ]
    values = []
    for value, (col, converters) in zip(row, found, strict=True):
        for convert in converters:
            value = convert(value, col, db)
        values.append(value)
    return values


def db_datetime(moment):
    """A datetime as this database's driver takes it for a DateTimeField (a string on SQLite)."""
    return connections[DEFAULT_DB_ALIAS].ops.adapt_datetimefield_value(moment)
